package natlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat"
)

var ctx = context.Background()

func mustHost(t *testing.T, n *Network, name string, addrs ...string) *Host {
	t.Helper()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	h, err := n.AddHost(name, LinkConfig{}, as...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func listen(t *testing.T, h *Host, addr string) net.PacketConn {
	t.Helper()
	c, err := h.ListenPacket(ctx, "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udp(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// recv reads one datagram or returns "" after a generous wait.
func recv(t *testing.T, c net.PacketConn, wait time.Duration) (string, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, 1500)
	n, from, err := c.ReadFrom(b)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", ""
		}
		t.Fatal(err)
	}
	if _, ok := from.(*net.UDPAddr); !ok {
		t.Fatalf("ReadFrom returned %T, want *net.UDPAddr", from)
	}
	return string(b[:n]), from.String()
}

func TestPublicDelivery(t *testing.T) {
	in := New(1)
	a := mustHost(t, in.Public(), "a", "198.51.100.1")
	b := mustHost(t, in.Public(), "b", "198.51.100.2")
	ca := listen(t, a, ":4000")
	cb := listen(t, b, "198.51.100.2:5000")
	if ca.LocalAddr().Network() != "udp" || ca.LocalAddr().String() != "198.51.100.1:4000" {
		t.Fatalf("local addr %s %s", ca.LocalAddr().Network(), ca.LocalAddr())
	}
	if _, err := ca.WriteTo([]byte("hi"), udp("198.51.100.2:5000")); err != nil {
		t.Fatal(err)
	}
	msg, from := recv(t, cb, 5*time.Second)
	if msg != "hi" || from != "198.51.100.1:4000" {
		t.Fatalf("got %q from %s", msg, from)
	}
	// Nothing listens on port 5001.
	ca.WriteTo([]byte("lost"), udp("198.51.100.2:5001"))
	if s := in.Stats(); s.Dropped != 1 || s.Delivered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDeadlinesAndClose(t *testing.T) {
	in := New(1)
	a := mustHost(t, in.Public(), "a", "198.51.100.1")
	c := listen(t, a, ":0")
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, _, err := c.ReadFrom(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("not a timeout: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		done <- err
	}()
	// Moving the deadline into the past must wake a blocked reader.
	time.Sleep(10 * time.Millisecond)
	c.SetReadDeadline(time.Now())
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked reader: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		done <- err
	}()
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := c.WriteTo([]byte("x"), udp("198.51.100.1:1")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	in := New(1)
	a := mustHost(t, in.Public(), "a", "198.51.100.1")
	listen(t, a, ":4000")
	for _, tc := range []struct{ network, addr string }{
		{"udp", ":4000"}, {"tcp", ":1"}, {"udp6", ":1"}, {"udp", "10.0.0.1:1"}, {"udp", "nonsense"}, {"udp", ":99999"},
	} {
		if c, err := a.ListenPacket(ctx, tc.network, tc.addr); err == nil {
			c.Close()
			t.Errorf("listen %s %s: no error", tc.network, tc.addr)
		}
	}
}

func addNAT(t *testing.T, in *Internet, name string, cfg NATConfig) *NAT {
	t.Helper()
	r, err := in.Public().AddNAT(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMappingAndFiltering checks every RFC 4787 combination directly: the
// external port seen by two servers, and which unsolicited senders get in.
func TestMappingAndFiltering(t *testing.T) {
	behaviours := []nat.Behavior{nat.BehaviorEndpointIndependent, nat.BehaviorAddressDependent, nat.BehaviorAddressAndPortDependent}
	for _, mb := range behaviours {
		for _, fb := range behaviours {
			t.Run(string(mb)+"/"+string(fb), func(t *testing.T) {
				in := New(7)
				s1 := mustHost(t, in.Public(), "s1", "198.51.100.1")
				s2 := mustHost(t, in.Public(), "s2", "198.51.100.2")
				r := addNAT(t, in, "home", NATConfig{Mapping: mb, Filtering: fb, PortPreservation: true, PublicIP: netip.MustParseAddr("203.0.113.5")})
				h, _ := r.AddHost("pc", LinkConfig{})
				c := listen(t, h, ":5555")
				s1a, s1b, s2a := listen(t, s1, ":3478"), listen(t, s1, ":3479"), listen(t, s2, ":3478")

				c.WriteTo([]byte("1"), udp("198.51.100.1:3478"))
				_, m1 := recv(t, s1a, 5*time.Second)
				c.WriteTo([]byte("2"), udp("198.51.100.1:3479"))
				_, m2 := recv(t, s1b, 5*time.Second)
				c.WriteTo([]byte("3"), udp("198.51.100.2:3478"))
				_, m3 := recv(t, s2a, 5*time.Second)
				if m1 != "203.0.113.5:5555" {
					t.Fatalf("first mapping %s, want the preserved port", m1)
				}
				switch mb {
				case nat.BehaviorEndpointIndependent:
					if m2 != m1 || m3 != m1 {
						t.Fatalf("EIM mapped %s %s %s", m1, m2, m3)
					}
				case nat.BehaviorAddressDependent:
					if m2 != m1 || m3 == m1 {
						t.Fatalf("ADM mapped %s %s %s", m1, m2, m3)
					}
				default:
					if m2 == m1 || m3 == m1 || m2 == m3 {
						t.Fatalf("APDM mapped %s %s %s", m1, m2, m3)
					}
				}

				// Filtering, probed on the first mapping only from endpoints
				// it has not sent to.
				fresh := listen(t, s1, ":4000") // same IP as s1a, other port
				s3 := mustHost(t, in.Public(), "s3", "198.51.100.3")
				stranger := listen(t, s3, ":3478")
				fresh.WriteTo([]byte("same-ip"), udp(m1))
				stranger.WriteTo([]byte("other-ip"), udp(m1))
				s1a.WriteTo([]byte("reply"), udp(m1))
				var got []string
				for {
					msg, _ := recv(t, c, 300*time.Millisecond)
					if msg == "" {
						break
					}
					got = append(got, msg)
				}
				want := map[nat.Behavior][]string{
					nat.BehaviorEndpointIndependent:     {"same-ip", "other-ip", "reply"},
					nat.BehaviorAddressDependent:        {"same-ip", "reply"},
					nat.BehaviorAddressAndPortDependent: {"reply"},
				}[fb]
				if len(got) != len(want) {
					t.Fatalf("filtering %s let in %v, want %v", fb, got, want)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("filtering %s let in %v, want %v", fb, got, want)
					}
				}
			})
		}
	}
}

func TestPortPreservationHairpinForwardTimeout(t *testing.T) {
	in := New(3)
	s := mustHost(t, in.Public(), "s", "198.51.100.1")
	sc := listen(t, s, ":3478")
	cfg, _ := Preset(nat.TypePortRestrictedCone)
	cfg.PortPreservation = false
	cfg.Hairpinning = false
	cfg.MappingTimeout = 200 * time.Millisecond
	r := addNAT(t, in, "home", cfg)
	a, _ := r.AddHost("a", LinkConfig{})
	b, _ := r.AddHost("b", LinkConfig{})
	ca, cb := listen(t, a, ":6000"), listen(t, b, ":6000")
	ca.WriteTo([]byte("x"), udp("198.51.100.1:3478"))
	_, ma := recv(t, sc, 5*time.Second)
	if netip.MustParseAddrPort(ma).Port() == 6000 {
		t.Fatalf("port preserved with preservation off: %s", ma)
	}
	// Without hairpinning b cannot reach a through the public address.
	cb.WriteTo([]byte("hairpin"), udp(ma))
	if msg, _ := recv(t, ca, 300*time.Millisecond); msg != "" {
		t.Fatalf("hairpin off but got %q", msg)
	}
	// A forward lets anybody in, and replies leave from the forwarded port.
	if err := r.AddForward(Forward{Proto: "UDP", ExternalPort: 7000, Internal: netip.AddrPortFrom(b.Addr(), 6000)}); err != nil {
		t.Fatal(err)
	}
	sc.WriteTo([]byte("fwd"), udp(r.PublicIP().String()+":7000"))
	if msg, _ := recv(t, cb, 5*time.Second); msg != "fwd" {
		t.Fatalf("forward did not deliver: %q", msg)
	}
	cb.WriteTo([]byte("back"), udp("198.51.100.1:3478"))
	if _, from := recv(t, sc, 5*time.Second); from != r.PublicIP().String()+":7000" {
		t.Fatalf("reply from %s, want the forwarded port", from)
	}
	if !r.RemoveForward("UDP", 7000) {
		t.Fatal("forward not removed")
	}
	// The mapping of a times out; afterwards the server's reply is dropped.
	time.Sleep(400 * time.Millisecond)
	sc.WriteTo([]byte("late"), udp(ma))
	if msg, _ := recv(t, ca, 300*time.Millisecond); msg != "" {
		t.Fatalf("expired mapping delivered %q", msg)
	}
}

func TestHairpinOn(t *testing.T) {
	in := New(3)
	s := mustHost(t, in.Public(), "s", "198.51.100.1")
	sc := listen(t, s, ":3478")
	cfg, _ := Preset(nat.TypeFullCone)
	r := addNAT(t, in, "home", cfg)
	a, _ := r.AddHost("a", LinkConfig{})
	b, _ := r.AddHost("b", LinkConfig{})
	ca, cb := listen(t, a, ":6000"), listen(t, b, ":6001")
	ca.WriteTo([]byte("x"), udp("198.51.100.1:3478"))
	_, ma := recv(t, sc, 5*time.Second)
	cb.WriteTo([]byte("hairpin"), udp(ma))
	msg, from := recv(t, ca, 5*time.Second)
	if msg != "hairpin" || from != r.PublicIP().String()+":6001" {
		t.Fatalf("hairpin got %q from %s", msg, from)
	}
}

func TestFirewallAndBlocked(t *testing.T) {
	in := New(3)
	s := mustHost(t, in.Public(), "s", "198.51.100.1")
	sc := listen(t, s, ":3478")
	fw, _ := Preset(nat.TypeSymmetricFirewall)
	r := addNAT(t, in, "fw", fw)
	h, err := r.AddHost("h", LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := listen(t, h, ":6000")
	if h.Addr().IsPrivate() {
		t.Fatalf("firewalled host has private address %s", h.Addr())
	}
	sc.WriteTo([]byte("unsolicited"), udp(c.LocalAddr().String()))
	if msg, _ := recv(t, c, 300*time.Millisecond); msg != "" {
		t.Fatalf("firewall let in %q", msg)
	}
	c.WriteTo([]byte("out"), udp("198.51.100.1:3478"))
	if _, from := recv(t, sc, 5*time.Second); from != c.LocalAddr().String() {
		t.Fatalf("firewall translated to %s", from)
	}
	sc.WriteTo([]byte("reply"), udp(c.LocalAddr().String()))
	if msg, _ := recv(t, c, 5*time.Second); msg != "reply" {
		t.Fatalf("firewall dropped the reply: %q", msg)
	}

	bl, _ := Preset(nat.TypeUDPBlocked)
	bl.PublicIP = netip.MustParseAddr("203.0.113.9")
	rb := addNAT(t, in, "blocked", bl)
	hb, _ := rb.AddHost("hb", LinkConfig{})
	cbk := listen(t, hb, ":6000")
	cbk.WriteTo([]byte("out"), udp("198.51.100.1:3478"))
	if msg, _ := recv(t, sc, 300*time.Millisecond); msg != "" {
		t.Fatalf("blocked UDP got out: %q", msg)
	}
}

func TestLatencyAndBandwidth(t *testing.T) {
	in := New(1)
	a, _ := in.Public().AddHost("a", LinkConfig{Latency: 50 * time.Millisecond, Rate: 100_000, Burst: 1500}, netip.MustParseAddr("198.51.100.1"))
	b := mustHost(t, in.Public(), "b", "198.51.100.2")
	ca, cb := listen(t, a, ":1"), listen(t, b, ":2")
	start := time.Now()
	payload := make([]byte, 1000)
	for range 20 {
		ca.WriteTo(payload, udp("198.51.100.2:2"))
	}
	n := 0
	for {
		msg, _ := recv(t, cb, time.Second)
		if msg == "" {
			break
		}
		n++
	}
	// 20 kB at 100 kB/s with a 1.5 kB bucket needs at least ~185ms of
	// serialisation plus 50ms latency; a lower bound cannot flake.
	if n != 20 {
		t.Fatalf("got %d of 20 datagrams", n)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("20 kB crossed a 100 kB/s link in %v", el)
	}
}
