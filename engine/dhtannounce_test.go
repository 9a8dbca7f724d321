package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// TestDHTAnnounceBacksOff: with the DHT on and no DHT node reachable, every
// announce fails at once. anacrolix v1.59.1's announcer retried in a busy
// loop (thousands of attempts a second, most of a CPU core); ours waits
// dhtRetryFirst after a failure, so in the seconds watched here each DHT
// server is asked once, and the failure is one event, not one per try.
// A private torrent is never announced (BEP 27).
func TestDHTAnnounceBacksOff(t *testing.T) {
	for _, private := range []bool{false, true} {
		name := "public"
		if private {
			name = "private"
		}
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			mt, err := maketorrent.Make(filepath.Join(tmp, "src"), filepath.Join(tmp, "d.torrent"), maketorrent.Spec{
				Name: "d", FileSizes: []int64{1 << 20}, Seed: 7, Private: private,
			})
			if err != nil {
				t.Fatal(err)
			}
			unreachable := errors.New("no DHT node reachable (test)")
			e, err := New(context.Background(), Config{
				DataDir: filepath.Join(tmp, "dl"), ListenHost: "127.0.0.1", NoTrackers: true,
				Tick: 200 * time.Millisecond,
				dhtStartingNodes: func(string) dht.StartingNodesGetter {
					return func() ([]dht.Addr, error) { return nil, unreachable }
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			servers := len(e.cl.DhtServers())
			if servers == 0 {
				t.Fatal("the DHT is on but the client has no DHT server")
			}
			var mu sync.Mutex
			var dhtEvents []string
			go func() {
				for ev := range e.Events() {
					if ev.Kind == swarm.EventDHTError {
						mu.Lock()
						dhtEvents = append(dhtEvents, ev.Message)
						mu.Unlock()
					}
				}
			}()
			if _, err := e.AddSource(context.Background(), mt.TorrentPath); err != nil {
				t.Fatal(err)
			}
			if !private {
				waitFor(t, "the first DHT announce", time.Minute, func() bool { return e.dhtAnnounces.Load() >= int64(servers) })
			}
			// A busy loop makes thousands of attempts in this time, even on
			// a loaded machine; the next try is dhtRetryFirst away.
			time.Sleep(3 * time.Second)
			got := e.dhtAnnounces.Load()
			want := int64(servers)
			if private {
				want = 0
			}
			if got != want {
				t.Errorf("%d DHT announces in the first seconds with %d DHT server(s), want %d", got, servers, want)
			}
			var status strings.Builder
			e.cl.WriteStatus(&status)
			if !strings.Contains(status.String(), "DHT Announces: 0\n") {
				t.Errorf("anacrolix's own DHT announcer ran (its busy loop is what this replaces):\n%s", grepLines(status.String(), "DHT Announces"))
			}
			mu.Lock()
			defer mu.Unlock()
			if private {
				if len(dhtEvents) != 0 {
					t.Errorf("DHT events for a private torrent: %q", dhtEvents)
				}
				return
			}
			if len(dhtEvents) != servers {
				t.Fatalf("%d DHT events, want one per server (%d): %q", len(dhtEvents), servers, dhtEvents)
			}
			for _, m := range dhtEvents {
				if !strings.Contains(m, unreachable.Error()) || !strings.Contains(m, "retrying in 15s") {
					t.Errorf("DHT event %q does not say what failed and when it is retried", m)
				}
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
