// Package events is the scrolling event log: holepunch attempts and their
// relays, UPnP and STUN changes, tracker results, peer churn and errors.
package events

import (
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Capacity is how many events the log keeps.
const Capacity = 2000

// Model is the events pane. It follows the newest event until the user
// scrolls up, like `tail -f`.
type Model struct {
	th     *styles.Theme
	loc    *time.Location
	all    []swarm.Event // oldest first, at most Capacity
	drawn  []string      // all[i] rendered once on arrival: events never change
	rows   []int         // into all, after the filter
	filter string
	list   render.List
	follow bool
}

// New returns an empty log that shows times in loc.
func New(th *styles.Theme, loc *time.Location) Model {
	if loc == nil {
		loc = time.Local
	}
	return Model{th: th, loc: loc, follow: true}
}

// Add appends events.
func (m *Model) Add(evs ...swarm.Event) {
	// Only ever append and reslice: copies of the model share the array,
	// and append reallocates (keeping only live events) when it is full.
	m.all = append(m.all, evs...)
	for i := range evs {
		m.drawn = append(m.drawn, Line(m.th, &evs[i], m.loc))
	}
	if over := len(m.all) - Capacity; over > 0 {
		m.all = m.all[over:]
		m.drawn = m.drawn[over:]
	}
	m.apply()
}

// All returns the events kept, oldest first.
func (m *Model) All() []swarm.Event { return m.all }

// LastLine returns the newest event rendered, for the ticker.
func (m *Model) LastLine() (string, bool) {
	if len(m.drawn) == 0 {
		return "", false
	}
	return m.drawn[len(m.drawn)-1], true
}

// Last returns the newest event.
func (m *Model) Last() (swarm.Event, bool) {
	if len(m.all) == 0 {
		return swarm.Event{}, false
	}
	return m.all[len(m.all)-1], true
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
		if m.filter == "" || strings.Contains(strings.ToLower(Text(&m.all[i])), m.filter) {
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

// Click selects the row at content line y.
func (m *Model) Click(y int) {
	m.list.Cursor = m.list.Offset + y
	m.list.Clamp()
	m.Moved()
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

// Lines renders the pane content, w x h.
func (m *Model) Lines(w, h int, focused bool) []string {
	th := m.th
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
		line := m.drawn[m.rows[i]]
		if focused && i == m.list.Cursor {
			line = render.Highlight(render.Fit("›"+line, w), true, th)
		} else {
			line = " " + line
		}
		out = append(out, line)
	}
	return render.Block(out, w, h)
}
