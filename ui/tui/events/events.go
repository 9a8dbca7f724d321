// Package events is the scrolling event log: holepunch attempts and their
// relays, UPnP and STUN changes, tracker results, peer churn and errors.
// Consecutive identical events collapse into one row with a count; enter
// opens an event's full text.
package events

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Capacity is how many rows (collapsed events) the log keeps.
const Capacity = 2000

// entry is one row: an event, and how many identical ones arrived in a
// row (the first's time is kept as first, the last's in ev).
type entry struct {
	ev    swarm.Event
	n     int
	first time.Time
	line  string // drawn once per change: rows are redrawn every frame
}

// Model is the events pane. It follows the newest event until the user
// scrolls up, like `tail -f`.
type Model struct {
	th     *styles.Theme
	keys   keys.KeyMap
	loc    *time.Location
	all    []entry // oldest first, at most Capacity
	rows   []int   // into all, after the filter
	filter string
	list   render.List
	follow bool
	w, h   int
}

// New returns an empty log that shows times in loc.
func New(th *styles.Theme, k keys.KeyMap, loc *time.Location) Model {
	if loc == nil {
		loc = time.Local
	}
	return Model{th: th, keys: k, loc: loc, follow: true}
}

// Name is the pane's title.
func (m *Model) Name() string { return "Events" }

// Info counts the events and names the filter.
func (m *Model) Info() string {
	info := render.CountInfo(len(m.rows), len(m.all))
	if m.filter != "" {
		info += " · /" + m.filter
	}
	return info
}

// ShortHelp is the footer's hints.
func (m *Model) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "full text")), m.keys.Filter, m.keys.End}
}

// same reports whether b repeats a: everything but the time (and the
// engine's own count).
func same(a, b *swarm.Event) bool {
	return a.Kind == b.Kind && a.InfoHash == b.InfoHash && a.Peer == b.Peer && a.Origin == b.Origin &&
		a.Via == b.Via && a.Message == b.Message
}

// repeatWindow is how far back a repeat looks for the row it repeats.
const repeatWindow = 256

// repeated is the row event e repeats, or -1.
func (m *Model) repeated(e *swarm.Event) int {
	for j := len(m.all) - 1; j >= 0 && j >= len(m.all)-repeatWindow; j-- {
		r := &m.all[j].ev
		if r.Kind == e.Kind && r.InfoHash == e.InfoHash && r.Peer == e.Peer {
			return j
		}
	}
	return -1
}

// Add appends events; one identical to the newest row adds to its count.
func (m *Model) Add(evs ...swarm.Event) {
	for i := range evs {
		e := &evs[i]
		if e.Repeat > 1 {
			// The engine counted it: it takes the place of the row it
			// repeats (same kind, torrent and peer), with the newest text.
			if j := m.repeated(e); j >= 0 {
				row := &m.all[j]
				row.ev, row.n = *e, max(e.Repeat, row.n+1)
				row.line = m.draw(row)
				continue
			}
		}
		if n := len(m.all); n > 0 && same(&m.all[n-1].ev, e) {
			// In place: the model copies that share the array are ones
			// Bubble Tea has already replaced.
			last := &m.all[n-1]
			last.ev, last.n = *e, last.n+1
			last.line = m.draw(last)
			continue
		}
		en := entry{ev: *e, n: 1, first: e.Time}
		en.line = m.draw(&en)
		m.all = append(m.all, en)
	}
	if over := len(m.all) - Capacity; over > 0 {
		m.all = m.all[over:]
	}
	m.apply()
}

func (m *Model) draw(en *entry) string {
	l := Line(m.th, &en.ev, m.loc)
	if en.n > 1 {
		l += m.th.Accent.Render(" ×" + strconv.Itoa(en.n))
	}
	return l
}

// All returns the events kept, oldest first, a collapsed run as its newest.
func (m *Model) All() []swarm.Event {
	out := make([]swarm.Event, len(m.all))
	for i := range m.all {
		out[i] = m.all[i].ev
	}
	return out
}

// Len is the number of rows kept.
func (m *Model) Len() int { return len(m.all) }

// Last returns the newest event.
func (m *Model) Last() (swarm.Event, bool) {
	if len(m.all) == 0 {
		return swarm.Event{}, false
	}
	return m.all[len(m.all)-1].ev, true
}

// SelectedLine is the selected event drawn, for the status line: it is
// the newest while the log follows, the one the user picked otherwise.
func (m *Model) SelectedLine() (string, bool) {
	if m.list.Cursor < len(m.rows) {
		return m.all[m.rows[m.list.Cursor]].line, true
	}
	return "", false
}

// SetFilter keeps events whose text contains f.
func (m *Model) SetFilter(f string) {
	m.filter = strings.ToLower(strings.TrimSpace(f))
	m.apply()
}

// Filter is the active filter.
func (m *Model) Filter() string { return m.filter }

func (m *Model) apply() {
	m.rows = make([]int, 0, len(m.all))
	for i := range m.all {
		if m.filter == "" || strings.Contains(strings.ToLower(Text(&m.all[i].ev)), m.filter) {
			m.rows = append(m.rows, i)
		}
	}
	m.list.Len = len(m.rows)
	if m.follow {
		m.list.End()
	}
	m.list.Clamp()
}

// SetSize sets the content area.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.list.Height = h
	if m.follow {
		m.list.End()
	}
	m.list.Clamp()
}

// List exposes the cursor for navigation keys; call Moved afterwards.
func (m *Model) List() *render.List { return &m.list }

// Moved resumes following when the cursor is back on the newest event.
func (m *Model) Moved() { m.follow = m.list.Cursor >= m.list.Len-1 }

// Key moves the selection; enter opens the selected event's full text.
func (m *Model) Key(msg tea.KeyMsg) pane.Reply {
	switch {
	case m.keys.Navigate(&m.list, msg):
		m.Moved()
		return pane.Handled
	case key.Matches(msg, m.keys.Enter):
		if m.list.Cursor < len(m.rows) {
			return pane.Reply{Handled: true, Open: m.detail(m.all[m.rows[m.list.Cursor]])}
		}
		return pane.Handled
	}
	return pane.Reply{}
}

// Click selects the row at content line y.
func (m *Model) Click(x, y int) pane.Reply {
	m.list.Cursor = m.list.Offset + y
	m.list.Clamp()
	m.Moved()
	return pane.Handled
}

// Scroll moves the view by d rows.
func (m *Model) Scroll(d int) pane.Reply {
	m.list.Scroll(d)
	m.Moved()
	return pane.Handled
}

// detail is the full text of one row: when, what, which torrent, which
// peer and relay, and the whole message.
func (m *Model) detail(en entry) pane.Dialog {
	th, loc := m.th, m.loc
	e := en.ev
	return dialog.NewText(th, "Event", 96, func(w, h int) []string {
		kv := func(k, v string) string { return dialog.KV(th, k, v, 10) }
		g, st := Glyph(th, &e)
		when := e.Time.In(loc).Format("2006-01-02 15:04:05.000 MST")
		body := []string{kv("kind", st.Render(g+" "+string(e.Kind))), kv("time", when)}
		if en.n > 1 {
			body = append(body, kv("repeated", text.Plural(en.n, "time")+", first at "+en.first.In(loc).Format("15:04:05.000")))
		}
		if e.InfoHash != "" {
			body = append(body, kv("torrent", e.InfoHash))
		}
		if e.Peer != "" {
			body = append(body, kv("peer", e.Peer))
		}
		if e.Origin != "" {
			body = append(body, kv("origin", render.OriginName(th, e.Origin)))
		}
		if e.Via != "" {
			body = append(body, kv("relay", e.Via))
		}
		if e.Message != "" {
			body = append(body, "")
			body = append(body, text.Wrap(e.Message, max(w, 20))...)
		}
		if max := h - 6; len(body) > max && max > 3 {
			body = append(body[:max-1], th.Faint.Render("…"))
		}
		return body
	})
}

// Text is the searchable, uncoloured text of an event.
func Text(e *swarm.Event) string {
	var sb strings.Builder
	sb.WriteString(string(e.Kind))
	if e.Origin != "" {
		sb.WriteString(" " + string(e.Origin))
	}
	if e.Peer != "" {
		sb.WriteString(" " + e.Peer)
	}
	if e.Via != "" {
		sb.WriteString(" via " + e.Via)
	}
	if e.Message != "" {
		sb.WriteString(" " + e.Message)
	}
	return sb.String()
}

// Line renders one event in colour: time, glyph, kind, peer, relay, message.
func Line(th *styles.Theme, e *swarm.Event, loc *time.Location) string {
	ts := th.Faint.Render(e.Time.In(loc).Format("15:04:05"))
	g, st := Glyph(th, e)
	var sb strings.Builder
	sb.WriteString(ts + " " + st.Render(g+" "+string(e.Kind)))
	if e.Peer != "" {
		sb.WriteString(" " + e.Peer)
	}
	if e.Via != "" {
		sb.WriteString(th.Subtle.Render(" via " + e.Via))
	}
	if e.Message != "" {
		sb.WriteString(th.Subtle.Render(" " + e.Message))
	}
	return sb.String()
}

// Glyph picks the symbol and style of an event: holepunches in the
// holepunch colour, failures red, peer churn in the peer's origin colour.
func Glyph(th *styles.Theme, e *swarm.Event) (string, lipgloss.Style) {
	switch e.Kind {
	case swarm.EventHolepunchSucceeded:
		return "✓", render.Origin(th, swarm.OriginHolepunched)
	case swarm.EventHolepunchRendezvous, swarm.EventHolepunchConnect, swarm.EventHolepunchRelayed:
		return "◆", render.Origin(th, swarm.OriginHolepunched)
	case swarm.EventHolepunchFailed, swarm.EventHolepunchError, swarm.EventTrackerError, swarm.EventDHTError, swarm.EventError:
		return "✗", th.Bad
	case swarm.EventPeerConnected:
		return "+", render.Origin(th, e.Origin)
	case swarm.EventPeerDisconnected:
		return "-", th.Faint
	case swarm.EventNAT:
		return "⇄", th.Accent
	case swarm.EventTorrentCompleted:
		return "✓", th.Good
	case swarm.EventTrackerAnnounce:
		return "·", th.Subtle
	}
	return "•", th.Text
}

// Lines renders the pane content at the size set.
func (m *Model) Lines(focused bool) []string {
	th, w, h := m.th, m.w, m.h
	if len(m.rows) == 0 {
		msg := "no events yet"
		if m.filter != "" {
			msg = "no event matches the filter"
		}
		return render.Block([]string{th.Subtle.Render(" " + msg)}, w, h)
	}
	m.list.Height = h
	m.list.Clamp()
	from, to := m.list.Visible()
	out := make([]string, 0, h)
	for i := from; i < to; i++ {
		line := m.all[m.rows[i]].line
		if focused && i == m.list.Cursor {
			line = render.Highlight(render.Fit("›"+line, w), true, th)
		} else {
			line = " " + line
		}
		out = append(out, line)
	}
	return render.Block(out, w, h)
}
