// Package dialog holds the modal boxes drawn over the main screen: add a
// torrent, confirm a removal, file priorities, and text boxes (help, a
// peer's or an event's details). Each is a pane.Dialog. Dialogs only
// collect the user's intent: the commands that act are made by the root
// model and handed in, so no dialog does I/O itself.
package dialog

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// Frame boxes body with a title, w cells wide and as tall as needed.
func Frame(th *styles.Theme, title string, body []string, w int) []string {
	inner := make([]string, 0, len(body)+2)
	for _, l := range body {
		inner = append(inner, " "+l)
	}
	return render.Box(th.Title.Render(" "+title+" "), inner, w, len(inner)+2, th.BorderFocused)
}

// Hint renders "key action" pairs for a dialog's bottom line.
func Hint(th *styles.Theme, bs ...key.Binding) string {
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		h := b.Help()
		parts = append(parts, th.Key.Render(h.Key)+" "+th.KeyDesc.Render(h.Desc))
	}
	return strings.Join(parts, th.Faint.Render(" • "))
}

// AddResult is the outcome of adding a source, delivered to the open add
// dialog and to the root.
type AddResult struct {
	InfoHash string
	Err      error
}

// Add asks for a magnet link, .torrent path or info hash.
type Add struct {
	th     *styles.Theme
	keys   keys.DialogKeys
	submit func(source string) tea.Cmd
	Input  textinput.Model
	Err    string
	Busy   bool
}

// NewAdd returns an empty, focused add dialog; submit makes the command
// that adds the source the user typed.
func NewAdd(th *styles.Theme, submit func(source string) tea.Cmd) *Add {
	ti := textinput.New()
	ti.Placeholder = "magnet:?xt=urn:btih:…  or  /path/file.torrent  or  40-hex info hash"
	ti.Prompt = "› "
	ti.PromptStyle = th.Accent
	ti.PlaceholderStyle = th.Faint
	ti.TextStyle = th.Text
	ti.Cursor.Style = th.Accent
	ti.CharLimit = 8192
	ti.Focus()
	return &Add{th: th, keys: keys.Dialog(), submit: submit, Input: ti}
}

// Update handles typing, enter and esc, and the result of the add.
func (d *Add) Update(msg tea.Msg) pane.Reply {
	switch msg := msg.(type) {
	case AddResult:
		d.Busy = false
		if msg.Err != nil {
			d.Err = text.CleanLine(msg.Err.Error())
			return pane.Handled
		}
		return pane.Reply{Handled: true, Close: true}
	case tea.KeyMsg:
		switch msg.String() {
		case "esc":
			return pane.Reply{Handled: true, Close: true}
		case "enter":
			if d.Busy {
				return pane.Handled
			}
			if strings.TrimSpace(d.Input.Value()) == "" {
				d.Err = "enter a magnet link, a .torrent file path or a 40-hex info hash"
				return pane.Handled
			}
			d.Err, d.Busy = "", true
			return pane.Reply{Handled: true, Cmd: d.submit(d.Input.Value())}
		}
		d.Err = "" // typing clears the old complaint
	}
	var cmd tea.Cmd
	d.Input, cmd = d.Input.Update(msg)
	return pane.Reply{Handled: true, Cmd: cmd}
}

// View draws the dialog.
func (d *Add) View(W, H int) []string {
	th := d.th
	w := min(80, W-4)
	d.Input.Width = max(w-8, 10)
	body := []string{
		th.Subtle.Render("Magnet link, path to a .torrent file, or info hash:"),
		"",
		d.Input.View(),
		"",
	}
	switch {
	case d.Busy:
		body = append(body, th.Warn.Render("adding…"))
	case d.Err != "":
		for i, l := range text.Wrap("✗ "+d.Err, w-6) {
			if i > 0 {
				l = "  " + l
			}
			body = append(body, th.Bad.Render(l))
		}
	default:
		body = append(body, "")
	}
	body = append(body, "", Hint(th, key.NewBinding(key.WithHelp("enter", "add")), d.keys.Cancel))
	return Frame(th, "Add torrent", body, w)
}

