package upnp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat/upnp/upnptest"
)

func newIGD(t *testing.T, service string) *upnptest.IGD {
	f := upnptest.New(service)
	t.Cleanup(f.Close)
	return f
}

type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) kinds() []EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []EventKind
	for _, e := range l.events {
		out = append(out, e.Kind)
	}
	return out
}

func TestMapAndRemove(t *testing.T) {
	for _, svc := range []string{"WANIPConnection:1", "WANIPConnection:2", "WANPPPConnection:1"} {
		t.Run(svc, func(t *testing.T) {
			f := newIGD(t, svc)
			var log eventLog
			m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20", Lease: time.Hour, OnEvent: log.add})
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			rep := m.Report()
			if !rep.Found || rep.ExternalIP != "198.51.100.7" || rep.Service != svc || len(rep.Mappings) != 2 || rep.Device != "Fake Router" {
				t.Fatalf("%+v", rep)
			}
			if !m.Active() {
				t.Fatal("not active")
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
			want := []EventKind{EventDiscovering, EventMapped, EventMapped, EventRemoved, EventRemoved}
			if fmt.Sprint(log.kinds()) != fmt.Sprint(want) {
				t.Fatalf("events %v", log.kinds())
			}
		})
	}
}

func TestOnlyPermanentLeases(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	f.Set(upnptest.Knobs{OnlyPermanent: true})
	m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20"})
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

func TestConflict(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	f.Set(upnptest.Knobs{Conflict: true})
	var log eventLog
	m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20", OnEvent: log.add})
	err := m.Start(context.Background())
	if SOAPCode(err) != CodeConflict {
		t.Fatalf("err %v", err)
	}
	rep := m.Report()
	if rep.ErrorCode != 718 || !strings.Contains(rep.Error, "718") || m.Active() {
		t.Fatalf("%+v", rep)
	}
	if k := log.kinds(); k[len(k)-1] != EventFailed {
		t.Fatalf("events %v", k)
	}
	_ = m.Close()
}

func TestHostileGateway(t *testing.T) {
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
			m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20"})
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
	m := New(Config{Source: DeviceURL("http://127.0.0.1:1/rootDesc.xml"), Port: 6881})
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

func TestRenewal(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	var log eventLog
	m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20", Lease: 2 * time.Second, OnEvent: log.add})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, k := range log.kinds() {
			if k == EventRenewed {
				n++
			}
		}
		if n >= 2 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no renewal: %v", log.kinds())
}

func TestConcurrentClose(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20"})
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

func TestPicksConnectedPublicGateway(t *testing.T) {
	down := newIGD(t, "WANIPConnection:1")
	down.Set(upnptest.Knobs{Status: "Disconnected", ExternalIP: "0.0.0.0"})
	private := newIGD(t, "WANPPPConnection:1")
	private.Set(upnptest.Knobs{ExternalIP: "10.1.2.3"})
	good := newIGD(t, "WANIPConnection:2")
	m := New(Config{Source: DeviceURL(down.URL(), private.URL(), good.URL(), "http://127.0.0.1:1/missing.xml"), Port: 6881, InternalIP: "192.168.1.20"})
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

func TestRenewalFailureReported(t *testing.T) {
	f := newIGD(t, "WANIPConnection:1")
	var log eventLog
	m := New(Config{Source: DeviceURL(f.URL()), Port: 6881, InternalIP: "192.168.1.20", Lease: 2 * time.Second, OnEvent: log.add})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f.Set(upnptest.Knobs{Conflict: true})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		log.mu.Lock()
		for _, e := range log.events {
			if e.Kind == EventFailed && e.Code == CodeConflict && e.Mapping != nil {
				log.mu.Unlock()
				return
			}
		}
		log.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no failed renewal event: %v", log.kinds())
}

func TestParseSSDPAnswer(t *testing.T) {
	good := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:x::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian UPnP/1.1 MiniUPnPd/2.3\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"
	if loc := parseSSDPAnswer([]byte(good)); loc == nil || loc.String() != "http://192.168.1.1:5000/rootDesc.xml" {
		t.Fatalf("good answer: %v", loc)
	}
	for _, bad := range []string{
		"",
		"garbage",
		strings.Replace(good, "200 OK", "404 Not Found", 1),
		strings.Replace(good, "InternetGatewayDevice:1", "MediaRenderer:1", 1),
		strings.Replace(good, "http://192.168.1.1:5000/rootDesc.xml", "file:///etc/passwd", 1),
		strings.Replace(good, "http://192.168.1.1:5000/rootDesc.xml", "http://%zz", 1),
		strings.Replace(good, "LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n", "", 1),
		good[:40],
		"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
	} {
		if loc := parseSSDPAnswer([]byte(bad)); loc != nil {
			t.Errorf("accepted %q as %v", bad, loc)
		}
	}
}
