package tui

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// TestPlay runs the TUI on the fixture with moving rates, for looking at it
// by hand: SWARMSCOPE_PLAY=1 go test ./ui/tui -run Play (in a terminal).
func TestPlay(t *testing.T) {
	if os.Getenv("SWARMSCOPE_PLAY") == "" {
		t.Skip("set SWARMSCOPE_PLAY=1 to run the TUI by hand")
	}
	snaps := make(chan swarm.Snapshot)
	evs := make(chan swarm.Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		r := rand.New(rand.NewPCG(1, 2))
		for tick := 0; ; tick++ {
			s := fixtureSnapshot(300)
			s.Time = time.Now()
			for i := range s.Torrents[0].PeerList {
				p := &s.Torrents[0].PeerList[i]
				p.DownBps *= 0.5 + r.Float64()
				p.Since = s.Time.Add(-time.Duration(i) * time.Minute)
			}
			for i := range s.Paths {
				s.Paths[i].DownBps *= 0.5 + r.Float64()
				h := s.Paths[i].History
				s.Paths[i].History = append(h[tick%len(h):], h[:tick%len(h)]...)
			}
			select {
			case snaps <- s:
			case <-ctx.Done():
				return
			}
			if tick%3 == 0 {
				e := fixtureEvents()[r.IntN(len(fixtureEvents()))]
				e.Time = time.Now()
				evs <- e
			}
			time.Sleep(time.Second)
		}
	}()
	rep := fixtureNAT()
	err := Run(ctx, Options{
		Title: "play: fixture with moving rates", Backend: &fakeBackend{},
		Snapshots: snaps, Events: evs,
		NAT: func(ctx context.Context) (nat.Report, error) {
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return nat.Report{}, ctx.Err()
			}
			return rep, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}
