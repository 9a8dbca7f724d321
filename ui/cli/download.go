package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/portmap"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
	"github.com/swarmscope/swarmscope/ui/metrics"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui"
)

type downloadFlags struct {
	dir           string
	port          int
	bind          string
	seed          bool
	pm            portmapFlags
	mapOpts       nat.Options // the port-mapping fields, from pm
	json          bool
	headless      bool
	maxConns      int
	stun          string
	noDHT         bool
	uploadLimit   int64
	downloadLimit int64
	peers         string
	verify        bool
	metrics       string
	seedRatio     float64
	seedTime      time.Duration
	dhtBootstrap  string
	noSession     bool
}

func downloadFlagSet(stderr io.Writer) (*flag.FlagSet, *downloadFlags) {
	f := &downloadFlags{}
	fs := flag.NewFlagSet("swarmscope", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.dir, "dir", ".", "download `directory`")
	fs.IntVar(&f.port, "port", 42069, "listen `port` for TCP and uTP (0 = any free port)")
	fs.StringVar(&f.bind, "bind", "", "listen on this local `IP` only (default: all interfaces)")
	fs.BoolVar(&f.seed, "seed", false, "keep seeding after every torrent is complete (default: exit)")
	f.pm.register(fs, "do not map the listen port on the gateway (no UPnP, PCP or NAT-PMP)")
	fs.BoolVar(&f.json, "json", false, "headless: print one JSON object per line")
	fs.BoolVar(&f.headless, "headless", false, "no TUI, even on a terminal")
	fs.IntVar(&f.maxConns, "max-conns", 0, "established connections per torrent (0 = engine default)")
	fs.StringVar(&f.stun, "stun", strings.Join(defaultSTUN, ","), "STUN servers for the NAT pane, `host:port,...` (\"\" = none)")
	fs.BoolVar(&f.noDHT, "no-dht", false, "do not use the DHT")
	fs.Int64Var(&f.uploadLimit, "upload-limit", 0, "upload limit in `bytes/s` (0 = none)")
	fs.Int64Var(&f.downloadLimit, "download-limit", 0, "download limit in `bytes/s` (0 = none)")
	fs.BoolVar(&f.verify, "verify", false, "re-hash all data already on disk before trusting it (finds changed files whose size and time are unchanged)")
	fs.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fs.StringVar(&f.peers, "peer", "", "peer addresses to connect to, `host:port,...` (added to every torrent)")
	fs.Float64Var(&f.seedRatio, "seed-ratio", 0, "stop seeding a torrent once it uploaded `R` times what it downloaded (0 = no limit); headless then exits")
	fs.DurationVar(&f.seedTime, "seed-time", 0, "stop seeding a torrent after it seeded for `D` (e.g. 30m, 2h; 0 = no limit); headless then exits")
	fs.StringVar(&f.dhtBootstrap, "dht-bootstrap", "", "DHT bootstrap nodes, `host:port,...` (default: the public routers)")
	fs.BoolVar(&f.noSession, "no-session", false, "do not remember torrents in DIR/.swarmscope/session (nor restore them)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), topUsage)
		fmt.Fprint(fs.Output(), "\nDownload flags:\n")
		fs.PrintDefaults()
	}
	return fs, f
}

