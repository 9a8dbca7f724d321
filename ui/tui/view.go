package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/tui/connmap"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/format"
	"github.com/swarmscope/swarmscope/ui/tui/peers"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Size limits: below min the screen says so; from rich on, all panes show
// at once instead of one per tab.
const (
	minWidth, minHeight   = 60, 16
	richWidth, richHeight = 120, 32
)

type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

type layout struct {
	tooSmall bool
	tabs     bool // one pane at a time, chosen by a tab bar
	tabBar   rect
	tabHit   []rect // per pane, then the map
	body     rect
	panes    map[Pane]rect
}

const headerHeight = 2

func (m *Model) relayout() {
	w, h := m.width, m.height
	l := layout{panes: map[Pane]rect{}}
	if w < minWidth || h < minHeight {
		l.tooSmall = true
		m.lay = l
		return
	}
	top := headerHeight
	l.tabs = w < richWidth || h < richHeight
	if l.tabs {
		l.tabBar = rect{0, top, w, 1}
		x := 0
		for i := 0; i <= int(numPanes); i++ {
			n := render.Width(tabLabel(i))
			l.tabHit = append(l.tabHit, rect{x, top, n, 1})
			x += n + 1
		}
		top++
	}
	l.body = rect{0, top, w, h - top - 1}
	b := l.body
	switch {
	case m.showMap:
	case l.tabs && m.focus == PaneTorrents:
		// The list alone would leave the screen empty: show the selected
		// torrent's peers under it.
		th := min(max(m.torrentRows()+3, 5), b.h/2)
		l.panes[PaneTorrents] = rect{0, b.y, w, th}
		l.panes[PanePeers] = rect{0, b.y + th, w, b.h - th}
	case l.tabs:
		l.panes[m.focus] = b
	default:
		th := min(max(m.torrentRows()+3, 5), b.h/4+1)
		bh := min(max(b.h/3, 8), 14)
		mh := b.h - th - bh
		natW := min(max(w/3, 44), 60)
		evW := w * 2 / 5
		l.panes[PaneTorrents] = rect{0, b.y, w, th}
		l.panes[PanePeers] = rect{0, b.y + th, w - natW, mh}
		l.panes[PaneNAT] = rect{w - natW, b.y + th, natW, mh}
		l.panes[PanePaths] = rect{0, b.y + th + mh, w - evW, bh}
		l.panes[PaneEvents] = rect{w - evW, b.y + th + mh, evW, bh}
	}
	m.lay = l
	// Panes not on screen keep their last size; they are laid out again when
	// shown.
	for p, r := range l.panes {
		cw, ch := max(r.w-2, 0), max(r.h-2, 0)
		switch p {
		case PaneTorrents:
			m.torrents.SetSize(cw, ch)
		case PanePeers:
			m.peers.SetSize(cw, ch)
		case PaneEvents:
			m.events.SetSize(cw, ch)
		}
	}
}

func (m *Model) torrentRows() int {
	if m.snap == nil {
		return 1
	}
	return max(len(m.snap.Torrents), 1)
}

func tabLabel(i int) string {
	if i == int(numPanes) {
		return " m Map "
	}
	return " " + strconv.Itoa(i+1) + " " + paneNames[i] + " "
}

// View draws the whole screen.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	if m.lay.tooSmall {
		return m.tooSmallView()
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.header()...)
	if m.lay.tabs {
		lines = append(lines, m.tabBar())
	}
	lines = append(lines, m.body()...)
	lines = append(lines, m.footer())
	if m.dlg != dlgNone {
		lines = m.overlayDialog(lines)
	}
	return strings.Join(lines, "\n")
}

func (m Model) tooSmallView() string {
	msg := []string{
		"terminal too small",
		fmt.Sprintf("%dx%d, need %dx%d", m.width, m.height, minWidth, minHeight),
		"q quits",
	}
	w, h := max(m.width, 0), max(m.height, 0)
	out := make([]string, h)
	top := max((h-len(msg))/2, 0)
	for i := range out {
		if j := i - top; j >= 0 && j < len(msg) {
			out[i] = render.Center(msg[j], w)
		} else {
			out[i] = render.Spaces(w)
		}
	}
	return strings.Join(out, "\n")
}

