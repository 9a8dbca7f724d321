package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// compactPeer is BEP 23's 6 bytes for an IPv4 peer.
func compactPeer(ap netip.AddrPort) string {
	b := ap.Addr().As4()
	return string(b[:]) + string([]byte{byte(ap.Port() >> 8), byte(ap.Port())})
}

// udpTracker answers BEP 15 connect and announce requests with the given
// peer; it counts announces.
func udpTracker(t *testing.T, peer netip.AddrPort, announces *atomic.Int32) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 16 {
				continue
			}
			action := binary.BigEndian.Uint32(buf[8:])
			tx := buf[12:16]
			switch action {
			case 0: // connect
				out := make([]byte, 16)
				copy(out[4:8], tx)
				binary.BigEndian.PutUint64(out[8:], 0xfeedface)
				pc.WriteTo(out, from)
			case 1: // announce
				if n < 98 {
					continue
				}
				announces.Add(1)
				out := make([]byte, 20)
				binary.BigEndian.PutUint32(out[0:], 1)
				copy(out[4:8], tx)
				binary.BigEndian.PutUint32(out[8:], 1800) // interval
				binary.BigEndian.PutUint32(out[12:], 2)   // leechers
				binary.BigEndian.PutUint32(out[16:], 1)   // seeders
				out = append(out, compactPeer(peer)...)
				pc.WriteTo(out, from)
			}
		}
	}()
	return "udp://" + pc.LocalAddr().String() + "/announce"
}

// TestTrackerStatesObserved: four trackers of one torrent on loopback, one
// working over HTTP (with min interval), one over UDP, one answering a
// failure reason, one refusing connections. Each reaches its state with
// the facts of its answer, the download completes from the peer the
// trackers gave, and events name each tracker.
func TestTrackerStatesObserved(t *testing.T) {
	tmp := t.TempDir()
	seedDir := filepath.Join(tmp, "seed")
	seeder := newTestEngine(t, seedDir)
	seedAddr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", seeder.ListenPort()))

	var httpAnnounces, udpAnnounces atomic.Int32
	var lastQuery, firstQuery atomic.Value
	working := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpAnnounces.Add(1)
		lastQuery.Store(r.URL.RawQuery)
		firstQuery.CompareAndSwap(nil, r.URL.RawQuery)
		p := compactPeer(seedAddr)
		fmt.Fprintf(w, "d8:completei1e10:incompletei3e8:intervali1800e12:min intervali300e5:peers%d:%se", len(p), p)
	}))
	defer working.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "torrent not registered\x1b[31m here"
		fmt.Fprintf(w, "d14:failure reason%d:%se", len(msg), msg)
	}))
	defer failing.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/announce"
	l.Close()
	udpURL := udpTracker(t, seedAddr, &udpAnnounces)
	workingURL, failingURL := working.URL+"/announce", failing.URL+"/announce?passkey=abc"

	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "t.torrent"), maketorrent.Spec{
		Name: "tracked", FileSizes: []int64{1 << 20}, PieceLength: 64 << 10, Seed: 11,
		Announce: []string{workingURL, udpURL, failingURL, refused},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seeder.AddSource(context.Background(), mt.TorrentPath); err != nil {
		t.Fatal(err)
	}
	leech, err := New(context.Background(), Config{DataDir: filepath.Join(tmp, "leech"), ListenHost: "127.0.0.1", NoDHT: true, Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer leech.Close()
	start := time.Now()
	ih, err := leech.AddSource(context.Background(), mt.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]swarm.TrackerStatus{workingURL: swarm.TrackerWorking, udpURL: swarm.TrackerWorking, failingURL: swarm.TrackerError, refused: swarm.TrackerError}
	got := map[string]swarm.TrackerInfo{}
	var last swarm.TorrentInfo
	defer func() {
		if t.Failed() {
			for _, tr := range last.Trackers {
				t.Logf("tracker %+v", tr)
			}
		}
	}()
	waitFor(t, "every tracker in its state", 30*time.Second, func() bool {
		ti, _ := torrentOf(leech.Latest(), ih)
		last = ti
		for _, tr := range ti.Trackers {
			if tr.Status == want[tr.URL] {
				got[tr.URL] = tr
			}
		}
		return len(got) == len(want)
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("states took %s, want within 10 s", d)
	}
	w := got[workingURL]
	if w.Peers != 1 || w.Seeders != 1 || w.Leechers != 3 || w.Interval != 30*time.Minute || w.MinInterval != 5*time.Minute || (w.LastEvent != "started" && w.LastEvent != "completed") {
		t.Errorf("working HTTP tracker: %+v", w)
	}
	if next := w.NextAnnounce.Sub(w.LastAnnounce); next != w.Interval && next != w.MinInterval {
		t.Errorf("next announce %s after the last, want the interval or the min interval", next)
	}
	if u := got[udpURL]; u.Peers != 1 || u.Seeders != 1 || u.Leechers != 2 || u.Interval != 30*time.Minute {
		t.Errorf("UDP tracker: %+v", u)
	}
	if f := got[failingURL]; f.Error != "tracker says: torrent not registered[31m here" || f.NextAnnounce.Sub(f.LastAnnounce) < trackerRetryFirst {
		t.Errorf("failing tracker: error %q, retry after %s", f.Error, f.NextAnnounce.Sub(f.LastAnnounce))
	}
	if r := got[refused]; !strings.Contains(r.Error, "connection refused") {
		t.Errorf("refusing tracker: %q", r.Error)
	}
	// A failure waits before it retries (it once retried in a busy loop).
	time.Sleep(time.Second)
	ti, _ := torrentOf(leech.Latest(), ih)
	for _, tr := range ti.Trackers {
		if tr.Status == swarm.TrackerError && tr.Failures != 1 {
			t.Errorf("%s failed %d times in a row within a second", tr.URL, tr.Failures)
		}
	}
	q, _ := firstQuery.Load().(string)
	for _, k := range []string{"event=started", "compact=1", "numwant=", "key=", "left=1048576"} {
		if !strings.Contains(q, k) {
			t.Errorf("announce query %q lacks %s", q, k)
		}
	}
	waitFor(t, "the download from the tracker's peer", 60*time.Second, func() bool {
		ti, _ := torrentOf(leech.Latest(), ih)
		return ti.State == swarm.StateSeeding
	})
	// Completion is announced at once, to each working tracker.
	waitFor(t, "completed announces", 30*time.Second, func() bool {
		ti, _ := torrentOf(leech.Latest(), ih)
		n := 0
		for _, tr := range ti.Trackers {
			if tr.LastEvent == "completed" && tr.Status == swarm.TrackerWorking {
				n++
			}
		}
		return n == 2
	})
	if strings.Contains(lastQuery.Load().(string), "event=completed") == false {
		t.Errorf("last HTTP announce was not event=completed: %s", lastQuery.Load())
	}
	// Nothing re-announced early: one started and one completed each.
	if h, u := httpAnnounces.Load(), udpAnnounces.Load(); h != 2 || u != 2 {
		t.Errorf("announces: HTTP %d, UDP %d; want 2 each", h, u)
	}
	leech.Close()
	if !strings.Contains(lastQuery.Load().(string), "event=stopped") {
		t.Errorf("closing did not announce stopped: %s", lastQuery.Load())
	}
}

func TestCleanTrackerText(t *testing.T) {
	long := strings.Repeat("é", 300)
	for in, want := range map[string]string{
		"a\nb\r\tc":        "a b c",
		"\x1b]0;pwn\x07ok": "]0;pwnok",
		"  spaced   out  ": "spaced out",
		long:               strings.Repeat("é", 100) + "…",
	} {
		if got := cleanTrackerText(in); got != want {
			t.Errorf("cleanTrackerText(%q) = %q, want %q", in, got, want)
		}
	}
}

// A seeder whose data is on disk but not yet checked says "started" with
// bytes left, and the tracker counts it as a leecher; once the check
// finds the data complete, the tracker must hear left=0 at once, not an
// interval (30 min) later. 64 MiB takes long enough to hash that the
// first announce usually goes out before the check ends; either way the
// last announce must say left=0.
func TestSeederFromDiskTellsTrackerLeftZero(t *testing.T) {
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		fmt.Fprint(w, "d8:completei0e10:incompletei1e8:intervali1800e12:min intervali900e5:peers0:e")
	}))
	defer srv.Close()
	mt, err := maketorrent.Make(dataDir, filepath.Join(tmp, "t.torrent"), maketorrent.Spec{
		Name: "ondisk", FileSizes: []int64{64 << 20}, PieceLength: 1 << 20, Seed: 5,
		Announce: []string{srv.URL + "/announce"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Config{DataDir: dataDir, ListenHost: "127.0.0.1", NoDHT: true, Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ih, err := e.AddSource(context.Background(), mt.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seeding", 60*time.Second, func() bool {
		ti, _ := torrentOf(e.Latest(), ih)
		return ti.State == swarm.StateSeeding
	})
	last := func() (string, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(queries) == 0 {
			return "", 0
		}
		return queries[len(queries)-1], len(queries)
	}
	waitFor(t, "an announce with left=0", 30*time.Second, func() bool {
		q, _ := last()
		return strings.Contains(q, "left=0&") || strings.HasSuffix(q, "left=0")
	})
	q, n := last()
	if n > 2 || strings.Contains(q, "event=completed") {
		t.Errorf("%d announces, last %q: want started and at most one correction, never completed (nothing was downloaded)", n, q)
	}
	t.Logf("%d announces; first %q", n, queries[0])
}
