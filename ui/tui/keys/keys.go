// Package keys is the TUI's keymap. The help overlay is generated from it,
// so a binding documented here is a binding that exists.
package keys

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// KeyMap holds every binding of the main screen.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	NextPane, PrevPane, Pane              key.Binding
	Map, Help, Quit                       key.Binding

	Add, Pause, Remove, Files key.Binding

	Enter, Filter, Sort, Reverse, Origin, Clear key.Binding
	Rerun                                       key.Binding
}

// Default returns the standard bindings.
func Default() KeyMap {
	b := key.NewBinding
	k, h := key.WithKeys, key.WithHelp
	return KeyMap{
		Up:       b(k("up", "k"), h("↑/k", "up")),
		Down:     b(k("down", "j"), h("↓/j", "down")),
		PageUp:   b(k("pgup", "ctrl+u"), h("pgup", "page up")),
		PageDown: b(k("pgdown", "ctrl+d"), h("pgdn", "page down")),
		Home:     b(k("home", "g"), h("home/g", "first")),
		End:      b(k("end", "G"), h("end/G", "last")),
		NextPane: b(k("tab"), h("tab", "next pane")),
		PrevPane: b(k("shift+tab"), h("shift+tab", "previous pane")),
		Pane:     b(k("1", "2", "3", "4", "5", "6", "7", "8", "9"), h("1-9", "go to pane")),
		Map:      b(k("m"), h("m", "connectivity map")),
		Help:     b(k("?"), h("?", "help")),
		Quit:     b(k("q", "ctrl+c"), h("q", "quit")),
		Add:      b(k("a"), h("a", "add torrent")),
		Pause:    b(k("p"), h("p", "pause/resume")),
		Remove:   b(k("d", "delete"), h("d", "remove torrent")),
		Files:    b(k("f"), h("f", "files & priority")),
		Enter:    b(k("enter"), h("enter", "peer details")),
		Filter:   b(k("/"), h("/", "filter")),
		Sort:     b(k("s"), h("s", "sort column")),
		Reverse:  b(k("S"), h("S", "reverse sort")),
		Origin:   b(k("o"), h("o", "filter origin")),
		Clear:    b(k("esc"), h("esc", "clear/close")),
		Rerun:    b(k("r"), h("r", "re-run NAT check")),
	}
}

// ShortHelp is the footer's hint line.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.NextPane, k.Map, k.Add, k.Help, k.Quit}
}

// FullHelp is the help overlay, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.NextPane, k.PrevPane, k.Pane, k.Map, k.Help, k.Quit},
		{k.Add, k.Pause, k.Remove, k.Files, k.Rerun},
		{k.Enter, k.Filter, k.Sort, k.Reverse, k.Origin, k.Clear},
	}
}

// DialogKeys are the bindings inside dialogs.
type DialogKeys struct {
	Confirm, Cancel, DeleteData key.Binding
	Up, Down                    key.Binding
	Skip, Normal, High, Cycle   key.Binding
}

// Dialog returns the dialog bindings.
func Dialog() DialogKeys {
	b := key.NewBinding
	k, h := key.WithKeys, key.WithHelp
	return DialogKeys{
		Confirm:    b(k("enter", "y"), h("enter/y", "confirm")),
		Cancel:     b(k("esc"), h("esc", "cancel")),
		DeleteData: b(k("D"), h("D", "remove and delete data")),
		Up:         b(k("up", "k"), h("↑/k", "up")),
		Down:       b(k("down", "j"), h("↓/j", "down")),
		Skip:       b(k("x", "0"), h("x", "skip")),
		Normal:     b(k("n", "1"), h("n", "normal")),
		High:       b(k("h", "2"), h("h", "high")),
		Cycle:      b(k(" "), h("space", "cycle priority")),
	}
}

// Navigate applies a movement key to l and reports whether msg was one.
func (k KeyMap) Navigate(l *render.List, msg tea.KeyMsg) bool {
	switch {
	case key.Matches(msg, k.Up):
		l.Move(-1)
	case key.Matches(msg, k.Down):
		l.Move(1)
	case key.Matches(msg, k.PageUp):
		l.Page(-1)
	case key.Matches(msg, k.PageDown):
		l.Page(1)
	case key.Matches(msg, k.Home):
		l.Home()
	case key.Matches(msg, k.End):
		l.End()
	default:
		return false
	}
	return true
}
