// Package paths is the per-origin throughput pane: what each way of reaching
// peers (inbound, outbound, holepunched, UPnP) gives now, in total, and over
// the last minutes.
package paths

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Model is the paths pane.
type Model struct {
	th    *styles.Theme
	paths [swarm.NumOrigins]swarm.PathStats
	// Series per origin, oldest first, converted once per snapshot.
	down, up [swarm.NumOrigins][]float64
	peak     float64
	// token identifies the data of one SetSnapshot; the frame drawn from it
	// is kept in cache until the data or the size changes.
	token *byte
	cache *frameCache
	keys  keys.KeyMap
	w, h  int
}

type frameCache struct {
	token *byte
	w, h  int
	lines []string
}

// New returns an empty pane.
func New(th *styles.Theme, k keys.KeyMap) Model { return Model{th: th, keys: k, cache: &frameCache{}} }

// Name is the pane's title.
func (m *Model) Name() string { return "Paths" }

// Info adds nothing to the title.
func (m *Model) Info() string { return "" }

// SetSize sets the content area.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h }

// ShortHelp is the footer's hints.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.keys.Map} }

// Key: the pane has no keys of its own.
func (m *Model) Key(tea.KeyMsg) pane.Reply { return pane.Reply{} }

// Click: nothing to select.
func (m *Model) Click(x, y int) pane.Reply { return pane.Handled }

// Scroll: everything is on screen.
func (m *Model) Scroll(int) pane.Reply { return pane.Handled }

// SetSnapshot takes the paths of s.
func (m *Model) SetSnapshot(s *swarm.Snapshot) {
	for i, o := range swarm.AllOrigins() {
		p := s.Path(o)
		m.paths[i] = p
		m.down[i] = make([]float64, 0, len(p.History))
		m.up[i] = make([]float64, 0, len(p.History))
		for _, r := range p.History {
			m.down[i] = append(m.down[i], r.DownBps)
			m.up[i] = append(m.up[i], r.UpBps)
		}
	}
	m.peak = m.computePeak()
	m.token = new(byte)
}

// Series returns the download and upload history of origin o.
func (m *Model) Series(o swarm.Origin) (down, up []float64) {
	for i, x := range swarm.AllOrigins() {
		if x == o {
			return m.down[i], m.up[i]
		}
	}
	return nil, nil
}

// Peak is the highest sample over all origins and both directions, the
// common scale that lets the paths be compared.
func (m *Model) Peak() float64 { return m.peak }

func (m *Model) computePeak() float64 {
	peak := 0.0
	for i := range swarm.AllOrigins() {
		for _, v := range m.down[i] {
			peak = max(peak, v)
		}
		for _, v := range m.up[i] {
			peak = max(peak, v)
		}
	}
	return peak
}

// Lines renders the pane content at the size set.
func (m *Model) Lines(focused bool) []string {
	w, h := m.w, m.h
	// The cache is reached through a pointer made by New: View runs on a
	// copy of the model, and only a shared pointer outlives it.
	c := m.cache
	if c != nil && c.token == m.token && c.w == w && c.h == h && c.lines != nil {
		return c.lines
	}
	lines := m.draw(w, h)
	if c != nil {
		*c = frameCache{token: m.token, w: w, h: h, lines: lines}
	}
	return lines
}

func (m *Model) draw(w, h int) []string {
	th := m.th
	const label = 13 // "◆ holepunched"
	stats := 5 + 1 + 9 + 1 + 9 + 1 + 8 + 1 + 8
	// The totals say what each path gave: they go before the chart, which
	// shows only when it has room to say something.
	chartW := w - label - 1 - stats - 2
	showTotals := true
	if chartW < 0 {
		stats -= 18
		showTotals = false
		chartW = w - label - 1 - stats - 2
	}
	if chartW < 8 {
		chartW = 0
	}
	twoRows := h >= 2+2*swarm.NumOrigins
	peak := m.Peak()

	var out []string
	hdr := render.Fit("Path", label) + " " + render.FitRight("Peers", 5) + " " + render.FitRight("↓ now", 9) + " " + render.FitRight("↑ now", 9)
	if showTotals {
		hdr += " " + render.FitRight("↓ total", 8) + " " + render.FitRight("↑ total", 8)
	}
	if chartW > 0 {
		span := m.span()
		// The longest caption that fits: the span matters most.
		capt := span
		for _, c := range []string{"history, " + span + ", peak " + text.Rate(peak), span + ", peak " + text.Rate(peak)} {
			if render.Width(c) <= chartW {
				capt = c
				break
			}
		}
		hdr += "  " + render.Fit(capt, chartW)
	}
	out = append(out, th.Header.Render(render.Fit(hdr, w)))
	for i, o := range swarm.AllOrigins() {
		p := m.paths[i]
		st := render.Origin(th, o)
		name := st.Render(render.Fit(o.Info().Glyph+" "+string(o), label))
		row := name + " " + render.FitRight(strconv.Itoa(p.Peers), 5) + " " +
			render.FitRight(text.Rate(p.DownBps), 9) + " " + render.FitRight(text.Rate(p.UpBps), 9)
		if showTotals {
			row += " " + render.FitRight(text.Bytes(p.DownBytes), 8) + " " + render.FitRight(text.Bytes(p.UpBytes), 8)
		}
		if chartW > 0 {
			d := render.Sparkline(m.down[i], chartW-2, peak)
			if twoRows {
				row += "  " + th.Subtle.Render("↓ ") + st.Render(d)
				out = append(out, row)
				u := render.Sparkline(m.up[i], chartW-2, peak)
				out = append(out, strings.Repeat(" ", w-chartW)+th.Subtle.Render("↑ ")+th.Faint.Render(u))
				continue
			}
			row += "  " + th.Subtle.Render("↓ ") + st.Render(d)
		}
		out = append(out, row)
	}
	if len(out) < h {
		out = append(out, "")
		out = append(out, " "+render.Legend(th))
	}
	return render.Block(out, w, h)
}

// span describes how much history the chart holds, e.g. "last 10m".
func (m *Model) span() string {
	n := 0
	for i := range swarm.AllOrigins() {
		n = max(n, len(m.down[i]))
	}
	return "last " + text.Span(secs(n))
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }
