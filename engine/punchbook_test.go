package engine

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestRendezvousBackoff(t *testing.T) {
	want := []time.Duration{40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := rendezvousBackoff(i + 1); got != w {
			t.Errorf("backoff after attempt %d = %s, want %s", i+1, got, w)
		}
	}
	if rendezvousRetryBase <= 30*time.Second {
		t.Errorf("first retry %s must outlast the kernel's 30 s UDP conntrack timeout", rendezvousRetryBase)
	}
}

func TestDialGate(t *testing.T) {
	const ih = "aa"
	type conn struct {
		remote     string
		utp        bool
		listenPort int
		peerID     string
	}
	cases := []struct {
		name      string
		ownAddrs  []string // exact endpoints of ours
		ownIPs    []string // our IPs (yourip)
		ownPorts  []uint16
		conns     []conn
		peerIDs   map[string]string // address → peer id learned earlier
		target    string            // rendezvous target with one attempt
		dial      string
		punchDial bool
		want      dialVerdict
		why       string // substring of the reason
	}{
		{name: "stranger", dial: "203.0.113.5:6881", want: dialAllow},
		{name: "our STUN address", ownAddrs: []string{"192.0.2.10:6881"}, dial: "192.0.2.10:6881", want: dialVetoOwn, why: "own address"},
		{name: "our yourip with our port", ownIPs: []string{"192.0.2.10"}, ownPorts: []uint16{6881}, dial: "192.0.2.10:6881", want: dialVetoOwn},
		{name: "our IP, another port: a neighbour behind our NAT", ownIPs: []string{"192.0.2.10"}, ownPorts: []uint16{6881}, dial: "192.0.2.10:6990", want: dialAllow},
		{name: "our port, another IP", ownIPs: []string{"192.0.2.10"}, ownPorts: []uint16{6881}, dial: "192.0.2.11:6881", want: dialAllow},
		{name: "own beats punch", ownAddrs: []string{"192.0.2.10:6881"}, dial: "192.0.2.10:6881", punchDial: true, want: dialVetoOwn},
		{name: "connected from that address", conns: []conn{{remote: "203.0.113.5:6881"}}, dial: "203.0.113.5:6881", want: dialVetoConnected},
		{name: "connected, listens there (extended handshake p)", conns: []conn{{remote: "192.0.2.20:40001", listenPort: 6883}}, dial: "192.0.2.20:6883", want: dialVetoConnected, why: "listens on"},
		{name: "same peer id learned at that address", conns: []conn{{remote: "192.0.2.20:40001", peerID: "P1"}}, peerIDs: map[string]string{"192.0.2.20:7000": "P1"}, dial: "192.0.2.20:7000", want: dialVetoConnected, why: "peer id"},
		{name: "other peer id at that address", conns: []conn{{remote: "192.0.2.20:40001", peerID: "P1", listenPort: 40001, utp: true}}, peerIDs: map[string]string{"192.0.2.20:7000": "P2"}, dial: "192.0.2.20:7000", want: dialAllow},
		{name: "uTP from a remapped port, listen port unknown: same IP is that peer", conns: []conn{{remote: "192.0.2.20:40001", utp: true}}, dial: "192.0.2.20:6883", want: dialVetoConnected, why: "NAT changed the port"},
		{name: "uTP from a remapped port, another listen port told", conns: []conn{{remote: "192.0.2.20:40001", utp: true, listenPort: 6884}}, dial: "192.0.2.20:6883", want: dialVetoConnected, why: "NAT changed the port"},
		{name: "uTP port preserved: another port on that IP is another peer (CGNAT)", conns: []conn{{remote: "192.0.2.20:6884", utp: true, listenPort: 6884}}, dial: "192.0.2.20:6883", want: dialAllow},
		{name: "TCP ephemeral port is no NAT evidence", conns: []conn{{remote: "192.0.2.20:40001"}}, dial: "192.0.2.20:6883", want: dialAllow},
		{name: "rendezvous target: punch only", target: "192.0.2.30:6881", dial: "192.0.2.30:6881", want: dialVetoPunchOnly, why: "attempt 2 of"},
		{name: "rendezvous target: the punch itself goes", target: "192.0.2.30:6881", dial: "192.0.2.30:6881", punchDial: true, want: dialAllow},
		{name: "connected beats punch", conns: []conn{{remote: "192.0.2.30:6881"}}, dial: "192.0.2.30:6881", punchDial: true, want: dialVetoConnected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newPunchBook()
			for _, a := range c.ownAddrs {
				b.noteOwnAddr(ap(a), "STUN")
			}
			for _, ip := range c.ownIPs {
				b.noteOwnIP(netip.MustParseAddr(ip), "a peer's yourip")
			}
			for _, p := range c.ownPorts {
				b.noteOwnPort(p, "our listen port")
			}
			for a, id := range c.peerIDs {
				b.learnPeerID(ap(a), id)
			}
			for i, cn := range c.conns {
				id := string(rune('a' + i))
				b.connAdded(&liveConn{id: id, ih: ih, remote: ap(cn.remote), utp: cn.utp, peerID: cn.peerID})
				b.connHandshake(id, cn.listenPort, true, false)
			}
			if c.target != "" {
				b.rendezvousSent(ih, ap(c.target), []string{"203.0.113.1:6881"}, t0)
			}
			got, why := b.gate(ap(c.dial), []string{ih}, c.punchDial, t0.Add(time.Second))
			if got != c.want || !strings.Contains(why, c.why) {
				t.Errorf("gate(%s) = %v %q, want %v containing %q", c.dial, got, why, c.want, c.why)
			}
		})
	}
}

