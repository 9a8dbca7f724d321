package cli

import (
	"context"
	"encoding/json"
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
	"github.com/swarmscope/swarmscope/nat/upnp"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/render"
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
		noUPnP      = fs.Bool("no-upnp", false, "do not look for a UPnP gateway")
		keepMapping = fs.Bool("keep-mapping", false, "leave the UPnP port mapping in place after exit (until its lease ends)")
		port        = fs.Int("port", 0, "local UDP `port` to test from and to map (0 = any free port)")
		bind        = fs.String("bind", "", "local `IP` to test from (default: all interfaces)")
		upnpURL     = fs.String("upnp-url", "", "gateway description `URL` to use instead of SSDP discovery")
		timeout     = fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
		asJSON      = fs.Bool("json", false, "print one JSON object instead of the report")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: swarmscope nat [flags]\n\nMeasure your NAT with STUN (mapping, filtering, hairpinning), try a UPnP port\nmapping, and say whether peers can reach you.\n\nFlags:\n")
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

	// SIGINT/SIGTERM cancel the check; Check still removes any UPnP mapping
	// it made (with its own short timeouts) before returning.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := nat.Options{
		Servers:     servers,
		LocalIP:     *bind,
		LocalPort:   *port,
		Timeout:     *timeout,
		NoUPnP:      *noUPnP,
		KeepMapping: *keepMapping,
	}
	if *upnpURL != "" {
		opts.UPnPSource = upnp.DeviceURL(*upnpURL)
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
		enc := json.NewEncoder(stdout)
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

// printNatReport draws the human report: aligned label/value sections.
func printNatReport(w io.Writer, r nat.Report) {
	th := styles.New(lipgloss.NewRenderer(w))
	const labelW = 16
	var b strings.Builder
	section := func(title string) {
		b.WriteString("\n" + th.Title.Render(title) + "\n")
	}
	row := func(label, value string) {
		b.WriteString("  " + th.Subtle.Render(padRight(label, labelW)) + value + "\n")
	}
	yesNo := func(v *bool, yes, no string) string {
		switch {
		case v == nil:
			return th.Faint.Render("unknown")
		case *v:
			return yes
		}
		return no
	}
	bold := func(v *bool) string {
		switch {
		case v == nil:
			return th.Faint.Render("unknown")
		case *v:
			return th.Warn.Render("yes")
		}
		return "no"
	}

	b.WriteString(th.Brand.Render("swarmscope nat") + "  " + render.NATBadge(th, r.NATType) + "\n")

	section("Verdict")
	row("Reachable", render.Verdict(th, r.Reachable.Verdict))
	for i, line := range wrap(r.Reachable.Advice, 64) {
		if i == 0 {
			row("Advice", line)
		} else {
			row("", line)
		}
	}

	section("Addresses")
	row("Local", orDash(th, r.LocalAddr))
	row("Public", orDash(th, r.PublicAddr))
	row("Behind NAT", bold(r.BehindNAT))
	dn := bold(r.DoubleNAT)
	if nat.Yes(r.CGNAT) {
		dn += th.Subtle.Render("  (carrier-grade NAT address seen)")
	}
	row("Double NAT", dn)
	probed := strconv.Itoa(r.ProbedPort)
	if r.SharedSocket {
		probed += th.Subtle.Render("  (the torrent client's own socket)")
	} else {
		probed += th.Subtle.Render("  (fresh socket)")
	}
	row("Probed port", probed)
	if r.ListenPort != 0 && r.ListenPort != r.ProbedPort {
		row("Listen port", strconv.Itoa(r.ListenPort)+th.Subtle.Render("  (what peers are told)"))
	}

	section("Behaviour")
	row("NAT type", string(r.NATType))
	row("Mapping", behaviour(th, r.Mapping))
	row("Filtering", behaviour(th, r.Filtering))
	row("Port preserved", yesNo(r.PortPreserved, "yes", "no"))
	row("Hairpinning", yesNo(r.Hairpin, "yes", "no"))

	section("STUN servers")
	addrW := len("SERVER")
	for _, s := range r.Servers {
		addrW = max(addrW, len(s.Address))
	}
	b.WriteString("  " + th.Header.Render(padRight("SERVER", addrW+2)+padRight("RTT", 11)+padRight("MAPPED", 24)+"PROTOCOL") + "\n")
	for _, s := range r.Servers {
		if s.Error != "" {
			b.WriteString("  " + padRight(s.Address, addrW+2) + th.Bad.Render(oneLine(s.Error)) + "\n")
			continue
		}
		b.WriteString("  " + padRight(s.Address, addrW+2) + padRight(fmt.Sprintf("%.1f ms", s.RTTms), 11) + padRight(s.MappedAddr, 24) + s.Protocol + "\n")
	}

	section("UPnP")
	switch {
	case r.UPnP.Found:
		gw := r.UPnP.Device
		if r.UPnP.Service != "" {
			gw += th.Subtle.Render("  (" + r.UPnP.Service + ")")
		}
		row("Gateway", gw)
		row("External IP", orDash(th, r.UPnP.ExternalIP))
		for i, m := range r.UPnP.Mappings {
			lease := "permanent"
			if m.LeaseS > 0 {
				lease = fmt.Sprintf("lease %d s", m.LeaseS)
			}
			label := ""
			if i == 0 {
				label = "Mappings"
			}
			row(label, fmt.Sprintf("%s %d → %s  %s", m.Proto, m.ExternalPort, m.Internal, th.Subtle.Render(lease)))
		}
		if r.UPnP.Error != "" {
			row("Error", th.Bad.Render(r.UPnP.Error))
		}
	case r.UPnP.Error != "":
		row("Gateway", th.Faint.Render("none: "+r.UPnP.Error))
	default:
		row("Gateway", th.Faint.Render("none found"))
	}

	if len(r.Notes) > 0 {
		section("Notes")
		for _, n := range r.Notes {
			for i, line := range wrap(n, 74) {
				if i == 0 {
					b.WriteString("  • " + line + "\n")
				} else {
					b.WriteString("    " + line + "\n")
				}
			}
		}
	}
	b.WriteString("\n" + th.Faint.Render(fmt.Sprintf("Measured in %.2f s", r.DurationMs/1000)) + "\n")
	io.WriteString(w, b.String())
}

func behaviour(th *styles.Theme, b nat.Behavior) string {
	switch b {
	case nat.BehaviorUnknown, "":
		return th.Faint.Render("unknown")
	case nat.BehaviorEndpointIndependent, nat.BehaviorNone:
		return th.Good.Render(string(b))
	}
	return th.Warn.Render(string(b))
}

func orDash(th *styles.Theme, s string) string {
	if s == "" {
		return th.Faint.Render("—")
	}
	return s
}

func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s + " "
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(s) {
		if cur.Len() > 0 && len([]rune(cur.String()))+1+len([]rune(word)) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
