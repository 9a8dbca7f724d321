// Package peers is the peer table of the selected torrent: how each peer
// reached us (origin colour and glyph), over what, and what it gives. It
// sorts and filters once per snapshot and draws only the visible rows, so
// tens of thousands of peers cost no more per frame than a screenful.
package peers

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Column indexes; also the sort keys.
const (
	ColCursor = iota
	ColOrigin
	ColTransport
	ColAddr
	ColClient
	ColDown
	ColUp
	ColProgress
	ColFlags
	ColSince
	numCols
)

var columns = []render.Column{
	{Width: 1, Prio: 100},
	{Title: "Origin", Width: 6, Prio: 99},
	{Title: "Net", Width: 4, Prio: 30},
	{Title: "Address", Width: 21, Flex: true, Prio: 98},
	{Title: "Client", Width: 12, Flex: true, Prio: 50},
	{Title: "↓", Width: 9, Right: true, Prio: 90},
	{Title: "↑", Width: 9, Right: true, Prio: 80},
	{Title: "Have", Width: 4, Right: true, Prio: 40},
	{Title: "Flags", Width: 6, Prio: 20},
	{Title: "For", Width: 6, Right: true, Prio: 35},
}

// Model is the peers pane.
type Model struct {
	th      *styles.Theme
	torrent string // info hash
	name    string
	all     []swarm.PeerInfo
	idx     []int // into all, filtered and sorted
	now     time.Time

	sortCol int
	desc    bool
	origin  swarm.Origin // "" = all
	filter  string

	sel string // selected peer ID
	// follow keeps the cursor on the selected peer as rows re-sort; it is
	// set once the user picks a peer, so an untouched list stays still
	// instead of scrolling after whichever peer happened to be first.
	follow bool
	list   render.List
	keys   keys.KeyMap
	widths []int
	width  int
	height int
	// originCell caches the styled origin cell per origin at the current
	// column width: thousands of rows share four strings.
	originCell map[originKey]string
}

type originKey struct {
	o swarm.Origin
	w int
}

// New returns an empty pane sorted by download rate, fastest first.
func New(th *styles.Theme, k keys.KeyMap) Model {
	return Model{th: th, keys: k, sortCol: ColDown, desc: true, originCell: map[originKey]string{}}
}

// Name is the pane's title.
func (m *Model) Name() string { return "Peers" }

// Info names the torrent, counts the peers, and says the sort and filters.
func (m *Model) Info() string {
	th := m.th
	info := ""
	if m.name != "" {
		info = render.Fit(m.name, 24) + " · "
	}
	info += render.CountInfo(len(m.idx), len(m.all))
	dir := "▲"
	if m.desc {
		dir = "▼"
	}
	info += " · sort " + SortName(m.sortCol) + dir
	if o := m.origin; o != "" {
		info += " · " + render.Origin(th, o).Render("only "+o.Info().Glyph+" "+string(o))
	}
	if m.filter != "" {
		info += " · /" + m.filter
	}
	return info
}

// ShortHelp is the footer's hints.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	return []key.Binding{k.Sort, k.Origin, k.Filter, k.Enter}
}

// Key moves, sorts, filters by origin, and opens a peer's details.
func (m *Model) Key(msg tea.KeyMsg) pane.Reply {
	k := m.keys
	switch {
	case k.Navigate(&m.list, msg):
		m.Moved()
	case key.Matches(msg, k.Sort):
		m.NextSort()
	case key.Matches(msg, k.Reverse):
		m.Reverse()
	case key.Matches(msg, k.Origin):
		m.CycleOrigin()
	case key.Matches(msg, k.Clear) && m.origin != "":
		m.SetOrigin("")
	case key.Matches(msg, k.Enter):
		p, ok := m.Selected()
		if !ok {
			return pane.Handled
		}
		return pane.Reply{Handled: true, Open: Detail(m.th, p, m.now)}
	default:
		return pane.Reply{}
	}
	return pane.Handled
}

// Scroll moves the view by d rows.
func (m *Model) Scroll(d int) pane.Reply {
	m.list.Scroll(d)
	m.Moved()
	return pane.Handled
}

