package render

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
)

func TestLegendAndBadgesWithoutColour(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	th := styles.New(r)
	leg := Legend(th)
	for _, o := range swarm.AllOrigins() {
		if !strings.Contains(leg, o.Info().Glyph+" "+string(o)) {
			t.Errorf("legend %q lacks %s", leg, o)
		}
	}
	if strings.Contains(leg, "\x1b") {
		t.Errorf("escape codes without colour: %q", leg)
	}
	if got := OriginTag(th, swarm.OriginHolepunched); got != "◆ hp" {
		t.Errorf("tag %q", got)
	}
}

func TestOriginColoursFollowTheTable(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	th := styles.New(r)
	seen := map[string]swarm.Origin{}
	for _, o := range swarm.AllOrigins() {
		s := Origin(th, o).Render("x")
		if !strings.Contains(s, "\x1b[") {
			t.Errorf("%s uncoloured: %q", o, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("%s and %s render alike", prev, o)
		}
		seen[s] = o
	}
}
