// Package torrents is the torrent list pane: one row per torrent with its
// progress, rates and its peers split by origin.
package torrents

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Model is the torrents pane.
type Model struct {
	th     *styles.Theme
	all    []swarm.TorrentInfo
	rows   []swarm.TorrentInfo // after the filter
	filter string
	sel    string // info hash of the selected torrent, kept across ticks
	list   render.List
	keys   keys.KeyMap
	width  int
	height int
}

// New returns an empty pane.
func New(th *styles.Theme, k keys.KeyMap) Model { return Model{th: th, keys: k} }

// Name is the pane's title.
func (m *Model) Name() string { return "Torrents" }

// Info counts the torrents shown and names the filter.
func (m *Model) Info() string {
	info := render.CountInfo(len(m.rows), len(m.all))
	if m.filter != "" {
		info += " · /" + m.filter
	}
	return info
}

// ShortHelp is the footer's hints.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	return []key.Binding{k.Add, k.Pause, k.Remove, k.Files, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "peers"))}
}

// Key moves the selection; enter goes to the selected torrent's peers.
func (m *Model) Key(msg tea.KeyMsg) pane.Reply {
	if m.keys.Navigate(&m.list, msg) {
		m.remember()
		return pane.Reply{Handled: true, Selected: true}
	}
	if key.Matches(msg, m.keys.Enter) {
		return pane.Reply{Handled: true, Focus: "Peers"}
	}
	return pane.Reply{}
}

// Scroll moves the view (and the selection with it) by d rows.
func (m *Model) Scroll(d int) pane.Reply {
	m.list.Scroll(d)
	m.remember()
	return pane.Reply{Handled: true, Selected: true}
}

// SetSnapshot takes the torrents of s.
func (m *Model) SetSnapshot(s *swarm.Snapshot) { m.SetTorrents(s.Torrents) }

const (
	colCursor = iota
	colName
	colProgress
	colSize
	colState
	colDown
	colUp
	colETA
	colRatio
	colPeers
)

var columns = []render.Column{
	{Width: 1, Prio: 100},
	{Title: "Name", Width: 14, Flex: true, Prio: 99},
	{Title: "Progress", Width: 15, Prio: 90},
	{Title: "Size", Width: 7, Right: true, Prio: 40},
	{Title: "State", Width: 11, Prio: 50},
	{Title: "↓", Width: 9, Right: true, Prio: 80},
	{Title: "↑", Width: 9, Right: true, Prio: 60},
	{Title: "ETA", Width: 6, Right: true, Prio: 30},
	{Title: "Ratio", Width: 5, Right: true, Prio: 20},
	{Title: "Peers in/out/hp/upnp", Width: 20, Prio: 70},
}

// SetSize sets the content area (header row included).
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.list.Height = max(h-1, 0)
	m.list.Clamp()
}

// SetTorrents replaces the list, keeping the selection on the same torrent.
func (m *Model) SetTorrents(ts []swarm.TorrentInfo) {
	m.all = ts
	m.apply()
}

// SetFilter keeps only torrents whose name or info hash contains f.
func (m *Model) SetFilter(f string) {
	m.filter = strings.ToLower(strings.TrimSpace(f))
	m.apply()
}

// Filter is the active filter.
func (m *Model) Filter() string { return m.filter }

func (m *Model) apply() {
	m.rows = make([]swarm.TorrentInfo, 0, len(m.all)) // fresh: models are copied
	for _, t := range m.all {
		if m.filter != "" && !strings.Contains(strings.ToLower(t.Name), m.filter) && !strings.Contains(t.InfoHash, m.filter) {
			continue
		}
		m.rows = append(m.rows, t)
	}
	m.list.Len = len(m.rows)
	for i, t := range m.rows {
		if t.InfoHash == m.sel {
			m.list.Cursor = i
			break
		}
	}
	m.list.Clamp()
	m.remember()
}

func (m *Model) remember() {
	if m.list.Cursor < len(m.rows) {
		m.sel = m.rows[m.list.Cursor].InfoHash
	}
}

// List exposes the cursor so the parent can apply navigation keys; call
// Moved afterwards.
func (m *Model) List() *render.List { return &m.list }

// Moved records the selection after the cursor moved.
func (m *Model) Moved() { m.remember() }