// header is two lines: name, title and totals; then peers by origin, the
// NAT type, UPnP and the verdict.
func (m Model) header() []string {
	th, w := m.th, m.width
	var down, up float64
	var counts swarm.OriginCounts
	if s := m.snap; s != nil {
		down, up = s.DownBps, s.UpBps
		for _, o := range swarm.AllOrigins() {
			counts.Add(o, s.Path(o).Peers)
		}
	}
	left := th.Brand.Render("swarmscope")
	if m.opts.Title != "" {
		left += " " + th.Subtle.Render(m.opts.Title)
	}
	right := th.Good.Render("↓ "+format.Rate(down)) + "  " + th.Accent.Render("↑ "+format.Rate(up)) + "  " +
		th.Subtle.Render(strconv.Itoa(counts.Total())+" peers")
	line1 := joinLR(left, right, w)

	parts := make([]string, 0, 8)
	for _, o := range swarm.AllOrigins() {
		n := counts.Get(o)
		st := render.OriginBold(th, o)
		if n == 0 {
			st = render.Origin(th, o)
		}
		parts = append(parts, st.Render(originCountText(o, n)))
	}
	line2 := strings.Join(parts, "  ")
	extra := []string{m.natBadge(), m.upnpBadge()}
	if r, ok := m.nat.Report(); ok {
		extra = append(extra, render.Verdict(th, r.Reachable.Verdict))
	}
	for _, e := range extra {
		if render.Width(line2)+2+render.Width(e) > w {
			break
		}
		line2 += "  " + e
	}
	return []string{render.Fit(line1, w), render.Fit(line2, w)}
}

func originCountText(o swarm.Origin, n int) string {
	return o.Info().Glyph + " " + o.Info().Short + " " + strconv.Itoa(n)
}

// headerOriginAt is the origin whose count is drawn at column x of the
// header's second line, if any: clicking it filters the peers.
func (m Model) headerOriginAt(x int) (swarm.Origin, bool) {
	pos := 0
	for _, o := range swarm.AllOrigins() {
		n := 0
		if m.snap != nil {
			n = m.snap.Path(o).Peers
		}
		w := render.Width(originCountText(o, n))
		if x >= pos && x < pos+w {
			return o, true
		}
		pos += w + 2
	}
	return "", false
}

func (m Model) natBadge() string {
	r, ok := m.nat.Report()
	switch {
	case m.nat.Running() && !ok:
		return m.th.BadgeInfo.Render("NAT checking…")
	case !ok && m.nat.Failed():
		return m.th.BadgeBad.Render("NAT check failed")
	case !ok:
		return m.th.BadgeInfo.Render("NAT ?")
	}
	return render.NATBadge(m.th, r.NATType)
}

func (m Model) upnpBadge() string {
	th := m.th
	r, ok := m.nat.Report()
	if !ok {
		if m.snap != nil && m.snap.UPnPActive {
			return render.OriginBadge(th, swarm.OriginUPnP).Render("UPnP on")
		}
		return th.BadgeInfo.Render("UPnP ?")
	}
	u := r.UPnP
	switch {
	case len(u.Mappings) > 0:
		ext := u.ExternalIP
		if ext == "" {
			ext = "ext"
		}
		return render.OriginBadge(th, swarm.OriginUPnP).Render(fmt.Sprintf("UPnP %s:%d", ext, u.Mappings[0].ExternalPort))
	case u.Found:
		return th.BadgeWarn.Render("UPnP: no mapping")
	case u.Error != "":
		return th.BadgeBad.Render("UPnP failed")
	}
	return th.BadgeInfo.Render("no UPnP")
}

func joinLR(left, right string, w int) string {
	lw, rw := render.Width(left), render.Width(right)
	if lw+1+rw > w {
		if rw+10 > w {
			return render.Fit(left, w)
		}
		// The totals matter more than the title.
		left = render.Fit(left, w-rw-1)
		lw = w - rw - 1
	}
	return left + render.Spaces(w-lw-rw) + right
}

