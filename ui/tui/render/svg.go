package render

import (
	"fmt"
	"strconv"
	"strings"
)

// SVG draws a rendered screen (text with SGR colour codes, true colour)
// as an SVG picture of a cols x rows terminal with a dark background, for
// the README's screenshots.
func SVG(screen string, cols, rows int) string {
	const cw, ch, fontSize = 8.4, 17.0, 14.0
	const defFG, defBG = "#e6edf3", "#0d1117"
	var b strings.Builder
	w, h := float64(cols)*cw+20, float64(rows)*ch+20
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" rx="8" fill="%s"/>`+"\n", defBG)
	fmt.Fprintf(&b, `<g font-family="'DejaVu Sans Mono','Menlo','Consolas',monospace" font-size="%.0f" xml:space="preserve" transform="translate(10,10)">`+"\n", fontSize)
	for y, line := range strings.Split(screen, "\n") {
		st := cellStyle{}
		x := 0
		var run strings.Builder
		runStart, runStyle := 0, st
		flush := func() {
			if run.Len() == 0 {
				return
			}
			text := run.String()
			n := len([]rune(text))
			if runStyle.bg != "" {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n",
					float64(runStart)*cw, float64(y)*ch, float64(n)*cw, ch, runStyle.bg)
			}
			if strings.TrimSpace(text) != "" {
				fg := runStyle.fg
				if fg == "" {
					fg = defFG
				}
				attrs := ""
				if runStyle.bold {
					attrs += ` font-weight="bold"`
				}
				if runStyle.underline {
					attrs += ` text-decoration="underline"`
				}
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s"%s textLength="%.1f" lengthAdjust="spacingAndGlyphs">%s</text>`+"\n",
					float64(runStart)*cw, float64(y)*ch+ch*0.78, fg, attrs, float64(n)*cw, xmlEscape(text))
			}
			run.Reset()
		}
		for i := 0; i < len(line); {
			if line[i] == 0x1b && i+1 < len(line) && line[i+1] == '[' {
				j := i + 2
				for j < len(line) && (line[j] < 0x40 || line[j] > 0x7e) {
					j++
				}
				if j < len(line) && line[j] == 'm' {
					st = applySGR(st, line[i+2:j])
				}
				i = j + 1
				continue
			}
			r := []rune(line[i:])[0]
			if st != runStyle {
				flush()
				runStart, runStyle = x, st
			}
			run.WriteRune(r)
			x++
			i += len(string(r))
		}
		flush()
	}
	b.WriteString("</g>\n</svg>\n")
	return b.String()
}

type cellStyle struct {
	fg, bg          string
	bold, underline bool
}

func applySGR(st cellStyle, params string) cellStyle {
	if params == "" {
		return cellStyle{}
	}
	ps := strings.Split(params, ";")
	for i := 0; i < len(ps); i++ {
		switch ps[i] {
		case "0":
			st = cellStyle{}
		case "1":
			st.bold = true
		case "4":
			st.underline = true
		case "22":
			st.bold = false
		case "24":
			st.underline = false
		case "39":
			st.fg = ""
		case "49":
			st.bg = ""
		case "38", "48":
			if i+4 < len(ps) && ps[i+1] == "2" {
				c := "#" + hex2(ps[i+2]) + hex2(ps[i+3]) + hex2(ps[i+4])
				if ps[i] == "38" {
					st.fg = c
				} else {
					st.bg = c
				}
				i += 4
			}
		}
	}
	return st
}

func hex2(s string) string {
	n, _ := strconv.Atoi(s)
	return fmt.Sprintf("%02x", n&0xff)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
