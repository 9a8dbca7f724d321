package tui

import (
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// overlayDialog draws the open dialog centred over the screen.
func (m Model) overlayDialog(bg []string) []string {
	W, H := m.width, m.height
	box := m.dlg.View(W, H)
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

// helpDialog is the help box: every key from the keymap, then what each
// origin means (from the origin table) when the screen has room.
func (m Model) helpDialog() pane.Dialog {
	th, h, k := m.th, m.help, m.keys
	return dialog.NewText(th, "Help", 200, func(w, height int) []string {
		groups := k.FullHelp()
		body := render.Lines(h.FullHelpView(groups))
		if maxWidth(body) > w {
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
		if len(body)+len(origins)+4 <= height {
			body = append(body, origins...)
		} else {
			body = append(body, "", render.Legend(th))
		}
		return body
	})
}

func maxWidth(lines []string) int {
	w := 0
	for _, l := range lines {
		w = max(w, render.Width(l))
	}
	return w
}
