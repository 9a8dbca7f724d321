package engine

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// newTestEngine starts an engine on loopback with real TCP and uTP sockets.
func newTestEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := New(context.Background(), Config{
		DataDir: dir, ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true,
		Tick: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func torrentOf(s swarm.Snapshot, ih string) (swarm.TorrentInfo, bool) {
	for _, ti := range s.Torrents {
		if ti.InfoHash == ih {
			return ti, true
		}
	}
	return swarm.TorrentInfo{}, false
}

func TestLoopbackSwarmOriginsAndPathBytes(t *testing.T) {
	tmp := t.TempDir()
	seedDir, leechDir := filepath.Join(tmp, "seed"), filepath.Join(tmp, "leech")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "x.torrent"), maketorrent.Spec{
		Name: "content", FileSizes: []int64{1 << 20, 3<<20 + 12345, 777, 1 << 19}, PieceLength: 64 << 10, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	seeder := newTestEngine(t, seedDir)
	leecher := newTestEngine(t, leechDir)
	ctx := context.Background()
	for _, e := range []*Engine{seeder, leecher} {
		if _, err := e.AddSource(ctx, mt.TorrentPath); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "seeder to verify its data", time.Minute, func() bool {
		ti, ok := torrentOf(seeder.Latest(), mt.InfoHash)
		return ok && ti.State == swarm.StateSeeding
	})
	leechConns, seedConns := collectConnects(leecher), collectConnects(seeder)
	seedAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(seeder.ListenPort()))
	if err := leecher.AddPeers(mt.InfoHash, []netip.AddrPort{seedAddr}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leecher to complete", 2*time.Minute, func() bool {
		ti, ok := torrentOf(leecher.Latest(), mt.InfoHash)
		return ok && ti.State == swarm.StateSeeding
	})
	if err := maketorrent.SameContent(mt.ContentPath, filepath.Join(leechDir, "content")); err != nil {
		t.Fatalf("downloaded data differs: %v", err)
	}
	// Wait for a tick after completion so the counters are settled.
	var ls, ss swarm.Snapshot
	waitFor(t, "byte counters to settle", 30*time.Second, func() bool {
		ls, ss = leecher.Latest(), seeder.Latest()
		return ls.Path(swarm.OriginOutbound).DownBytes >= mt.Size && ss.Path(swarm.OriginInbound).UpBytes >= mt.Size
	})
	lt, _ := torrentOf(ls, mt.InfoHash)
	// Complete peers drop each other, so origins are read from the events.
	if got := leechConns(); len(got) == 0 || !allOf(got, swarm.OriginOutbound) {
		t.Errorf("leecher's connections had origins %v, want outbound only", got)
	}
	if got := seedConns(); len(got) == 0 || !allOf(got, swarm.OriginInbound) {
		t.Errorf("seeder's connections had origins %v, want inbound only", got)
	}
	// Per-path totals equal the data moved, allowing for chunks fetched twice
	// (endgame) but nothing approaching a second copy.
	down := ls.Path(swarm.OriginOutbound).DownBytes
	if down < mt.Size || down > mt.Size+mt.Size/20 {
		t.Errorf("leecher outbound path received %d bytes, torrent is %d", down, mt.Size)
	}
	for _, o := range []swarm.Origin{swarm.OriginInbound, swarm.OriginHolepunched, swarm.OriginUPnP} {
		if b := ls.Path(o).DownBytes; b != 0 {
			t.Errorf("leecher %s path received %d bytes, want 0", o, b)
		}
	}
	up := ss.Path(swarm.OriginInbound).UpBytes
	if up < mt.Size || up > mt.Size+mt.Size/20 {
		t.Errorf("seeder inbound path sent %d bytes, torrent is %d", up, mt.Size)
	}
	if lt.DownBytes != down {
		t.Errorf("torrent down bytes %d != path sum %d", lt.DownBytes, down)
	}
	if len(ls.Path(swarm.OriginOutbound).History) == 0 {
		t.Error("no path history recorded")
	}
}

// collectConnects drains an engine's events and returns a function that
// reports the origins of the connections seen so far.
func collectConnects(e *Engine) func() []swarm.Origin {
	var mu sync.Mutex
	var origins []swarm.Origin
	go func() {
		for ev := range e.Events() {
			if ev.Kind == swarm.EventPeerConnected {
				mu.Lock()
				origins = append(origins, ev.Origin)
				mu.Unlock()
			}
		}
	}()
	return func() []swarm.Origin {
		mu.Lock()
		defer mu.Unlock()
		return append([]swarm.Origin(nil), origins...)
	}
}

func allOf(os []swarm.Origin, o swarm.Origin) bool {
	for _, x := range os {
		if x != o {
			return false
		}
	}
	return true
}

func TestFilePriorities(t *testing.T) {
	tmp := t.TempDir()
	mt, err := maketorrent.Make(filepath.Join(tmp, "seed"), filepath.Join(tmp, "p.torrent"), maketorrent.Spec{
		Name: "prio", FileSizes: []int64{1 << 20, 1 << 20, 1 << 20}, PieceLength: 64 << 10, Seed: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, filepath.Join(tmp, "leech"))
	ih, err := e.AddSource(context.Background(), mt.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	var ti swarm.TorrentInfo
	waitFor(t, "file list", 30*time.Second, func() bool {
		ti, _ = torrentOf(e.Latest(), ih)
		return len(ti.Files) == 3
	})
	for _, f := range ti.Files {
		if f.Priority != swarm.PriorityNormal {
			t.Errorf("new file %s has priority %s, want normal", f.Path, f.Priority)
		}
	}
	if err := e.SetFilePriority(ih, 1, swarm.PrioritySkip); err != nil {
		t.Fatal(err)
	}
	if err := e.SetFilePriority(ih, 2, swarm.PriorityHigh); err != nil {
		t.Fatal(err)
	}
	if err := e.SetFilePriority(ih, 3, swarm.PriorityHigh); err == nil {
		t.Error("priority of a file that does not exist was accepted")
	}
	waitFor(t, "priorities in a snapshot", 30*time.Second, func() bool {
		ti, _ = torrentOf(e.Latest(), ih)
		return ti.Files[1].Priority == swarm.PrioritySkip && ti.Files[2].Priority == swarm.PriorityHigh && ti.Files[0].Priority == swarm.PriorityNormal
	})
}
