// Package upnp is the UPnP IGD client of nat/portmap: it discovers the
// gateway (SSDP or a known description URL), picks the best WAN connection
// service (WANIPConnection2/1, WANPPPConnection1) and adds and deletes port
// mappings on it with goupnp. Renewal and removal on exit are the mapper's
// (nat/portmap).
package upnp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// UPnP error codes swarmscope reacts to (UPnP IGD WANIPConnection spec).
const (
	CodeConflict           = 718 // ConflictInMappingEntry
	CodeOnlyPermanentLease = 725 // OnlyPermanentLeasesSupported
)

// Root is one discovered gateway description.
type Root struct {
	Device    *goupnp.RootDevice
	Location  *url.URL
	LocalAddr net.IP // our address toward it, if the discovery knows
}

// Source finds gateways. SSDP searches the OS network; DeviceURL fetches
// descriptions from known URLs (the simulated gateway).
type Source func(ctx context.Context) ([]Root, error)

// IGD search targets, newest first.
var searchTargets = []string{
	"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
}

// ssdpAddr is the SSDP multicast group.
const ssdpAddr = "239.255.255.250:1900"

// answerGrace is how long the search keeps listening after the first
// gateway answered: a home has one gateway, so there is no point waiting
// out the whole MX window.
const answerGrace = 150 * time.Millisecond

// SSDP searches by multicast (M-SEARCH for InternetGatewayDevice:2 and :1)
// from every multicast-capable IPv4 interface. It waits up to wait (whole
// seconds, at least 1: SSDP's MX) plus 200 ms, but returns shortly after
// the first gateway answers.
func SSDP(wait time.Duration) Source {
	return func(ctx context.Context) ([]Root, error) {
		mx := max(wait.Truncate(time.Second), time.Second)
		sctx, cancel := context.WithTimeout(ctx, mx+200*time.Millisecond)
		defer cancel()
		addrs, err := multicastAddrs()
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, errors.New("no multicast-capable IPv4 interface")
		}
		type found struct {
			loc   *url.URL
			local net.IP
		}
		var (
			mu      sync.Mutex
			seen    = map[string]bool{}
			locs    []found
			errs    []error
			wg      sync.WaitGroup
			first   = make(chan struct{})
			firstMu sync.Once
		)
		for _, ip := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := search(sctx, ip, int(mx/time.Second), func(loc *url.URL) {
					mu.Lock()
					dup := seen[loc.String()]
					seen[loc.String()] = true
					if !dup {
						locs = append(locs, found{loc, ip})
					}
					mu.Unlock()
					firstMu.Do(func() { close(first) })
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		go func() {
			select {
			case <-first:
				t := time.NewTimer(answerGrace)
				defer t.Stop()
				select {
				case <-t.C:
					cancel()
				case <-sctx.Done():
				}
			case <-sctx.Done():
			}
		}()
		wg.Wait()

		var roots []Root
		for _, f := range locs {
			dev, err := goupnp.DeviceByURLCtx(ctx, f.loc)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			roots = append(roots, Root{Device: dev, Location: f.loc, LocalAddr: f.local})
		}
		if len(roots) == 0 && len(errs) > 0 {
			return nil, fmt.Errorf("SSDP search: %w", errors.Join(errs...))
		}
		return roots, nil
	}
}

// search sends M-SEARCH from local ip and reports every gateway location
// answered until ctx is done.
func search(ctx context.Context, ip net.IP, mx int, onFound func(*url.URL)) error {
	c, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return fmt.Errorf("SSDP socket on %s: %w", ip, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	group, err := net.ResolveUDPAddr("udp4", ssdpAddr)
	if err != nil {
		return err
	}
	for range 2 { // UDP: send twice, as UPnP recommends
		for _, st := range searchTargets {
			msg := "M-SEARCH * HTTP/1.1\r\nHOST: " + ssdpAddr + "\r\nMAN: \"ssdp:discover\"\r\nMX: " + strconv.Itoa(mx) + "\r\nST: " + st + "\r\n\r\n"
			if _, err := c.WriteTo([]byte(msg), group); err != nil {
				return fmt.Errorf("SSDP send from %s: %w", ip, err)
			}
		}
	}
	buf := make([]byte, 2048)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			return fmt.Errorf("SSDP read on %s: %w", ip, err)
		}
		if loc := parseSSDPAnswer(buf[:n]); loc != nil {
			onFound(loc)
		}
	}
}

