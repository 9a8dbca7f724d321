package tui

import (
	"errors"
	"strings"
	"testing"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

func TestNetworkStringsCannotReachTheTerminal(t *testing.T) {
	evil := "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u009b32m\u202eexe.txt\r\n"
	s := fixtureSnapshot(5)
	s.Torrents[0].Name = evil
	s.Torrents[0].Err = evil
	s.Torrents[0].PeerList[0].Client = evil
	s.Torrents[2].Files[0].Path = evil
	m := newFixtureModel(t, 160, 48, 5)
	m = step(t, m, snapshotMsg{snap: s})
	m = step(t, m, eventsMsg{evs: []swarm.Event{{Time: fixedNow, Kind: swarm.EventTrackerError, Message: evil, Peer: evil}}})
	m = step(t, m, natReportMsg{err: errors.New(evil)})
	rep := fixtureNAT()
	rep.UPnP.Device = evil
	m = step(t, m, natReportMsg{report: rep})
	for _, ks := range [][]string{{}, {"2", "enter"}, {"j", "j", "f"}, {"m"}, {"5"}, {"4"}} {
		v := press(t, m, ks...).View()
		if hasControl(v) {
			for i, l := range strings.Split(v, "\n") {
				if hasControl(l) {
					t.Fatalf("%v: control characters reached the screen on line %d: %q", ks, i, l)
				}
			}
		}
		if !strings.Contains(v, "evil") && len(ks) == 0 {
			t.Fatalf("cleaned text vanished")
		}
	}
	// The snapshot itself is shared with other consumers: never modified.
	if s.Torrents[0].PeerList[0].Client != evil || s.Torrents[0].Name != evil {
		t.Fatal("cleaning modified the published snapshot")
	}
}

func hasControl(s string) bool {
	for _, r := range s {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' {
			return true
		}
	}
	return false
}
