// Package dialog holds the modal boxes drawn over the main screen: add a
// torrent, confirm a removal, file priorities, a peer's details and help.
// Dialogs only collect the user's intent; the parent turns it into backend
// commands, so no dialog ever does I/O.
package dialog

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/format"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/peers"
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

// Action is what the user asked a dialog for.
type Action int

const (
	None Action = iota
	Cancel
	Submit
)

// Add asks for a magnet link, .torrent path or info hash.
type Add struct {
	th    *styles.Theme
	keys  keys.DialogKeys
	Input textinput.Model
	Err   string
	Busy  bool
}

// NewAdd returns an empty, focused add dialog.
func NewAdd(th *styles.Theme) Add {
	ti := textinput.New()
	ti.Placeholder = "magnet:?xt=urn:btih:…  or  /path/file.torrent  or  40-hex info hash"
	ti.Prompt = "› "
	ti.PromptStyle = th.Accent
	ti.PlaceholderStyle = th.Faint
	ti.TextStyle = th.Text
	ti.Cursor.Style = th.Accent
	ti.CharLimit = 8192
	ti.Focus()
	return Add{th: th, keys: keys.Dialog(), Input: ti}
}

// Update handles a message; Submit means the value should be added.
func (d Add) Update(msg tea.Msg) (Add, Action, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch k.String() {
		case "esc":
			return d, Cancel, nil
		case "enter":
			if d.Busy {
				return d, None, nil
			}
			if strings.TrimSpace(d.Input.Value()) == "" {
				d.Err = "enter a magnet link, a .torrent file path or a 40-hex info hash"
				return d, None, nil
			}
			d.Err = ""
			d.Busy = true
			return d, Submit, nil
		}
		d.Err = "" // typing clears the old complaint
	}
	var cmd tea.Cmd
	d.Input, cmd = d.Input.Update(msg)
	return d, None, cmd
}

// Lines draws the dialog w cells wide.
func (d Add) Lines(w int) []string {
	th := d.th
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
		for i, l := range render.Wrap("✗ "+d.Err, w-6) {
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
	InfoHash string
	Name     string
}

// NewRemove asks about torrent t.
func NewRemove(th *styles.Theme, t swarm.TorrentInfo) Remove {
	name := t.Name
	if name == "" {
		name = t.InfoHash
	}
	return Remove{th: th, keys: keys.Dialog(), InfoHash: t.InfoHash, Name: name}
}

// Update returns Submit with deleteData set when the user confirmed.
func (d Remove) Update(msg tea.Msg) (act Action, deleteData bool) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return None, false
	}
	switch {
	case key.Matches(k, d.keys.DeleteData):
		return Submit, true
	case key.Matches(k, d.keys.Confirm):
		return Submit, false
	case key.Matches(k, d.keys.Cancel), k.String() == "n":
		return Cancel, false
	}
	return None, false
}

// Lines draws the dialog.
func (d Remove) Lines(w int) []string {
	th := d.th
	body := []string{
		"Remove " + th.Bold.Render(render.Truncate(d.Name, max(w-14, 8))) + "?",
		th.Subtle.Render("Downloaded data is kept unless you press D."),
		"",
		Hint(th, key.NewBinding(key.WithHelp("y/enter", "remove, keep data")), d.keys.DeleteData, key.NewBinding(key.WithHelp("esc/n", "cancel"))),
	}
	return Frame(th, "Remove torrent", body, w)
}

// Files shows a torrent's files and changes their priorities.
type Files struct {
	th       *styles.Theme
	keys     keys.DialogKeys
	InfoHash string
	Name     string
	Files    []swarm.FileInfo
	List     render.List
}

// NewFiles opens the file list of t.
func NewFiles(th *styles.Theme, t swarm.TorrentInfo) Files {
	f := Files{th: th, keys: keys.Dialog(), InfoHash: t.InfoHash, Name: t.Name}
	f.SetFiles(t.Files)
	return f
}

// SetFiles refreshes the list from a newer snapshot.
func (d *Files) SetFiles(fs []swarm.FileInfo) {
	d.Files = fs
	d.List.Len = len(fs)
	d.List.Clamp()
}

// Update returns the file and priority to set, if the user chose one.
func (d *Files) Update(msg tea.Msg) (act Action, file int, p swarm.Priority) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return None, 0, 0
	}
	cur := d.List.Cursor
	switch {
	case key.Matches(k, d.keys.Cancel), k.String() == "q", k.String() == "f":
		return Cancel, 0, 0
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
		return Submit, cur, swarm.PrioritySkip
	case key.Matches(k, d.keys.Normal):
		return Submit, cur, swarm.PriorityNormal
	case key.Matches(k, d.keys.High):
		return Submit, cur, swarm.PriorityHigh
	case key.Matches(k, d.keys.Cycle):
		return Submit, cur, (d.Files[cur].Priority + 1) % 3
	}
	return None, 0, 0
}

// Lines draws the dialog with at most h lines.
func (d *Files) Lines(w, h int) []string {
	th := d.th
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
		right := " " + prio + " " + render.FitRight(format.Percent(frac), 4) + " " + render.FitRight(format.Bytes(f.Size), 7)
		line := cur + render.Fit(f.Path, max(w-4-1-render.Width(right), 4)) + right
		if i == d.List.Cursor {
			line = render.Highlight(line, true, th)
		}
		body = append(body, line)
	}
	body = append(body, "", Hint(th, d.keys.Skip, d.keys.Normal, d.keys.High, d.keys.Cycle, d.keys.Cancel))
	return Frame(th, fmt.Sprintf("Files (%d)", len(d.Files)), body, w)
}

// PeerLines draws the details of peer p at time now.
func PeerLines(th *styles.Theme, p swarm.PeerInfo, now time.Time, w int) []string {
	kv := func(k, v string) string { return th.Subtle.Render(render.Fit(k, 12)) + v }
	enc := "no"
	if p.Encrypted {
		enc = "yes (MSE)"
	}
	body := []string{
		kv("origin", render.OriginBold(th, p.Origin).Render(p.Origin.Info().Glyph+" "+string(p.Origin))+th.Subtle.Render("  "+p.Origin.Info().Explain)),
		kv("address", p.Addr),
		kv("transport", string(p.Transport)),
		kv("client", orDash(p.Client)),
		kv("discovered", string(p.Discovery)),
		kv("encrypted", enc),
		kv("flags", peers.Flags(&p)),
		kv("has", format.Percent(p.Progress)),
		kv("↓ from peer", format.Rate(p.DownBps)+th.Subtle.Render("  "+format.Bytes(p.DownBytes)+" total")),
		kv("↑ to peer", format.Rate(p.UpBps)+th.Subtle.Render("  "+format.Bytes(p.UpBytes)+" total")),
		kv("connected", format.Duration(now.Sub(p.Since))+" ago"),
		kv("id", th.Faint.Render(p.ID)),
		"",
		Hint(th, key.NewBinding(key.WithHelp("esc/enter", "close"))),
	}
	return Frame(th, "Peer details", body, w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
