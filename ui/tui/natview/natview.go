// Package natview is the NAT pane: the user's endpoints, the NAT's mapping
// and filtering behaviour, the port mapping, and the verdict with advice,
// drawn by the renderer the `swarmscope nat` printer uses (ui/natreport).
package natview

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/natreport"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Model is the NAT pane.
type Model struct {
	th       *styles.Theme
	keys     keys.KeyMap
	canRerun bool
	off      string
	report   *nat.Report
	running  bool
	err      string
	offset   int
	w, h     int
	// cache is made by New and shared by the model's copies (View runs on
	// a copy); it is keyed by the report pointer, new on every SetReport.
	cache *reportCache
}

type reportCache struct {
	report *nat.Report
	w      int
	lines  []string
}

// New returns a pane with no report yet; canRerun says whether r runs a
// diagnosis here.
func New(th *styles.Theme, k keys.KeyMap, canRerun bool) Model {
	return Model{th: th, keys: k, canRerun: canRerun, cache: &reportCache{}}
}

// SetOff records why no diagnosis runs (e.g. --stun ""); it replaces the
// "no diagnosis yet" line.
func (m *Model) SetOff(why string) { m.off = why }

// Name is the pane's title.
func (m *Model) Name() string { return "NAT" }

// Info says a diagnosis is running.
func (m *Model) Info() string {
	if m.running {
		return m.th.Warn.Render("checking…")
	}
	return ""
}

// SetSize sets the content area.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h }

// ShortHelp is the footer's hints.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.keys.Rerun, m.keys.Map} }

// Key scrolls the report.
func (m *Model) Key(msg tea.KeyMsg) pane.Reply {
	switch {
	case key.Matches(msg, m.keys.Up):
		m.Scroll(-1)
	case key.Matches(msg, m.keys.Down):
		m.Scroll(1)
	case key.Matches(msg, m.keys.Home):
		m.offset = 0
	default:
		return pane.Reply{}
	}
	return pane.Handled
}

// Click: nothing to select.
func (m *Model) Click(x, y int) pane.Reply { return pane.Handled }

// Scroll moves the view by d lines.
func (m *Model) Scroll(d int) pane.Reply {
	m.offset = max(0, m.offset+d)
	return pane.Handled
}

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

// Lines renders the pane content at the size set.
func (m *Model) Lines(focused bool) []string {
	th, w, h := m.th, m.w, m.h
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
			if m.off != "" {
				msg = "NAT not measured: " + m.off
			} else if m.canRerun {
				msg += " — press r to run one"
			}
			out = append(out, th.Subtle.Render(msg))
		}
		return render.Block(out, w, h)
	}
	out = append(out, m.reportLines(w)...)
	if m.canRerun && !m.running {
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
	lines := natreport.Lines(m.th, *m.report, natreport.Compact, w)
	if c != nil {
		*c = reportCache{report: m.report, w: w, lines: lines}
	}
	return lines
}
