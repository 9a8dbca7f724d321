package labtest

import (
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/nat/nslab"
)

// holepunchLab is a public swarmscope relay seeding slowly and two
// swarmscope leechers behind NATs of the given kinds. The relay's rate cap
// keeps both leechers incomplete long enough for the second one's direct
// dial to the first to fail and for the BEP 55 rendezvous to follow.
type holepunchLab struct {
	s             *swarm
	relayHost     *nslab.Host
	a, b          *nslab.Home
	relay, ra, rb *run
}

func newHolepunchLab(t *testing.T, kindB nslab.NATKind) *holepunchLab {
	t.Helper()
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	needFeature(t, "seed", "seeding after completion (--seed)")
	s := newSwarm(t, size(6<<20), false)
	h := &holepunchLab{s: s, relayHost: s.lab.PublicHost("relay", 1)}
	h.a = s.lab.Home("a", nslab.NATPortRestricted)
	h.b = s.lab.Home("b", kindB)
	if err := h.relayHost.RateLimit("eth0", "1mbit"); err != nil {
		t.Fatal(err)
	}
	h.relay = startHeadless(t, h.relayHost, s.seedDir("relay"), 6881, s.tt.Path, "--seed")
	s.waitPeers(1)
	// Both leechers stay up after completing, so each remains a holepunch
	// target for the other.
	h.ra = startHeadless(t, h.a.Host, s.emptyDir("a"), 6881, s.tt.Path, "--seed")
	s.waitPeers(2)
	h.rb = startHeadless(t, h.b.Host, s.emptyDir("b"), 6881, s.tt.Path, "--seed")
	return h
}

func (h *holepunchLab) describe() string {
	return "relay:\n" + h.relay.describe() + "\na:\n" + h.ra.describe() + "\nb:\n" + h.rb.describe()
}

// holepunchedTo finds a holepunched connection event to the given IP.
func holepunchedTo(r *run, ip string) (engine.Event, bool) {
	for _, ev := range r.parse().connected(ip) {
		if ev.Origin == engine.OriginHolepunched {
			return ev, true
		}
	}
	return engine.Event{}, false
}

// Scenario 4: two swarmscope peers behind two port-restricted NATs meet
// through a public swarmscope relay: the connection between them is
// holepunched, over uTP through the kernel NATs, and carries pieces.
func TestHolepunchThroughPortRestrictedNATs(t *testing.T) {
	h := newHolepunchLab(t, nslab.NATPortRestricted)
	aIP, bIP := h.a.Router.IP().String(), h.b.Router.IP().String()
	err := nslab.WaitFor(3*time.Minute, func() (bool, error) {
		_, okA := holepunchedTo(h.ra, bIP)
		_, okB := holepunchedTo(h.rb, aIP)
		return okA || okB, nil
	})
	if err != nil {
		t.Fatalf("no holepunched connection between the two NATed peers: %v\n%s", err, h.describe())
	}
	for _, side := range []struct {
		r    *run
		peer string
	}{{h.ra, bIP}, {h.rb, aIP}} {
		if ev, ok := holepunchedTo(side.r, side.peer); ok {
			if !strings.Contains(strings.ToLower(ev.Message), "utp") {
				t.Errorf("holepunched connection is not uTP: %s", ev.Message)
			}
		}
	}
	// The relay introduced them, and the events on the two sides show the
	// rendezvous and the connect.
	if len(h.relay.parse().ofKind(engine.EventHolepunchRelayed)) == 0 {
		t.Errorf("relay logged no holepunch-relayed event\n%s", h.relay.describe())
	}
	oa, ob := h.ra.parse(), h.rb.parse()
	if len(oa.ofKind(engine.EventHolepunchRendezvous))+len(ob.ofKind(engine.EventHolepunchRendezvous)) == 0 {
		t.Errorf("neither peer logged a holepunch-rendezvous")
	}
	if len(oa.ofKind(engine.EventHolepunchConnect)) == 0 || len(ob.ofKind(engine.EventHolepunchConnect)) == 0 {
		t.Errorf("holepunch-connect events: a %d, b %d; want both", len(oa.ofKind(engine.EventHolepunchConnect)), len(ob.ofKind(engine.EventHolepunchConnect)))
	}
	// Pieces cross the holepunched path.
	h.rb.waitTick(3*time.Minute, "bytes on b's holepunched path", func(tk tick) bool {
		p := tk.Paths[string(engine.OriginHolepunched)]
		return p.DownBytes > 0 || p.UpBytes > 0
	})
	if h.ra.Exited() {
		t.Errorf("a exited although it was told to seed\n%s", h.ra.describe())
	}
	// Both complete with verified data.
	for _, r := range []*run{h.ra, h.rb} {
		r.waitTick(3*time.Minute, "completion", func(tk tick) bool {
			ti, ok := tk.torrent(h.s.tt.InfoHash)
			return ok && ti.Progress >= 1
		})
	}
	h.s.verifyIn(h.ra.Dir)
	h.s.verifyIn(h.rb.Dir)
}

// Scenario 4, symmetric side: with the second peer behind a symmetric NAT
// the rendezvous happens but no connection forms, and the failure event
// says why.
func TestHolepunchFailsAgainstSymmetricNAT(t *testing.T) {
	h := newHolepunchLab(t, nslab.NATSymmetric)
	var failed engine.Event
	err := nslab.WaitFor(4*time.Minute, func() (bool, error) {
		for _, r := range []*run{h.ra, h.rb} {
			for _, k := range []engine.EventKind{engine.EventHolepunchFailed, engine.EventHolepunchError} {
				if evs := r.parse().ofKind(k); len(evs) > 0 {
					failed = evs[0]
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no holepunch failure event: %v\n%s", err, h.describe())
	}
	t.Logf("failure event: %s: %s", failed.Kind, failed.Message)
	if len(strings.TrimSpace(failed.Message)) < 10 {
		t.Errorf("failure event does not say why: %q", failed.Message)
	}
	oa, ob := h.ra.parse(), h.rb.parse()
	attempts := len(oa.ofKind(engine.EventHolepunchRendezvous)) + len(ob.ofKind(engine.EventHolepunchRendezvous)) +
		len(oa.ofKind(engine.EventHolepunchConnect)) + len(ob.ofKind(engine.EventHolepunchConnect))
	if attempts == 0 {
		t.Errorf("no rendezvous or connect event: the holepunch was never attempted\n%s", h.describe())
	}
	if _, ok := holepunchedTo(h.ra, h.b.Router.IP().String()); ok {
		t.Errorf("a holepunched to the symmetric NAT")
	}
	if _, ok := holepunchedTo(h.rb, h.a.Router.IP().String()); ok {
		t.Errorf("b holepunched through its symmetric NAT")
	}
}
