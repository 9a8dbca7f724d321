package tui

import (
	"strconv"

	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Size limits: below min the screen says so; from rich on, all panes show
// at once instead of one per tab; from wide on, the peers share their row
// with the NAT pane and the events theirs with the paths.
const (
	minWidth, minHeight   = 60, 16
	richWidth, richHeight = 120, 32
	wideWidth             = 150
)

type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

// slot is a place in the all-at-once layout.
type slot int

const (
	slotTop    slot = iota // the torrents, full width
	slotMain               // the selected torrent's peers (and views like it)
	slotSide               // the NAT report
	slotLeft               // the paths
	slotBottom             // the event log
	numSlots
)

type layout struct {
	tooSmall bool
	tabs     bool // one pane at a time, chosen by a tab bar
	tabBar   rect
	tabHit   []rect // per pane, then the map
	body     rect
	panes    map[PaneID]rect
}

const headerHeight = 2

func (m *Model) relayout() {
	w, h := m.width, m.height
	l := layout{panes: map[PaneID]rect{}}
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
	case l.tabs && paneSlots[m.focus] == slotTop:
		// The list alone would leave the screen empty: show the selected
		// torrent's peers under it.
		th := min(max(m.torrentRows()+3, 5), b.h/2)
		l.panes[m.focus] = rect{0, b.y, w, th}
		l.panes[m.shown[slotMain]] = rect{0, b.y + th, w, b.h - th}
	case l.tabs:
		l.panes[m.focus] = b
	default:
		for s, r := range richSlots(b, m.torrentRows()) {
			l.panes[m.shown[s]] = r
		}
	}
	m.lay = l
	// Panes not on screen keep their last size; they are laid out again when
	// shown.
	panes := m.panes()
	for id, r := range l.panes {
		panes[id].SetSize(max(r.w-2, 0), max(r.h-2, 0))
	}
}

// richSlots places the slots in body b. What each pane needs decides:
// the peer table wants about 90 cells for all its columns (Net, Flags and
// For included), the NAT report about 50, the path totals 60 before any
// chart, and an event line is as long as its message. Below wideWidth the
// peers and the events get whole rows; from it on, the peers share theirs
// with the NAT report and the events theirs with the paths.
func richSlots(b rect, torrentRows int) [numSlots]rect {
	var s [numSlots]rect
	w := b.w
	if w >= wideWidth {
		th := min(max(torrentRows+3, 5), b.h/4+1)
		bh := min(max(b.h/3, 8), 14)
		mh := b.h - th - bh
		natW := min(max(w*3/10, 50), 64)
		pathW := min(max(w*2/5, 72), 90)
		s[slotTop] = rect{0, b.y, w, th}
		s[slotMain] = rect{0, b.y + th, w - natW, mh}
		s[slotSide] = rect{w - natW, b.y + th, natW, mh}
		s[slotLeft] = rect{0, b.y + th + mh, pathW, bh}
		s[slotBottom] = rect{pathW, b.y + th + mh, w - pathW, bh}
		return s
	}
	th := min(max(torrentRows+3, 5), b.h/5+1)
	eh := max(b.h*2/9, 6)
	bh := min(max(b.h*2/5-1, 10), 15)
	ph := b.h - th - bh - eh
	natW := min(max(w*2/5, 48), 58)
	s[slotTop] = rect{0, b.y, w, th}
	s[slotMain] = rect{0, b.y + th, w, ph}
	s[slotLeft] = rect{0, b.y + th + ph, w - natW, bh}
	s[slotSide] = rect{w - natW, b.y + th + ph, natW, bh}
	s[slotBottom] = rect{0, b.y + th + ph + bh, w, eh}
	return s
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
	return " " + strconv.Itoa(i+1) + " " + PaneID(i).String() + " "
}
