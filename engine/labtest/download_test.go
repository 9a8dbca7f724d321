package labtest

import (
	"syscall"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// Scenario 1: behind a port-restricted NAT, swarmscope downloads from a
// public Transmission seeder found through opentracker. The seeder cannot
// reach in, so its connection is one swarmscope dialed: outbound.
func TestDownloadBehindNATFromTransmission(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	s := newSwarm(t, size(4<<20), false)
	seedHost := s.lab.PublicHost("seeder", 1)
	home := s.lab.Home("home", nslab.NATPortRestricted)
	seeder := s.transmissionSeeder(seedHost, 0)

	dir := s.emptyDir("swarmscope")
	r := startHeadless(t, home.Host, dir, 6881, s.tt.Path)
	o := r.waitExit(3 * time.Minute)
	s.verifyIn(dir)

	evs := o.connected(seedHost.IP().String())
	if len(evs) == 0 {
		t.Fatalf("no peer-connected event for the seeder %s\n%s", seedHost.IP(), r.describe())
	}
	for _, ev := range evs {
		if ev.Origin != swarm.OriginOutbound {
			t.Errorf("seeder connection %s labelled %q, want outbound", ev.Peer, ev.Origin)
		}
	}
	last, ok := o.last()
	if !ok {
		t.Fatalf("no ticks\n%s", r.describe())
	}
	ti, ok := last.torrent(s.tt.InfoHash)
	if !ok {
		t.Fatalf("torrent %s missing from the last tick\n%s", s.tt.InfoHash, r.describe())
	}
	if ti.Progress < 1 {
		t.Errorf("final progress %v, want 1", ti.Progress)
	}
	checkPathsAddUp(t, last)
	if got := last.Paths[string(swarm.OriginOutbound)].DownBytes; got < s.tt.Size {
		t.Errorf("outbound path downloaded %d bytes, want at least the torrent's %d", got, s.tt.Size)
	}
	for _, o := range []swarm.Origin{swarm.OriginInbound, swarm.OriginHolepunched, swarm.OriginUPnP} {
		if got := last.Paths[string(o)].DownBytes; got != 0 {
			t.Errorf("%s path downloaded %d bytes; only the outbound seeder had data", o, got)
		}
	}
	t.Logf("Transmission's peers:\n%s", seeder.Peers())
}

// Scenario 3: swarmscope on a public address seeds; a foreign leecher
// (aria2c, behind NAT) dials it, is labelled inbound and gets complete data.
func TestPublicSeederForeignLeecherInbound(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	needFeature(t, "seed", "seeding after completion (--seed)")
	nslab.Require(t, "aria2c")
	s := newSwarm(t, size(4<<20), true)
	pub := s.lab.PublicHost("swarmscope", 1)
	home := s.lab.Home("home", nslab.NATPortRestricted)

	r := startHeadless(t, pub, s.seedDir("seed"), 6881, s.tt.Path, "--seed")
	s.waitPeers(1) // anacrolix may first announce while still checking its data
	t.Logf("%v: tracker lists swarmscope", time.Now().Format(time.StampMilli))

	dl := s.emptyDir("aria2")
	leech := home.Host.StartAria2Leecher(s.tt, dl, 6881)
	if err := leech.Wait(3 * time.Minute); err != nil {
		t.Fatalf("aria2c: %v\n%s\n%s", err, tail(leech.Output(), 3000), r.describe())
	}
	s.verifyIn(dl)
	t.Logf("%v: aria2c done", time.Now().Format(time.StampMilli))

	// The swarmscope tick after the transfer shows the upload on the
	// inbound path.
	r.waitTick(time.Minute, "upload on the inbound path", func(tk tick) bool {
		return tk.Paths[string(swarm.OriginInbound)].UpBytes >= s.tt.Size
	})
	o := r.parse()
	evs := o.connected(home.Router.IP().String())
	if len(evs) == 0 {
		t.Fatalf("no peer-connected event for the leecher (NAT address %s)\n%s", home.Router.IP(), r.describe())
	}
	for _, ev := range evs {
		if ev.Origin != swarm.OriginInbound {
			t.Errorf("leecher connection %s labelled %q, want inbound", ev.Peer, ev.Origin)
		}
	}
	if err := r.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(30 * time.Second); err != nil {
		t.Logf("exit after SIGTERM: %v", err)
	}
	if !r.Exited() {
		t.Fatalf("swarmscope still running 30 s after SIGTERM")
	}
	if last, ok := r.parse().last(); ok {
		checkPathsAddUp(t, last)
	}
}
