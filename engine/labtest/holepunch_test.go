package labtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// holepunchLab is a public relay seeding slowly (swarmscope, or
// qBittorrent: libtorrent relays ut_holepunch too) and two swarmscope
// leechers behind NATs of the given kinds. The relay's rate cap keeps both
// leechers incomplete long enough for the second one's direct dial to the
// first to fail and for the BEP 55 rendezvous to follow.
type holepunchLab struct {
	s         *labSwarm
	relayHost *nslab.Host
	a, b      *nslab.Home
	relay     *run // nil when qBittorrent relays
	qbt       *nslab.QBittorrent
	ra, rb    *run
}

func newHolepunchLab(t *testing.T, kindB nslab.NATKind, qbtRelay bool) *holepunchLab {
	t.Helper()
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	needFeature(t, "seed", "seeding after completion (--seed)")
	if qbtRelay {
		nslab.Require(t, "qbittorrent-nox")
	}
	s := newSwarm(t, size(6<<20), false)
	h := &holepunchLab{s: s, relayHost: s.lab.PublicHost("relay", 1)}
	h.a = s.lab.Home("a", nslab.NATPortRestricted)
	h.b = s.lab.Home("b", kindB)
	if err := h.relayHost.RateLimit("eth0", fmt.Sprintf("%dkbit", size(1024))); err != nil {
		t.Fatal(err)
	}
	if qbtRelay {
		h.qbt = h.relayHost.StartQBittorrent(s.tt, s.tt.DataDir, 6881)
		if err := h.qbt.WaitDone(90 * time.Second); err != nil {
			t.Fatalf("qBittorrent relay did not check its data: %v", err)
		}
	} else {
		h.relay = startHeadless(t, h.relayHost, s.seedDir("relay"), 6881, s.tt.Path, "--seed")
	}
	s.waitPeers(1)
	// Both leechers stay up after completing, so each remains a holepunch
	// target for the other.
	h.ra = startHeadless(t, h.a.Host, s.emptyDir("a"), 6881, s.tt.Path, "--seed")
	s.waitPeers(2)
	h.rb = startHeadless(t, h.b.Host, s.emptyDir("b"), 6881, s.tt.Path, "--seed")
	t.Cleanup(func() {
		// Registered after the lab's teardown, so this runs first, while
		// the outputs are still there.
		if t.Failed() {
			t.Log(h.describe())
		}
	})
	return h
}

func (h *holepunchLab) describe() string {
	relay := "qBittorrent"
	if h.relay != nil {
		relay = h.relay.describe()
	}
	return "relay:\n" + relay + "\na:\n" + h.ra.describe() + "\nb:\n" + h.rb.describe()
}

// holepunchedTo finds a holepunched connection event to the given IP.
func holepunchedTo(r *run, ip string) (swarm.Event, bool) {
	for _, ev := range r.parse().connected(ip) {
		if ev.Origin == swarm.OriginHolepunched {
			return ev, true
		}
	}
	return swarm.Event{}, false
}

// eventsAbout returns r's events of kind k whose peer has the given IP.
func eventsAbout(r *run, k swarm.EventKind, ip string) []swarm.Event {
	var out []swarm.Event
	for _, ev := range r.parse().ofKind(k) {
		if hostOf(ev.Peer) == ip {
			out = append(out, ev)
		}
	}
	return out
}

// Scenario 4: two swarmscope peers behind two port-restricted NATs meet
// through a public swarmscope relay: the connection between them is
// holepunched, over uTP through the kernel NATs, and carries pieces.
//
// Either side may be the one that labels it holepunched: the other side's
// NAT can let the first punch packet in before its relay's Connect has
// been read, and then that side saw an ordinary inbound connection.
func TestHolepunchThroughPortRestrictedNATs(t *testing.T) {
	checkHolepunch(t, newHolepunchLab(t, nslab.NATPortRestricted, false))
}

// With qBittorrent (libtorrent) as the public seeder and relay, the two
// NATed swarmscopes still find each other and connect through both NATs.
// libtorrent sends PEX soon after connecting, so both usually dial each
// other at once and the simultaneous uTP open crosses both NATs before any
// rendezvous is needed (labelled outbound on one side, inbound on the
// other); when it does not, the BEP 55 rendezvous through libtorrent does
// it (holepunched). Either way the connection must form and carry data to
// completion.
func TestNATedPeersMeetViaQBittorrent(t *testing.T) {
	h := newHolepunchLab(t, nslab.NATPortRestricted, true)
	aIP, bIP := h.a.Router.IP().String(), h.b.Router.IP().String()
	var how []string
	err := nslab.WaitFor(3*time.Minute, func() (bool, error) {
		how = how[:0]
		for _, ev := range h.ra.parse().connected(bIP) {
			how = append(how, "a: "+ev.Message)
		}
		for _, ev := range h.rb.parse().connected(aIP) {
			how = append(how, "b: "+ev.Message)
		}
		return len(how) > 0, nil
	})
	if err != nil {
		t.Fatalf("the two NATed peers never connected: %v", err)
	}
	t.Logf("a and b connected: %s", strings.Join(how, "; "))
	for _, r := range []*run{h.ra, h.rb} {
		r.waitTick(3*time.Minute, "completion", func(tk tick) bool {
			ti, ok := tk.torrent(h.s.tt.InfoHash)
			return ok && ti.Progress >= 1
		})
	}
	h.s.verifyIn(h.ra.Dir)
	h.s.verifyIn(h.rb.Dir)
}

