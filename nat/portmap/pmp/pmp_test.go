package pmp

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat/portmap/pmp/pmptest"
	pt "github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

func newServer(t *testing.T) *pmptest.Server {
	s, err := pmptest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// loopCfg points the clients at s and hands their announcement sockets
// (plain loopback sockets: no multicast in a unit test) to ann.
func loopCfg(s *pmptest.Server, ann chan<- *net.UDPAddr) Config {
	return Config{
		Gateway: netip.MustParseAddr("127.0.0.1"), Port: s.Port(), ProbeTimeout: 2 * time.Second,
		ListenAnnounce: func(netip.Addr) (net.PacketConn, error) {
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err == nil && ann != nil {
				ann <- pc.LocalAddr().(*net.UDPAddr)
			}
			return pc, err
		},
	}
}

func TestMapRenewDelete(t *testing.T) {
	for _, proto := range []pt.Protocol{pt.PCP, pt.NATPMP} {
		t.Run(string(proto), func(t *testing.T) {
			s := newServer(t)
			cfg := loopCfg(s, nil)
			p := PCPProber(cfg)
			if proto == pt.NATPMP {
				p = NATPMPProber(cfg)
			}
			c, err := p.Probe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			g := c.Gateway()
			if g.Protocol != proto || g.LocalIP != "127.0.0.1" {
				t.Fatalf("gateway %+v", g)
			}
			ctx := context.Background()
			for _, tr := range []string{"TCP", "UDP"} {
				m, err := c.Map(ctx, tr, "", 6881, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if m.Protocol != proto || m.ExternalPort != 6881 || m.Lease != time.Hour || m.ExternalIP != "198.51.100.9" || m.InternalIP != "127.0.0.1" {
					t.Fatalf("%+v", m)
				}
			}
			if got := s.Mappings(); len(got) != 2 || got["TCP 6881"].Via != string(proto) || got["UDP 6881"].Lifetime != 3600 {
				t.Fatalf("server holds %+v", got)
			}
			// Renewal is the same request; PCP must reuse its nonce or
			// the server calls it someone else's mapping.
			if _, err := c.Map(ctx, "TCP", "", 6881, time.Hour); err != nil {
				t.Fatalf("renew: %v", err)
			}
			for _, m := range []pt.Mapping{{Proto: "TCP", InternalPort: 6881, ExternalPort: 6881}, {Proto: "UDP", InternalPort: 6881, ExternalPort: 6881}} {
				if err := c.Unmap(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Mappings(); len(got) != 0 {
				t.Fatalf("left %+v", got)
			}
		})
	}
}

func TestGrantedDiffers(t *testing.T) {
	s := newServer(t)
	s.Set(pmptest.Knobs{AssignPort: 40001, MaxLifetime: 120})
	c, err := PCPProber(loopCfg(s, nil)).Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Map(context.Background(), "UDP", "", 6881, time.Hour)
	if err != nil || m.ExternalPort != 40001 || m.Lease != 120*time.Second || m.InternalPort != 6881 {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestRefusalsAndVersions(t *testing.T) {
	s := newServer(t)
	s.Set(pmptest.Knobs{NoPCP: true})
	if _, err := PCPProber(loopCfg(s, nil)).Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "speaks NAT-PMP") {
		t.Fatalf("PCP probe of a NAT-PMP-only gateway: %v", err)
	}
	c, err := NATPMPProber(loopCfg(s, nil)).Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Set(pmptest.Knobs{NoPCP: true, Result: 2})
	_, err = c.Map(context.Background(), "TCP", "", 6881, time.Hour)
	if pt.Code(err) != 2 || !strings.Contains(err.Error(), "NAT-PMP result 2") {
		t.Fatalf("refusal: %v", err)
	}
	if _, err := c.Map(context.Background(), "TCP", "10.9.9.9", 6881, time.Hour); err == nil {
		t.Fatal("mapped for a third party")
	}
}

func TestNothingListening(t *testing.T) {
	s := newServer(t)
	port := s.Port()
	s.Close()
	cfg := Config{Gateway: netip.MustParseAddr("127.0.0.1"), Port: port, ProbeTimeout: 5 * time.Second}
	start := time.Now()
	_, err := PCPProber(cfg).Probe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "port unreachable") {
		t.Fatalf("%v", err)
	}
	// The port-unreachable answer ends the probe at once, not at the
	// time limit (a bound, not a timing assertion: 5 s is the limit).
	if time.Since(start) >= 5*time.Second {
		t.Fatal("waited out the whole probe")
	}
}

func TestSilentGatewayTimesOut(t *testing.T) {
	s := newServer(t)
	s.Set(pmptest.Knobs{Silent: true})
	cfg := loopCfg(s, nil)
	cfg.ProbeTimeout = 300 * time.Millisecond
	if _, err := NATPMPProber(cfg).Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("%v", err)
	}
}

func TestAnnouncementsAndEpoch(t *testing.T) {
	for _, proto := range []pt.Protocol{pt.PCP, pt.NATPMP} {
		t.Run(string(proto), func(t *testing.T) {
			s := newServer(t)
			ann := make(chan *net.UDPAddr, 1)
			p := PCPProber(loopCfg(s, ann))
			if proto == pt.NATPMP {
				p = NATPMPProber(loopCfg(s, ann))
			}
			c, err := p.Probe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			to := <-ann
			changes := c.(pt.Notifier).Changes()
			wait := func(what string) pt.Change {
				t.Helper()
				select {
				case ch := <-changes:
					return ch
				case <-time.After(30 * time.Second):
					t.Fatalf("no change after %s", what)
				}
				return pt.Change{}
			}
			s.Set(pmptest.Knobs{ExternalIP: netip.MustParseAddr("198.51.100.77")})
			if err := s.AnnouncePMP(to); err != nil {
				t.Fatal(err)
			}
			if ch := wait("address announcement"); ch.ExternalIP != "198.51.100.77" || ch.Protocol != proto {
				t.Fatalf("%+v", ch)
			}
			if err := s.AnnouncePCP(to); err != nil {
				t.Fatal(err)
			}
			if ch := wait("ANNOUNCE"); !strings.Contains(ch.Reason, "ANNOUNCE") {
				t.Fatalf("%+v", ch)
			}
			// An announcement from anyone but the gateway is ignored.
			other, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
			if other != nil {
				other.WriteToUDP([]byte{0, 128, 0, 0, 0, 0, 0, 9, 6, 6, 6, 6}, to)
				other.Close()
			}
			// Epoch going back: the mapping after a restart says so.
			time.Sleep(3 * time.Second)
			if _, err := c.Map(context.Background(), "UDP", "", 6881, time.Hour); err != nil {
				t.Fatal(err)
			}
			s.Restart()
			if _, err := c.Map(context.Background(), "UDP", "", 6881, time.Hour); err != nil {
				t.Fatal(err)
			}
			if ch := wait("epoch reset"); !strings.Contains(ch.Reason, "epoch went back") {
				t.Fatalf("%+v", ch)
			}
		})
	}
}

func TestParseHostile(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0, 128}, {0, 129, 0, 0, 0, 0, 0, 0}, {2, 0x81, 0, 0}, make([]byte, 30)} {
		parsePMP(b)
		parsePCP(b)
	}
	if _, err := parsePMP([]byte{0, 129, 0, 0, 0, 0, 0, 1, 0, 1}); err == nil {
		t.Fatal("short map reply accepted")
	}
}

func TestParseRoutes(t *testing.T) {
	in := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"lan0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"lan0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	gw, err := parseRoutes(bufio.NewScanner(strings.NewReader(in)))
	if err != nil || gw.String() != "192.168.1.1" {
		t.Fatalf("%v %v", gw, err)
	}
	if _, err := parseRoutes(bufio.NewScanner(strings.NewReader(in[:80]))); err == nil {
		t.Fatal("no default route, but a gateway")
	}
}