// Remove confirms removing a torrent.
type Remove struct {
	th       *styles.Theme
	keys     keys.DialogKeys
	remove   func(deleteData bool) tea.Cmd
	InfoHash string
	Name     string
}

// NewRemove asks about torrent t; remove makes the command that removes it.
func NewRemove(th *styles.Theme, t swarm.TorrentInfo, remove func(deleteData bool) tea.Cmd) *Remove {
	name := t.Name
	if name == "" {
		name = t.InfoHash
	}
	return &Remove{th: th, keys: keys.Dialog(), remove: remove, InfoHash: t.InfoHash, Name: name}
}

// Update removes on y/enter (keeping the data) or D (deleting it).
func (d *Remove) Update(msg tea.Msg) pane.Reply {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return pane.Reply{}
	}
	switch {
	case key.Matches(k, d.keys.DeleteData):
		return pane.Reply{Handled: true, Close: true, Cmd: d.remove(true)}
	case key.Matches(k, d.keys.Confirm):
		return pane.Reply{Handled: true, Close: true, Cmd: d.remove(false)}
	case key.Matches(k, d.keys.Cancel), k.String() == "n":
		return pane.Reply{Handled: true, Close: true}
	}
	return pane.Handled
}

// View draws the dialog.
func (d *Remove) View(W, H int) []string {
	th := d.th
	w := min(72, W-4)
	body := []string{
		"Remove " + th.Bold.Render(render.Truncate(d.Name, max(w-14, 8))) + "?",
		th.Subtle.Render("Downloaded data is kept unless you press D."),
		"",
		Hint(th, key.NewBinding(key.WithHelp("y/enter", "remove, keep data")), d.keys.DeleteData, key.NewBinding(key.WithHelp("esc/n", "cancel"))),
	}
	return Frame(th, "Remove torrent", body, w)
}

// PriorityResult is the outcome of setting a file's priority.
type PriorityResult struct {
	InfoHash string
	File     int
	Prio     swarm.Priority
	Err      error
}

// Files shows a torrent's files and changes their priorities.
type Files struct {
	th       *styles.Theme
	keys     keys.DialogKeys
	set      func(file int, p swarm.Priority) tea.Cmd
	InfoHash string
	Name     string
	Files    []swarm.FileInfo
	List     render.List
}

// NewFiles opens the file list of t; set makes the command that changes a
// priority (nil: read-only).
func NewFiles(th *styles.Theme, t swarm.TorrentInfo, set func(file int, p swarm.Priority) tea.Cmd) *Files {
	f := &Files{th: th, keys: keys.Dialog(), set: set, InfoHash: t.InfoHash, Name: t.Name}
	f.SetFiles(t.Files)
	return f
}

// SetFiles refreshes the list.
func (d *Files) SetFiles(fs []swarm.FileInfo) {
	d.Files = fs
	d.List.Len = len(fs)
	d.List.Clamp()
}

// SetSnapshot follows the torrent's files in a newer snapshot.
func (d *Files) SetSnapshot(s *swarm.Snapshot) {
	for _, t := range s.Torrents {
		if t.InfoHash == d.InfoHash {
			d.SetFiles(t.Files)
		}
	}
}

// Update moves the cursor, sets priorities, and shows a change as soon as
// the backend made it.
func (d *Files) Update(msg tea.Msg) pane.Reply {
	switch msg := msg.(type) {
	case PriorityResult:
		if msg.Err == nil && msg.InfoHash == d.InfoHash && msg.File >= 0 && msg.File < len(d.Files) {
			fs := append([]swarm.FileInfo(nil), d.Files...)
			fs[msg.File].Priority = msg.Prio
			d.SetFiles(fs)
		}
		return pane.Reply{}
	case tea.KeyMsg:
		return d.key(msg)
	}
	return pane.Reply{}
}

