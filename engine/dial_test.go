package engine

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// TestTCPWinsOverUTP: with both transports open, outgoing connections are
// TCP (uTP dials wait UTPHeadStart). Without the head start about one in
// five loopback connections went uTP, so six torrents catch a regression
// most of the time.
func TestTCPWinsOverUTP(t *testing.T) {
	tmp := t.TempDir()
	seeder := newTestEngine(t, filepath.Join(tmp, "seed"))
	leecher := newTestEngine(t, filepath.Join(tmp, "leech"))
	var mu sync.Mutex
	var msgs []string
	go func() {
		for ev := range leecher.Events() {
			if ev.Kind == swarm.EventPeerConnected {
				mu.Lock()
				msgs = append(msgs, ev.Message)
				mu.Unlock()
			}
		}
	}()
	ctx := context.Background()
	seedAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(seeder.ListenPort()))
	const n = 6
	for i := range n {
		mt, err := maketorrent.Make(filepath.Join(tmp, "seed"), filepath.Join(tmp, fmt.Sprintf("%d.torrent", i)), maketorrent.Spec{
			Name: fmt.Sprintf("t%d", i), FileSizes: []int64{256 << 10}, PieceLength: 64 << 10, Seed: uint64(i + 1),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []*Engine{seeder, leecher} {
			if _, err := e.AddSource(ctx, mt.TorrentPath); err != nil {
				t.Fatal(err)
			}
		}
		if err := leecher.AddPeers(mt.InfoHash, []netip.AddrPort{seedAddr}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a connection per torrent", 2*time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(msgs) >= n
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if !strings.Contains(m, "outbound tcp") {
			t.Errorf("connection not over TCP: %s", m)
		}
	}
}
