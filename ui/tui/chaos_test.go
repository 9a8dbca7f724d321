package tui

import (
	"math"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// TestChaos throws odd data (NaN and negative rates, empty and huge names,
// torrents appearing and vanishing, missing paths) and random keys, mouse
// events and resizes at the model: every frame must still fill the
// terminal exactly and nothing may panic.
func TestChaos(t *testing.T) {
	r := rng(7)
	weird := []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1), 1e300, 5e6, 123}
	names := []string{"", "x", strings.Repeat("long-name-", 40), "日本語のファイル名.mkv", "emoji 🎬🎬", "tab\there"}
	keys := []string{"j", "k", "tab", "shift+tab", "1", "2", "3", "4", "5", "m", "?", "esc", "enter", "s", "S", "o", "/", "a", "x", "d", "f", "p", "r", "pgdown", "end", "home", "space", "n", "h", "G", "g"}
	m := New(Options{Backend: &fakeBackend{}, Renderer: asciiRenderer(), Location: time.UTC})
	m.statusTTL = 0
	w, h := 80, 24
	m = step(t, m, sizeMsg(w, h))
	for i := 0; i < 600; i++ {
		switch r.intn(6) {
		case 0:
			s := fixtureSnapshot(r.intn(60))
			s.Torrents = s.Torrents[:r.intn(len(s.Torrents)+1)]
			for j := range s.Torrents {
				tt := &s.Torrents[j]
				tt.Name = pick(&r, names)
				tt.DownBps, tt.UpBps, tt.Progress = pick(&r, weird), pick(&r, weird), pick(&r, weird)
				tt.Size, tt.ETA = int64(pick(&r, []float64{-5, 0, 1e12})), time.Duration(pick(&r, []float64{-1, 0, 1e18}))
				for k := range tt.PeerList {
					tt.PeerList[k].DownBps = pick(&r, weird)
					tt.PeerList[k].Progress = pick(&r, weird)
					tt.PeerList[k].Client = pick(&r, names)
					if r.intn(5) == 0 {
						tt.PeerList[k].Origin = "bogus"
					}
				}
			}
			if r.intn(3) == 0 {
				s.Paths = nil
			}
			m = step(t, m, snapshotMsg{snap: s})
		case 1:
			m = step(t, m, eventsMsg{evs: []swarm.Event{{Time: fixedNow.Add(time.Duration(r.intn(200)-100) * time.Second), Kind: pick(&r, []swarm.EventKind{swarm.EventHolepunchSucceeded, swarm.EventHolepunchConnect, swarm.EventError, "unknown-kind"}), Peer: pick(&r, names), Message: pick(&r, names)}}})
		case 2:
			w, h = 1+r.intn(220), 1+r.intn(70)
			m = step(t, m, sizeMsg(w, h))
		case 3:
			m = step(t, m, tea.MouseMsg{X: r.intn(w + 5), Y: r.intn(h + 5), Button: pick(&r, []tea.MouseButton{tea.MouseButtonLeft, tea.MouseButtonWheelDown, tea.MouseButtonWheelUp}), Action: tea.MouseActionPress})
		case 4:
			rep := fixtureNAT()
			rep.NATType = pick(&r, append(nat.Types[:], ""))
			rep.UPnP.Mappings = rep.UPnP.Mappings[:r.intn(3)]
			rep.PortPreserved, rep.Hairpin = nil, nil
			m = step(t, m, natReportMsg{report: rep})
		default:
			k := pick(&r, keys)
			if k == "q" {
				continue
			}
			next, cmd := m.Update(keyMsg(k))
			m = next.(Model)
			_ = cmd // commands may block on backends or timers; the model alone is under test
		}
		v := m.View()
		lines := strings.Split(v, "\n")
		if len(lines) != h {
			t.Fatalf("step %d (%dx%d, %s): %d lines", i, w, h, m, len(lines))
		}
		for j, l := range lines {
			if lw := widthOf(l); lw != w {
				t.Fatalf("step %d (%dx%d, %s): line %d is %d wide: %q", i, w, h, m, j, lw, l)
			}
		}
	}
}
