package tui

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// TestScreenshots keeps colour screenshots of the main screen and the map
// for the README, as SVG drawn from the real View output (true colour, dark
// background). They are rewritten with -update and otherwise compared.
func TestScreenshots(t *testing.T) {
	shots := map[string][]string{"main": {}, "map": {"m"}}
	for name, ks := range shots {
		r := lipgloss.NewRenderer(io.Discard)
		r.SetColorProfile(termenv.TrueColor)
		r.SetHasDarkBackground(true)
		rep := fixtureNAT()
		m := New(Options{Title: "demo: you behind port-restricted-cone", Backend: &fakeBackend{}, InitialNAT: &rep, Renderer: r, Location: time.UTC})
		m = step(t, m, sizeMsg(160, 48))
		m = step(t, m, snapshotMsg{snap: fixtureSnapshot(40)})
		m = step(t, m, eventsMsg{evs: fixtureEvents()})
		m = press(t, m, ks...)
		svg := render.SVG(m.View(), 160, 48)
		path := filepath.Join("testdata", "screenshot_"+name+".svg")
		if *update {
			if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if string(want) != svg {
			t.Errorf("%s differs (go test ./ui/tui -run Screenshots -update rewrites it)", path)
		}
	}
}
