// Package upnptest is an in-process UPnP Internet Gateway Device speaking
// real SOAP over loopback HTTP, with knobs for the failures real routers
// produce (725, 718, truncated XML, SOAP faults). Tests use it instead of a
// router.
package upnptest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/swarmscope/swarmscope/nat/upnp/igdsoap"
)

// IGD is a fake gateway. Set the knobs with Set before use or between
// calls.
type IGD struct {
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

// Calls lists the SOAP actions received so far.
func (f *IGD) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// New starts a gateway offering one WAN connection service, e.g.
// "WANIPConnection:1", "WANIPConnection:2" or "WANPPPConnection:1".
// Close it when done.
func New(service string) *IGD {
	f := &IGD{service: service, externalIP: "198.51.100.7", status: "Connected", mappings: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", f.desc)
	mux.HandleFunc("/ctl", f.control)
	f.srv = httptest.NewServer(mux)
	return f
}

// Close stops the HTTP server.
func (f *IGD) Close() { f.srv.Close() }

// Knobs are the gateway's behaviours.
type Knobs struct {
	ExternalIP    string
	Status        string // GetStatusInfo's NewConnectionStatus
	OnlyPermanent bool   // 725 for finite leases
	Conflict      bool   // 718 for every AddPortMapping
	Truncate      string // action whose answer is cut short
	Fault         string // action that gets a generic 501 fault
	BadDesc       bool   // truncated device description
}

// Set changes the knobs.
func (f *IGD) Set(k Knobs) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k.ExternalIP != "" {
		f.externalIP = k.ExternalIP
	}
	if k.Status != "" {
		f.status = k.Status
	}
	f.onlyPermanent, f.conflict, f.truncate, f.fault, f.badDesc = k.OnlyPermanent, k.Conflict, k.Truncate, k.Fault, k.BadDesc
}

// URL is the root device description's address.
func (f *IGD) URL() string { return f.srv.URL + "/rootDesc.xml" }

func (f *IGD) desc(w http.ResponseWriter, r *http.Request) {
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

func (f *IGD) control(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	ns, name, args, err := igdsoap.Parse(body)
	if err != nil {
		igdsoap.WriteFault(w, 401, "Invalid Action")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if f.fault == name {
		igdsoap.WriteFault(w, 501, "ActionFailed")
		return
	}
	var out [][2]string
	switch name {
	case "GetStatusInfo":
		out = [][2]string{{"NewConnectionStatus", f.status}, {"NewLastConnectionError", "ERROR_NONE"}, {"NewUptime", "100"}}
	case "GetExternalIPAddress":
		out = [][2]string{{"NewExternalIPAddress", f.externalIP}}
	case "AddPortMapping":
		if f.conflict {
			igdsoap.WriteFault(w, 718, "ConflictInMappingEntry")
			return
		}
		if f.onlyPermanent && args["NewLeaseDuration"] != "0" {
			igdsoap.WriteFault(w, 725, "OnlyPermanentLeasesSupported")
			return
		}
		f.mappings[args["NewProtocol"]+" "+args["NewExternalPort"]] = args["NewInternalClient"] + " " + args["NewLeaseDuration"]
	case "DeletePortMapping":
		k := args["NewProtocol"] + " " + args["NewExternalPort"]
		if _, ok := f.mappings[k]; !ok {
			igdsoap.WriteFault(w, 714, "NoSuchEntryInArray")
			return
		}
		delete(f.mappings, k)
	default:
		igdsoap.WriteFault(w, 401, "Invalid Action")
		return
	}
	resp := igdsoap.Response(ns, name, out)
	if f.truncate == name {
		resp = resp[:len(resp)/2]
	}
	igdsoap.WriteResponse(w, resp)
}

// Mappings returns the gateway's table: "UDP 6881" -> "client lease".
func (f *IGD) Mappings() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.mappings {
		out[k] = v
	}
	return out
}
