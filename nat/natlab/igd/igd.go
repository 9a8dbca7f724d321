// Package igd is a UPnP Internet Gateway Device for a natlab NAT router. It
// serves the device description and WANIPConnection:1 SOAP control over HTTP
// (on loopback, since HTTP does not run on the simulated network) and answers
// SSDP M-SEARCH on the router's simulated LAN address. Every AddPortMapping
// becomes a real static forward in the router, so traffic only gets through
// when the mapping exists.
package igd

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/upnp/igdsoap"
)

const (
	deviceType  = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	serviceIP   = "urn:schemas-upnp-org:service:WANIPConnection:1"
	serviceWCIC = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
	controlPath = "/ctl/IPConn"
	commonPath  = "/ctl/CmnIfCfg"
	descPath    = "/rootDesc.xml"
)

// Gateway is a running UPnP IGD.
type Gateway struct {
	router *natlab.NAT
	ln     net.Listener
	srv    *http.Server
	start  time.Time
	udn    string

	mu      sync.Mutex
	entries []entry // in insertion order, for GetGenericPortMappingEntry
	calls   []string
}

type entry struct {
	proto    string
	extPort  uint16
	internal netip.AddrPort
	desc     string
	lease    time.Duration // 0: permanent
	expires  time.Time
}

// Start serves the gateway of router on a loopback HTTP port until Close.
func Start(router *natlab.NAT) (*Gateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("igd: listen: %w", err)
	}
	g := &Gateway{
		router: router,
		ln:     ln,
		start:  time.Now(),
		udn:    udnOf(router.Name()),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(descPath, g.serveDesc)
	mux.HandleFunc("/WANIPCn.xml", serveSCPD(scpdIP))
	mux.HandleFunc("/WANCfg.xml", serveSCPD(scpdCommon))
	mux.HandleFunc(controlPath, g.serveControl)
	mux.HandleFunc(commonPath, g.serveControl)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go g.srv.Serve(ln)
	return g, nil
}

// Location is the URL of the root device description, what SSDP advertises.
func (g *Gateway) Location() string { return "http://" + g.ln.Addr().String() + descPath }

// Close stops the HTTP server. Forwards already installed stay, as on a
// router whose web server restarts.
func (g *Gateway) Close() error { return g.srv.Close() }

// Calls lists the SOAP actions received so far, for tests and the demo log.
func (g *Gateway) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

// ServeSSDP answers M-SEARCH requests on the router's LAN address (port
// 1900, which multicast to 239.255.255.250:1900 reaches) until ctx is done.
func (g *Gateway) ServeSSDP(ctx context.Context) error {
	h := g.router.Host()
	if h == nil {
		return errors.New("igd: router has no LAN address")
	}
	pc, err := h.ListenPacket(ctx, "udp", ":1900")
	if err != nil {
		return fmt.Errorf("igd: ssdp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("igd: ssdp: %w", err)
		}
		st, ok := parseMSearch(buf[:n])
		if !ok {
			continue
		}
		for _, target := range g.searchTargets(st) {
			resp := "HTTP/1.1 200 OK\r\n" +
				"CACHE-CONTROL: max-age=1800\r\n" +
				"EXT:\r\n" +
				"LOCATION: " + g.Location() + "\r\n" +
				"SERVER: natlab/1.0 UPnP/1.0 swarmscope-igd/1.0\r\n" +
				"ST: " + target + "\r\n" +
				"USN: " + g.udn + "::" + target + "\r\n\r\n"
			pc.WriteTo([]byte(resp), from)
		}
	}
}

// udnOf derives a stable device UUID from the router's name.
func udnOf(name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	x := h.Sum64()
	return fmt.Sprintf("uuid:%08x-%04x-4%03x-8%03x-%012x", uint32(x>>32), uint16(x>>16), uint16(x)&0xfff, uint16(x>>4)&0xfff, x&0xffffffffffff)
}

func parseMSearch(b []byte) (string, bool) {
	lines := strings.Split(string(b), "\r\n")
	if len(lines) == 0 || !strings.HasPrefix(strings.ToUpper(lines[0]), "M-SEARCH ") {
		return "", false
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "ST") {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func (g *Gateway) searchTargets(st string) []string {
	switch st {
	case "ssdp:all":
		return []string{"upnp:rootdevice", deviceType, serviceIP}
	case "upnp:rootdevice", deviceType, serviceIP, "urn:schemas-upnp-org:device:WANDevice:1",
		"urn:schemas-upnp-org:device:WANConnectionDevice:1", serviceWCIC, g.udn:
		return []string{st}
	}
	return nil
}

func (g *Gateway) serveDesc(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, rootDesc, igdsoap.Escape(g.router.Name()), g.udn, g.udn+"-wan", g.udn+"-wanconn")
}

func serveSCPD(doc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, doc)
	}
}

