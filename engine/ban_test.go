package engine

import (
	"context"
	"crypto/sha256"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

func waitEvent(t *testing.T, e *Engine, d time.Duration, what string, ok func(swarm.Event) bool) swarm.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-e.Events():
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, d)
		}
	}
}

// A seeder that serves corrupt data from the same IP as an honest one
// (127.0.0.1, two ports), at a size where more than one piece is in flight
// and the honest seeder answers more than 1,024 requests. The hostile peer
// alone is dropped and named, with the piece and the reason; the honest
// one keeps serving and the download completes and verifies. anacrolix
// v1.59.1 alone bans the whole IP here and the download stalls for good.
func TestHostilePeerBesideHonestOnOneIP(t *testing.T) {
	tmp := t.TempDir()
	honestDir, hostileDir := filepath.Join(tmp, "honest"), filepath.Join(tmp, "hostile")
	const size = 24 << 20
	mt, err := maketorrent.Make(honestDir, filepath.Join(tmp, "b.torrent"), maketorrent.Spec{
		Name: "ban.bin", FileSizes: []int64{size}, PieceLength: 256 << 10, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The hostile seeder verifies a good copy once, then every 16 KiB block
	// of its file is corrupted behind its back with size and mtime kept, so
	// that its storage still trusts the file and serves the bad bytes: any
	// block it sends is bad, and a verified piece came from the honest one.
	if err := os.MkdirAll(hostileDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, mt.ContentPath, filepath.Join(hostileDir, "ban.bin"))
	cfg := func(dir string) Config {
		return Config{DataDir: dir, ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true, NoPEX: true}
	}
	seed := func(dir string) *Engine {
		e, err := New(context.Background(), cfg(dir))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AddSource(context.Background(), mt.TorrentPath); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, e, 2*time.Minute, "completion", func(ev swarm.Event) bool { return ev.Kind == swarm.EventTorrentCompleted })
		return e
	}
	h := seed(hostileDir)
	h.Close()
	p := filepath.Join(hostileDir, "ban.bin")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(1000); off < fi.Size(); off += 16 << 10 {
		if _, err := f.WriteAt([]byte("corrupt"), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	hostile := seed(hostileDir)
	defer hostile.Close()
	honest := seed(honestDir)
	defer honest.Close()
	loop := netip.MustParseAddr("127.0.0.1")
	hostileAddr := netip.AddrPortFrom(loop, uint16(hostile.ListenPort()))
	honestAddr := netip.AddrPortFrom(loop, uint16(honest.ListenPort()))

	leechDir := filepath.Join(tmp, "leech")
	leech, err := New(context.Background(), cfg(leechDir))
	if err != nil {
		t.Fatal(err)
	}
	defer leech.Close()
	ih, err := leech.AddSource(context.Background(), mt.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := leech.lookup(ih)
	// Untrusted, as peers from trackers and PEX are (AddPeers trusts).
	untrusted := func(aps ...netip.AddrPort) {
		var pis []torrent.PeerInfo
		for _, ap := range aps {
			pis = append(pis, torrent.PeerInfo{Addr: addrPortAddr(ap), Source: torrent.PeerSourceTracker})
		}
		ts.t.AddPeers(pis)
	}
	untrusted(hostileAddr, honestAddr)

	var bans []swarm.Event
	var seen []string // events, for a failure's log
	banned := false
	reconnected := 0
	deadline := time.After(4 * time.Minute)
	// The honest peer is offered again now and then, as a tracker's
	// re-announce would: anacrolix forgets an address whose dial failed,
	// which on a loaded machine can happen to the first.
	reoffer := time.NewTicker(10 * time.Second)
	defer reoffer.Stop()
	for done := false; !done; {
		select {
		case <-reoffer.C:
			untrusted(honestAddr)
		case ev := <-leech.Events():
			if ev.Kind != swarm.EventPieceFailed {
				seen = append(seen, string(ev.Kind)+": "+ev.Message)
			}
			switch {
			case ev.Kind == swarm.EventPeerBanned:
				t.Logf("event: %s", ev.Message)
				bans = append(bans, ev)
				if !banned {
					banned = true
					// The hostile peer offered again, as a tracker or PEX
					// would: it must not be dialed.
					untrusted(hostileAddr)
				}
			case ev.Kind == swarm.EventPieceFailed:
				t.Logf("event: %s", ev.Message)
			case ev.Kind == swarm.EventPeerConnected && ev.Peer == hostileAddr.String() && banned:
				reconnected++
			case ev.Kind == swarm.EventTorrentCompleted:
				done = true
			}
		case <-deadline:
			for _, m := range seen {
				t.Log(m)
			}
			for _, pc := range ts.t.PeerConns() {
				t.Logf("connected: %s", pc)
			}
			t.Fatalf("download did not complete in 4 minutes (%d ban events; progress %d/%d bytes)", len(bans), ts.t.BytesCompleted(), int64(size))
		}
	}
	if len(bans) == 0 {
		t.Fatal("no peer-banned event")
	}
	if m := bans[0].Message; !strings.Contains(m, hostileAddr.String()) || !strings.Contains(m, "piece ") {
		t.Errorf("ban event does not name the hostile peer %s and the piece: %s", hostileAddr, m)
	}
	for _, ev := range bans {
		if ev.Peer != hostileAddr.String() {
			t.Errorf("a peer other than the hostile %s was banned: %s", hostileAddr, ev.Message)
		}
		if strings.Contains(ev.Message, honestAddr.String()) {
			t.Errorf("ban event names the honest peer %s: %s", honestAddr, ev.Message)
		}
	}
	if ips := leech.cl.BadPeerIPs(); len(ips) != 0 {
		t.Errorf("anacrolix banned IPs %v", ips)
	}
	if reconnected > 0 {
		t.Errorf("the banned peer was connected again %d time(s)", reconnected)
	}
	if !leech.judge.bannedAddr(hostileAddr.String()) || leech.judge.bannedAddr(honestAddr.String()) {
		t.Errorf("banned: hostile %v, honest %v; want true, false", leech.judge.bannedAddr(hostileAddr.String()), leech.judge.bannedAddr(honestAddr.String()))
	}
	if a, b := fileSum(t, mt.ContentPath), fileSum(t, filepath.Join(leechDir, "ban.bin")); a != b {
		t.Errorf("downloaded data differs from the original")
	}
	// The banned peer dials us from a new port: it is known by its peer ID
	// and closed at once.
	if err := hostile.AddPeers(ih, []netip.AddrPort{netip.AddrPortFrom(loop, uint16(leech.ListenPort()))}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(time.Minute); leech.judge.refused.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the banned peer's incoming connection was not refused within a minute")
		}
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
