// Package pane is the contract between the TUI's root model and what it
// shows: every pane of the main screen is a Pane and every modal box a
// Dialog (the shape of soft-serve's pkg/ui/common component). The root
// model lays panes out, routes keys, clicks and the wheel to them, and
// carries out their Replies; it knows no pane by type, so a new view is a
// new Pane and one line in the root's list.
package pane

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Pane is one box of the main screen. Its methods have pointer receivers:
// the root hands out pointers to the panes of the model value it is
// updating, so Bubble Tea's copies of the model stay independent.
type Pane interface {
	// Name is the pane's name in its tab and title: "Peers".
	Name() string
	// Info is what the title adds after the name (counts, sort, filters),
	// already styled; "" adds nothing.
	Info() string
	// SetSize sets the content area inside the frame, in cells.
	SetSize(w, h int)
	// Lines draws the content: exactly the size set, one string a line.
	Lines(focused bool) []string
	// ShortHelp is the footer's hints while the pane has the focus.
	ShortHelp() []key.Binding
	// Key handles a key the root did not take for itself (quit, help,
	// switching panes).
	Key(msg tea.KeyMsg) Reply
	// Click handles a left click at content cell (x, y).
	Click(x, y int) Reply
	// Scroll moves the view by d rows (the mouse wheel).
	Scroll(d int) Reply
}

// Filterable is a pane the / key filters.
type Filterable interface {
	Filter() string
	SetFilter(f string)
}

// Dialog is a modal box over the main screen. It collects the user's
// intent; commands that do I/O are built by the root and handed to the
// dialog when it is made, so no dialog reaches the network itself.
type Dialog interface {
	// Update handles a message while the dialog is open: keys, and the
	// results of the commands it asked for.
	Update(msg tea.Msg) Reply
	// View draws the framed box for a screen of w x h cells; the root
	// centres it.
	View(w, h int) []string
}

// Reply tells the root what a pane or dialog wants done.
type Reply struct {
	// Handled: the key or click was used; the root looks no further.
	Handled bool
	// Selected: the pane's selection changed, and the panes that show
	// the selected torrent follow it.
	Selected bool
	// Focus moves the focus to the pane of this Name.
	Focus string
	// Open shows a dialog (over any open one's place).
	Open Dialog
	// Close closes the dialog that replied.
	Close bool
	// Status is a message for the status line; StatusErr marks it a
	// failure.
	Status    string
	StatusErr bool
	// Cmd runs after the update.
	Cmd tea.Cmd
}

// Handled is the Reply of a key or click that was used and needs nothing
// more.
var Handled = Reply{Handled: true}
