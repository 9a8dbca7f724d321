package nat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/swarmscope/swarmscope/nat/portmap"
	"github.com/swarmscope/swarmscope/nat/portmap/pmp"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
	"github.com/swarmscope/swarmscope/nat/stun"
	"github.com/swarmscope/swarmscope/nat/upnp"
)

// Options configures Check. The zero value plus Servers probes from a fresh
// OS socket and tries to map the probed port with UPnP (SSDP), PCP and
// NAT-PMP at once.
type Options struct {
	// Servers are STUN servers as host:port. At least one is required.
	Servers []string
	// Listener opens probe sockets; default OSNet{}.
	Listener PacketListener
	// LocalIP is the address probe sockets bind to ("" = all).
	LocalIP string
	// LocalPort is the local port of the primary probe socket (0 = any).
	// It is also the port UPnP maps.
	LocalPort int
	// ListenPort is the port peers are told (the torrent client's), named
	// in the advice — e.g. when the client's socket is busy and a fresh
	// port is probed instead. Default: the UPnP mapper's port, else the
	// probed port if it was chosen (LocalPort or Conn), else unnamed.
	ListenPort int
	// Conn, if set, is probed instead of a fresh socket: the torrent
	// client's own UDP socket, whose public endpoint is what peers see.
	// Check reads Conn itself for the duration of the probe unless
	// ConnReader is set.
	Conn net.PacketConn
	// ConnReader lets the owner of Conn keep reading it: Check registers a
	// deliver function, the owner passes it every datagram (deliver reports
	// whether the datagram was a STUN answer for Check), and Check calls the
	// returned unregister function when done.
	ConnReader func(deliver func(b []byte, from net.Addr) bool) (unregister func())
	// Resolve turns host:port into a UDP address; default: DNS, IPv4.
	Resolve func(ctx context.Context, hostport string) (*net.UDPAddr, error)
	// Timeout bounds the whole check (default 5 s).
	Timeout time.Duration
	// MinRTO is the floor of the retransmission timeout of the behaviour
	// tests (default 100 ms; their silence window is 7 RTOs). Raise it on
	// jittery links, or in tests on a loaded machine, so that a late answer
	// is not read as a filtered one.
	MinRTO time.Duration

	// NoUPnP skips port mapping entirely: no UPnP, PCP or NAT-PMP (the
	// name predates PCP and NAT-PMP).
	NoUPnP bool
	// MapWith lists the mapping protocols to probe; nil = all three.
	MapWith []portmaptype.Protocol
	// KeepMapping leaves the port mapping on the gateway after Check (it
	// then lasts until its lease runs out); otherwise it is removed.
	KeepMapping bool
	// UPnPSource finds the gateway; default upnp.SSDP(1 s).
	UPnPSource upnp.Source
	// UPnPInternalIP overrides the address the gateway forwards to.
	UPnPInternalIP string
	// PMP configures the PCP and NAT-PMP clients (gateway, port). They
	// run on the OS network only: by default they are skipped when
	// Listener is not OSNet, unless PMP is set.
	PMP *pmp.Config
	// Mapper, if set, is a port mapper the caller runs (the engine):
	// Check reads its state instead of mapping anything itself.
	Mapper *portmap.Mapper
	// OnMapEvent receives the state changes of Check's own mapper.
	OnMapEvent func(portmaptype.Event)
}

