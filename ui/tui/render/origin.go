package render

import (
	"strconv"

	"github.com/charmbracelet/lipgloss"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
)

// Origin is the foreground style of origin o, from its row in the origin
// table; styles knows only the colour role.
func Origin(th *styles.Theme, o swarm.Origin) lipgloss.Style { return th.Hue(o.Info().Hue) }

// OriginBold is Origin in bold, for counts and headings.
func OriginBold(th *styles.Theme, o swarm.Origin) lipgloss.Style {
	return th.HueBold(o.Info().Hue)
}

// OriginBadge is a filled badge in the colour of origin o.
func OriginBadge(th *styles.Theme, o swarm.Origin) lipgloss.Style {
	return th.HueBadge(o.Info().Hue)
}

// OriginTag renders glyph and short name ("◆ hp") in the origin's colour.
func OriginTag(th *styles.Theme, o swarm.Origin) string {
	in := o.Info()
	return th.Hue(in.Hue).Render(in.Glyph + " " + in.Short)
}

// OriginName renders glyph and key ("◆ holepunched") in the origin's colour.
func OriginName(th *styles.Theme, o swarm.Origin) string {
	in := o.Info()
	return th.Hue(in.Hue).Render(in.Glyph + " " + string(o))
}

// OriginCount renders "◆ 3" in the origin's colour.
func OriginCount(th *styles.Theme, o swarm.Origin, n int) string {
	in := o.Info()
	return th.HueBold(in.Hue).Render(in.Glyph + " " + strconv.Itoa(n))
}

// Legend explains every origin's glyph and colour on one line.
func Legend(th *styles.Theme) string {
	out := ""
	for i, o := range swarm.AllOrigins() {
		if i > 0 {
			out += "  "
		}
		out += OriginName(th, o)
	}
	return out
}
