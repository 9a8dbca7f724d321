// Package upnp maps the torrent port on a UPnP Internet Gateway Device
// (WANIPConnection2/1, WANPPPConnection1) with goupnp: it picks the best
// connection, maps TCP and UDP with external port = internal port, renews
// finite leases at half-life, and removes every mapping it made on Close.
package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/httpu"
	"github.com/huin/goupnp/soap"
	"github.com/huin/goupnp/ssdp"
)

// UPnP error codes swarmscope reacts to (UPnP IGD WANIPConnection spec).
const (
	CodeConflict           = 718 // ConflictInMappingEntry
	CodeOnlyPermanentLease = 725 // OnlyPermanentLeasesSupported
)

// EventKind names a state change.
type EventKind string

const (
	EventDiscovering EventKind = "discovering"
	EventMapped      EventKind = "mapped"
	EventRenewed     EventKind = "renewed"
	EventFailed      EventKind = "failed"
	EventRemoved     EventKind = "removed"
)

// Event is one state change, with a one-line human message.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Mapping *Mapping // nil for discovering and whole-gateway failures
	Code    int      // UPnP error code, 0 if none
	Err     error
	Message string
}

// Mapping is one port mapping this client made.
type Mapping struct {
	Proto        string // "TCP" or "UDP"
	ExternalPort int
	InternalIP   string
	InternalPort int
	Lease        time.Duration // 0 = permanent
	Renewed      time.Time     // last time the gateway accepted it
}

// Remaining is the lease left at now; 0 for permanent mappings.
func (m Mapping) Remaining(now time.Time) time.Duration {
	if m.Lease == 0 {
		return 0
	}
	return max(m.Lease-now.Sub(m.Renewed), 0)
}

// Report is what the client found and did.
type Report struct {
	Found      bool
	Device     string // friendly name
	Service    string // e.g. "WANIPConnection:1"
	Location   string
	ExternalIP string
	Mappings   []Mapping
	Error      string
	ErrorCode  int
}

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

// SSDP searches by multicast on every multicast-capable IPv4 interface,
// waiting wait (whole seconds, at least 1: SSDP's MX) plus 200 ms for
// answers.
func SSDP(wait time.Duration) Source {
	return func(ctx context.Context) ([]Root, error) {
		// RawSearch derives SSDP's MX (whole seconds, at least 1) from the
		// context deadline, so the deadline must be a bit past it.
		mx := max(wait.Truncate(time.Second), time.Second)
		seen := map[string]bool{}
		var roots []Root
		var mu sync.Mutex
		var wg sync.WaitGroup
		var lastErr error
		for _, st := range searchTargets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each search gets its own sockets: an HTTPU client
				// serialises searches, which would double the wait.
				clients, closeAll, err := multicastClients()
				if err == nil && len(clients) == 0 {
					err = errors.New("no multicast-capable IPv4 interface")
				}
				if err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
					return
				}
				defer closeAll()
				sctx, cancel := context.WithTimeout(ctx, mx+200*time.Millisecond)
				defer cancel()
				resps, err := ssdp.RawSearch(sctx, httpu.NewMultiClientCtx(clients), st, 2)
				if err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
					return
				}
				for _, r := range resps {
					loc, err := r.Location()
					if err != nil {
						continue
					}
					mu.Lock()
					dup := seen[loc.String()]
					seen[loc.String()] = true
					mu.Unlock()
					if dup {
						continue
					}
					dev, err := goupnp.DeviceByURLCtx(ctx, loc)
					if err != nil {
						mu.Lock()
						lastErr = err
						mu.Unlock()
						continue
					}
					mu.Lock()
					roots = append(roots, Root{Device: dev, Location: loc, LocalAddr: net.ParseIP(r.Header.Get(httpu.LocalAddressHeader))})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(roots) == 0 && lastErr != nil {
			return nil, fmt.Errorf("SSDP search: %w", lastErr)
		}
		return roots, nil
	}
}

func multicastClients() ([]httpu.ClientInterfaceCtx, func(), error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, nil, fmt.Errorf("list interfaces: %w", err)
	}
	var clients []httpu.ClientInterfaceCtx
	var closers []*httpu.HTTPUClient
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagMulticast == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			c, err := httpu.NewHTTPUClientAddr(ipn.IP.String())
			if err != nil {
				continue
			}
			closers = append(closers, c)
			clients = append(clients, c)
		}
	}
	return clients, closeAll, nil
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