// A peer we share one torrent with is still dialed for another.
func TestDialGateConnectedInEveryTorrent(t *testing.T) {
	b := newPunchBook()
	b.connAdded(&liveConn{id: "a", ih: "t1", remote: ap("127.0.0.1:6881")})
	if v, _ := b.gate(ap("127.0.0.1:6881"), []string{"t1", "t2"}, false, t0); v != dialAllow {
		t.Errorf("vetoed although t2 is not connected: %v", v)
	}
	b.connAdded(&liveConn{id: "b", ih: "t2", remote: ap("127.0.0.1:6881")})
	if v, _ := b.gate(ap("127.0.0.1:6881"), []string{"t1", "t2"}, false, t0); v != dialVetoConnected {
		t.Errorf("connected in both torrents, verdict %v", v)
	}
}

func TestDialBurst(t *testing.T) {
	b := newPunchBook()
	a := ap("192.0.2.5:6881")
	b.dialStarted(a, false) // TCP
	b.dialStarted(a, false) // uTP
	if done, _, _ := b.dialEnded(a, false); done {
		t.Fatal("burst over after one of two dials")
	}
	if done, failed, _ := b.dialEnded(a, true); !done || failed {
		t.Fatalf("burst with one success: done %v failed %v", done, failed)
	}
	b.dialStarted(a, true)
	if done, failed, punch := b.dialEnded(a, false); !done || !failed || !punch {
		t.Fatalf("failed punch burst: done %v failed %v punch %v", done, failed, punch)
	}
}

func TestRendezvousTargetLifecycle(t *testing.T) {
	b := newPunchBook()
	const ih = "aa"
	target := ap("192.0.2.30:6881")
	// anacrolix logs one line per relay for one attempt.
	if _, fresh := b.rendezvousSent(ih, target, []string{"r1"}, t0); !fresh {
		t.Fatal("first line is not a new attempt")
	}
	if _, fresh := b.rendezvousSent(ih, target, []string{"r2"}, t0.Add(10*time.Millisecond)); fresh {
		t.Fatal("second relay's line counted as a new attempt")
	}
	f := b.funnels[ih]
	if f.RendezvousAttempts != 1 || f.RendezvousSent != 2 || b.relays["r1"].RendezvousSent != 1 {
		t.Fatalf("funnel %+v, relay r1 %+v", *f, *b.relays["r1"])
	}
	// No answer within connectWait: judged once.
	_, un, _ := b.due(t0.Add(connectWait + time.Second))
	if len(un) != 1 {
		t.Fatalf("unanswered %d, want 1", len(un))
	}
	if _, un, _ := b.due(t0.Add(connectWait + 2*time.Second)); len(un) != 0 {
		t.Fatal("unanswered attempt judged twice")
	}
	// Retry not before the backoff.
	if r, _, _ := b.due(t0.Add(rendezvousRetryBase - time.Second)); len(r) != 0 {
		t.Fatal("retry due before the backoff")
	}
	now := t0.Add(rendezvousRetryBase)
	for i := 2; i <= rendezvousAttempts; i++ {
		r, _, _ := b.due(now)
		if len(r) != 1 {
			t.Fatalf("attempt %d not due at %s", i, now.Sub(t0))
		}
		b.rendezvousSent(ih, target, []string{"r1"}, now)
		b.answered(target)
		now = now.Add(rendezvousBackoff(i))
	}
	r, _, gave := b.due(now)
	if len(r) != 0 || len(gave) != 1 {
		t.Fatalf("after the last attempt: retry %d, gave up %d", len(r), len(gave))
	}
	if b.funnels[ih].RendezvousAttempts != rendezvousAttempts {
		t.Errorf("attempts %d", b.funnels[ih].RendezvousAttempts)
	}
	// Resolved targets are never due again.
	b2 := newPunchBook()
	b2.rendezvousSent(ih, target, nil, t0)
	b2.resolved(target)
	if r, un, _ := b2.due(t0.Add(time.Hour)); len(r)+len(un) != 0 {
		t.Error("a resolved target came due")
	}
}

