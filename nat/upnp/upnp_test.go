package upnp

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeIGD is an in-process Internet Gateway Device speaking real SOAP over
// loopback HTTP, with knobs for the failures real routers produce.
type fakeIGD struct {
	t   *testing.T
	srv *httptest.Server

	mu            sync.Mutex
	service       string // e.g. "WANIPConnection:1"
	externalIP    string
	status        string
	onlyPermanent bool              // 725 for finite leases
	conflict      bool              // 718 for every AddPortMapping
	truncate      string            // action whose answer is cut short
	fault         string            // action that gets a generic 501 fault
	badDesc       bool              // truncated device description
	mappings      map[string]string // "UDP 6881" -> "ip lease"
	calls         []string
}

func newFakeIGD(t *testing.T, service string) *fakeIGD {
	f := &fakeIGD{t: t, service: service, externalIP: "198.51.100.7", status: "Connected", mappings: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", f.desc)
	mux.HandleFunc("/ctl", f.control)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIGD) url() string { return f.srv.URL + "/rootDesc.xml" }

func (f *fakeIGD) desc(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	conn := "WANConnectionDevice:1"
	if strings.HasSuffix(f.service, ":2") {
		conn = "WANConnectionDevice:2"
	}
	doc := fmt.Sprintf(`<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>Fake Router</friendlyName><UDN>uuid:1</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><friendlyName>WAN</friendlyName><UDN>uuid:2</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:%s</deviceType><friendlyName>WANConn</friendlyName><UDN>uuid:3</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:%s</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`, conn, f.service)
	if f.badDesc {
		doc = doc[:len(doc)/2]
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, doc)
}

func (f *fakeIGD) control(w http.ResponseWriter, r *http.Request) {
	action := r.Header.Get("SOAPACTION")
	action = strings.Trim(action, `"`)
	ns, name, _ := strings.Cut(action, "#")
	body, _ := io.ReadAll(r.Body)
	args := map[string]string{}
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	var cur string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case xml.StartElement:
			cur = v.Name.Local
		case xml.CharData:
			if cur != "" {
				args[cur] += string(v)
			}
		case xml.EndElement:
			cur = ""
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if f.fault == name {
		writeFault(w, 501, "ActionFailed")
		return
	}
	var out string
	switch name {
	case "GetStatusInfo":
		out = fmt.Sprintf("<NewConnectionStatus>%s</NewConnectionStatus><NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>100</NewUptime>", f.status)
	case "GetExternalIPAddress":
		out = fmt.Sprintf("<NewExternalIPAddress>%s</NewExternalIPAddress>", f.externalIP)
	case "AddPortMapping":
		if f.conflict {
			writeFault(w, 718, "ConflictInMappingEntry")
			return
		}
		if f.onlyPermanent && args["NewLeaseDuration"] != "0" {
			writeFault(w, 725, "OnlyPermanentLeasesSupported")
			return
		}
		f.mappings[args["NewProtocol"]+" "+args["NewExternalPort"]] = args["NewInternalClient"] + " " + args["NewLeaseDuration"]
	case "DeletePortMapping":
		k := args["NewProtocol"] + " " + args["NewExternalPort"]
		if _, ok := f.mappings[k]; !ok {
			writeFault(w, 714, "NoSuchEntryInArray")
			return
		}
		delete(f.mappings, k)
	default:
		writeFault(w, 401, "Invalid Action")
		return
	}
	resp := fmt.Sprintf(`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`, name, ns, out, name)
	if f.truncate == name {
		resp = resp[:len(resp)/2]
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	io.WriteString(w, resp)
}

func writeFault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, desc)
}

func (f *fakeIGD) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.mappings {
		out[k] = v
	}
	return out
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
			f := newFakeIGD(t, svc)
			var log eventLog
			m := New(Config{Source: DeviceURL(f.url()), Port: 6881, InternalIP: "192.168.1.20", Lease: time.Hour, OnEvent: log.add})
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
			got := f.snapshot()
			if got["TCP 6881"] != "192.168.1.20 3600" || got["UDP 6881"] != "192.168.1.20 3600" {
				t.Fatalf("gateway holds %v", got)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
			if got := f.snapshot(); len(got) != 0 {
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
	f := newFakeIGD(t, "WANIPConnection:1")
	f.onlyPermanent = true
	m := New(Config{Source: DeviceURL(f.url()), Port: 6881, InternalIP: "192.168.1.20"})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, mp := range m.Mappings() {
		if mp.Lease != 0 {
			t.Fatalf("lease %v, want permanent", mp.Lease)
		}
	}
	if got := f.snapshot(); got["UDP 6881"] != "192.168.1.20 0" {
		t.Fatalf("%v", got)
	}
}

func TestConflict(t *testing.T) {
	f := newFakeIGD(t, "WANIPConnection:1")
	f.conflict = true
	var log eventLog
	m := New(Config{Source: DeviceURL(f.url()), Port: 6881, InternalIP: "192.168.1.20", OnEvent: log.add})
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
		setup func(f *fakeIGD)
		found bool
	}{
		{"truncated description", func(f *fakeIGD) { f.badDesc = true }, false},
		{"truncated AddPortMapping", func(f *fakeIGD) { f.truncate = "AddPortMapping" }, true},
		{"truncated external IP", func(f *fakeIGD) { f.truncate = "GetExternalIPAddress" }, true},
		{"fault on AddPortMapping", func(f *fakeIGD) { f.fault = "AddPortMapping" }, true},
		{"fault on status", func(f *fakeIGD) { f.fault = "GetStatusInfo"; f.externalIP = "garbage" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIGD(t, "WANIPConnection:1")
			tc.setup(f)
			m := New(Config{Source: DeviceURL(f.url()), Port: 6881, InternalIP: "192.168.1.20"})
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
	f := newFakeIGD(t, "WANIPConnection:1")
	var log eventLog
	m := New(Config{Source: DeviceURL(f.url()), Port: 6881, InternalIP: "192.168.1.20", Lease: 2 * time.Second, OnEvent: log.add})
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
	f := newFakeIGD(t, "WANIPConnection:1")
	m := New(Config{Source: DeviceURL(f.url()), Port: 6881, InternalIP: "192.168.1.20"})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.Close() }()
	}
	wg.Wait()
	if got := f.snapshot(); len(got) != 0 {
		t.Fatalf("left behind %v", got)
	}
}
