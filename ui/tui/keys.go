package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
)

// onKeys handles a key message. Bubble Tea v1 delivers the keystrokes of
// one read together ("jj" typed fast, over ssh, from tmux send-keys) as one
// message with several runes; they are handled one by one, as the
// keystrokes they are. A paste stays one message: it is text to insert.
func (m Model) onKeys(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type != tea.KeyRunes || len(msg.Runes) < 2 || msg.Paste {
		return m.onKey(msg)
	}
	var cmds []tea.Cmd
	for _, r := range msg.Runes {
		next, cmd := m.onKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
		m = next.(Model)
		cmds = append(cmds, cmd)
		if m.quitting {
			break
		}
	}
	return m, tea.Batch(cmds...)
}

func (m Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.String() == "ctrl+c" {
		m.quitting = true
		return m, tea.Quit
	}
	if m.dlg != nil {
		return m, m.toDialog(msg)
	}
	if m.filterOn {
		return m.onFilterKey(msg)
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		m.quitting = true
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.dlg = m.helpDialog()
		return m, nil
	case key.Matches(msg, k.Map):
		m.showMap = !m.showMap
		m.relayout()
		return m, nil
	case key.Matches(msg, k.NextPane):
		m.setFocus((m.focus + 1) % numPanes)
		return m, nil
	case key.Matches(msg, k.PrevPane):
		m.setFocus((m.focus + numPanes - 1) % numPanes)
		return m, nil
	case key.Matches(msg, k.Pane):
		m.setFocus(PaneID(msg.Runes[0] - '1'))
		return m, nil
	case key.Matches(msg, k.Rerun):
		return m, m.rerunNAT()
	case key.Matches(msg, k.Add):
		if m.opts.Backend == nil {
			return m, m.setStatus("read-only: adding torrents is not available here", true)
		}
		b, check, timeout := m.opts.Backend, m.opts.CheckSource, m.opts.AddTimeout
		ctx := m.ctx
		m.dlg = dialog.NewAdd(m.th, func(source string) tea.Cmd {
			return addSource(ctx, b, check, source, timeout)
		})
		return m, textinput.Blink
	case key.Matches(msg, k.Pause):
		return m, m.pauseResume()
	case key.Matches(msg, k.Remove):
		t, ok := m.torrents.Selected()
		if !ok {
			return m, nil
		}
		b := m.opts.Backend
		if b == nil {
			return m, m.setStatus("read-only: removing torrents is not available here", true)
		}
		ih, name := t.InfoHash, displayName(t)
		m.dlg = dialog.NewRemove(m.th, t, func(del bool) tea.Cmd {
			what := "removed " + name + " (data kept)"
			if del {
				what = "removed " + name + " and deleted its data"
			}
			return action(what, func() error { return b.Remove(ih, del) })
		})
		return m, nil
	case key.Matches(msg, k.Files):
		t, ok := m.torrents.Selected()
		if !ok {
			return m, nil
		}
		var set func(int, swarm.Priority) tea.Cmd
		if b := m.opts.Backend; b != nil {
			ih := t.InfoHash
			set = func(file int, p swarm.Priority) tea.Cmd { return setPriority(b, ih, file, p) }
		}
		m.dlg = dialog.NewFiles(m.th, t, set)
		return m, nil
	case key.Matches(msg, k.Filter):
		if _, ok := m.panes()[m.focus].(pane.Filterable); !ok {
			m.setFocus(PanePeers)
		}
		m.showMap = false
		m.filterOn = true
		m.filter.SetValue(m.currentFilter())
		m.filter.CursorEnd()
		m.relayout()
		return m, m.filter.Focus()
	case key.Matches(msg, k.Clear) && m.showMap:
		m.showMap = false
		m.relayout()
		return m, nil
	case key.Matches(msg, k.Clear) && m.currentFilter() != "":
		m.applyFilter("")
		return m, nil
	}
	if m.showMap {
		return m, nil
	}
	return m, m.reply(m.panes()[m.focus].Key(msg))
}

func (m Model) onFilterKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.filterOn = false
		m.filter.Blur()
		m.applyFilter("")
		return m, nil
	case "enter":
		m.filterOn = false
		m.filter.Blur()
		return m, nil
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	m.applyFilter(m.filter.Value())
	return m, cmd
}

func (m *Model) currentFilter() string {
	if f, ok := m.panes()[m.focus].(pane.Filterable); ok {
		return f.Filter()
	}
	return ""
}

func (m *Model) applyFilter(s string) {
	if f, ok := m.panes()[m.focus].(pane.Filterable); ok {
		f.SetFilter(s)
		// A filtered torrent list may have moved the selection.
		m.syncPeers()
	}
}