func TestRelaysFor(t *testing.T) {
	b := newPunchBook()
	const ih = "aa"
	target := ap("192.0.2.30:6881")
	add := func(id, remote string, holepunch, pex bool, lists ...string) {
		b.connAdded(&liveConn{id: id, ih: ih, remote: ap(remote)})
		b.connHandshake(id, 0, holepunch, pex)
		var l []netip.AddrPort
		for _, s := range lists {
			l = append(l, ap(s))
		}
		b.connPEX(id, l, nil)
	}
	add("a", "203.0.113.1:6881", true, true, "192.0.2.30:6881") // PEX relay that lists the target
	add("b", "203.0.113.2:6881", true, true)                    // PEX relay that does not
	add("c", "203.0.113.3:6881", true, false)                   // no PEX: may know it
	add("d", "203.0.113.4:6881", false, false)                  // no ut_holepunch
	add("e", "192.0.2.30:6881", true, false)                    // the target itself
	b.connAdded(&liveConn{id: "f", ih: "bb", remote: ap("203.0.113.6:6881")})
	b.connHandshake("f", 0, true, false) // another torrent
	var got []string
	for _, c := range b.relaysFor(ih, target) {
		got = append(got, c.id)
	}
	if strings.Join(got, ",") != "a,c" {
		t.Errorf("relays %v, want a,c", got)
	}
	b.connPEX("a", nil, []netip.AddrPort{target})
	if n := len(b.relaysFor(ih, target)); n != 1 {
		t.Errorf("after PEX dropped the target: %d relays, want 1", n)
	}
}

func TestRepeatCount(t *testing.T) {
	b := newPunchBook()
	for i := 1; i <= 3; i++ {
		if n := b.repeat("k", t0.Add(time.Duration(i)*time.Minute)); n != i {
			t.Errorf("occurrence %d counted %d", i, n)
		}
	}
	if n := b.repeat("k", t0.Add(3*time.Minute+repeatWindow+time.Second)); n != 1 {
		t.Errorf("after a quiet window: %d, want 1", n)
	}
	if n := b.repeat("other", t0); n != 1 {
		t.Errorf("another key: %d", n)
	}
}

func TestFunnelSnapshot(t *testing.T) {
	b := newPunchBook()
	b.count("aa", "r1", func(f *swarm.HolepunchFunnel) { f.ConnectsReceived++; f.Handshakes++; f.ConnectTime.Add(120) })
	b.count("bb", "r1", func(f *swarm.HolepunchFunnel) { f.ConnectsReceived++; f.ConnectTime.Add(80) })
	b.funnel("").Skipped.Own++
	byT, total, relays := b.snapshot()
	if len(byT) != 2 || byT["aa"].Handshakes != 1 {
		t.Fatalf("by torrent %+v", byT)
	}
	if total.ConnectsReceived != 2 || total.Skipped.Own != 1 || total.ConnectTime.Count != 2 || total.ConnectTime.MinMs != 80 || total.ConnectTime.MaxMs != 120 {
		t.Fatalf("total %+v", total)
	}
	if len(relays) != 1 || relays[0].Relay != "r1" || relays[0].ConnectsReceived != 2 {
		t.Fatalf("relays %+v", relays)
	}
	if r, ok := total.SuccessRate(); !ok || r != 0.5 {
		t.Errorf("success rate %v %v", r, ok)
	}
}

// TestFailureTextNamesOnlyMeasuredNATs: the explanation of a failed punch
// names our NAT type only when it was measured, and never a type for the
// other side.
func TestFailureTextNamesOnlyMeasuredNATs(t *testing.T) {
	types := []string{"open", "full-cone", "restricted-cone", "port-restricted-cone", "symmetric", "symmetric-firewall", "udp-blocked"}
	for _, ours := range append([]string{"", "unknown"}, types...) {
		text := natEvidence(ours)
		for _, ty := range types {
			if ty == ours {
				continue
			}
			if strings.Contains(text, ty) && !strings.Contains(ours, ty) {
				t.Errorf("measured %q: text names %q: %s", ours, ty, text)
			}
		}
		if !strings.Contains(text, "target's NAT: not measured") {
			t.Errorf("measured %q: text does not say the target's NAT is unknown: %s", ours, text)
		}
		if ours == "" && !strings.Contains(text, "our NAT: not measured") {
			t.Errorf("nothing measured, text: %s", text)
		}
	}
}
