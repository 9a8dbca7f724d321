// Package render holds the drawing primitives the panes share: exact-width
// cells, framed boxes, tables that drop columns when narrow, sparklines,
// progress bars and overlays. Every function returns lines of exactly the
// requested width so panes can be joined by plain concatenation, which is
// far cheaper than lipgloss joins on every frame.
package render

import (
	"math"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/swarmscope/swarmscope/styles"
)

// Width is the visible width of s in cells.
func Width(s string) int {
	if isPlainASCII(s) {
		return len(s)
	}
	return ansi.StringWidth(s)
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// Fit truncates s (with "…") or pads it with spaces to exactly w cells.
func Fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := Width(s)
	if n == w {
		return s
	}
	if n < w {
		return s + spaces(w-n)
	}
	if isPlainASCII(s) {
		if w == 1 {
			return "…"
		}
		return s[:w-1] + "…"
	}
	t := ansi.Truncate(s, w, "…")
	if m := ansi.StringWidth(t); m < w {
		t += spaces(w - m)
	}
	return t
}

// Truncate shortens s (with "…") to at most w cells, without padding.
func Truncate(s string, w int) string {
	if Width(s) <= w {
		return s
	}
	return Fit(s, w)
}

// FitRight is Fit with the text right-aligned.
func FitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := Width(s)
	if n >= w {
		return Fit(s, w)
	}
	return spaces(w-n) + s
}

// Center centers s in w cells.
func Center(s string, w int) string {
	n := Width(s)
	if n >= w {
		return Fit(s, w)
	}
	left := (w - n) / 2
	return spaces(left) + s + spaces(w-n-left)
}

const blank = "                                                                                                                                "

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(blank) {
		return blank[:n]
	}
	return strings.Repeat(" ", n)
}

// Spaces returns n spaces.
func Spaces(n int) string { return spaces(n) }

// Block makes lines exactly w x h: pads, truncates, adds blank lines.
func Block(lines []string, w, h int) []string {
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = Fit(lines[i], w)
		} else {
			out[i] = spaces(w)
		}
	}
	return out
}

// Lines splits a rendered string into lines.
func Lines(s string) []string { return strings.Split(s, "\n") }

// Box draws a rounded frame of w x h cells around body with title set into
// the top edge. border styles the frame.
func Box(title string, body []string, w, h int, border lipgloss.Style) []string {
	if w < 2 || h < 2 {
		return Block(nil, max(w, 0), max(h, 0))
	}
	out := make([]string, 0, h)
	inner := w - 2
	top := "─"
	if title != "" && inner >= 4 {
		t := Fit(title, min(Width(title), inner-3))
		top = border.Render("╭─") + t + border.Render(strings.Repeat("─", max(inner-1-Width(t), 0))+"╮")
	} else {
		top = border.Render("╭" + strings.Repeat("─", inner) + "╮")
	}
	out = append(out, top)
	side := border.Render("│")
	for i := 0; i < h-2; i++ {
		line := ""
		if i < len(body) {
			line = body[i]
		}
		out = append(out, side+Fit(line, inner)+side)
	}
	out = append(out, border.Render("╰"+strings.Repeat("─", inner)+"╯"))
	return out
}

// HJoin joins equally tall blocks side by side.
func HJoin(blocks ...[]string) []string {
	h := 0
	for _, b := range blocks {
		h = max(h, len(b))
	}
	out := make([]string, h)
	var sb strings.Builder
	for i := range out {
		sb.Reset()
		for _, b := range blocks {
			if i < len(b) {
				sb.WriteString(b[i])
			}
		}
		out[i] = sb.String()
	}
	return out
}

// Overlay writes fg over bg with its top-left corner at (x, y), keeping the
// background visible around it. bg lines must be full width.
func Overlay(bg, fg []string, x, y int) []string {
	out := append([]string(nil), bg...)
	for i, line := range fg {
		row := y + i
		if row < 0 || row >= len(out) {
			continue
		}
		b := out[row]
		bw := Width(b)
		fw := Width(line)
		left := ansi.Truncate(b, x, "")
		if lw := Width(left); lw < x {
			left += spaces(x - lw)
		}
		right := ""
		if x+fw < bw {
			right = ansi.TruncateLeft(b, x+fw, "")
		}
		if strings.Contains(b, "\x1b") {
			// Do not let the background's open attributes bleed into the box.
			left += "\x1b[0m"
			line += "\x1b[0m"
		}
		out[row] = left + line + right
	}
	return out
}

// CenterPos positions a w x h box centered in a W x H area.
func CenterPos(W, H, w, h int) (x, y int) {
	return max((W-w)/2, 0), max((H-h)/2, 0)
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values (oldest first) as one line of width cells, right
// aligned so that "now" is always the right edge. Several values per cell
// are averaged. Zero values draw as a baseline dot so idle paths are
// visible; top is the value of a full block.
func Sparkline(values []float64, width int, top float64) string {
	if width <= 0 {
		return ""
	}
	cells := bucket(values, width)
	var sb strings.Builder
	sb.Grow(width * 3)
	pad := width - len(cells)
	for i := 0; i < pad; i++ {
		sb.WriteByte(' ')
	}
	for _, v := range cells {
		if v <= 0 || top <= 0 || math.IsNaN(v) {
			sb.WriteString("·")
			continue
		}
		i := int(math.Ceil(v/top*float64(len(sparkRunes)))) - 1
		i = max(0, min(i, len(sparkRunes)-1))
		sb.WriteRune(sparkRunes[i])
	}
	return sb.String()
}

// bucket averages values into exactly width cells when there are more
// samples than cells (cell i covers samples [i*n/width, (i+1)*n/width)); with
// fewer samples each sample is one cell.
func bucket(values []float64, width int) []float64 {
	n := len(values)
	if n <= width {
		return values
	}
	out := make([]float64, width)
	for i := range out {
		from, to := i*n/width, (i+1)*n/width
		s := 0.0
		for _, v := range values[from:to] {
			s += v
		}
		out[i] = s / float64(max(to-from, 1))
	}
	return out
}

// Bar draws a progress bar of width cells with eighth-block resolution.
func Bar(frac float64, width int, full, empty lipgloss.Style) string {
	if width <= 0 {
		return ""
	}
	if math.IsNaN(frac) {
		frac = 0
	}
	frac = math.Max(0, math.Min(1, frac))
	eighths := int(frac * float64(width*8))
	whole := eighths / 8
	part := eighths % 8
	var sb strings.Builder
	sb.WriteString(strings.Repeat("█", whole))
	rest := width - whole
	if part > 0 && rest > 0 {
		sb.WriteString(string([]rune("▏▎▍▌▋▊▉")[part-1]))
		rest--
	}
	return full.Render(sb.String()) + empty.Render(strings.Repeat("░", rest))
}

// Highlight restyles a rendered row as the selected row. The cells' own
// colours are dropped first: their reset codes would otherwise cut the
// selection background short after the first coloured cell.
func Highlight(line string, focused bool, th *styles.Theme) string {
	plain := ansi.Strip(line)
	if focused {
		return th.SelectedFocused.Render(plain)
	}
	return th.Selected.Render(plain)
}