// soapError is a UPnP error reported as a SOAP fault.
type soapError struct {
	code int
	desc string
}

func (e *soapError) Error() string { return fmt.Sprintf("UPnP error %d: %s", e.code, e.desc) }

var (
	errInvalidAction = &soapError{401, "Invalid Action"}
	errInvalidArgs   = &soapError{402, "Invalid Args"}
	errNoSuchEntry   = &soapError{714, "NoSuchEntryInArray"}
	errBadIndex      = &soapError{713, "SpecifiedArrayIndexInvalid"}
	errConflict      = &soapError{718, "ConflictInMappingEntry"}
	errWildcardPort  = &soapError{716, "WildCardNotPermittedInExtPort"}
	errSamePorts     = &soapError{724, "SamePortValuesRequired"}
)

func (g *Gateway) serveControl(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a SOAP action", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	ns, action, args, err := igdsoap.Parse(body)
	if err != nil {
		writeFault(w, errInvalidAction)
		return
	}
	if hdr := strings.Trim(r.Header.Get("SOAPACTION"), `"`); hdr != "" && hdr != ns+"#"+action {
		writeFault(w, errInvalidAction)
		return
	}
	g.mu.Lock()
	g.calls = append(g.calls, action)
	g.mu.Unlock()
	var out [][2]string
	switch {
	case ns == serviceIP:
		out, err = g.ipAction(action, args)
	case ns == serviceWCIC:
		out, err = g.commonAction(action)
	default:
		err = errInvalidAction
	}
	if err != nil {
		var se *soapError
		if !errors.As(err, &se) {
			se = &soapError{501, "Action Failed"}
		}
		writeFault(w, se)
		return
	}
	igdsoap.WriteResponse(w, igdsoap.Response(ns, action, out))
}

func (g *Gateway) commonAction(action string) ([][2]string, error) {
	switch action {
	case "GetCommonLinkProperties":
		return [][2]string{{"NewWANAccessType", "Ethernet"}, {"NewLayer1UpstreamMaxBitRate", "100000000"},
			{"NewLayer1DownstreamMaxBitRate", "100000000"}, {"NewPhysicalLinkStatus", "Up"}}, nil
	case "GetTotalBytesSent", "GetTotalBytesReceived":
		return [][2]string{{"New" + strings.TrimPrefix(action, "Get"), "0"}}, nil
	}
	return nil, errInvalidAction
}

func (g *Gateway) ipAction(action string, args map[string]string) ([][2]string, error) {
	switch action {
	case "GetExternalIPAddress":
		return [][2]string{{"NewExternalIPAddress", g.router.PublicIP().String()}}, nil
	case "GetStatusInfo":
		up := int(time.Since(g.start).Seconds())
		return [][2]string{{"NewConnectionStatus", "Connected"}, {"NewLastConnectionError", "ERROR_NONE"}, {"NewUptime", strconv.Itoa(up)}}, nil
	case "GetConnectionTypeInfo":
		return [][2]string{{"NewConnectionType", "IP_Routed"}, {"NewPossibleConnectionTypes", "IP_Routed"}}, nil
	case "GetNATRSIPStatus":
		return [][2]string{{"NewRSIPAvailable", "0"}, {"NewNATEnabled", "1"}}, nil
	case "AddPortMapping":
		return nil, g.addPortMapping(args)
	case "DeletePortMapping":
		proto, port, err := protoPort(args)
		if err != nil {
			return nil, err
		}
		return nil, g.deletePortMapping(proto, port)
	case "GetSpecificPortMappingEntry":
		proto, port, err := protoPort(args)
		if err != nil {
			return nil, err
		}
		e, ok := g.lookup(proto, port)
		if !ok {
			return nil, errNoSuchEntry
		}
		return e.fields(false), nil
	case "GetGenericPortMappingEntry":
		i, err := strconv.Atoi(args["NewPortMappingIndex"])
		if err != nil || i < 0 {
			return nil, errInvalidArgs
		}
		live := g.live()
		if i >= len(live) {
			return nil, errBadIndex
		}
		return live[i].fields(true), nil
	}
	return nil, errInvalidAction
}

func protoPort(args map[string]string) (string, uint16, error) {
	proto := strings.ToUpper(args["NewProtocol"])
	if proto != "UDP" && proto != "TCP" {
		return "", 0, errInvalidArgs
	}
	p, err := strconv.ParseUint(args["NewExternalPort"], 10, 16)
	if err != nil {
		return "", 0, errInvalidArgs
	}
	if p == 0 {
		return "", 0, errWildcardPort
	}
	return proto, uint16(p), nil
}