// SetSize sets the content area (header row included).
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.widths = render.Widths(columns, w)
	m.list.Height = max(h-1, 0)
	m.list.Clamp()
}

// SetTorrent shows the peers of t as of now (the snapshot's time, so that
// "connected for" does not depend on the wall clock).
func (m *Model) SetTorrent(t swarm.TorrentInfo, now time.Time) {
	if t.InfoHash != m.torrent {
		m.list = render.List{Height: m.list.Height}
		m.sel, m.follow = "", false
	}
	m.torrent, m.name, m.all, m.now = t.InfoHash, t.Name, t.PeerList, now
	m.apply()
}

// Clear shows no torrent.
func (m *Model) Clear() { m.SetTorrent(swarm.TorrentInfo{}, m.now) }

// TorrentName is the selected torrent's name.
func (m *Model) TorrentName() string { return m.name }

// SetFilter keeps peers whose address, client or origin contains f.
func (m *Model) SetFilter(f string) {
	m.filter = strings.ToLower(strings.TrimSpace(f))
	m.apply()
}

// Filter is the text filter.
func (m *Model) Filter() string { return m.filter }

// CycleOrigin steps the origin filter: all, then each origin.
func (m *Model) CycleOrigin() {
	i := -1
	for j, o := range swarm.AllOrigins() {
		if o == m.origin {
			i = j
		}
	}
	if i+1 < swarm.NumOrigins {
		m.origin = swarm.AllOrigins()[i+1]
	} else {
		m.origin = ""
	}
	m.apply()
}

// SetOrigin filters to one origin ("" for all).
func (m *Model) SetOrigin(o swarm.Origin) { m.origin = o; m.apply() }

// Origin is the origin filter.
func (m *Model) Origin() swarm.Origin { return m.origin }

// NextSort sorts by the next column.
func (m *Model) NextSort() {
	m.sortCol++
	if m.sortCol >= numCols {
		m.sortCol = ColOrigin
	}
	m.desc = defaultDesc(m.sortCol)
	m.apply()
}

// Reverse flips the sort order.
func (m *Model) Reverse() { m.desc = !m.desc; m.apply() }

// SortBy sorts by column c; choosing the current column flips the order.
func (m *Model) SortBy(c int) {
	if c <= ColCursor || c >= numCols {
		return
	}
	if c == m.sortCol {
		m.desc = !m.desc
	} else {
		m.sortCol, m.desc = c, defaultDesc(c)
	}
	m.apply()
}

// Sort is the sort column and order.
func (m *Model) Sort() (col int, desc bool) { return m.sortCol, m.desc }

func defaultDesc(c int) bool {
	switch c {
	case ColDown, ColUp, ColProgress, ColSince:
		return true
	}
	return false
}

func (m *Model) apply() {
	// A fresh slice, never m.idx[:0]: Bubble Tea models are values, and an
	// older copy must not see its rows rewritten under it.
	m.idx = make([]int, 0, len(m.all))
	for i := range m.all {
		p := &m.all[i]
		if m.origin != "" && p.Origin != m.origin {
			continue
		}
		if m.filter != "" && !m.matches(p) {
			continue
		}
		m.idx = append(m.idx, i)
	}
	m.sort()
	m.list.Len = len(m.idx)
	if m.follow && m.sel != "" {
		for i, j := range m.idx {
			if m.all[j].ID == m.sel {
				m.list.Cursor = i
				break
			}
		}
	}
	m.list.Clamp()
	m.remember()
}

func (m *Model) matches(p *swarm.PeerInfo) bool {
	f := m.filter
	return strings.Contains(strings.ToLower(p.Addr), f) ||
		strings.Contains(strings.ToLower(p.Client), f) ||
		strings.Contains(string(p.Origin), f) ||
		p.Origin.Info().Short == f ||
		strings.Contains(string(p.Discovery), f) ||
		string(p.Transport) == f
}

