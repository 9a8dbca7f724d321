package engine

import (
	"context"
	"fmt"
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

// A seeder that serves corrupt data from the same IP as an honest one.
// anacrolix v1.59.1 bans the IP, which drops the honest seeder too; that
// cannot be changed through its API, but the engine must say who was
// dropped and why.
func TestBanEventNamesEveryPeerOnTheIP(t *testing.T) {
	tmp := t.TempDir()
	honestDir, hostileDir := filepath.Join(tmp, "honest"), filepath.Join(tmp, "hostile")
	mt, err := maketorrent.Make(honestDir, filepath.Join(tmp, "b.torrent"), maketorrent.Spec{
		Name: "ban.bin", FileSizes: []int64{4 << 20}, PieceLength: 64 << 10, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The hostile seeder verifies a good copy once, then its file is
	// corrupted behind its back with size and mtime kept, so that its
	// storage still trusts it and serves the bad bytes.
	if err := os.MkdirAll(hostileDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, mt.ContentPath, filepath.Join(hostileDir, "ban.bin"))
	cfg := func(dir string) Config {
		return Config{DataDir: dir, ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true, NoPEX: true}
	}
	seed := func(dir string, upBps int64) *Engine {
		c := cfg(dir)
		c.UploadLimit = upBps
		e, err := New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AddSource(context.Background(), mt.TorrentPath); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, e, time.Minute, "completion", func(ev swarm.Event) bool { return ev.Kind == swarm.EventTorrentCompleted })
		return e
	}
	h := seed(hostileDir, 0)
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
	for off := int64(1000); off < fi.Size(); off += 64 << 10 {
		f.WriteAt([]byte("corrupt"), off)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	hostile := seed(hostileDir, 0)
	defer hostile.Close()
	// The honest seeder is slow, so that pieces come from the hostile one
	// alone (a piece two peers touched bans neither) before the download
	// can finish without it.
	honest := seed(honestDir, 128<<10)
	defer honest.Close()

	leech, err := New(context.Background(), cfg(filepath.Join(tmp, "leech")))
	if err != nil {
		t.Fatal(err)
	}
	defer leech.Close()
	ih, err := leech.AddSource(context.Background(), mt.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := leech.lookup(ih)
	var pis []torrent.PeerInfo
	for _, e := range []*Engine{hostile, honest} {
		// Untrusted, as peers from trackers and PEX are (AddPeers trusts).
		pis = append(pis, torrent.PeerInfo{Addr: addrPortAddr(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(e.ListenPort()))), Source: torrent.PeerSourceTracker})
	}
	ts.t.AddPeers(pis)
	ev := waitEvent(t, leech, time.Minute, "peer-banned event", func(ev swarm.Event) bool { return ev.Kind == swarm.EventPeerBanned })
	t.Logf("event: %s", ev.Message)
	for _, e := range []*Engine{hostile, honest} {
		if want := fmt.Sprintf("127.0.0.1:%d", e.ListenPort()); !strings.Contains(ev.Message, want) {
			t.Errorf("ban event does not name %s", want)
		}
	}
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