func (g *Gateway) addPortMapping(args map[string]string) error {
	proto, ext, err := protoPort(args)
	if err != nil {
		return err
	}
	ip, err := strconv.ParseUint(args["NewInternalPort"], 10, 16)
	if err != nil || ip == 0 {
		return errInvalidArgs
	}
	client, err := netip.ParseAddr(args["NewInternalClient"])
	if err != nil || !g.router.Inside().Prefix().Contains(client.Unmap()) {
		return errInvalidArgs
	}
	if rh := args["NewRemoteHost"]; rh != "" {
		// Remote-host-specific mappings are rarely supported; say so the
		// way many routers do.
		return &soapError{726, "RemoteHostOnlySupportsWildcard"}
	}
	if en := args["NewEnabled"]; en != "1" && en != "true" && en != "" {
		return &soapError{402, "Invalid Args: disabled mappings are not supported"}
	}
	lease, err := strconv.ParseUint(args["NewLeaseDuration"], 10, 32)
	if err != nil && args["NewLeaseDuration"] != "" {
		return errInvalidArgs
	}
	e := entry{proto: proto, extPort: ext, internal: netip.AddrPortFrom(client.Unmap(), uint16(ip)),
		desc: args["NewPortMappingDescription"], lease: time.Duration(lease) * time.Second}
	if e.lease > 0 {
		e.expires = time.Now().Add(e.lease)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.router.AddForward(natlab.Forward{Proto: proto, ExternalPort: ext, Internal: e.internal, Description: e.desc, Expires: e.expires}); err != nil {
		if errors.Is(err, natlab.ErrForwardConflict) {
			return errConflict
		}
		return &soapError{501, "Action Failed"}
	}
	for i, old := range g.entries {
		if old.proto == proto && old.extPort == ext {
			g.entries[i] = e
			return nil
		}
	}
	g.entries = append(g.entries, e)
	return nil
}

func (g *Gateway) deletePortMapping(proto string, port uint16) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, e := range g.entries {
		if e.proto == proto && e.extPort == port {
			g.entries = append(g.entries[:i], g.entries[i+1:]...)
			g.router.RemoveForward(proto, port)
			if !e.expires.IsZero() && time.Now().After(e.expires) {
				return errNoSuchEntry
			}
			return nil
		}
	}
	return errNoSuchEntry
}

// live drops expired leases and returns the remaining entries.
func (g *Gateway) live() []entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	kept := g.entries[:0]
	for _, e := range g.entries {
		if e.expires.IsZero() || now.Before(e.expires) {
			kept = append(kept, e)
		} else {
			g.router.RemoveForward(e.proto, e.extPort)
		}
	}
	g.entries = kept
	return append([]entry(nil), kept...)
}

func (g *Gateway) lookup(proto string, port uint16) (entry, bool) {
	for _, e := range g.live() {
		if e.proto == proto && e.extPort == port {
			return e, true
		}
	}
	return entry{}, false
}

func (e entry) fields(generic bool) [][2]string {
	left := 0
	if !e.expires.IsZero() {
		left = max(int(time.Until(e.expires).Seconds()), 1)
	}
	f := [][2]string{
		{"NewInternalPort", strconv.Itoa(int(e.internal.Port()))},
		{"NewInternalClient", e.internal.Addr().String()},
		{"NewEnabled", "1"},
		{"NewPortMappingDescription", e.desc},
		{"NewLeaseDuration", strconv.Itoa(left)},
	}
	if generic {
		f = append([][2]string{{"NewRemoteHost", ""}, {"NewExternalPort", strconv.Itoa(int(e.extPort))}, {"NewProtocol", e.proto}}, f...)
	}
	return f
}

func writeFault(w http.ResponseWriter, e *soapError) { igdsoap.WriteFault(w, e.code, e.desc) }

const rootDesc = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>%s (natlab)</friendlyName>
<manufacturer>swarmscope</manufacturer>
<modelName>natlab IGD</modelName>
<modelNumber>1</modelNumber>
<UDN>%s</UDN>
<deviceList>
<device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<friendlyName>WAN Device</friendlyName>
<manufacturer>swarmscope</manufacturer>
<modelName>natlab WAN</modelName>
<UDN>%s</UDN>
<serviceList>
<service>
<serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
<SCPDURL>/WANCfg.xml</SCPDURL>
<controlURL>/ctl/CmnIfCfg</controlURL>
<eventSubURL>/evt/CmnIfCfg</eventSubURL>
</service>
</serviceList>
<deviceList>
<device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<friendlyName>WAN Connection Device</friendlyName>
<manufacturer>swarmscope</manufacturer>
<modelName>natlab WAN connection</modelName>
<UDN>%s</UDN>
<serviceList>
<service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/WANIPCn.xml</SCPDURL>
<controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL>
</service>
</serviceList>
</device>
</deviceList>
</device>
</deviceList>
</device>
</root>
`
