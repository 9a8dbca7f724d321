// Package natview draws a nat.Report: the user's endpoints, the NAT's
// mapping and filtering behaviour, the UPnP mapping, and the verdict with
// advice. Lines builds plain lines so the same drawing serves the pane, a
// scrolling viewport and the printed `swarmscope nat` report.
package natview

import (
	"fmt"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/format"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Model is the NAT pane.
type Model struct {
	th      *styles.Theme
	report  *nat.Report
	running bool
	err     string
	offset  int
	// cache is made by New and shared by the model's copies (View runs on
	// a copy); it is keyed by the report pointer, new on every SetReport.
	cache *reportCache
}

type reportCache struct {
	report *nat.Report
	w      int
	lines  []string
}

// New returns a pane with no report yet.
func New(th *styles.Theme) Model { return Model{th: th, cache: &reportCache{}} }

// SetReport shows r.
func (m *Model) SetReport(r nat.Report) { m.report, m.err, m.running = &r, "", false }

// Report is the report shown, if any.
func (m *Model) Report() (nat.Report, bool) {
	if m.report == nil {
		return nat.Report{}, false
	}
	return *m.report, true
}

// SetRunning marks a diagnosis in progress.
func (m *Model) SetRunning(b bool) { m.running = b }

// Running reports whether a diagnosis is in progress.
func (m *Model) Running() bool { return m.running }

// SetError records a failed diagnosis; the previous report stays visible.
func (m *Model) SetError(err error) { m.err, m.running = err.Error(), false }

// Failed reports whether the last diagnosis failed.
func (m *Model) Failed() bool { return m.err != "" }

// Scroll moves the view by d lines.
func (m *Model) Scroll(d int) { m.offset = max(0, m.offset+d) }

// Home scrolls to the top.
func (m *Model) Home() { m.offset = 0 }

// Lines renders the pane content, w x h.
func (m *Model) Lines(w, h int, canRerun bool) []string {
	th := m.th
	var out []string
	switch {
	case m.running:
		out = append(out, th.Warn.Render("⟳ running NAT diagnosis (STUN + UPnP)…"))
	case m.err != "":
		out = append(out, th.Bad.Render("✗ diagnosis failed: "+m.err))
	}
	if m.report == nil {
		if !m.running {
			msg := "no NAT diagnosis yet"
			if canRerun {
				msg += " — press r to run one"
			}
			out = append(out, th.Subtle.Render(msg))
		}
		return render.Block(out, w, h)
	}
	out = append(out, m.reportLines(w)...)
	if canRerun && !m.running {
		out = append(out, th.Faint.Render("r re-runs the diagnosis"))
	}
	m.offset = max(0, min(m.offset, len(out)-h))
	return render.Block(out[m.offset:], w, h)
}

// reportLines draws the report once per report and width: the pane is
// redrawn on every frame but the report changes only when re-run.
func (m *Model) reportLines(w int) []string {
	c := m.cache
	if c != nil && c.report == m.report && c.w == w {
		return c.lines
	}
	lines := Lines(m.th, *m.report, w)
	if c != nil {
		*c = reportCache{report: m.report, w: w, lines: lines}
	}
	return lines
}

// Lines draws report r in width w (lines may be shorter).
func Lines(th *styles.Theme, r nat.Report, w int) []string {
	const k = 16
	kv := func(key, val string) string {
		return th.Subtle.Render(render.Fit(key, k)) + val
	}
	var out []string
	out = append(out, render.NATBadge(th, r.NATType)+" "+render.Verdict(th, r.Reachable.Verdict))
	out = append(out, kv("local", orDash(r.LocalAddr)))
	pub := orDash(r.PublicAddr)
	if nat.No(r.BehindNAT) && r.PublicAddr != "" {
		pub += th.Good.Render("  (no NAT)")
	}
	out = append(out, kv("public", pub))
	out = append(out, kv("mapping", behavior(th, r.Mapping)))
	out = append(out, kv("filtering", behavior(th, r.Filtering)))
	out = append(out, kv("port preserved", yesNo(th, r.PortPreserved, true)))
	out = append(out, kv("hairpin", yesNo(th, r.Hairpin, true)))
	if nat.Yes(r.DoubleNAT) {
		out = append(out, th.Bad.Render("⚠ double NAT: another NAT sits behind your router; UPnP on the inner one cannot open you to the internet"))
	}
	// UPnP
	u := r.UPnP
	switch {
	case u.Found:
		dev := u.Device
		if dev == "" {
			dev = "IGD"
		}
		out = append(out, kv("UPnP", th.Good.Render("✓ "+dev)))
		out = append(out, kv("external IP", orDash(u.ExternalIP)))
		if len(u.Mappings) == 0 {
			out = append(out, kv("", th.Warn.Render("no mapping held")))
		}
		for _, mp := range u.Mappings {
			lease := "permanent"
			if mp.LeaseS > 0 {
				lease = "lease " + leaseLeft(time.Duration(mp.LeaseS)*time.Second)
			}
			line := fmt.Sprintf("%s %d → %s ", mp.Proto, mp.ExternalPort, mp.Internal)
			if k+render.Width(line+lease) > w {
				// The internal host is ours anyway; its port is what matters.
				if i := strings.LastIndexByte(mp.Internal, ':'); i >= 0 {
					line = fmt.Sprintf("%s %d → %s ", mp.Proto, mp.ExternalPort, mp.Internal[i:])
				}
			}
			out = append(out, kv("", line+th.Subtle.Render(lease)))
		}
		if u.Error != "" {
			out = append(out, kv("", th.Bad.Render(u.Error)))
		}
	case u.Error != "":
		out = append(out, kv("UPnP", th.Bad.Render("✗ "+u.Error)))
	default:
		out = append(out, kv("UPnP", th.Subtle.Render("no UPnP gateway found")))
	}
	// STUN servers, briefly.
	ok, total := 0, len(r.Servers)
	for _, s := range r.Servers {
		if s.Error == "" {
			ok++
		}
	}
	if total > 0 {
		out = append(out, kv("STUN", fmt.Sprintf("%d/%d servers answered in %.0f ms", ok, total, r.DurationMs)))
	}
	if r.Reachable.Advice != "" {
		out = append(out, "")
		for i, l := range render.Wrap(r.Reachable.Advice, max(w-2, 20)) {
			if i == 0 {
				out = append(out, th.Accent.Render("» ")+l)
			} else {
				out = append(out, "  "+l)
			}
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func behavior(th *styles.Theme, b nat.Behavior) string {
	switch b {
	case nat.BehaviorEndpointIndependent, nat.BehaviorNone:
		return th.Good.Render(string(b))
	case nat.BehaviorAddressDependent:
		return th.Warn.Render(string(b))
	case nat.BehaviorAddressAndPortDependent:
		return th.Bad.Render(string(b))
	case "":
		return th.Subtle.Render("unknown")
	}
	return th.Subtle.Render(string(b))
}

func yesNo(th *styles.Theme, b *bool, goodWhenTrue bool) string {
	switch {
	case b == nil:
		return th.Subtle.Render("unknown")
	case *b == goodWhenTrue:
		return th.Good.Render(map[bool]string{true: "yes", false: "no"}[*b])
	}
	return th.Warn.Render(map[bool]string{true: "yes", false: "no"}[*b])
}

// leaseLeft is a lease in whole minutes or hours, short enough to stay on
// the mapping's line.
func leaseLeft(d time.Duration) string {
	switch {
	case d < time.Minute:
		return format.Duration(d)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