// Click selects the row at content line y (0 is the header).
func (m *Model) Click(x, y int) pane.Reply {
	if y < 1 {
		return pane.Handled
	}
	m.list.Cursor = m.list.Offset + y - 1
	m.list.Clamp()
	m.remember()
	return pane.Reply{Handled: true, Selected: true}
}

// Select moves the selection to the torrent with info hash ih, now or as
// soon as it appears in a snapshot (a torrent just added).
func (m *Model) Select(ih string) {
	m.sel = strings.ToLower(ih)
	m.apply()
}

// Selected is the selected torrent.
func (m *Model) Selected() (swarm.TorrentInfo, bool) {
	if m.list.Cursor < len(m.rows) {
		return m.rows[m.list.Cursor], true
	}
	return swarm.TorrentInfo{}, false
}

// Count is the number of rows shown and in total.
func (m *Model) Count() (shown, total int) { return len(m.rows), len(m.all) }

// Lines renders the pane content at the size set.
func (m *Model) Lines(focused bool) []string {
	th, w, h := m.th, m.width, m.height
	widths := render.Widths(columns, w)
	hdr := make([]string, len(columns))
	for i, c := range columns {
		hdr[i] = c.Title
	}
	out := make([]string, 0, h)
	out = append(out, th.Header.Render(render.Row(columns, widths, hdr)))
	if len(m.rows) == 0 {
		msg := "no torrents — press a to add a magnet link, .torrent file or info hash"
		if m.filter != "" {
			msg = "no torrent matches filter \"" + m.filter + "\""
		}
		out = append(out, th.Subtle.Render(render.Fit(" "+msg, w)))
		return render.Block(out, w, h)
	}
	from, to := m.list.Visible()
	cells := make([]string, len(columns))
	for i := from; i < to && len(out) < h; i++ {
		t := m.rows[i]
		selected := i == m.list.Cursor
		cells[colCursor] = " "
		if selected {
			cells[colCursor] = "›"
		}
		cells[colName] = t.Name
		if cells[colName] == "" {
			cells[colName] = t.InfoHash
		}
		if t.Err != "" {
			cells[colName] += th.Bad.Render(" ✗ " + t.Err)
		}
		if widths[colProgress] > 0 {
			bw := widths[colProgress] - 5
			cells[colProgress] = render.Bar(t.Progress, bw, th.Accent, th.Faint) + render.FitRight(text.Percent(t.Progress), 5)
		}
		cells[colSize] = "?"
		if t.Size > 0 {
			cells[colSize] = text.Bytes(t.Size)
		}
		cells[colState] = m.state(t)
		cells[colDown] = text.Rate(t.DownBps)
		cells[colUp] = text.Rate(t.UpBps)
		cells[colETA] = eta(t)
		cells[colRatio] = text.Ratio(t.Ratio())
		cells[colPeers] = m.peerCounts(t.Peers)
		line := render.Row(columns, widths, cells)
		if selected {
			line = render.Highlight(line, focused, th)
		}
		out = append(out, line)
	}
	return render.Block(out, w, h)
}

// eta is the time left; a torrent that is complete, paused or failed has
// none, rather than an endless one.
func eta(t swarm.TorrentInfo) string {
	switch {
	case t.State == swarm.StateSeeding, t.Size > 0 && t.Completed >= t.Size,
		t.State == swarm.StatePaused, t.State == swarm.StateError:
		return "-"
	}
	return text.ETA(t.ETA)
}

func (m *Model) state(t swarm.TorrentInfo) string {
	s := string(t.State)
	switch t.State {
	case swarm.StateError:
		return m.th.Bad.Render("error")
	case swarm.StatePaused:
		return m.th.Subtle.Render(s)
	case swarm.StateSeeding:
		return m.th.Good.Render(s)
	case swarm.StateMetadata:
		return m.th.Warn.Render("metadata…")
	}
	return s
}

func (m *Model) peerCounts(c swarm.OriginCounts) string {
	var sb strings.Builder
	for i, o := range swarm.AllOrigins() {
		if i > 0 {
			sb.WriteByte(' ')
		}
		n := c.Get(o)
		txt := render.FitRight(strconv.Itoa(n), 4)
		if n == 0 {
			sb.WriteString(m.th.Faint.Render(txt))
		} else {
			sb.WriteString(render.OriginBold(m.th, o).Render(txt))
		}
	}
	return sb.String()
}
