package styles

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/nat"
)

func TestOriginsAreDistinct(t *testing.T) {
	seen := map[string]engine.Origin{}
	for _, o := range engine.Origins {
		for _, k := range []string{
			"glyph " + OriginGlyph(o), "letter " + OriginLetter(o), "short " + OriginShort(o),
			"light " + OriginColor(o).Light, "dark " + OriginColor(o).Dark,
		} {
			if prev, dup := seen[k]; dup {
				t.Errorf("%s and %s share %s", prev, o, k)
			}
			seen[k] = o
		}
	}
	if OriginGlyph("bogus") != "?" || OriginShort("bogus") != "bogus" {
		t.Error("unknown origin not handled")
	}
}

func TestLegendAndBadgesWithoutColour(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	th := New(r)
	leg := th.Legend()
	for _, o := range engine.Origins {
		if !strings.Contains(leg, OriginGlyph(o)+" "+string(o)) {
			t.Errorf("legend %q lacks %s", leg, o)
		}
	}
	if strings.Contains(leg, "\x1b") {
		t.Errorf("escape codes without colour: %q", leg)
	}
	if got := th.NATBadge(nat.TypeSymmetric); !strings.Contains(got, "NAT symmetric") {
		t.Errorf("badge %q", got)
	}
	if got := th.NATBadge(""); !strings.Contains(got, "unknown") {
		t.Errorf("empty type badge %q", got)
	}
	for _, v := range []nat.Verdict{nat.VerdictPublic, nat.VerdictUPnP, nat.VerdictFullCone, nat.VerdictOutboundOnly, nat.VerdictUnknown, ""} {
		if !strings.HasPrefix(th.Verdict(v), "reachable: ") {
			t.Errorf("verdict %q renders %q", v, th.Verdict(v))
		}
	}
	for _, ty := range nat.Types {
		if ty != nat.TypeUnknown && NATTypeLevel(ty) < 0 {
			t.Errorf("%s has no grade", ty)
		}
	}
}

func TestColourProfileApplies(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	th := New(r)
	if s := th.OriginTag(engine.OriginHolepunched); !strings.Contains(s, "\x1b[") || !strings.Contains(s, "◆ hp") {
		t.Errorf("coloured tag %q", s)
	}
}