func (m Model) tabBar() string {
	th := m.th
	parts := make([]string, 0, numPanes+1)
	for i := 0; i <= int(numPanes); i++ {
		label := tabLabel(i)
		active := (i == int(numPanes) && m.showMap) || (!m.showMap && i == int(m.focus))
		if active {
			label = th.TabActive.Render("[" + strings.TrimSpace(label) + "]")
			// Keep the click targets of relayout: same width as the label.
			label = render.Center(label, render.Width(tabLabel(i)))
		} else {
			label = th.TabInactive.Render(label)
		}
		parts = append(parts, label)
	}
	return render.Fit(strings.Join(parts, " "), m.width)
}

func (m Model) body() []string {
	b := m.lay.body
	if m.showMap {
		in := connmap.Input{Snapshot: m.snap, Events: m.events.All(), Loc: m.opts.Location, NATRunning: m.nat.Running()}
		if r, ok := m.nat.Report(); ok {
			in.Report = &r
		}
		content := connmap.Lines(m.th, in, b.w-4, b.h-2)
		for i := range content {
			content[i] = " " + content[i]
		}
		return render.Box(m.th.Title.Render(" Connectivity map ")+m.th.Faint.Render(" m/esc closes "), content, b.w, b.h, m.th.BorderFocused)
	}
	if m.lay.tabs {
		if m.focus == PaneTorrents {
			return append(m.pane(PaneTorrents, m.lay.panes[PaneTorrents]), m.pane(PanePeers, m.lay.panes[PanePeers])...)
		}
		return m.pane(m.focus, b)
	}
	l := m.lay
	pane := func(p Pane) []string { return m.pane(p, l.panes[p]) }
	out := make([]string, 0, b.h)
	out = append(out, pane(PaneTorrents)...)
	out = append(out, render.HJoin(pane(PanePeers), pane(PaneNAT))...)
	out = append(out, render.HJoin(pane(PanePaths), pane(PaneEvents))...)
	return out
}

func (m Model) pane(p Pane, r rect) []string {
	th := m.th
	focused := p == m.focus
	cw, ch := max(r.w-2, 0), max(r.h-2, 0)
	var content []string
	switch p {
	case PaneTorrents:
		content = m.torrents.Lines(cw, ch, focused)
	case PanePeers:
		content = m.peers.Lines(cw, ch, focused)
	case PanePaths:
		content = m.paths.Lines(cw, ch)
	case PaneNAT:
		content = m.nat.Lines(cw, ch, m.opts.NAT != nil)
	case PaneEvents:
		content = m.events.Lines(cw, ch, focused)
	}
	border := th.Border
	if focused {
		border = th.BorderFocused
	}
	return render.Box(m.paneTitle(p, focused), content, r.w, r.h, border)
}

func (m Model) paneTitle(p Pane, focused bool) string {
	th := m.th
	name := th.Subtle
	if focused {
		name = th.Title
	}
	t := th.Key.Render(" "+strconv.Itoa(int(p)+1)) + " " + name.Render(p.String())
	info := ""
	switch p {
	case PaneTorrents:
		shown, total := m.torrents.Count()
		info = countInfo(shown, total)
		if f := m.torrents.Filter(); f != "" {
			info += " · /" + f
		}
	case PanePeers:
		shown, total := m.peers.Count()
		if n := m.peers.Name(); n != "" {
			info = render.Fit(n, 24) + " · "
		}
		info += countInfo(shown, total)
		col, desc := m.peers.Sort()
		dir := "▲"
		if desc {
			dir = "▼"
		}
		info += " · sort " + peers.SortName(col) + dir
		if o := m.peers.Origin(); o != "" {
			info += " · " + render.Origin(th, o).Render("only "+o.Info().Glyph+" "+string(o))
		}
		if f := m.peers.Filter(); f != "" {
			info += " · /" + f
		}
	case PaneEvents:
		info = strconv.Itoa(len(m.events.All()))
		if f := m.events.Filter(); f != "" {
			info += " · /" + f
		}
	}
	if info != "" {
		t += th.Subtle.Render(" (") + info + th.Subtle.Render(")")
	}
	return t + " "
}

func countInfo(shown, total int) string {
	if shown == total {
		return strconv.Itoa(total)
	}
	return strconv.Itoa(shown) + "/" + strconv.Itoa(total)
}

