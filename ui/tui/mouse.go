package tui

import tea "github.com/charmbracelet/bubbletea"

// onMouse routes a click or the wheel: the header's origin counts filter
// the peers, the tab bar switches panes, and a pane gets the cell inside
// its frame.
func (m Model) onMouse(msg tea.MouseMsg) (tea.Model, tea.Cmd) {
	if m.dlg != nil || m.lay.tooSmall {
		return m, nil
	}
	me := tea.MouseEvent(msg)
	if me.Action != tea.MouseActionPress {
		return m, nil
	}
	if me.Y == 1 && me.Button == tea.MouseButtonLeft {
		// The origin counts in the header filter the peers to that origin;
		// clicking the active one shows all again.
		if o, ok := m.headerOriginAt(me.X); ok {
			if m.peers.Origin() == o {
				o = ""
			}
			m.peers.SetOrigin(o)
			m.setFocus(PanePeers)
		}
		return m, nil
	}
	if m.lay.tabs && me.Y == m.lay.tabBar.y {
		for i, r := range m.lay.tabHit {
			if me.X >= r.x && me.X < r.x+r.w {
				if i == int(numPanes) {
					m.showMap = !m.showMap
					m.relayout()
				} else {
					m.setFocus(PaneID(i))
				}
				return m, nil
			}
		}
		return m, nil
	}
	if m.showMap {
		return m, nil
	}
	panes := m.panes()
	for id, r := range m.lay.panes {
		if !r.contains(me.X, me.Y) {
			continue
		}
		p := panes[id]
		cx, cy := me.X-r.x-1, me.Y-r.y-1
		switch me.Button {
		case tea.MouseButtonWheelUp:
			return m, m.reply(p.Scroll(-3))
		case tea.MouseButtonWheelDown:
			return m, m.reply(p.Scroll(3))
		case tea.MouseButtonLeft:
			m.focus = id
			if cy < 0 || cx < 0 || cx >= r.w-2 || cy >= r.h-2 {
				return m, nil
			}
			return m, m.reply(p.Click(cx, cy))
		}
		return m, nil
	}
	return m, nil
}