func checkHolepunch(t *testing.T, h *holepunchLab) {
	t.Helper()
	aIP, bIP := h.a.Router.IP().String(), h.b.Router.IP().String()
	var side *run
	var punched swarm.Event
	err := nslab.WaitFor(3*time.Minute, func() (bool, error) {
		if ev, ok := holepunchedTo(h.ra, bIP); ok {
			side, punched = h.ra, ev
			return true, nil
		}
		if ev, ok := holepunchedTo(h.rb, aIP); ok {
			side, punched = h.rb, ev
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no holepunched connection between the two NATed peers: %v", err)
	}
	t.Logf("on %s: %s", side.Host.Name, punched.Message)
	if !strings.Contains(strings.ToLower(punched.Message), "utp") {
		t.Errorf("holepunched connection is not uTP: %s", punched.Message)
	}
	other, otherPeer := h.rb, aIP
	if side == h.rb {
		other, otherPeer = h.ra, bIP
	}
	if evs := other.parse().connected(otherPeer); len(evs) > 0 {
		t.Logf("on %s the same connection is labelled %s", other.Host.Name, evs[len(evs)-1].Origin)
	}

	// The relay introduced them, and both got a Connect naming the other.
	if h.relay != nil && len(eventsAbout(h.relay, swarm.EventHolepunchRelayed, aIP))+len(eventsAbout(h.relay, swarm.EventHolepunchRelayed, bIP)) == 0 {
		t.Errorf("relay logged no holepunch-relayed event naming a or b")
	}
	if err := nslab.WaitFor(time.Minute, func() (bool, error) {
		return len(eventsAbout(h.ra, swarm.EventHolepunchConnect, bIP)) > 0 &&
			len(eventsAbout(h.rb, swarm.EventHolepunchConnect, aIP)) > 0, nil
	}); err != nil {
		t.Errorf("holepunch-connect naming the other side: a %d, b %d; want both",
			len(eventsAbout(h.ra, swarm.EventHolepunchConnect, bIP)), len(eventsAbout(h.rb, swarm.EventHolepunchConnect, aIP)))
	}

	// Pieces cross the holepunched path.
	side.waitTick(3*time.Minute, "bytes on the holepunched path", func(tk tick) bool {
		p := tk.Paths[string(swarm.OriginHolepunched)]
		return p.DownBytes > 0 || p.UpBytes > 0
	})
	// Both complete with verified data.
	for _, r := range []*run{h.ra, h.rb} {
		r.waitTick(3*time.Minute, "completion", func(tk tick) bool {
			ti, ok := tk.torrent(h.s.tt.InfoHash)
			return ok && ti.Progress >= 1
		})
	}
	h.s.verifyIn(h.ra.Dir)
	h.s.verifyIn(h.rb.Dir)

	// Whoever's direct dial failed asked the relay for the rendezvous.
	if len(eventsAbout(h.ra, swarm.EventHolepunchRendezvous, bIP))+len(eventsAbout(h.rb, swarm.EventHolepunchRendezvous, aIP)) == 0 {
		t.Errorf("neither peer logged a holepunch-rendezvous naming the other")
	}
}

// Scenario 4, symmetric side: with the second peer behind a symmetric NAT
// the rendezvous happens but no connection forms, and the failure event
// says why.
func TestHolepunchFailsAgainstSymmetricNAT(t *testing.T) {
	h := newHolepunchLab(t, nslab.NATSymmetric, false)
	aIP, bIP := h.a.Router.IP().String(), h.b.Router.IP().String()
	var failed swarm.Event
	err := nslab.WaitFor(4*time.Minute, func() (bool, error) {
		for _, c := range []struct {
			r  *run
			ip string
		}{{h.ra, bIP}, {h.rb, aIP}} {
			for _, k := range []swarm.EventKind{swarm.EventHolepunchFailed, swarm.EventHolepunchError} {
				if evs := eventsAbout(c.r, k, c.ip); len(evs) > 0 {
					failed = evs[0]
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no holepunch failure event naming the other peer: %v", err)
	}
	t.Logf("failure event: %s: %s", failed.Kind, failed.Message)
	if !strings.Contains(failed.Message, "symmetric") && !strings.Contains(failed.Message, "NAT") {
		t.Errorf("failure event does not say why: %q", failed.Message)
	}
	if _, ok := holepunchedTo(h.ra, bIP); ok {
		t.Errorf("a holepunched to the symmetric NAT")
	}
	if _, ok := holepunchedTo(h.rb, aIP); ok {
		t.Errorf("b holepunched through its symmetric NAT")
	}
}