// Check measures the NAT: STUN discovery against all servers in parallel,
// port mapping (UPnP, PCP, NAT-PMP) alongside it, then the verdict. It returns an error only for
// unusable options or when no probe socket can be opened; everything the
// network does wrong ends up in the report.
func Check(ctx context.Context, opts Options) (Report, error) {
	start := time.Now()
	rep := Report{Time: start, Mapping: BehaviorUnknown, Filtering: BehaviorUnknown, NATType: TypeUnknown, UPnP: UPnPReport{Mappings: []Mapping{}, Probes: []MapProbe{}}}
	if len(opts.Servers) == 0 {
		return rep, errors.New("nat: no STUN servers given")
	}
	if opts.LocalPort < 0 || opts.LocalPort > 65535 {
		return rep, fmt.Errorf("nat: bad local port %d", opts.LocalPort)
	}
	if opts.Listener == nil {
		opts.Listener = OSNet{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Resolve == nil {
		opts.Resolve = resolveUDP4
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	p := &prober{opts: &opts, resolve: opts.Resolve}
	a, err := p.primarySocket(ctx)
	if err != nil && opts.Conn == nil && opts.LocalPort != 0 && addrInUse(err) {
		// Most likely the torrent client holds the port. Probe a fresh
		// one; the advice still names the busy port, which peers are told.
		rep.Notes = append(rep.Notes, fmt.Sprintf("port %d is in use (by your torrent client?), so a fresh port was probed instead", opts.LocalPort))
		if opts.ListenPort == 0 {
			opts.ListenPort = opts.LocalPort
		}
		opts.LocalPort = 0
		a, err = p.primarySocket(ctx)
	}
	if err != nil {
		return rep, err
	}
	local := stun.UDPAddrOf(a.conn.LocalAddr())
	if local != nil {
		rep.ProbedPort = local.Port
	}
	rep.SharedSocket = opts.Conn != nil

	var wg sync.WaitGroup
	var mapper *portmap.Mapper
	if opts.Mapper == nil && rep.ProbedPort != 0 {
		if probers := opts.MapProbers(); len(probers) > 0 {
			mapper = portmap.New(portmap.Config{Probers: probers, Port: rep.ProbedPort, InternalIP: opts.UPnPInternalIP, OnEvent: opts.OnMapEvent})
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Start's failures are in mapper.Report().
				_ = mapper.Start(ctx)
			}()
		} else {
			rep.UPnP.Error = "skipped"
		}
	}

	res, derr := p.discover(ctx, a)
	a.close()
	wg.Wait()
	if mapper != nil {
		// The protocols that lost the race may still be answering;
		// their external addresses are worth a short wait.
		wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		mapper.WaitProbes(wctx)
		wcancel()
		rep.UPnP = mapReport(mapper.Report())
		name := rep.UPnP.ProtocolName()
		if opts.KeepMapping {
			mapper.Detach()
			if len(rep.UPnP.Mappings) > 0 {
				rep.Notes = append(rep.Notes, name+" mapping kept on the gateway until its lease runs out")
			}
		} else if err := mapper.Close(); err != nil {
			rep.Notes = append(rep.Notes, "removing the "+name+" mapping: "+err.Error())
		} else if len(rep.UPnP.Mappings) > 0 {
			rep.Notes = append(rep.Notes, "the "+name+" mapping was removed again after the check")
		}
	} else if opts.Mapper != nil {
		rep.UPnP = mapReport(opts.Mapper.Report())
		if opts.ListenPort == 0 {
			opts.ListenPort = opts.Mapper.Port()
		}
	}
	if derr != nil {
		return rep, derr
	}

	rep.ListenPort = opts.ListenPort
	if rep.ListenPort == 0 && (opts.LocalPort != 0 || opts.Conn != nil) {
		// The probed port is the one peers are told; a random probe
		// port is not, so it is not named in the advice.
		rep.ListenPort = rep.ProbedPort
	}
	rep.Servers = res.servers
	rep.Notes = append(rep.Notes, res.notes...)
	rep.Disagreements = res.disagreements
	rep.Hairpin = res.hairpin
	rep.PortPreserved = res.portPreserved
	rep.Filtering = res.filtering
	rep.Mapping = res.mapping
	localIP := p.localIP(local, res)
	if local != nil {
		rep.LocalAddr = net.JoinHostPort(localIP.String(), strconv.Itoa(local.Port))
	}
	if res.mapped != nil {
		rep.PublicAddr = res.mapped.String()
		rep.BehindNAT = ptr(!isOwnIP(opts.Listener, localIP, res.mapped.IP))
		if !*rep.BehindNAT {
			rep.Mapping = BehaviorNone
		}
	}
	rep.Judge()
	if !res.anyAnswer && rep.NATType == TypeUDPBlocked {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no STUN server answered within %.1f s", time.Since(start).Seconds()))
	}
	rep.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	return rep, nil
}

// localIP is the probe socket's address; for a wildcard OS socket, the
// address the kernel picks toward the first server that answered (found
// without sending anything).
func (p *prober) localIP(local *net.UDPAddr, res *stunResult) net.IP {
	if local == nil {
		return net.IPv4zero
	}
	if !local.IP.IsUnspecified() && local.IP != nil {
		return local.IP
	}
	if _, ok := p.opts.Listener.(OSNet); !ok {
		return local.IP
	}
	// Prefer a server that answered: its route is the one that works.
	for _, a := range append(append([]*net.UDPAddr(nil), res.answered...), res.resolved...) {
		if c, err := net.DialUDP("udp4", nil, a); err == nil {
			ip := c.LocalAddr().(*net.UDPAddr).IP
			_ = c.Close()
			return ip
		}
	}
	return local.IP
}

// isOwnIP: is the public IP one of ours, i.e. no NAT in between?
func isOwnIP(l PacketListener, local, public net.IP) bool {
	if local != nil && local.Equal(public) {
		return true
	}
	if _, ok := l.(OSNet); !ok {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(public) {
			return true
		}
	}
	return false
}

// MapProbers lists the port-mapping protocols the options enable, for
// Check and for callers that run their own mapper (portmap.New). PCP and
// NAT-PMP run on the OS network only, unless PMP is set.
func (o Options) MapProbers() []portmaptype.Prober {
	if o.NoUPnP {
		return nil
	}
	with := func(p portmaptype.Protocol) bool { return o.MapWith == nil || slices.Contains(o.MapWith, p) }
	var out []portmaptype.Prober
	if with(portmaptype.UPnP) {
		src := o.UPnPSource
		if src == nil {
			src = upnp.SSDP(time.Second)
		}
		out = append(out, upnp.Prober(upnp.ProbeConfig{Source: src}))
	}
	_, osNet := o.Listener.(OSNet)
	if o.Listener == nil {
		osNet = true
	}
	if !osNet && o.PMP == nil {
		return out
	}
	var cfg pmp.Config
	if o.PMP != nil {
		cfg = *o.PMP
	}
	if with(portmaptype.PCP) {
		out = append(out, pmp.PCPProber(cfg))
	}
	if with(portmaptype.NATPMP) {
		out = append(out, pmp.NATPMPProber(cfg))
	}
	return out
}

func mapReport(r portmaptype.Report) UPnPReport {
	out := UPnPReport{Found: r.Found, Protocol: string(r.Protocol), Gateway: r.Gateway, Device: r.Device, Service: r.Service, ExternalIP: r.ExternalIP, Error: r.Error, Mappings: []Mapping{}, Probes: []MapProbe{}}
	now := time.Now()
	for _, m := range r.Mappings {
		out.Mappings = append(out.Mappings, Mapping{
			Protocol:     string(m.Protocol),
			Proto:        m.Proto,
			ExternalPort: m.ExternalPort,
			Internal:     net.JoinHostPort(m.InternalIP, strconv.Itoa(m.InternalPort)),
			LeaseS:       int(m.Remaining(now).Round(time.Second) / time.Second),
		})
	}
	for _, pr := range r.Probes {
		out.Probes = append(out.Probes, MapProbe{Protocol: string(pr.Protocol), Found: pr.Found, Gateway: pr.Gateway, ExternalIP: pr.ExternalIP, Error: pr.Error})
	}
	return out
}

func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// resolveUDP4 resolves host:port to an IPv4 UDP address.
func resolveUDP4(ctx context.Context, hostport string) (*net.UDPAddr, error) {
	host, portS, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("bad server address %q: %w", hostport, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("bad port in %q", hostport)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().Is4() {
			return nil, fmt.Errorf("bad server address %q: only IPv4 servers are supported", hostport)
		}
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no IPv4 address", host)
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(port))), nil
}