func (m *Model) sort() {
	ps := m.all
	var c func(a, b *swarm.PeerInfo) int
	switch m.sortCol {
	case ColOrigin:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(originRank(a.Origin), originRank(b.Origin)) }
	case ColTransport:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.Transport, b.Transport) }
	case ColAddr:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.Addr, b.Addr) }
	case ColClient:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.Client, b.Client) }
	case ColDown:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.DownBps, b.DownBps) }
	case ColUp:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.UpBps, b.UpBps) }
	case ColProgress:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.Progress, b.Progress) }
	case ColFlags:
		c = func(a, b *swarm.PeerInfo) int { return cmp.Compare(a.Discovery, b.Discovery) }
	case ColSince:
		// Longest connected first when descending: earlier Since is "more".
		c = func(a, b *swarm.PeerInfo) int { return b.Since.Compare(a.Since) }
	default:
		c = func(a, b *swarm.PeerInfo) int { return 0 }
	}
	desc := m.desc
	slices.SortFunc(m.idx, func(i, j int) int {
		r := c(&ps[i], &ps[j])
		if desc {
			r = -r
		}
		if r == 0 {
			// A total order keeps rows from jumping between ticks.
			r = cmp.Compare(ps[i].Addr, ps[j].Addr)
			if r == 0 {
				r = cmp.Compare(ps[i].ID, ps[j].ID)
			}
		}
		return r
	})
}

func originRank(o swarm.Origin) int {
	for i, x := range swarm.AllOrigins() {
		if x == o {
			return i
		}
	}
	return swarm.NumOrigins
}

func (m *Model) remember() {
	if m.list.Cursor < len(m.idx) {
		m.sel = m.all[m.idx[m.list.Cursor]].ID
	}
}

// List exposes the cursor for navigation keys; call Moved afterwards.
func (m *Model) List() *render.List { return &m.list }

// Moved records the selection after the cursor moved; from now on the
// cursor follows that peer.
func (m *Model) Moved() { m.remember(); m.follow = true }

// Click handles a click at content cell (x, y): the header sorts, a row
// selects.
func (m *Model) Click(x, y int) pane.Reply {
	if y == 0 {
		if c := render.ColumnAt(m.widths, x); c > ColCursor {
			m.SortBy(c)
		}
		return pane.Handled
	}
	m.list.Cursor = m.list.Offset + y - 1
	m.list.Clamp()
	m.Moved()
	return pane.Handled
}

// Selected is the selected peer.
func (m *Model) Selected() (swarm.PeerInfo, bool) {
	if m.list.Cursor < len(m.idx) {
		return m.all[m.idx[m.list.Cursor]], true
	}
	return swarm.PeerInfo{}, false
}

// Count is the number of peers shown and in total.
func (m *Model) Count() (shown, total int) { return len(m.idx), len(m.all) }

// Now is the time of the data shown.
func (m *Model) Now() time.Time { return m.now }

// Lines renders the pane content at the size set.
func (m *Model) Lines(focused bool) []string {
	th, w, h := m.th, m.width, m.height
	if w != m.width || len(m.widths) != len(columns) {
		m.width = w
		m.widths = render.Widths(columns, w)
	}
	widths := m.widths
	hdr := make([]string, len(columns))
	for i, c := range columns {
		hdr[i] = c.Title
		if i == m.sortCol {
			if m.desc {
				hdr[i] += "▼"
			} else {
				hdr[i] += "▲"
			}
		}
	}
	out := make([]string, 0, h)
	out = append(out, th.Header.Render(render.Row(columns, widths, hdr)))
	if len(m.idx) == 0 {
		msg := "no peers connected yet"
		switch {
		case m.torrent == "":
			msg = "no torrent selected"
		case len(m.all) > 0:
			msg = "no peer matches the filter"
		}
		out = append(out, th.Subtle.Render(" "+msg))
		return render.Block(out, w, h)
	}
	from, to := m.list.Visible()
	cells := make([]string, len(columns))
	for i := from; i < to && len(out) < h; i++ {
		p := &m.all[m.idx[i]]
		selected := i == m.list.Cursor
		cells[ColCursor] = " "
		if selected {
			cells[ColCursor] = "›"
		}
		cells[ColOrigin] = m.originTag(p.Origin, widths[ColOrigin])
		cells[ColTransport] = string(p.Transport)
		cells[ColAddr] = p.Addr
		cells[ColClient] = p.Client
		cells[ColDown] = text.Rate(p.DownBps)
		cells[ColUp] = text.Rate(p.UpBps)
		cells[ColProgress] = text.Percent(p.Progress)
		cells[ColFlags] = Flags(p)
		cells[ColSince] = text.Duration(m.now.Sub(p.Since))
		line := render.Row(columns, widths, cells)
		if selected {
			line = render.Highlight(line, focused, th)
		}
		out = append(out, line)
	}
	return render.Block(out, w, h)
}

