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

	"github.com/charmbracelet/lipgloss"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/natreport"
	"github.com/swarmscope/swarmscope/ui/text"
)

// defaultSTUN are well-known public servers; stun.stunprotocol.org runs
// stuntman, which answers RFC 5780 behaviour tests, the others give the
// public endpoint for cross-checking the mapping.
var defaultSTUN = []string{"stun.l.google.com:19302", "stun.stunprotocol.org:3478", "stun.cloudflare.com:3478"}

// runNat implements `swarmscope nat`: diagnose the NAT and print the report.
func runNat(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("swarmscope nat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		stunList    = fs.String("stun", strings.Join(defaultSTUN, ","), "STUN servers to query, `host:port,...`")
		keepMapping = fs.Bool("keep-mapping", false, "leave the port mapping in place after exit (until its lease ends)")
		port        = fs.Int("port", 0, "local UDP `port` to test from and to map (0 = any free port)")
		bind        = fs.String("bind", "", "local `IP` to test from (default: all interfaces)")
		timeout     = fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
		asJSON      = fs.Bool("json", false, "print one JSON object instead of the report")
		pm          portmapFlags
	)
	pm.register(fs, "do not map a port on the gateway (no UPnP, PCP or NAT-PMP)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: swarmscope nat [flags]\n\nMeasure your NAT with STUN (mapping, filtering, hairpinning), try a port\nmapping (UPnP, PCP, NAT-PMP at once), and say whether peers can reach you.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "swarmscope nat: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	servers := splitList(*stunList)
	if len(servers) == 0 {
		fmt.Fprintln(stderr, "swarmscope nat: --stun needs at least one host:port")
		return 2
	}
	for _, s := range servers {
		if _, p, err := splitHostPort(s); err != nil || p <= 0 || p > 65535 {
			fmt.Fprintf(stderr, "swarmscope nat: bad STUN server %q: want host:port\n", s)
			return 2
		}
	}
	if *port < 0 || *port > 65535 {
		fmt.Fprintf(stderr, "swarmscope nat: bad --port %d\n", *port)
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "swarmscope nat: --timeout must be positive")
		return 2
	}

	// SIGINT/SIGTERM cancel the check; Check still removes any mapping
	// it made (with its own short timeouts) before returning.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := nat.Options{
		Servers:     servers,
		LocalIP:     *bind,
		LocalPort:   *port,
		Timeout:     *timeout,
		KeepMapping: *keepMapping,
	}
	if err := pm.apply(&opts); err != nil {
		fmt.Fprintf(stderr, "swarmscope nat: %v\n", err)
		return 2
	}
	rep, err := nat.Check(ctx, opts)
	if ctx.Err() != nil {
		// Interrupted: the measurement is incomplete, but Check has
		// already removed any mapping it made.
		fmt.Fprintln(stderr, "swarmscope nat: interrupted")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "swarmscope nat: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := text.NewJSONEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "swarmscope nat: %v\n", err)
			return 1
		}
	} else {
		printNatReport(stdout, rep)
	}
	if !rep.Measured() {
		// The report says why; the exit status says it is not a result.
		fmt.Fprintln(stderr, "swarmscope nat: nothing could be measured")
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, errors.New("missing port")
	}
	p, err := strconv.Atoi(s[i+1:])
	return s[:i], p, err
}

// printNatReport draws the human report with the renderer the TUI's NAT
// pane uses, in its full layout: titled sections, every STUN server, the
// notes. Every string from the network is cleaned on the way.
func printNatReport(w io.Writer, r nat.Report) {
	th := styles.New(lipgloss.NewRenderer(w))
	lines := natreport.Lines(th, r, natreport.Full, 80)
	io.WriteString(w, strings.Join(lines, "\n")+"\n")
}
