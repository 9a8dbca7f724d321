package connmap

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

func theme() *styles.Theme {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return styles.New(r)
}

func TestGatesTellTheTruth(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := &swarm.Snapshot{Time: now, Paths: []swarm.PathStats{{Origin: swarm.OriginOutbound, Peers: 2, DownBps: 1000}}}
	draw := func(r *nat.Report, evs []swarm.Event) string {
		return strings.Join(Lines(theme(), Input{Snapshot: snap, Report: r, Events: evs, Loc: time.UTC}, 120, 40), "\n")
	}
	// Not diagnosed: nobody can say whether inbound works.
	if v := draw(nil, nil); !strings.Contains(v, "─ ? ─") && !strings.Contains(v, "┄ ? ┄") {
		t.Errorf("unknown inbound gate not shown:\n%s", v)
	}
	closed := &nat.Report{BehindNAT: ptrTrue(), NATType: nat.TypeSymmetric, Reachable: nat.Reachability{Verdict: nat.VerdictOutboundOnly}}
	v := draw(closed, nil)
	for _, want := range []string{"✗ closed", "✗ no UPnP", "symmetric", "reachable: no"} {
		if !strings.Contains(v, want) {
			t.Errorf("outbound-only map lacks %q:\n%s", want, v)
		}
	}
	// A success in the last seconds is celebrated on the line and hangs
	// under it; older ones are only listed.
	evs := []swarm.Event{{Time: now.Add(-2 * time.Second), Kind: swarm.EventHolepunchSucceeded, Peer: "192.0.2.7:6881", Via: "203.0.113.1:6881"}}
	v = draw(closed, evs)
	if !strings.Contains(v, "✓ punched!") || !strings.Contains(v, "└ ✓ punched 192.0.2.7:6881") {
		t.Errorf("fresh holepunch not on the map:\n%s", v)
	}
	evs[0].Time = now.Add(-30 * time.Second)
	if v = draw(closed, evs); strings.Contains(v, "✓ punched!") || !strings.Contains(v, "succeeded 192.0.2.7:6881") {
		t.Errorf("30s-old holepunch drawn wrong:\n%s", v)
	}
	// Every size yields exactly the requested block.
	for _, sz := range [][2]int{{0, 0}, {10, 3}, {60, 10}, {200, 60}} {
		lines := Lines(theme(), Input{Snapshot: snap, Report: closed, Events: evs}, sz[0], sz[1])
		if len(lines) != sz[1] {
			t.Fatalf("%v: %d lines", sz, len(lines))
		}
		for _, l := range lines {
			if render.Width(l) != sz[0] {
				t.Fatalf("%v: line %q", sz, l)
			}
		}
	}
}

func ptrTrue() *bool { b := true; return &b }