func (m *Model) originTag(o swarm.Origin, w int) string {
	k := originKey{o, w}
	if s, ok := m.originCell[k]; ok {
		return s
	}
	if len(m.originCell) > 16 {
		// Widths changed many times; start over. (The map is made by New
		// and shared by copies of the model, so it is cleared, not replaced.)
		clear(m.originCell)
	}
	s := render.Origin(m.th, o).Render(render.Fit(o.Info().Glyph+" "+o.Info().Short, w))
	if m.originCell != nil {
		m.originCell[k] = s
	}
	return s
}

// Flags renders encryption ("E" or "·") and the discovery source.
func Flags(p *swarm.PeerInfo) string {
	e := "·"
	if p.Encrypted {
		e = "E"
	}
	return e + " " + DiscoveryShort(p.Discovery)
}

// DiscoveryShort abbreviates a discovery source to at most four letters.
func DiscoveryShort(d swarm.Discovery) string {
	switch d {
	case swarm.DiscoveryTracker:
		return "trk"
	case swarm.DiscoveryDHT:
		return "dht"
	case swarm.DiscoveryPEX:
		return "pex"
	case swarm.DiscoveryHolepunch:
		return "hp"
	case swarm.DiscoveryDirect:
		return "dir"
	case swarm.DiscoveryIncoming:
		return "inc"
	case "":
		return "-"
	}
	return string(d)
}

// SortName names the sort column for the pane title.
func SortName(c int) string {
	switch c {
	case ColOrigin:
		return "origin"
	case ColTransport:
		return "transport"
	case ColAddr:
		return "address"
	case ColClient:
		return "client"
	case ColDown:
		return "↓"
	case ColUp:
		return "↑"
	case ColProgress:
		return "have"
	case ColFlags:
		return "discovery"
	case ColSince:
		return "connected for"
	}
	return "?"
}

// Detail is the details box of peer p as of now: how it reached you (for
// a holepunched peer, through which relay and how fast), what it runs and
// what it gives.
func Detail(th *styles.Theme, p swarm.PeerInfo, now time.Time) pane.Dialog {
	return dialog.NewText(th, "Peer details", 76, func(w, h int) []string {
		kv := func(k, v string) string { return dialog.KV(th, k, v, 13) }
		in := p.Origin.Info()
		enc := "no"
		if p.Encrypted {
			enc = "yes (MSE)"
		}
		body := []string{kv("origin", render.OriginBold(th, p.Origin).Render(in.Glyph+" "+string(p.Origin)))}
		for _, l := range text.Wrap(in.Explain, max(w-13, 20)) {
			body = append(body, kv("", th.Subtle.Render(l)))
		}
		if p.Origin == swarm.OriginHolepunched {
			body = append(body, kv("relay", text.OrDash(p.Relay)))
			took := "unknown"
			if p.ConnectTook > 0 {
				took = text.Millis(p.ConnectTook) + " after the relay's Connect"
			}
			body = append(body, kv("connected in", took))
		}
		body = append(body,
			kv("address", p.Addr),
			kv("transport", string(p.Transport)),
			kv("client", text.OrDash(p.Client)),
			kv("discovered", text.OrDash(string(p.Discovery))),
			kv("encrypted", enc),
			kv("flags", Flags(&p)),
			kv("has", text.Percent(p.Progress)),
			kv("↓ from peer", text.Rate(p.DownBps)+th.Subtle.Render("  "+text.Bytes(p.DownBytes)+" in total")),
			kv("↑ to peer", text.Rate(p.UpBps)+th.Subtle.Render("  "+text.Bytes(p.UpBytes)+" in total")),
			kv("connected", text.Duration(now.Sub(p.Since))+" ago"),
		)
		return body
	})
}
