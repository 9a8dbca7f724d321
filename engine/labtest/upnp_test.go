package labtest

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// mappingsFor lists the gateway's mappings of the host's port.
func mappingsFor(t *testing.T, home *nslab.Home, port int) []nslab.UPnPMapping {
	t.Helper()
	ms, err := home.Host.UPnPList()
	if err != nil {
		t.Fatalf("upnpc -l: %v", err)
	}
	var out []nslab.UPnPMapping
	want := home.Host.IP().String() + ":" + strconv.Itoa(port)
	for _, m := range ms {
		if m.Internal == want {
			out = append(out, m)
		}
	}
	return out
}

// waitMapping waits until the gateway maps port for TCP (peers dial TCP
// first) and returns the mappings of that port.
func waitMapping(t *testing.T, home *nslab.Home, port int, r *run) []nslab.UPnPMapping {
	t.Helper()
	var got []nslab.UPnPMapping
	err := nslab.WaitFor(60*time.Second, func() (bool, error) {
		got = mappingsFor(t, home, port)
		for _, m := range got {
			if m.Proto == "TCP" && m.ExternalPort == port {
				return true, nil
			}
		}
		if r != nil && r.Exited() {
			return false, nslab.Stop(fmt.Errorf("swarmscope exited"))
		}
		return false, fmt.Errorf("mappings of port %d: %+v", port, got)
	})
	if err != nil {
		desc := ""
		if r != nil {
			desc = r.describe()
		}
		t.Fatalf("no UPnP mapping of port %d: %v\n%s", port, err, desc)
	}
	return got
}

func requireNoMapping(t *testing.T, home *nslab.Home, port int, when string) {
	t.Helper()
	if ms := mappingsFor(t, home, port); len(ms) > 0 {
		t.Errorf("%s: mappings of port %d left on the gateway: %+v", when, port, ms)
	}
}

// Scenario 2a: swarmscope seeds behind the miniupnpd router. It maps its
// port; a public aria2c leecher dials the mapping, is labelled upnp and gets
// the data from swarmscope. After SIGTERM no mapping is left.
func TestUPnPInboundLabelledUPnP(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	needFeature(t, "seed", "seeding after completion (--seed)")
	nslab.Require(t, "miniupnpd", "upnpc", "aria2c")
	s := newSwarm(t, size(4<<20), false)
	home := s.lab.Home("home", nslab.NATPortRestricted)
	home.StartMiniUPnPd()
	leechHost := s.lab.PublicHost("leecher", 1)

	const port = 6881
	r := startHeadless(t, home.Host, s.seedDir("seed"), port, s.tt.Path, "--seed")
	ms := waitMapping(t, home, port, r)
	t.Logf("mappings while running: %+v", ms)
	s.waitPeers(1)

	dl := s.emptyDir("aria2")
	leech := leechHost.StartAria2Leecher(s.tt, dl, 6881)
	if err := leech.Wait(3 * time.Minute); err != nil {
		t.Fatalf("aria2c: %v\n%s\n%s", err, tail(leech.Output(), 3000), r.describe())
	}
	s.verifyIn(dl)
	r.waitTick(time.Minute, "upload on the upnp path", func(tk tick) bool {
		return tk.Paths[string(swarm.OriginUPnP)].UpBytes >= s.tt.Size
	})
	evs := r.parse().connected(leechHost.IP().String())
	if len(evs) == 0 {
		t.Fatalf("no peer-connected event for the public leecher %s\n%s", leechHost.IP(), r.describe())
	}
	for _, ev := range evs {
		if ev.Origin != swarm.OriginUPnP {
			t.Errorf("leecher connection %s labelled %q, want upnp", ev.Peer, ev.Origin)
		}
	}

	if err := r.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(30 * time.Second); err != nil && !r.Exited() {
		t.Fatalf("swarmscope did not exit after SIGTERM: %v", err)
	}
	requireNoMapping(t, home, port, "after SIGTERM")
}

// Scenario 2b: a download behind the miniupnpd router holds a mapping while
// it runs; when swarmscope exits on completion the mapping is gone.
func TestUPnPMappingRemovedOnExit(t *testing.T) {
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	nslab.Require(t, "miniupnpd", "upnpc")
	s := newSwarm(t, size(4<<20), false)
	seedHost := s.lab.PublicHost("seeder", 1)
	home := s.lab.Home("home", nslab.NATPortRestricted)
	home.StartMiniUPnPd()
	// A capped seeder keeps the download running while the mapping is read.
	s.transmissionSeeder(seedHost, int(size(1024)))

	const port = 6882
	dir := s.emptyDir("swarmscope")
	r := startHeadless(t, home.Host, dir, port, s.tt.Path)
	waitMapping(t, home, port, r)
	o := r.waitExit(4 * time.Minute)
	s.verifyIn(dir)
	requireNoMapping(t, home, port, "after exit")
	if last, ok := o.last(); ok {
		checkPathsAddUp(t, last)
	}
}
