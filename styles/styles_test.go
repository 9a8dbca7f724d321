package styles

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func TestHuesAreDistinct(t *testing.T) {
	seen := map[string]string{}
	for name, c := range hues {
		for _, k := range []string{"light " + c.Light, "dark " + c.Dark} {
			if prev, dup := seen[k]; dup && name != "subtle" && prev != "subtle" {
				t.Errorf("hues %s and %s share %s", prev, name, k)
			}
			seen[k] = name
		}
	}
	if HueColor("no-such-role") != colorSubtle {
		t.Error("unknown role is not subtle")
	}
}

func TestColourProfileApplies(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	th := New(r)
	if s := th.Hue("violet").Render("◆ hp"); !strings.Contains(s, "\x1b[") || !strings.Contains(s, "◆ hp") {
		t.Errorf("coloured text %q", s)
	}
	r = lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	th = New(r)
	if s := th.HueBadge("amber").Render("x") + th.Hue("nope").Render("y"); strings.Contains(s, "\x1b") {
		t.Errorf("escape codes without colour: %q", s)
	}
}
