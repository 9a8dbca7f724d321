package nat_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/stunserver"
)

// testRTO widens the behaviour tests' silence window so that a machine
// stalled by other work cannot turn a late answer into a "filtered" one.
const testRTO = 200 * time.Millisecond

// loopbackServer runs an in-process STUN server on 127.0.0.1 and 127.0.0.2
// and returns its primary address.
func loopbackServer(t testing.TB, opts ...stunserver.Option) string {
	t.Helper()
	conns, err := stunserver.ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stunserver.New(conns, opts...).Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return conns[0][0].LocalAddr().String()
}

func TestCheckLoopbackOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []stunserver.Option
		// RFC 3489 servers still run every test.
		wantProto string
	}{
		{"rfc5780", nil, "rfc5780"},
		{"rfc3489", []stunserver.Option{stunserver.RFC3489Only()}, "rfc3489"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := loopbackServer(t, tc.opts...)
			rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
			if err != nil {
				t.Fatal(err)
			}
			if !nat.No(rep.BehindNAT) || rep.NATType != nat.TypeOpen || rep.Filtering != nat.BehaviorEndpointIndependent || rep.Mapping != nat.BehaviorNone {
				t.Fatalf("got behind=%v type=%s mapping=%s filtering=%s notes=%v", rep.BehindNAT, rep.NATType, rep.Mapping, rep.Filtering, rep.Notes)
			}
			// Loopback is never "public": the server is on this machine.
			if rep.Reachable.Verdict != nat.VerdictUnknown || !strings.Contains(rep.Reachable.Advice, "loopback") {
				t.Fatalf("verdict %s: %s", rep.Reachable.Verdict, rep.Reachable.Advice)
			}
			if len(rep.Notes) != 0 {
				t.Fatalf("every test should have worked: %v", rep.Notes)
			}
			if rep.Hairpin == nil || !*rep.Hairpin || rep.PortPreserved == nil || !*rep.PortPreserved {
				t.Fatalf("hairpin %v preserved %v", rep.Hairpin, rep.PortPreserved)
			}
			if len(rep.Servers) != 1 || rep.Servers[0].Protocol != tc.wantProto || rep.Servers[0].MappedAddr != rep.PublicAddr || rep.LocalAddr != rep.PublicAddr {
				t.Fatalf("servers %+v local %s public %s", rep.Servers, rep.LocalAddr, rep.PublicAddr)
			}
		})
	}
}

// A plain server (no second address) gives the public endpoint but no
// behaviour: the result must say unknown, not guess.
func TestCheckPlainServerUnknown(t *testing.T) {
	srv := loopbackServer(t, stunserver.NoOtherAddress())
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PublicAddr == "" || rep.Filtering != nat.BehaviorUnknown || rep.NATType != nat.TypeUnknown {
		t.Fatalf("public %q filtering %s type %s", rep.PublicAddr, rep.Filtering, rep.NATType)
	}
}

// A server that advertises OTHER-ADDRESS but ignores CHANGE-REQUEST must
// not make the filter look strict.
func TestCheckIgnoredChangeRequest(t *testing.T) {
	srv := loopbackServer(t, stunserver.IgnoreChangeRequest())
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Filtering != nat.BehaviorUnknown || rep.NATType != nat.TypeUnknown {
		t.Fatalf("filtering %s type %s notes %v", rep.Filtering, rep.NATType, rep.Notes)
	}
}

func TestCheckUDPBlocked(t *testing.T) {
	// A bound socket that never answers.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{dead.LocalAddr().String()}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 10 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	// A silent server on loopback is a dead server: loopback UDP passes
	// no NAT or firewall of the network, so this is not "udp-blocked".
	// (Silence from a server elsewhere is: see the natlab matrix.)
	if rep.NATType != nat.TypeUnknown || rep.Servers[0].Outcome != nat.OutcomeSilent || rep.Reachable.Verdict != nat.VerdictUnknown || rep.Measured() {
		t.Fatalf("%+v", rep)
	}
}

func TestCheckBadOptions(t *testing.T) {
	if _, err := nat.Check(context.Background(), nat.Options{}); err == nil {
		t.Fatal("no servers accepted")
	}
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{"nonsense", "[::1]:3478", "127.0.0.1:0"}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Servers {
		if s.Error == "" {
			t.Fatalf("%+v accepted", s)
		}
	}
}

