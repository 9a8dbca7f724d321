package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

var update = flag.Bool("update", false, "rewrite the golden screens in testdata")

// newFixtureModel is a model at w x h fed the fixture snapshot, events and
// NAT report, drawing without colour.
func newFixtureModel(t testing.TB, w, h, peers int) Model {
	t.Helper()
	snap := fixtureSnapshot(peers)
	rep := fixtureNAT()
	m := New(Options{
		Title:   "demo: you behind port-restricted-cone",
		Backend: &fakeBackend{},
		CheckSource: func(s string) error {
			_, err := engine.ParseSource(s)
			return err
		},
		InitialNAT: &rep,
		Renderer:   asciiRenderer(),
		Location:   time.UTC,
	})
	m = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = step(t, m, snapshotMsg{snap: snap})
	m = step(t, m, eventsMsg{evs: fixtureEvents()})
	return m
}

// step feeds one message and runs the synchronous part of its command
// chain is left to the caller: commands may block on channels.
func step(t testing.TB, m Model, msg tea.Msg) Model {
	t.Helper()
	next, _ := m.Update(msg)
	return next.(Model)
}

func press(t testing.TB, m Model, ks ...string) Model {
	t.Helper()
	for _, k := range ks {
		m = step(t, m, keyMsg(k))
	}
	return m
}

func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "end":
		return tea.KeyMsg{Type: tea.KeyEnd}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

func typeText(t testing.TB, m Model, s string) Model {
	for _, r := range s {
		m = step(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	return m
}

// checkScreen compares the view with testdata/name.golden and checks the
// frame fills the terminal exactly.
func checkScreen(t *testing.T, name string, m Model, w, h int) {
	t.Helper()
	view := m.View()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("%s: %d lines, want %d", name, len(lines), h)
	}
	for i, l := range lines {
		if n := render.Width(l); n != w {
			t.Errorf("%s: line %d is %d cells wide, want %d: %q", name, i, n, w, l)
		}
		if strings.Contains(l, "\x1b") {
			t.Fatalf("%s: escape code in a colourless render: %q", name, l)
		}
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(view+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui/tui -run Golden -update)", err)
	}
	if got := view + "\n"; got != string(want) {
		t.Errorf("%s differs from %s (go test ./ui/tui -run Golden -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, path, got, want)
	}
}

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}, {160, 48}, {200, 50}}

func sizeName(name string, w, h int) string {
	return fmt.Sprintf("%s_%dx%d", name, w, h)
}

func TestGoldenMain(t *testing.T) {
	for _, sz := range sizes {
		m := newFixtureModel(t, sz.w, sz.h, 40)
		checkScreen(t, sizeName("main", sz.w, sz.h), m, sz.w, sz.h)
	}
}

func TestGoldenPeersSortedFiltered(t *testing.T) {
	for _, sz := range sizes {
		m := newFixtureModel(t, sz.w, sz.h, 40)
		m = press(t, m, "2", "s", "S") // sort by the column after ↓ (↑), ascending
		m = press(t, m, "o", "o")      // only outbound
		m = press(t, m, "/")
		m = typeText(t, m, "utp")
		m = press(t, m, "enter")
		if col, desc := m.peers.Sort(); col != 6 || desc {
			t.Fatalf("sort = %d desc=%v", col, desc)
		}
		if m.peers.Origin() != swarm.OriginOutbound || m.peers.Filter() != "utp" {
			t.Fatalf("filters = %q %q", m.peers.Origin(), m.peers.Filter())
		}
		checkScreen(t, sizeName("peers_sorted_filtered", sz.w, sz.h), m, sz.w, sz.h)
	}
}

func TestGoldenNAT(t *testing.T) {
	for _, sz := range sizes {
		m := newFixtureModel(t, sz.w, sz.h, 40)
		m = press(t, m, "4")
		checkScreen(t, sizeName("nat", sz.w, sz.h), m, sz.w, sz.h)
	}
}

func TestGoldenHelp(t *testing.T) {
	for _, sz := range sizes {
		m := newFixtureModel(t, sz.w, sz.h, 40)
		m = press(t, m, "?")
		checkScreen(t, sizeName("help", sz.w, sz.h), m, sz.w, sz.h)
	}
}

func TestGoldenMap(t *testing.T) {
	for _, sz := range sizes {
		m := newFixtureModel(t, sz.w, sz.h, 40)
		m = press(t, m, "m")
		checkScreen(t, sizeName("map", sz.w, sz.h), m, sz.w, sz.h)
	}
}

func TestGoldenAddError(t *testing.T) {
	for _, sz := range sizes {
		m := newFixtureModel(t, sz.w, sz.h, 40)
		m = press(t, m, "a")
		m = typeText(t, m, "not-a-thing")
		next, cmd := m.Update(keyMsg("enter"))
		m = next.(Model)
		if cmd == nil {
			t.Fatal("enter in the add dialog started no command")
		}
		m = step(t, m, cmd()) // validation runs in the command; its error comes back
		if d, ok := m.dlg.(*dialog.Add); !ok || d.Err == "" {
			t.Fatalf("%v: want the add dialog with an error", m)
		}
		checkScreen(t, sizeName("add_error", sz.w, sz.h), m, sz.w, sz.h)
	}
}

func TestGoldenOtherScreens(t *testing.T) {
	screens := map[string][]string{
		"paths":        {"3"},
		"events":       {"5"},
		"files":        {"j", "j", "f", "j"},
		"peer_details": {"2", "j", "enter"},
		// Only holepunched peers, the first one's details: relay and time.
		"peer_details_holepunched": {"2", "o", "o", "o", "enter"},
		// The failed holepunch, three events up from the newest.
		"event_details": {"5", "up", "up", "up", "enter"},
		"remove":        {"d"},
	}
	for name, ks := range screens {
		for _, sz := range sizes {
			m := newFixtureModel(t, sz.w, sz.h, 40)
			m = press(t, m, ks...)
			checkScreen(t, sizeName(name, sz.w, sz.h), m, sz.w, sz.h)
		}
	}
}

func sizeMsg(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }
