package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/demo"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/ui/metrics"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui"
)

const demoUsage = `Usage: swarmscope demo [flags]

Start a simulated internet in this process (no network, no root) and watch
real BitTorrent clients behind simulated NATs find each other: outbound
dials, inbound through UPnP mappings, and BEP 55 holepunches relayed by a
public peer. The view is "you", a peer behind --nat.

  swarmscope demo                      the TUI, you behind a port-restricted cone with UPnP
  swarmscope demo --nat symmetric --upnp off --headless
  swarmscope demo --matrix             which connections form between each pair of NAT types

Flags:
`

// demoNATNames maps the accepted --nat spellings to types.
func demoNAT(s string) (nat.Type, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, t := range nat.Types {
		if t != nat.TypeUnknown && string(t) == s {
			return t, true
		}
	}
	aliases := map[string]nat.Type{
		"none": nat.TypeOpen, "public": nat.TypeOpen, "full": nat.TypeFullCone, "restricted": nat.TypeRestrictedCone,
		"port-restricted": nat.TypePortRestrictedCone, "firewall": nat.TypeSymmetricFirewall, "blocked": nat.TypeUDPBlocked,
	}
	t, ok := aliases[s]
	return t, ok
}

// parseSize reads a byte count with an optional unit (K, M, G, with or
// without "iB"/"B"; all binary).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB)", s)
	}
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q (use K, M or G)", s, unit)
	}
	if n > (4<<30)/m {
		return 0, fmt.Errorf("%q is more than 4GiB", s)
	}
	return n * m, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("swarmscope demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		natFlag  = fs.String("nat", string(nat.TypePortRestrictedCone), "your NAT: open, full-cone, restricted-cone, port-restricted-cone, symmetric, symmetric-firewall, udp-blocked")
		upnpFlag = fs.String("upnp", "on", "your router's UPnP gateway: on or off")
		peers    = fs.Int("peers", 4, "home peers behind NATs of every kind (0-32)")
		sizeFlag = fs.String("size", "64MiB", "size of the demo torrent (64KiB-4GiB)")
		seed     = fs.Uint64("seed", 0, "randomness of content, ports and NAT choices; replay a run with its seed (0 = pick one)")
		headless = fs.Bool("headless", false, "no TUI: print progress lines and exit when you have the whole torrent")
		asJSON   = fs.Bool("json", false, "headless (or --matrix) output as JSON")
		matrix   = fs.Bool("matrix", false, "measure which connections form between each pair of NAT types and compare with theory")
		verbose  = fs.Bool("verbose", false, "headless: also print the BitTorrent clients' warnings")
		metricsF = fs.String("metrics", "", metricsUsage+"; exports \"you\"")
	)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoUsage)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "swarmscope demo: unexpected argument %q (see 'swarmscope demo --help')\n", fs.Arg(0))
		return ExitUsage
	}
	youNAT, ok := demoNAT(*natFlag)
	if !ok {
		fmt.Fprintf(stderr, "swarmscope demo: --nat %q: want one of open, full-cone, restricted-cone, port-restricted-cone, symmetric, symmetric-firewall, udp-blocked\n", *natFlag)
		return ExitUsage
	}
	var withUPnP bool
	switch strings.ToLower(*upnpFlag) {
	case "on", "yes", "true", "1":
		withUPnP = true
	case "off", "no", "false", "0":
	default:
		fmt.Fprintf(stderr, "swarmscope demo: --upnp %q: want on or off\n", *upnpFlag)
		return ExitUsage
	}
	if *peers < 0 || *peers > 32 {
		fmt.Fprintf(stderr, "swarmscope demo: --peers %d: want 0 to 32\n", *peers)
		return ExitUsage
	}
	size, err := parseSize(*sizeFlag)
	if err == nil && size < 64<<10 {
		err = fmt.Errorf("%q is less than 64KiB", *sizeFlag)
	}
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope demo: --size %v\n", err)
		return ExitUsage
	}
	if *metricsF != "" {
		err := metrics.CheckAddr(*metricsF)
		if err == nil && *matrix {
			err = errors.New("--matrix has no \"you\" to export")
		}
		if err != nil {
			fmt.Fprintf(stderr, "swarmscope demo: --metrics %q: %v\n", *metricsF, err)
			return ExitUsage
		}
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano()%1_000_000) + 1
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *matrix {
		return runMatrix(ctx, *seed, *asJSON, stdout, stderr)
	}

	mx, err := openMetrics(ctx, *metricsF)
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope demo: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	interactive := !*headless && !*asJSON && isTerminal(stdout)
	opts := demo.Options{
		Nodes: demo.Default(youNAT, withUPnP, *peers),
		You:   "you",
		Size:  size,
		Seed:  *seed,
	}
	if !interactive {
		if *asJSON {
			text.NewJSONEncoder(stdout).Encode(map[string]any{"type": "demo", "seed": *seed, "nat": youNAT, "upnp": withUPnP, "peers": *peers, "size": size})
		} else {
			fmt.Fprintf(stdout, "swarmscope demo: you behind %s, UPnP %s, %d home peers, %s torrent, seed %d\n",
				youNAT, onOff(withUPnP), *peers, text.Bytes(size), *seed)
			opts.Log = stdout
		}
		if *verbose {
			opts.ClientLog = stderr
		}
	}
	if interactive {
		return runDemoTUI(ctx, opts, mx, fmt.Sprintf("demo — you behind %s, UPnP %s, seed %d (simulated internet)",
			youNAT, onOff(withUPnP), *seed), stderr)
	}
	s, err := demo.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope demo: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	defer s.Close()
	mx.follow(s.You.Engine)
	mx.demoMapper(s)
	mx.announce(stderr)

	mx.recheckNAT(ctx, mx.natCheck(s.CheckNAT))
	// The same diagnosis the NAT pane shows, as an event in the stream.
	go func() {
		r, err := mx.natCheck(s.CheckNAT)(ctx)
		msg := "STUN: "
		if err != nil {
			msg += err.Error()
		} else {
			msg += fmt.Sprintf("you are behind %s (mapping %s, filtering %s), public address %s", r.NATType, r.Mapping, r.Filtering, r.PublicAddr)
		}
		s.You.Engine.Publish(swarm.Event{Kind: swarm.EventNAT, Message: msg})
	}()
	code := runHeadless(ctx, mx.source(s.You.Engine), headlessOptions{Out: stdout, Err: stderr, JSON: *asJSON})
	if code != ExitOK {
		return code
	}
	if err := s.Verify(); err != nil {
		fmt.Fprintf(stderr, "swarmscope demo: downloaded data differs from the original: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "verified: your copy matches the original byte for byte (%s)\n", text.Bytes(size))
	}
	return ExitOK
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func runMatrix(ctx context.Context, seed uint64, asJSON bool, stdout, stderr io.Writer) int {
	total := 0
	m, err := demo.RunMatrix(ctx, demo.MatrixOptions{
		Seed:     seed,
		Parallel: 3,
		Progress: func(done, n int) {
			total = n
			if !asJSON {
				fmt.Fprintf(stderr, "\rmatrix: %d/%d experiments", done, n)
			}
		},
	})
	if !asJSON && total > 0 {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope demo: matrix: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	if asJSON {
		enc := text.NewJSONEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(m)
	} else {
		m.WriteText(stdout)
	}
	if m.Mismatches > 0 {
		return ExitFailure
	}
	return ExitOK
}

// demoEventKind marks the demo's own progress lines in the events pane.
const demoEventKind swarm.EventKind = "demo"

// runDemoTUI opens the TUI at once and builds the simulated internet behind
// it: the world's progress appears as events, and "you"'s snapshots and
// events flow in as soon as "you" is up.
func runDemoTUI(ctx context.Context, opts demo.Options, mx *metricsRun, title string, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snaps := make(chan swarm.Snapshot, 1)
	events := make(chan swarm.Event, 1024)
	emit := func(ev swarm.Event) {
		select {
		case events <- ev:
		default: // the view is behind; an event line is not worth blocking the swarm
		}
	}
	opts.OnProgress = func(msg string) { emit(swarm.Event{Time: time.Now(), Kind: demoEventKind, Message: msg}) }
	back := &demoBackend{ready: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(started)
		emit(swarm.Event{Time: time.Now(), Kind: demoEventKind, Message: "building the simulated internet: STUN server, directory, seeders, home routers"})
		s, err := demo.Start(ctx, opts)
		if err != nil {
			if ctx.Err() == nil {
				emit(swarm.Event{Time: time.Now(), Kind: swarm.EventError, Message: "demo: " + text.CleanLine(err.Error())})
			}
			return
		}
		back.s = s
		close(back.ready)
		mx.follow(s.You.Engine)
		mx.demoMapper(s)
		mx.recheckNAT(ctx, mx.natCheck(s.CheckNAT))
		forward(ctx, s.You.Engine, snaps, func(ev swarm.Event) {
			mx.x.Observe(ev)
			emit(ev)
		})
	}()
	err := tui.Run(ctx, tui.Options{
		Title:       title,
		Backend:     back,
		CheckSource: checkSource,
		Snapshots:   snaps,
		Events:      events,
		NAT: func(ctx context.Context) (nat.Report, error) {
			select {
			case <-back.ready:
				return mx.natCheck(back.s.CheckNAT)(ctx)
			case <-ctx.Done():
				return nat.Report{}, ctx.Err()
			}
		},
	})
	cancel()
	<-started
	if back.s != nil {
		back.s.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope demo: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	return ExitOK
}

// forward copies an engine's snapshots (newest wins) and events to the
// TUI's channels until ctx ends.
func forward(ctx context.Context, e *engine.Engine, snaps chan swarm.Snapshot, emit func(swarm.Event)) {
	evs := e.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-e.Snapshots():
			select {
			case <-snaps:
			default:
			}
			snaps <- s
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			emit(ev)
		}
	}
}

// demoBackend hands the TUI's actions to "you"'s engine once it exists.
type demoBackend struct {
	ready chan struct{}
	s     *demo.Swarm
}

var errDemoStarting = errors.New("the simulated internet is still starting")

func (b *demoBackend) engine() (*engine.Engine, error) {
	select {
	case <-b.ready:
		return b.s.You.Engine, nil
	default:
		return nil, errDemoStarting
	}
}

func (b *demoBackend) AddSource(ctx context.Context, source string) (string, error) {
	e, err := b.engine()
	if err != nil {
		return "", err
	}
	return e.AddSource(ctx, source)
}

func (b *demoBackend) Pause(ih string) error {
	e, err := b.engine()
	if err != nil {
		return err
	}
	return e.Pause(ih)
}

func (b *demoBackend) Resume(ih string) error {
	e, err := b.engine()
	if err != nil {
		return err
	}
	return e.Resume(ih)
}

func (b *demoBackend) Remove(ih string, deleteData bool) error {
	e, err := b.engine()
	if err != nil {
		return err
	}
	return e.Remove(ih, deleteData)
}

func (b *demoBackend) SetFilePriority(ih string, file int, p swarm.Priority) error {
	e, err := b.engine()
	if err != nil {
		return err
	}
	return e.SetFilePriority(ih, file, p)
}