// The behaviour matrix on the simulated internet: every RFC 4787 mapping x
// filtering combination, a firewall, blocked UDP and no NAT.
func TestCheckNatlabMatrix(t *testing.T) {
	behaviours := []nat.Behavior{nat.BehaviorEndpointIndependent, nat.BehaviorAddressDependent, nat.BehaviorAddressAndPortDependent}
	type tc struct {
		name      string
		cfg       *natlab.NATConfig
		want      nat.Type
		mapping   nat.Behavior
		filtering nat.Behavior
		verdict   nat.Verdict
	}
	var cases []tc
	for _, m := range behaviours {
		for _, f := range behaviours {
			want := nat.TypeSymmetric
			verdict := nat.VerdictOutboundOnly
			if m == nat.BehaviorEndpointIndependent {
				want = map[nat.Behavior]nat.Type{
					nat.BehaviorEndpointIndependent:     nat.TypeFullCone,
					nat.BehaviorAddressDependent:        nat.TypeRestrictedCone,
					nat.BehaviorAddressAndPortDependent: nat.TypePortRestrictedCone,
				}[f]
				if f == nat.BehaviorEndpointIndependent {
					verdict = nat.VerdictFullCone
				}
			}
			wantF := f
			if m == nat.BehaviorAddressAndPortDependent && f == nat.BehaviorAddressAndPortDependent {
				// No answer from a changed address or port can pass, and a
				// new mapping per destination keeps the client from opening
				// the filter toward it: silence cannot be told from a
				// server that drops CHANGE-REQUEST, so it is not counted.
				wantF = nat.BehaviorUnknown
			}
			cases = append(cases, tc{name: string(m) + "/" + string(f), cfg: &natlab.NATConfig{Mapping: m, Filtering: f, PortPreservation: true, Hairpinning: true}, want: want, mapping: m, filtering: wantF, verdict: verdict})
		}
	}
	fw, _ := natlab.Preset(nat.TypeSymmetricFirewall)
	blocked, _ := natlab.Preset(nat.TypeUDPBlocked)
	cases = append(cases,
		tc{name: "firewall", cfg: &fw, want: nat.TypeSymmetricFirewall, mapping: nat.BehaviorNone, filtering: nat.BehaviorAddressAndPortDependent, verdict: nat.VerdictOutboundOnly},
		tc{name: "blocked", cfg: &blocked, want: nat.TypeUDPBlocked, mapping: nat.BehaviorUnknown, filtering: nat.BehaviorUnknown, verdict: nat.VerdictUnknown},
		tc{name: "public", want: nat.TypeOpen, mapping: nat.BehaviorNone, filtering: nat.BehaviorEndpointIndependent, verdict: nat.VerdictPublic},
	)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := natlab.New(uint64(i + 1))
			link := natlab.LinkConfig{Latency: 5 * time.Millisecond}
			srvHost, err := in.Public().AddHost("stun", link, netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11"))
			if err != nil {
				t.Fatal(err)
			}
			var conns [2][2]net.PacketConn
			for x, ip := range []string{"203.0.113.10", "203.0.113.11"} {
				for y, port := range []string{"3478", "3479"} {
					conns[x][y], err = srvHost.ListenPacket(context.Background(), "udp4", ip+":"+port)
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go stunserver.New(conns).Serve(ctx)

			var client *natlab.Host
			if c.cfg == nil {
				client, err = in.Public().AddHost("client", link, netip.MustParseAddr("198.18.0.5"))
			} else {
				var r *natlab.NAT
				r, err = in.Public().AddNAT("router", *c.cfg)
				if err == nil {
					client, err = r.AddHost("client", natlab.LinkConfig{})
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			rep, err := nat.Check(ctx, nat.Options{Servers: []string{"203.0.113.10:3478"}, Listener: client, LocalPort: 6881, NoUPnP: true, Timeout: 10 * time.Second, MinRTO: testRTO})
			if err != nil {
				t.Fatal(err)
			}
			if rep.NATType != c.want || rep.Mapping != c.mapping || rep.Filtering != c.filtering || rep.Reachable.Verdict != c.verdict {
				t.Fatalf("got type=%s mapping=%s filtering=%s verdict=%s, want %s %s %s %s; notes %v", rep.NATType, rep.Mapping, rep.Filtering, rep.Reachable.Verdict, c.want, c.mapping, c.filtering, c.verdict, rep.Notes)
			}
			if c.cfg != nil && !c.cfg.Firewall && !c.cfg.BlockUDP {
				if !nat.Yes(rep.BehindNAT) || rep.ProbedPort != 6881 || rep.PortPreserved == nil || !*rep.PortPreserved {
					t.Fatalf("behind %v port %d preserved %v", rep.BehindNAT, rep.ProbedPort, rep.PortPreserved)
				}
				// Hairpinning is only testable when the looped packet
				// can pass the filter.
				testable := c.mapping == nat.BehaviorEndpointIndependent || c.filtering == nat.BehaviorEndpointIndependent
				if testable && (rep.Hairpin == nil || !*rep.Hairpin) || !testable && rep.Hairpin != nil {
					t.Fatalf("hairpin %v (testable %v)", rep.Hairpin, testable)
				}
			}
		})
	}
}

// The torrent client's own socket: its owner keeps reading it and hands
// datagrams to Check, which reports that socket's public endpoint.
func TestCheckSharedSocket(t *testing.T) {
	srv := loopbackServer(t)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type handler = func([]byte, net.Addr) bool
	hc := make(chan handler, 1)
	hc <- nil
	go func() { // the owner's read loop
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			h := <-hc
			if h != nil {
				h(buf[:n], from) // false: the owner's own traffic
			}
			hc <- h
		}
	}()
	register := func(deliver func([]byte, net.Addr) bool) func() {
		<-hc
		hc <- deliver
		return func() { <-hc; hc <- nil }
	}
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, Conn: conn, ConnReader: register, NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.SharedSocket || rep.PublicAddr != conn.LocalAddr().String() || rep.ProbedPort != conn.LocalAddr().(*net.UDPAddr).Port || rep.NATType != nat.TypeOpen {
		t.Fatalf("%+v", rep)
	}
	// The socket still works for its owner afterwards.
	if _, err := conn.WriteTo([]byte("x"), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
}

// Without ConnReader, Check reads the caller's socket itself and hands it
// back readable.
func TestCheckBorrowedSocket(t *testing.T) {
	srv := loopbackServer(t)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, Conn: conn, NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.SharedSocket || rep.PublicAddr != conn.LocalAddr().String() {
		t.Fatalf("%+v", rep)
	}
	if _, err := conn.WriteTo([]byte("ping"), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("socket unusable after Check: %v", err)
		}
		if string(buf[:n]) == "ping" {
			return
		}
	}
}

// A server that advertises a second address but rejects CHANGE-REQUEST
// with 420 (its alternate sockets are missing) leaves filtering unknown.
func TestCheckChangeRequestRejected(t *testing.T) {
	conns, err := stunserver.ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	// Keep [1][1] for OTHER-ADDRESS but drop the sockets change tests use.
	conns[0][1].Close()
	conns[1][0].Close()
	conns[0][1], conns[1][0] = nil, nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stunserver.New(conns).Serve(ctx) }()
	defer func() { cancel(); <-done }()
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{conns[0][0].LocalAddr().String()}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	// Change IP+port still works ([1][1] exists): EI filtering is proven.
	// Change port alone is refused; that must not become a verdict.
	if rep.Filtering != nat.BehaviorEndpointIndependent {
		t.Fatalf("filtering %s notes %v", rep.Filtering, rep.Notes)
	}
	found := false
	for _, n := range rep.Notes {
		if strings.Contains(n, "refused CHANGE-REQUEST") {
			found = true
		}
	}
	if !found {
		t.Fatalf("notes %v", rep.Notes)
	}
}

// A busy --port (the torrent client holds it) falls back to a fresh port
// and still names the busy one in the advice.
func TestCheckBusyPort(t *testing.T) {
	srv := loopbackServer(t)
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.LocalAddr().(*net.UDPAddr).Port
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", LocalPort: port, NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ProbedPort == port || rep.ListenPort != port || rep.NATType != nat.TypeOpen || !strings.Contains(rep.Reachable.Advice, fmt.Sprint(port)) {
		t.Fatalf("probed %d listen %d: %+v", rep.ProbedPort, rep.ListenPort, rep)
	}
}