func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := downloadFlagSet(stderr)
	operands, code, done := parseFlagsAnywhere(fs, args, stdout, stderr)
	if done {
		return code
	}
	if err := f.validate(); err != nil {
		fmt.Fprintf(stderr, "swarmscope: %v\n", err)
		return ExitUsage
	}
	if len(operands) == 0 && (f.headless || f.json || !isTerminal(stdout)) && !f.hasSession() {
		fmt.Fprintln(stderr, "swarmscope: no SOURCE given (a magnet URI, .torrent file or 40-hex info hash) and no torrents remembered in "+f.sessionDir()+"; try 'swarmscope demo' or --help")
		return ExitUsage
	}
	var peers []netip.AddrPort
	for _, p := range splitList(f.peers) {
		ap, err := parsePeer(p)
		if err != nil {
			fmt.Fprintf(stderr, "swarmscope: --peer %q: %v\n", p, err)
			return ExitUsage
		}
		peers = append(peers, ap)
	}
	var sources []engine.Source
	for _, a := range operands {
		src, err := engine.ParseSourceContext(ctx, a)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "swarmscope: interrupted while reading %s\n", a)
				return ExitFailure
			}
			fmt.Fprintf(stderr, "swarmscope: %v\n", text.CleanLine(err.Error()))
			return ExitUsage
		}
		sources = append(sources, src)
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "swarmscope: --dir: %v\n", err)
		return ExitUsage
	}
	mx, err := openMetrics(ctx, f.metrics)
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}

	e, err := engine.New(ctx, engine.Config{
		DataDir: f.dir, ListenHost: f.bind, ListenPort: f.port, MaxConns: f.maxConns,
		NoDHT: f.noDHT, UploadLimit: f.uploadLimit, DownloadLimit: f.downloadLimit,
		Log: io.Discard, Verify: f.verify,
		SessionDir: f.sessionDirIfOn(), SeedRatio: f.seedRatio, SeedTime: f.seedTime,
		DHTBootstrap: splitList(f.dhtBootstrap),
	})
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	mx.follow(e)
	mapper := startUPnP(ctx, f, e, mx.x)
	defer func() {
		// Mappings go first: they outlive us on the router otherwise.
		if mapper != nil {
			if err := mapper.Close(); err != nil {
				fmt.Fprintf(stderr, "swarmscope: removing port mappings: %v\n", text.CleanLine(err.Error()))
			}
		}
		if err := e.Close(); err != nil {
			fmt.Fprintf(stderr, "swarmscope: closing: %v\n", text.CleanLine(err.Error()))
		}
	}()
	// The session first: a SOURCE it already holds keeps its remembered
	// state (paused, priorities).
	_, problems := e.RestoreSession(ctx)
	for _, p := range problems {
		fmt.Fprintf(stderr, "swarmscope: warning: %v\n", text.CleanLine(p.Error()))
	}
	if ctx.Err() != nil {
		return ExitFailure
	}
	for _, src := range sources {
		if err := e.Add(src); errors.Is(err, engine.ErrAlreadyAdded) {
			// Remembered from an earlier run; --peer still applies.
		} else if err != nil {
			fmt.Fprintf(stderr, "swarmscope: %v\n", text.CleanLine(err.Error()))
			if errors.Is(err, engine.ErrBadSource) {
				return ExitUsage
			}
			return ExitFailure
		}
		if len(peers) > 0 {
			if err := e.AddPeers(src.InfoHash, peers); err != nil {
				fmt.Fprintf(stderr, "swarmscope: %v\n", text.CleanLine(err.Error()))
				return ExitFailure
			}
		}
	}

	servers := splitList(f.stun)
	natCheck := func(ctx context.Context) (nat.Report, error) {
		if len(servers) == 0 {
			return nat.Report{}, errors.New("no STUN servers configured (--stun)")
		}
		r, err := nat.Check(ctx, nat.Options{Servers: servers, LocalIP: f.bind, ListenPort: e.ListenPort(), NoUPnP: mapper == nil, Mapper: mapper})
		mx.observeNAT(ctx, r, err)
		if err == nil {
			tellEngineNAT(e, r)
		}
		return r, err
	}
	var rechecks <-chan nat.Report
	if len(servers) > 0 {
		rechecks = mx.recheckNAT(ctx, natCheck)
	}
	if f.headless || f.json || !isTerminal(stdout) {
		mx.announce(stderr)
		// Headless measures the NAT too, so a holepunch failure can say
		// what was measured; --stun "" turns it off and says so.
		go publishNATCheck(ctx, e, natCheck, natOff(servers))
		if e.Torrents() == 0 {
			// Every remembered torrent failed to restore (warned above).
			fmt.Fprintln(stderr, "swarmscope: no torrents to run")
			return ExitFailure
		}
		return runHeadless(ctx, mx.source(e), headlessOptions{Out: stdout, Err: stderr, JSON: f.json, Seed: f.seed})
	}
	err = tui.Run(tuiContext(ctx), tui.Options{
		// The header says the name and counts the torrents live.
		Title:       fmt.Sprintf("%s · listening on %s", version(), e.ListenAddr()),
		Backend:     e,
		CheckSource: checkSource,
		Snapshots:   e.Snapshots(),
		Events:      mx.events(e.Events()),
		NAT:         natCheck,
		NATOff:      natOff(servers),
		NATReports:  rechecks,
	})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "swarmscope: %v\n", text.CleanLine(err.Error()))
		return ExitFailure
	}
	// As headless: a signal before every torrent is complete interrupts
	// the download (README: exit 1). Quitting with a key is the user's
	// choice and exits 0.
	// A signal before the first tick (no snapshot yet) counts as
	// incomplete too: allDone is false for an empty snapshot.
	if ctx.Err() != nil && e.Torrents() > 0 {
		if done, failed := allDone(e.Latest()); !done || failed {
			fmt.Fprintln(stderr, "swarmscope: interrupted; verified pieces are kept and resume next time")
			return ExitFailure
		}
	}
	return ExitOK
}