func (d *Files) key(k tea.KeyMsg) pane.Reply {
	cur := d.List.Cursor
	choose := func(p swarm.Priority) pane.Reply {
		if d.set == nil {
			return pane.Reply{Handled: true, Status: "read-only: priorities cannot be changed here", StatusErr: true}
		}
		return pane.Reply{Handled: true, Cmd: d.set(cur, p)}
	}
	switch {
	case key.Matches(k, d.keys.Cancel), k.String() == "q", k.String() == "f":
		return pane.Reply{Handled: true, Close: true}
	case key.Matches(k, d.keys.Up):
		d.List.Move(-1)
	case key.Matches(k, d.keys.Down):
		d.List.Move(1)
	case k.String() == "pgup":
		d.List.Page(-1)
	case k.String() == "pgdown":
		d.List.Page(1)
	case k.String() == "home":
		d.List.Home()
	case k.String() == "end":
		d.List.End()
	case cur >= len(d.Files):
	case key.Matches(k, d.keys.Skip):
		return choose(swarm.PrioritySkip)
	case key.Matches(k, d.keys.Normal):
		return choose(swarm.PriorityNormal)
	case key.Matches(k, d.keys.High):
		return choose(swarm.PriorityHigh)
	case key.Matches(k, d.keys.Cycle):
		return choose((d.Files[cur].Priority + 1) % 3)
	}
	return pane.Handled
}

// View draws the dialog.
func (d *Files) View(W, H int) []string {
	th := d.th
	w, h := min(96, W-4), H-2
	d.List.Height = max(min(len(d.Files), h-6), 1)
	d.List.Clamp()
	body := []string{th.Subtle.Render(render.Fit(d.Name, w-4))}
	if len(d.Files) == 0 {
		body = append(body, th.Subtle.Render("no file list yet (metadata not received)"))
	}
	from, to := d.List.Visible()
	for i := from; i < to; i++ {
		f := d.Files[i]
		cur := " "
		if i == d.List.Cursor {
			cur = "›"
		}
		prio := render.Fit(f.Priority.String(), 6)
		switch f.Priority {
		case swarm.PrioritySkip:
			prio = th.Faint.Render(prio)
		case swarm.PriorityHigh:
			prio = th.Warn.Render(prio)
		}
		frac := 0.0
		if f.Size > 0 {
			frac = float64(f.Completed) / float64(f.Size)
		}
		right := " " + prio + " " + render.FitRight(text.Percent(frac), 4) + " " + render.FitRight(text.Bytes(f.Size), 7)
		line := cur + render.Fit(f.Path, max(w-4-1-render.Width(right), 4)) + right
		if i == d.List.Cursor {
			line = render.Highlight(line, true, th)
		}
		body = append(body, line)
	}
	body = append(body, "", Hint(th, d.keys.Skip, d.keys.Normal, d.keys.High, d.keys.Cycle, d.keys.Cancel))
	return Frame(th, fmt.Sprintf("Files (%d)", len(d.Files)), body, w)
}

// Text is a box of text to read (help, a peer's or an event's details):
// body draws it for a width, and esc, enter, q or ? close it.
type Text struct {
	th    *styles.Theme
	title string
	maxW  int
	body  func(w, h int) []string
}

// NewText makes a text box at most maxW cells wide; body draws its lines
// for the inner width and the screen height.
func NewText(th *styles.Theme, title string, maxW int, body func(w, h int) []string) *Text {
	return &Text{th: th, title: title, maxW: maxW, body: body}
}

// Title is the box's title.
func (d *Text) Title() string { return d.title }

// Update closes the box on esc, enter, q or ?.
func (d *Text) Update(msg tea.Msg) pane.Reply {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return pane.Reply{}
	}
	switch k.String() {
	case "esc", "enter", "q", "?":
		return pane.Reply{Handled: true, Close: true}
	}
	return pane.Handled
}

// View draws the box.
func (d *Text) View(W, H int) []string {
	w := min(d.maxW, W-2)
	body := d.body(w-4, H)
	body = append(body, "", Hint(d.th, key.NewBinding(key.WithHelp("esc/enter", "close"))))
	// As wide as the text needs, no wider.
	need := render.Width(d.title) + 6
	for _, l := range body {
		need = max(need, render.Width(l)+4)
	}
	return Frame(d.th, d.title, body, min(w, need))
}

// KV renders a label and its value for a details box.
func KV(th *styles.Theme, label, value string, labelW int) string {
	return th.Subtle.Render(render.Fit(label, labelW)) + value
}
