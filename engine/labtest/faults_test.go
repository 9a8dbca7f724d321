package labtest

import (
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// Scenario 6 (faults). Each fault hits a download from a Transmission seeder
// whose upload is capped, so the download is still running when the fault
// comes; each must still end with verified data.

// slowSeederKBps caps the foreign seeder: a CI-sized 4 MiB torrent takes
// ~16 s; -long scales the rate with the size.
func slowSeederKBps() int { return int(size(256)) }

// waitStarted waits until swarmscope has some but not all of the torrent.
func waitStarted(r *run, ih string) {
	r.t.Helper()
	r.waitTick(2*time.Minute, "download under way", func(tk tick) bool {
		ti, ok := tk.torrent(ih)
		return ok && ti.Progress > 0
	})
}

// The tracker dies mid-download: the peer swarmscope already knows keeps
// serving it.
func TestFaultTrackerKilled(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	s := newSwarm(t, size(4<<20), false)
	seedHost := s.lab.PublicHost("seeder", 1)
	home := s.lab.Home("home", nslab.NATPortRestricted)
	s.transmissionSeeder(seedHost, slowSeederKBps())

	dir := s.emptyDir("swarmscope")
	r := startHeadless(t, home.Host, dir, 6881, s.tt.Path)
	waitStarted(r, s.tt.InfoHash)
	s.tracker.Kill()
	if p := r.progress(s.tt.InfoHash); p >= 1 {
		t.Fatalf("download finished before the tracker was killed; raise the torrent size or lower the seeder's rate")
	}
	r.waitExit(4 * time.Minute)
	s.verifyIn(dir)
}

// The seeder dies and comes back: the download resumes and completes.
// swarmscope is public here, so the restarted seeder, which learns of it
// from the tracker, can dial it.
func TestFaultSeederRestarted(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	s := newSwarm(t, size(4<<20), false)
	seedHost := s.lab.PublicHost("seeder", 1)
	pub := s.lab.PublicHost("swarmscope", 1)
	seeder := s.transmissionSeeder(seedHost, slowSeederKBps())

	dir := s.emptyDir("swarmscope")
	r := startHeadless(t, pub, dir, 6881, s.tt.Path)
	waitStarted(r, s.tt.InfoHash)
	seeder.Kill()
	time.Sleep(3 * time.Second)
	before := r.progress(s.tt.InfoHash)
	if before >= 1 {
		t.Fatalf("download finished before the seeder was killed")
	}
	if r.Exited() {
		t.Fatalf("swarmscope exited when its only seeder died\n%s", r.describe())
	}
	seeder = seedHost.StartTransmission(s.tt.DataDir, 51413)
	// The daemon remembers the torrent across the restart (add it again in
	// case it was killed before saving it), but a SIGKILL can leave its
	// resume state saying it has nothing: make it re-check its data.
	_ = seeder.Add(s.tt.Path)
	if err := seeder.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := seeder.WaitDone(90 * time.Second); err != nil {
		t.Fatalf("restarted seeder did not verify its data: %v\n%s", err, seeder.Info())
	}
	r.waitExit(4 * time.Minute)
	s.verifyIn(dir)
	if n := len(r.parse().connected(seedHost.IP().String())); n < 2 {
		t.Errorf("%d connections with the seeder; want one before and one after its restart\n%s", n, r.describe())
	}
}

// miniupnpd dies while swarmscope holds a mapping: swarmscope notices and
// keeps downloading over its outbound connection.
func TestFaultUPnPDaemonKilled(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	nslab.Require(t, "miniupnpd", "upnpc")
	s := newSwarm(t, size(4<<20), false)
	seedHost := s.lab.PublicHost("seeder", 1)
	home := s.lab.Home("home", nslab.NATPortRestricted)
	upnpd := home.StartMiniUPnPd()
	s.transmissionSeeder(seedHost, slowSeederKBps())

	dir := s.emptyDir("swarmscope")
	const port = 6883
	r := startHeadless(t, home.Host, dir, port, s.tt.Path)
	waitMapping(t, home, port, r)
	waitStarted(r, s.tt.InfoHash)
	upnpd.Kill()
	killed := time.Now()
	o := r.waitExit(4 * time.Minute)
	s.verifyIn(dir)
	// swarmscope learns the gateway is gone at the latest when it tries
	// to remove its mapping on exit, and must say so.
	// miniupnpd speaks UPnP, PCP and NAT-PMP; whichever made the mapping
	// must be named (PCP usually wins the race).
	namesGateway := func(s string) bool {
		s = strings.ToLower(s)
		return strings.Contains(s, "upnp") || strings.Contains(s, "pcp") || strings.Contains(s, "nat-pmp")
	}
	reported := false
	for _, ev := range o.Events {
		if (ev.Kind == swarm.EventNAT || ev.Kind == swarm.EventError) && !ev.Time.Before(killed) && namesGateway(ev.Message) {
			reported = true
		}
	}
	if !reported && !namesGateway(r.Output()) {
		t.Errorf("swarmscope did not report losing the port-mapping gateway\n%s", r.describe())
	}
}

// 5 % packet loss on the home uplink: slower, still complete.
func TestFaultPacketLoss(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	s := newSwarm(t, size(4<<20), false)
	seedHost := s.lab.PublicHost("seeder", 1)
	home := s.lab.Home("home", nslab.NATPortRestricted)
	s.transmissionSeeder(seedHost, 0)
	// Both directions of the home's internet link lose 5 %.
	for _, dev := range []string{"wan0", "lan0"} {
		how, err := home.Router.Loss(dev, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("5%% loss out of the router's %s with %s", dev, how)
	}
	dir := s.emptyDir("swarmscope")
	r := startHeadless(t, home.Host, dir, 6881, s.tt.Path)
	r.waitExit(5 * time.Minute)
	s.verifyIn(dir)
}