// Session: the torrents of a download directory are remembered beside its
// piece state, in DIR/.swarmscope/session (engine/session).
func (f *downloadFlags) sessionDir() string { return filepath.Join(f.dir, ".swarmscope", "session") }

func (f *downloadFlags) sessionDirIfOn() string {
	if f.noSession {
		return ""
	}
	return f.sessionDir()
}

// hasSession reports whether torrents are remembered (a record exists).
func (f *downloadFlags) hasSession() bool {
	if f.noSession {
		return false
	}
	m, _ := filepath.Glob(filepath.Join(f.sessionDir(), "*.json"))
	return len(m) > 0
}

// checkSource is the TUI's add-dialog check: the engine's own parser.
func checkSource(source string) error {
	_, err := engine.ParseSource(source)
	return err
}

// tuiContext is the context the TUI runs under. Bubble Tea handles SIGINT
// and SIGTERM itself: on a signal its handler sends the program a message
// with a blocking send, and if the same signal has also cancelled the
// program's context, the event loop is gone, the send never completes and
// shutdown waits for that handler forever (seen: the TUI ignored SIGINT
// about one time in two). So the signal context reaches the TUI only if
// Bubble Tea has not ended within half a second of it, which covers a
// signal that came before its handler was installed.
func tuiContext(sig context.Context) context.Context {
	ctx, cancel := context.WithCancel(context.WithoutCancel(sig))
	go func() {
		select {
		case <-sig.Done():
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(500 * time.Millisecond):
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx
}

// validate checks flag values that parse but make no sense; every mistake
// is the user's (exit 2).
func (f *downloadFlags) validate() error {
	if err := f.pm.apply(&f.mapOpts); err != nil {
		return err
	}
	switch {
	case f.port < 0 || f.port > 65535:
		return fmt.Errorf("--port %d is not a port (0-65535)", f.port)
	case f.maxConns < 0:
		return fmt.Errorf("--max-conns %d is negative", f.maxConns)
	case f.uploadLimit < 0:
		return fmt.Errorf("--upload-limit %d is negative (0 = unlimited)", f.uploadLimit)
	case f.downloadLimit < 0:
		return fmt.Errorf("--download-limit %d is negative (0 = unlimited)", f.downloadLimit)
	case f.seedRatio < 0 || math.IsNaN(f.seedRatio) || math.IsInf(f.seedRatio, 0):
		return fmt.Errorf("--seed-ratio %v is not a ratio (0 = no limit)", f.seedRatio)
	case f.seedTime < 0:
		return fmt.Errorf("--seed-time %s is negative (0 = no limit)", f.seedTime)
	}
	for _, n := range splitList(f.dhtBootstrap) {
		if _, port, err := net.SplitHostPort(n); err != nil || port == "0" {
			return fmt.Errorf("--dht-bootstrap %q: want host:port", n)
		}
	}
	if f.metrics != "" {
		if err := metrics.CheckAddr(f.metrics); err != nil {
			return fmt.Errorf("--metrics %q: %v", f.metrics, err)
		}
	}
	if f.bind != "" {
		if err := checkBind(f.bind); err != nil {
			return fmt.Errorf("--bind %q: %v", f.bind, err)
		}
	}
	return nil
}

// checkBind accepts an IP address of this machine: anything else cannot be
// listened on, and would fail later as if the network were at fault.
func checkBind(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return errors.New("want an IP address of this machine")
	}
	if a.IsUnspecified() {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil // cannot tell; let listening decide
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.Unmap() {
				return nil
			}
		}
	}
	return errors.New("not an address of any local interface")
}

