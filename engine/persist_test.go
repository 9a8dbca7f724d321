package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

func sessionEngine(t *testing.T, dir string, extra func(*Config)) *Engine {
	t.Helper()
	cfg := Config{
		DataDir: dir, ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true,
		Tick: 200 * time.Millisecond, SessionDir: filepath.Join(dir, ".swarmscope", "session"),
	}
	if extra != nil {
		extra(&cfg)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSessionRestoresTorrents: two torrents, one with a skipped file, one
// paused, and a magnet whose metadata came from a peer; after a restart
// with nothing given, all three are back as they were, and the one that
// was downloading finishes.
func TestSessionRestoresTorrents(t *testing.T) {
	tmp := t.TempDir()
	seedDir, dl := filepath.Join(tmp, "seed"), filepath.Join(tmp, "dl")
	mkt := func(name string, seed uint64) maketorrent.Result {
		mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, name+".torrent"), maketorrent.Spec{
			Name: name, FileSizes: []int64{1 << 20, 1 << 20, 512 << 10}, PieceLength: 64 << 10, Seed: seed,
		})
		if err != nil {
			t.Fatal(err)
		}
		return mt
	}
	a, b, m := mkt("alpha", 1), mkt("beta", 2), mkt("gamma", 3)
	seeder := newTestEngine(t, seedDir)
	for _, mt := range []maketorrent.Result{a, b, m} {
		if _, err := seeder.AddSource(context.Background(), mt.TorrentPath); err != nil {
			t.Fatal(err)
		}
	}
	peer := []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", seeder.ListenPort()))}

	e := sessionEngine(t, dl, func(c *Config) { c.DownloadLimit = 256 << 10 })
	ihA, err := e.AddSource(context.Background(), a.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	ihB, err := e.AddSource(context.Background(), b.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	ihM, err := e.AddSource(context.Background(), "magnet:?xt=urn:btih:"+m.InfoHash+"&dn=gamma")
	if err != nil {
		t.Fatal(err)
	}
	// The same torrent again, as a file and as a magnet: already there.
	for _, again := range []string{a.TorrentPath, "magnet:?xt=urn:btih:" + ihA} {
		if _, err := e.AddSource(context.Background(), again); !errors.Is(err, ErrAlreadyAdded) {
			t.Fatalf("adding %s twice: %v, want ErrAlreadyAdded", again, err)
		}
	}
	if err := e.SetFilePriority(ihA, 1, swarm.PrioritySkip); err != nil {
		t.Fatal(err)
	}
	if err := e.SetFilePriority(ihA, 2, swarm.PriorityHigh); err != nil {
		t.Fatal(err)
	}
	if err := e.Pause(ihB); err != nil {
		t.Fatal(err)
	}
	for _, ih := range []string{ihA, ihB, ihM} {
		e.AddPeers(ih, peer)
	}
	waitFor(t, "the magnet's metadata", 60*time.Second, func() bool {
		ti, _ := torrentOf(e.Latest(), ihM)
		return ti.Size > 0
	})
	e.Close()
	if _, err := os.Stat(filepath.Join(dl, ".swarmscope", "session", ihM+".torrent")); err != nil {
		t.Fatalf("the magnet's metadata was not kept: %v", err)
	}

	e2 := sessionEngine(t, dl, nil)
	defer e2.Close()
	n, probs := e2.RestoreSession(context.Background())
	if n != 3 || len(probs) > 0 {
		t.Fatalf("restored %d torrents, problems %v", n, probs)
	}
	var tA, tB, tM swarm.TorrentInfo
	waitFor(t, "restored torrents with their files", 30*time.Second, func() bool {
		s := e2.Latest()
		tA, _ = torrentOf(s, ihA)
		tB, _ = torrentOf(s, ihB)
		tM, _ = torrentOf(s, ihM)
		return len(tA.Files) == 3 && tB.State != "" && tM.Size > 0
	})
	if s := e2.Latest(); len(s.Torrents) != 3 || s.Torrents[0].InfoHash != ihA || s.Torrents[1].InfoHash != ihB || s.Torrents[2].InfoHash != ihM {
		t.Errorf("restored in another order: %v", s.Torrents)
	}
	if tA.Files[1].Priority != swarm.PrioritySkip || tA.Files[2].Priority != swarm.PriorityHigh || tA.Files[0].Priority != swarm.PriorityNormal {
		t.Errorf("priorities not restored: %+v", tA.Files)
	}
	if tB.State != swarm.StatePaused {
		t.Errorf("paused torrent restored as %s", tB.State)
	}
	// The magnet restarts from the kept metadata: no peer needed for it.
	if tM.State == swarm.StateMetadata {
		t.Errorf("magnet fetches its metadata again")
	}
	for _, ih := range []string{ihA, ihB, ihM} {
		e2.AddPeers(ih, peer)
	}
	waitFor(t, "alpha's wanted files", 60*time.Second, func() bool {
		ti, _ := torrentOf(e2.Latest(), ihA)
		return ti.Files[0].Completed == ti.Files[0].Size && ti.Files[2].Completed == ti.Files[2].Size
	})
	time.Sleep(time.Second)
	if ti, _ := torrentOf(e2.Latest(), ihB); ti.Completed != 0 || ti.State != swarm.StatePaused {
		t.Errorf("paused torrent moved: %s, %d bytes", ti.State, ti.Completed)
	}
	// Removing forgets it: a third start restores two.
	if err := e2.Remove(ihB, false); err != nil {
		t.Fatal(err)
	}
	e2.Close()
	e3 := sessionEngine(t, dl, nil)
	defer e3.Close()
	if n, probs := e3.RestoreSession(context.Background()); n != 2 || len(probs) > 0 {
		t.Fatalf("after removing one, restored %d, problems %v", n, probs)
	}
}

// TestSeedRatioFinishes: a seeder with a ratio limit stops seeding once a
// leecher has taken ratio × size from it, and says it is finished.
func TestSeedRatioFinishes(t *testing.T) {
	tmp := t.TempDir()
	seedDir := filepath.Join(tmp, "seed")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "r.torrent"), maketorrent.Spec{
		Name: "ratio", FileSizes: []int64{2 << 20}, PieceLength: 64 << 10, Seed: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	seeder := sessionEngine(t, seedDir, func(c *Config) { c.SeedRatio = 0.5 })
	defer seeder.Close()
	ih, err := seeder.AddSource(context.Background(), mt.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	leech := newTestEngine(t, filepath.Join(tmp, "leech"))
	if _, err := leech.AddSource(context.Background(), mt.TorrentPath); err != nil {
		t.Fatal(err)
	}
	leech.AddPeers(ih, []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", seeder.ListenPort()))})
	var ti swarm.TorrentInfo
	waitFor(t, "the seeder to finish at ratio 0.5", 90*time.Second, func() bool {
		ti, _ = torrentOf(seeder.Latest(), ih)
		return ti.State == swarm.StateFinished
	})
	if ti.TotalRatio() < 0.5 || ti.UploadedTotal < mt.Size/2 {
		t.Errorf("finished at ratio %.2f (%d bytes up)", ti.TotalRatio(), ti.UploadedTotal)
	}
	// It stays finished across a restart.
	seeder.Close()
	s2 := sessionEngine(t, seedDir, func(c *Config) { c.SeedRatio = 0.5 })
	defer s2.Close()
	s2.RestoreSession(context.Background())
	waitFor(t, "restored finished torrent", 30*time.Second, func() bool {
		ti, _ = torrentOf(s2.Latest(), ih)
		return ti.State != ""
	})
	if ti.State != swarm.StateFinished || ti.UploadedTotal < mt.Size/2 {
		t.Errorf("after restart: %s, %d bytes up over all runs", ti.State, ti.UploadedTotal)
	}
}
