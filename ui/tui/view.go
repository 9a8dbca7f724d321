package tui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/natreport"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/connmap"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

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
	if m.dlg != nil {
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

// header is two lines: the name, what runs, and the live totals (torrents,
// rates, peers) in fields of fixed width, so the title is cut at the same
// place whatever the rates; then peers by origin, the NAT type, the port
// mapping and the verdict.
func (m Model) header() []string {
	th, w := m.th, m.width
	var down, up float64
	var counts swarm.OriginCounts
	nTorrents := 0
	if s := m.snap; s != nil {
		down, up = s.DownBps, s.UpBps
		for _, o := range swarm.AllOrigins() {
			counts.Add(o, s.Path(o).Peers)
		}
		nTorrents = len(s.Torrents)
	}
	left := th.Brand.Render("swarmscope")
	if m.opts.Title != "" {
		left += " " + th.Subtle.Render(m.opts.Title)
	}
	right := th.Subtle.Render(render.FitRight(text.Plural(nTorrents, "torrent"), 12)) + "  " +
		th.Good.Render("↓ "+render.FitRight(text.Rate(down), 9)) + "  " +
		th.Accent.Render("↑ "+render.FitRight(text.Rate(up), 9)) + "  " +
		th.Subtle.Render(render.Fit(text.Plural(counts.Total(), "peer"), 10))
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
		extra = append(extra, natreport.Verdict(th, r.Reachable.Verdict))
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
	case !ok && m.opts.NATOff != "":
		return m.th.BadgeInfo.Render("NAT not checked")
	case !ok && m.nat.Failed():
		return m.th.BadgeBad.Render("NAT check failed")
	case !ok:
		return m.th.BadgeInfo.Render("NAT ?")
	}
	return natreport.Badge(m.th, r.NATType)
}

func (m Model) upnpBadge() string {
	th := m.th
	r, ok := m.nat.Report()
	if ok {
		return natreport.UPnPBadge(th, r.UPnP)
	}
	if m.snap != nil && m.snap.UPnPActive {
		// The engine holds a mapping; no diagnosis says more yet.
		return render.OriginBadge(th, swarm.OriginUPnP).Render(text.UPnPMapped.String())
	}
	return th.BadgeInfo.Render(text.UPnPUnknown.String())
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

// body draws the panes where the layout put them: boxes in the same band
// of rows are joined left to right.
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
	ids := make([]PaneID, 0, len(m.lay.panes))
	for id := range m.lay.panes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, c := m.lay.panes[ids[i]], m.lay.panes[ids[j]]
		if a.y != c.y {
			return a.y < c.y
		}
		return a.x < c.x
	})
	out := make([]string, b.h)
	panes := m.panes()
	for _, id := range ids {
		r := m.lay.panes[id]
		for i, l := range m.paneBox(panes[id], id, r) {
			if y := r.y - b.y + i; y >= 0 && y < len(out) {
				out[y] += l
			}
		}
	}
	return out
}

func (m Model) paneBox(p interface {
	Lines(bool) []string
	Name() string
	Info() string
}, id PaneID, r rect) []string {
	th := m.th
	focused := id == m.focus
	border := th.Border
	name := th.Subtle
	if focused {
		border, name = th.BorderFocused, th.Title
	}
	title := th.Key.Render(" "+strconv.Itoa(int(id)+1)) + " " + name.Render(p.Name())
	if info := p.Info(); info != "" {
		title += th.Subtle.Render(" (") + info + th.Subtle.Render(")")
	}
	return render.Box(title+" ", p.Lines(focused), r.w, r.h, border)
}

// footer is the filter prompt, a status message, or the selected event
// (the newest while the log follows), with the key hints on the right.
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
		if l, ok := m.events.SelectedLine(); ok {
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

// shortHelp hints at the keys that matter where the user is: the focused
// pane's, then help and quit.
func (m Model) shortHelp() string {
	k := m.keys
	var bs []key.Binding
	if m.showMap {
		bs = []key.Binding{key.NewBinding(key.WithKeys("m", "esc"), key.WithHelp("m/esc", "close map")), k.Rerun}
	} else {
		bs = m.panes()[m.focus].ShortHelp()
	}
	bs = append(bs, k.Help, k.Quit)
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		h := b.Help()
		parts = append(parts, m.th.Key.Render(h.Key)+" "+m.th.KeyDesc.Render(h.Desc))
	}
	return strings.Join(parts, m.th.Faint.Render(" · "))
}