// parsePeer reads one --peer address: an IP and a port a peer can listen on.
func parsePeer(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	switch {
	case err != nil:
		return ap, errors.New("want IP:port")
	case ap.Port() == 0:
		return ap, errors.New("port 0 is not a port a peer listens on")
	case ap.Addr().IsUnspecified() || ap.Addr().IsMulticast():
		return ap, errors.New("not the address of a peer")
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// startUPnP maps the listen port in the background with every enabled
// protocol (UPnP, PCP, NAT-PMP); the engine labels inbound connections
// `upnp` while the mapping is active, and the events name the protocol.
func startUPnP(ctx context.Context, f *downloadFlags, e *engine.Engine, x *metrics.Exporter) *portmap.Mapper {
	probers := f.mapOpts.MapProbers()
	if len(probers) == 0 {
		return nil
	}
	m := portmap.New(portmap.Config{
		Probers: probers,
		Port:    e.ListenPort(),
		OnEvent: func(ev portmaptype.Event) {
			x.UPnPEvent(ev)
			e.Publish(swarm.Event{Time: ev.Time, Kind: swarm.EventNAT, Message: "port mapping " + string(ev.Kind) + ": " + ev.Message})
		},
	})
	e.SetUPnP(m)
	x.AddPortMapper(metrics.UPnP(m, []string{"tcp", "udp"}, true))
	go func() {
		// Failure is reported as an event; the download goes on without.
		if m.Start(ctx) == nil {
			noteUPnPAddr(e, m)
		}
	}()
	return m
}

// noteUPnPAddr tells the engine the gateway's external address with the
// mapped port: peers and trackers that list it back list us.
func noteUPnPAddr(e *engine.Engine, m *portmap.Mapper) {
	ip, err := netip.ParseAddr(m.Report().ExternalIP)
	if err != nil {
		return
	}
	e.NoteOwnAddr(netip.AddrPortFrom(ip.Unmap(), uint16(m.Port())), "port-mapping external address")
}

// tellEngineNAT gives the engine what STUN measured: the NAT type that
// holepunch failures cite, and our public address, never to be dialed.
func tellEngineNAT(e *engine.Engine, r nat.Report) {
	if r.NATType != nat.TypeUnknown {
		e.SetNATType(string(r.NATType))
	}
	if a, err := netip.ParseAddrPort(r.PublicAddr); err == nil {
		e.NoteOwnAddr(a, "STUN")
	}
	if r.UPnP.ExternalIP != "" {
		if ip, err := netip.ParseAddr(r.UPnP.ExternalIP); err == nil && r.ListenPort > 0 {
			e.NoteOwnAddr(netip.AddrPortFrom(ip.Unmap(), uint16(r.ListenPort)), "port-mapping external address")
		}
	}
}

// publishNATCheck runs one NAT check for a headless run and puts its
// result in the event stream (and so in the log or the JSON).
func publishNATCheck(ctx context.Context, e *engine.Engine, check func(context.Context) (nat.Report, error), off string) {
	if off != "" {
		e.Publish(swarm.Event{Kind: swarm.EventNAT, Message: "NAT not measured: " + off + ": holepunch failures cannot say what our NAT does"})
		return
	}
	r, err := check(ctx)
	if ctx.Err() != nil {
		return
	}
	e.Publish(swarm.Event{Kind: swarm.EventNAT, Message: natSummary(r, err)})
}

// natSummary is one line on what a NAT check measured.
func natSummary(r nat.Report, err error) string {
	if err != nil {
		return "NAT check failed: " + text.CleanLine(err.Error())
	}
	if !r.Measured() {
		return "NAT not measured: no STUN server answered"
	}
	msg := fmt.Sprintf("NAT measured by STUN: %s (mapping %s, filtering %s)", r.NATType, r.Mapping, r.Filtering)
	if r.PublicAddr != "" {
		msg += ", public address " + r.PublicAddr
	}
	return msg
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// natOff says why no NAT is measured (headless and TUI alike): an empty
// --stun turns STUN off.
func natOff(servers []string) string {
	if len(servers) == 0 {
		return `STUN turned off (--stun "")`
	}
	return ""
}