// footer is the filter prompt, a status message, or the last-event ticker,
// with the key hints on the right.
func (m Model) footer() string {
	th, w := m.th, m.width
	right := m.shortHelp()
	var left string
	switch {
	case m.filterOn:
		left = m.filter.View() + "  " + th.Faint.Render("enter keep · esc clear")
	case m.status != "":
		if m.statusErr {
			left = th.Bad.Render("✗ " + m.status)
		} else {
			left = th.Good.Render("✓ " + m.status)
		}
	default:
		if l, ok := m.events.LastLine(); ok {
			left = l
		} else {
			left = th.Faint.Render("waiting for events…")
		}
	}
	if render.Width(left)+2+render.Width(right) > w {
		right = th.Key.Render("?") + " " + th.KeyDesc.Render("help")
	}
	lw := w - render.Width(right) - 1
	return render.Fit(left, lw) + " " + right
}

// shortHelp hints at the keys that matter where the user is.
func (m Model) shortHelp() string {
	k := m.keys
	bs := k.ShortHelp()
	switch {
	case m.showMap:
		bs = []key.Binding{key.NewBinding(key.WithKeys("m", "esc"), key.WithHelp("m/esc", "close map")), k.Rerun, k.Help, k.Quit}
	case m.focus == PaneTorrents:
		bs = []key.Binding{k.Add, k.Pause, k.Remove, k.Files, k.Help, k.Quit}
	case m.focus == PanePeers:
		bs = []key.Binding{k.Sort, k.Origin, k.Filter, k.Enter, k.Help, k.Quit}
	case m.focus == PaneNAT:
		bs = []key.Binding{k.Rerun, k.Map, k.Help, k.Quit}
	case m.focus == PaneEvents:
		bs = []key.Binding{k.Filter, k.End, k.Help, k.Quit}
	}
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		h := b.Help()
		parts = append(parts, m.th.Key.Render(h.Key)+" "+m.th.KeyDesc.Render(h.Desc))
	}
	return strings.Join(parts, m.th.Faint.Render(" · "))
}

func (m Model) overlayDialog(bg []string) []string {
	W, H := m.width, m.height
	var box []string
	switch m.dlg {
	case dlgAdd:
		box = m.add.Lines(min(80, W-4))
	case dlgRemove:
		box = m.remove.Lines(min(72, W-4))
	case dlgFiles:
		f := m.files
		box = f.Lines(min(96, W-4), H-2)
	case dlgPeer:
		now := m.peers.Now()
		box = dialog.PeerLines(m.th, m.peer, now, min(72, W-4))
	case dlgHelp:
		box = m.helpBox()
	}
	if len(box) > H {
		box = box[:H]
	}
	bw := 0
	if len(box) > 0 {
		bw = render.Width(box[0])
	}
	x, y := render.CenterPos(W, H, bw, len(box))
	return render.Overlay(bg, box, x, y)
}

func (m Model) helpBox() []string {
	th := m.th
	h := m.help
	avail := m.width - 6
	groups := m.keys.FullHelp()
	body := render.Lines(h.FullHelpView(groups))
	if w := maxWidth(body); w > avail {
		// Too wide for one row of columns: two rows.
		half := (len(groups) + 1) / 2
		body = render.Lines(h.FullHelpView(groups[:half]))
		body = append(body, "")
		body = append(body, render.Lines(h.FullHelpView(groups[half:]))...)
	}
	origins := []string{"", th.Header.Render("Peer origins — how each peer reached you")}
	for _, o := range swarm.AllOrigins() {
		origins = append(origins, render.Origin(th, o).Render(o.Info().Glyph+" "+render.Fit(string(o), 12))+th.Subtle.Render(o.Info().Explain))
	}
	origins = append(origins, "", th.Faint.Render("Flags: E encrypted, then the discovery source (trk dht pex hp dir inc)."),
		th.Faint.Render("Mouse: click a row to select, a column title to sort, an origin count in the header to filter."))
	if len(body)+len(origins)+4 <= m.height {
		body = append(body, origins...)
	} else {
		body = append(body, "", render.Legend(th))
	}
	w := maxWidth(body)
	body = append(body, "", dialog.Hint(th, m.keys.Help, m.keys.Clear))
	return dialog.Frame(th, "Help", body, min(w+4, m.width-2))
}

func maxWidth(lines []string) int {
	w := 0
	for _, l := range lines {
		w = max(w, render.Width(l))
	}
	return w
}