// parseSSDPAnswer returns the LOCATION of an IGD search answer, or nil for
// anything else (other devices, garbage).
func parseSSDPAnswer(b []byte) *url.URL {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	st := resp.Header.Get("ST")
	ok := false
	for _, t := range searchTargets {
		if st == t {
			ok = true
		}
	}
	if !ok {
		return nil
	}
	loc, err := url.Parse(resp.Header.Get("LOCATION"))
	if err != nil || (loc.Scheme != "http" && loc.Scheme != "https") || loc.Host == "" {
		return nil
	}
	return loc
}

// multicastAddrs lists the IPv4 addresses of up, multicast-capable,
// non-loopback interfaces.
func multicastAddrs() ([]net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagMulticast == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				out = append(out, ipn.IP.To4())
			}
		}
	}
	return out, nil
}

// DeviceURL uses gateway descriptions at known URLs instead of SSDP.
func DeviceURL(urls ...string) Source {
	return func(ctx context.Context) ([]Root, error) {
		var roots []Root
		var errs []error
		for _, u := range urls {
			loc, err := url.Parse(u)
			if err != nil {
				errs = append(errs, fmt.Errorf("bad device URL %q: %w", u, err))
				continue
			}
			dev, err := goupnp.DeviceByURLCtx(ctx, loc)
			if err != nil {
				errs = append(errs, fmt.Errorf("fetch %s: %w", u, err))
				continue
			}
			roots = append(roots, Root{Device: dev, Location: loc})
		}
		if len(roots) == 0 && len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return roots, nil
	}
}

// wanConn is the part of WANIPConnection2/1 and WANPPPConnection1 we use;
// goupnp generates the same method set for all three.
type wanConn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string, internalPort uint16, internalClient string, enabled bool, description string, leaseDuration uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetStatusInfoCtx(ctx context.Context) (string, string, uint32, error)
	GetServiceClient() *goupnp.ServiceClient
}

type candidate struct {
	conn    wanConn
	service string
	device  string
	loc     *url.URL
	local   net.IP
	extIP   string
	score   int
}

// candidates lists every WAN connection service of the roots, preferred
// service types first.
func candidates(roots []Root) []*candidate {
	var out []*candidate
	for _, r := range roots {
		name := r.Device.Device.FriendlyName
		add := func(c wanConn, svc string) {
			out = append(out, &candidate{conn: c, service: svc, device: name, loc: r.Location, local: r.LocalAddr})
		}
		if cs, err := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(r.Device, r.Location); err == nil {
			for _, c := range cs {
				add(c, "WANIPConnection:2")
			}
		}
		if cs, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(r.Device, r.Location); err == nil {
			for _, c := range cs {
				add(c, "WANIPConnection:1")
			}
		}
		if cs, err := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(r.Device, r.Location); err == nil {
			for _, c := range cs {
				add(c, "WANPPPConnection:1")
			}
		}
	}
	return out
}

// SOAPCode extracts the UPnP error code from a SOAP fault, 0 if err is not
// one.
func SOAPCode(err error) int {
	var f *soap.SOAPFaultError
	if errors.As(err, &f) {
		return f.Detail.UPnPError.Errorcode
	}
	return 0
}

// describeErr turns a SOAP fault into "UPnP error 718 ConflictInMappingEntry".
func describeErr(err error) string {
	var f *soap.SOAPFaultError
	if errors.As(err, &f) {
		desc := strings.TrimSpace(f.Detail.UPnPError.ErrorDescription)
		if desc == "" {
			desc = strings.TrimSpace(f.FaultString)
		}
		if f.Detail.UPnPError.Errorcode != 0 {
			return fmt.Sprintf("UPnP error %d %s", f.Detail.UPnPError.Errorcode, desc)
		}
		return "SOAP fault " + desc
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
