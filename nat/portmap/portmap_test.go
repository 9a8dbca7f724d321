package portmap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat/portmap/pmp"
	"github.com/swarmscope/swarmscope/nat/portmap/pmp/pmptest"
	pt "github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
	"github.com/swarmscope/swarmscope/nat/upnp"
	"github.com/swarmscope/swarmscope/nat/upnp/upnptest"
)

func newIGD(t *testing.T, service string) *upnptest.IGD {
	f := upnptest.New(service)
	t.Cleanup(f.Close)
	return f
}

func upnpAt(urls ...string) pt.Prober {
	return upnp.Prober(upnp.ProbeConfig{Source: upnp.DeviceURL(urls...)})
}

type eventLog struct {
	mu     sync.Mutex
	events []pt.Event
}

func (l *eventLog) add(e pt.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) kinds() []pt.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []pt.EventKind
	for _, e := range l.events {
		out = append(out, e.Kind)
	}
	return out
}

func (l *eventLog) waitFor(t *testing.T, what string, ok func(pt.Event) bool) pt.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, e := range l.events {
			if ok(e) {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event: %v", what, l.kinds())
	return pt.Event{}
}

func TestUPnPMapAndRemove(t *testing.T) {
	for _, svc := range []string{"WANIPConnection:1", "WANIPConnection:2", "WANPPPConnection:1"} {
		t.Run(svc, func(t *testing.T) {
			f := newIGD(t, svc)
			var log eventLog
			m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20", Lease: time.Hour, OnEvent: log.add})
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			rep := m.Report()
			if !rep.Found || rep.Protocol != pt.UPnP || rep.ExternalIP != "198.51.100.7" || rep.Service != svc || len(rep.Mappings) != 2 || rep.Device != "Fake Router" {
				t.Fatalf("%+v", rep)
			}
			if rep.Mappings[0].Protocol != pt.UPnP || !m.Active() {
				t.Fatalf("mapping %+v active %v", rep.Mappings[0], m.Active())
			}
			got := f.Mappings()
			if got["TCP 6881"] != "192.168.1.20 3600" || got["UDP 6881"] != "192.168.1.20 3600" {
				t.Fatalf("gateway holds %v", got)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
			if got := f.Mappings(); len(got) != 0 {
				t.Fatalf("left behind %v", got)
			}
			if m.Active() {
				t.Fatal("still active after Close")
			}
			want := []pt.EventKind{pt.EventDiscovering, pt.EventMapped, pt.EventMapped, pt.EventRemoved, pt.EventRemoved}
			if fmt.Sprint(log.kinds()) != fmt.Sprint(want) {
				t.Fatalf("events %v", log.kinds())
			}
		})
	}
}

func TestUPnPOnlyPermanentLeases(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	f.Set(upnptest.Knobs{OnlyPermanent: true})
	m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20"})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, mp := range m.Mappings() {
		if mp.Lease != 0 {
			t.Fatalf("lease %v, want permanent", mp.Lease)
		}
	}
	if got := f.Mappings(); got["UDP 6881"] != "192.168.1.20 0" {
		t.Fatalf("%v", got)
	}
}

func TestUPnPConflict(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	f.Set(upnptest.Knobs{Conflict: true})
	var log eventLog
	m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20", OnEvent: log.add})
	err := m.Start(context.Background())
	if pt.Code(err) != upnp.CodeConflict {
		t.Fatalf("err %v", err)
	}
	rep := m.Report()
	if rep.ErrorCode != 718 || !strings.Contains(rep.Error, "718") || !strings.Contains(rep.Error, "another host") || m.Active() {
		t.Fatalf("%+v", rep)
	}
	if k := log.kinds(); k[len(k)-1] != pt.EventFailed {
		t.Fatalf("events %v", k)
	}
	_ = m.Close()
}

func TestUPnPHostileGateway(t *testing.T) {
	for _, tc := range []struct {
		name  string
		knobs upnptest.Knobs
		found bool
	}{
		{"truncated description", upnptest.Knobs{BadDesc: true}, false},
		{"truncated AddPortMapping", upnptest.Knobs{Truncate: "AddPortMapping"}, true},
		{"truncated external IP", upnptest.Knobs{Truncate: "GetExternalIPAddress"}, true},
		{"fault on AddPortMapping", upnptest.Knobs{Fault: "AddPortMapping"}, true},
		{"fault on status", upnptest.Knobs{Fault: "GetStatusInfo", ExternalIP: "garbage"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newIGD(t, "WANIPConnection:1")
			f.Set(tc.knobs)
			m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20"})
			_ = m.Start(context.Background())
			rep := m.Report()
			if rep.Found != tc.found {
				t.Fatalf("found %v: %+v", rep.Found, rep)
			}
			if len(rep.Mappings) == 0 && rep.Error == "" {
				t.Fatalf("no mapping and no error: %+v", rep)
			}
			if strings.Contains(rep.Error, "\n") {
				t.Fatalf("multi-line error %q", rep.Error)
			}
			_ = m.Close()
		})
	}
}

func TestNoGateway(t *testing.T) {
	m := New(Config{Probers: []pt.Prober{upnpAt("http://127.0.0.1:1/rootDesc.xml")}, Port: 6881})
	if err := m.Start(context.Background()); err == nil {
		t.Fatal("no error without gateway")
	}
	if m.Report().Found || m.Report().Error == "" {
		t.Fatalf("%+v", m.Report())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUPnPRenewal(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	var log eventLog
	m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20", Lease: 2 * time.Second, OnEvent: log.add})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := 0
	log.waitFor(t, "second renewal", func(e pt.Event) bool {
		if e.Kind == pt.EventRenewed {
			n++
		}
		return n >= 2
	})
}

func TestConcurrentClose(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20"})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.Close() }()
	}
	wg.Wait()
	if got := f.Mappings(); len(got) != 0 {
		t.Fatalf("left behind %v", got)
	}
}

func TestUPnPPicksConnectedPublicGateway(t *testing.T) {
	down := newIGD(t, "WANIPConnection:1")
	down.Set(upnptest.Knobs{Status: "Disconnected", ExternalIP: "0.0.0.0"})
	private := newIGD(t, "WANPPPConnection:1")
	private.Set(upnptest.Knobs{ExternalIP: "10.1.2.3"})
	good := newIGD(t, "WANIPConnection:2")
	m := New(Config{Probers: []pt.Prober{upnpAt(down.URL(), private.URL(), good.URL(), "http://127.0.0.1:1/missing.xml")}, Port: 6881, InternalIP: "192.168.1.20"})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if r := m.Report(); r.Service != "WANIPConnection:2" || r.ExternalIP != "198.51.100.7" {
		t.Fatalf("picked %+v", r)
	}
	if len(down.Mappings())+len(private.Mappings()) != 0 || len(good.Mappings()) != 2 {
		t.Fatal("mapped on the wrong gateway")
	}
}

func TestRenewalFailureThenLost(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	var log eventLog
	m := New(Config{Probers: []pt.Prober{upnpAt(f.URL())}, Port: 6881, InternalIP: "192.168.1.20", Lease: 2 * time.Second, OnEvent: log.add})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f.Set(upnptest.Knobs{Conflict: true})
	log.waitFor(t, "failed renewal", func(e pt.Event) bool {
		return e.Kind == pt.EventFailed && e.Code == upnp.CodeConflict && e.Mapping != nil
	})
	log.waitFor(t, "lost", func(e pt.Event) bool { return e.Kind == pt.EventLost && e.Mapping != nil })
	if m.Active() {
		t.Fatal("active with every lease run out")
	}
	f.Set(upnptest.Knobs{})
	log.waitFor(t, "restored", func(e pt.Event) bool { return e.Kind == pt.EventMapped && strings.HasPrefix(e.Message, "restored") })
	if !m.Active() {
		t.Fatal("not active after the mapping was restored")
	}
}

func newPMP(t *testing.T) *pmptest.Server {
	s, err := pmptest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func pmpCfg(s *pmptest.Server, ann chan<- *net.UDPAddr) pmp.Config {
	return pmp.Config{Gateway: netip.MustParseAddr("127.0.0.1"), Port: s.Port(), ProbeTimeout: 5 * time.Second,
		ListenAnnounce: func(netip.Addr) (net.PacketConn, error) {
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err == nil && ann != nil {
				ann <- pc.LocalAddr().(*net.UDPAddr)
			}
			return pc, err
		}}
}

// All three protocols probed at once: the one gateway that maps wins, the
// others' findings are reported, and only the winner holds mappings.
func TestFirstThatMapsWins(t *testing.T) {
	for _, tc := range []struct {
		name  string
		knobs pmptest.Knobs
		upnp  upnptest.Knobs
		want  []pt.Protocol
	}{
		{"UPnP refuses, PCP/NAT-PMP map", pmptest.Knobs{}, upnptest.Knobs{Conflict: true}, []pt.Protocol{pt.PCP, pt.NATPMP}},
		{"only NAT-PMP", pmptest.Knobs{NoPCP: true}, upnptest.Knobs{Conflict: true}, []pt.Protocol{pt.NATPMP}},
		{"PMP/PCP refuse, UPnP maps", pmptest.Knobs{Result: 2}, upnptest.Knobs{}, []pt.Protocol{pt.UPnP}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newPMP(t)
			s.Set(tc.knobs)
			f := newIGD(t, "WANIPConnection:1")
			f.Set(tc.upnp)
			cfg := pmpCfg(s, nil)
			m := New(Config{Probers: []pt.Prober{upnpAt(f.URL()), pmp.PCPProber(cfg), pmp.NATPMPProber(cfg)}, Port: 6881})
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			m.WaitProbes(context.Background())
			rep := m.Report()
			ok := false
			for _, p := range tc.want {
				ok = ok || rep.Protocol == p
			}
			if !ok || len(rep.Mappings) != 2 || rep.Mappings[0].Protocol != rep.Protocol {
				t.Fatalf("protocol %s, want one of %v: %+v", rep.Protocol, tc.want, rep)
			}
			if len(rep.Probes) != 3 {
				t.Fatalf("probes %+v", rep.Probes)
			}
			n := len(s.Mappings()) + len(f.Mappings())
			if n != 2 {
				t.Fatalf("%d mappings on the gateways, want only the winner's 2: %v %v", n, s.Mappings(), f.Mappings())
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if len(s.Mappings())+len(f.Mappings()) != 0 {
				t.Fatalf("left behind: %v %v", s.Mappings(), f.Mappings())
			}
		})
	}
}

// A gateway announcement re-makes the mappings: after a restart that lost
// them, they are back, and a changed external address is reported.
func TestAnnouncementRemaps(t *testing.T) {
	for _, proto := range []pt.Protocol{pt.PCP, pt.NATPMP} {
		t.Run(string(proto), func(t *testing.T) {
			s := newPMP(t)
			ann := make(chan *net.UDPAddr, 1)
			cfg := pmpCfg(s, ann)
			p := pmp.PCPProber(cfg)
			if proto == pt.NATPMP {
				p = pmp.NATPMPProber(cfg)
			}
			var log eventLog
			m := New(Config{Probers: []pt.Prober{p}, Port: 6881, OnEvent: log.add})
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			to := <-ann
			s.Restart()
			s.Set(pmptest.Knobs{ExternalIP: netip.MustParseAddr("198.51.100.50")})
			if len(s.Mappings()) != 0 {
				t.Fatal("restart kept mappings")
			}
			if err := s.AnnouncePMP(to); err != nil {
				t.Fatal(err)
			}
			ev := log.waitFor(t, "changed", func(e pt.Event) bool { return e.Kind == pt.EventChanged })
			if !strings.Contains(ev.Message, "198.51.100.9 to 198.51.100.50") {
				t.Fatalf("message %q", ev.Message)
			}
			log.waitFor(t, "renewed twice", func(e pt.Event) bool { return len(s.Mappings()) == 2 })
			if r := m.Report(); r.ExternalIP != "198.51.100.50" {
				t.Fatalf("external IP %s", r.ExternalIP)
			}
		})
	}
}
