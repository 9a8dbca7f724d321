package natlab

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/swarmscope/swarmscope/nat"
)

// NATConfig is the behaviour of one NAT router (RFC 4787 terms).
type NATConfig struct {
	// Mapping decides when an outbound flow reuses an external port:
	// endpoint-independent, address-dependent or address-and-port-dependent.
	Mapping nat.Behavior
	// Filtering decides which inbound datagrams pass an existing mapping.
	Filtering nat.Behavior
	// PortPreservation keeps the internal port as the external one when free.
	PortPreservation bool
	// Hairpinning lets a LAN host reach another LAN host through the public
	// address (RFC 4787 section 6).
	Hairpinning bool
	// MappingTimeout drops a mapping after this long without outbound
	// traffic; 0 means 2 minutes (RFC 4787 REQ-5).
	MappingTimeout time.Duration
	// BlockUDP drops every UDP datagram in both directions.
	BlockUDP bool
	// Firewall makes the router a filter without translation: hosts behind
	// it have public addresses, Mapping is ignored and Filtering applies.
	Firewall bool
	// PublicIP is the outside address; zero picks the next free one.
	PublicIP netip.Addr
	// LAN is the inside address range; zero means 192.168.1.0/24. Unused
	// for firewalls.
	LAN netip.Prefix
	// Link is the router's uplink.
	Link LinkConfig
}

func (c *NATConfig) validate() error {
	if !c.Firewall {
		switch c.Mapping {
		case nat.BehaviorEndpointIndependent, nat.BehaviorAddressDependent, nat.BehaviorAddressAndPortDependent:
		default:
			return fmt.Errorf("mapping behaviour %q is not one of the three RFC 4787 behaviours", c.Mapping)
		}
	}
	switch c.Filtering {
	case nat.BehaviorEndpointIndependent, nat.BehaviorAddressDependent, nat.BehaviorAddressAndPortDependent:
	default:
		return fmt.Errorf("filtering behaviour %q is not one of the three RFC 4787 behaviours", c.Filtering)
	}
	if c.MappingTimeout < 0 {
		return errors.New("negative mapping timeout")
	}
	if c.MappingTimeout == 0 {
		c.MappingTimeout = 2 * time.Minute
	}
	if !c.LAN.IsValid() {
		c.LAN = netip.MustParsePrefix("192.168.1.0/24")
	}
	if !c.LAN.Addr().Is4() || c.LAN.Bits() > 29 {
		return fmt.Errorf("LAN %s must be an IPv4 prefix of at most /29", c.LAN)
	}
	return nil
}

// Preset returns the NAT behaviour behind a classic name. TypeOpen has no
// router at all (put the host on the public network) and reports an error.
func Preset(t nat.Type) (NATConfig, error) {
	c := NATConfig{PortPreservation: true, Hairpinning: true}
	switch t {
	case nat.TypeFullCone:
		c.Mapping, c.Filtering = nat.BehaviorEndpointIndependent, nat.BehaviorEndpointIndependent
	case nat.TypeRestrictedCone:
		c.Mapping, c.Filtering = nat.BehaviorEndpointIndependent, nat.BehaviorAddressDependent
	case nat.TypePortRestrictedCone:
		c.Mapping, c.Filtering = nat.BehaviorEndpointIndependent, nat.BehaviorAddressAndPortDependent
	case nat.TypeSymmetric:
		c.Mapping, c.Filtering = nat.BehaviorAddressAndPortDependent, nat.BehaviorAddressAndPortDependent
		c.PortPreservation = false
		c.Hairpinning = false
	case nat.TypeSymmetricFirewall:
		c.Firewall = true
		c.Mapping, c.Filtering = nat.BehaviorEndpointIndependent, nat.BehaviorAddressAndPortDependent
	case nat.TypeUDPBlocked:
		c.Mapping, c.Filtering = nat.BehaviorEndpointIndependent, nat.BehaviorAddressAndPortDependent
		c.BlockUDP = true
	default:
		return NATConfig{}, fmt.Errorf("no NAT preset for %q", t)
	}
	return c, nil
}

// ErrForwardConflict reports an external port already forwarded elsewhere.
var ErrForwardConflict = errors.New("port already forwarded to another host")

// Forward is a static port forward ("port mapping") on a NAT router.
type Forward struct {
	Proto        string // "UDP" (TCP forwards are kept but carry nothing)
	ExternalPort uint16
	Internal     netip.AddrPort
	Description  string
	Expires      time.Time // zero: permanent
}

// NAT is a router between a LAN and its outer network.
type NAT struct {
	in       *Internet
	name     string
	cfg      NATConfig
	outer    *Network
	inner    *Network
	publicIP netip.Addr
	link     *link
	self     *Host // the router's own LAN address, nil for firewalls
	byOut    map[outKey]*mapping
	byExt    map[netip.AddrPort]*mapping
	forwards map[uint16]*Forward // UDP forwards by external port
	tcpFwd   map[uint16]*Forward
}

// outKey finds the mapping for an outbound flow. remote is reduced to what
// the mapping behaviour depends on.
type outKey struct {
	internal netip.AddrPort
	remote   netip.AddrPort
}

type mapping struct {
	key      outKey
	external netip.AddrPort
	lastOut  time.Time
	// perms records the remote endpoints the internal side has sent to,
	// which is what address(-and-port)-dependent filtering checks.
	perms map[netip.AddrPort]time.Time
}

// Name is the router's label.
func (r *NAT) Name() string { return r.name }

// PublicIP is the router's outside address (for a firewall, invalid).
func (r *NAT) PublicIP() netip.Addr {
	if r.cfg.Firewall {
		return netip.Addr{}
	}
	return r.publicIP
}

// Config returns the router's behaviour.
func (r *NAT) Config() NATConfig { return r.cfg }

// Host is the router's own address on its LAN, where services of the router
// itself (a UPnP gateway) listen. It is nil for a firewall.
func (r *NAT) Host() *Host { return r.self }

// Inside is the LAN behind the router.
func (r *NAT) Inside() *Network { return r.inner }

// AddHost attaches a host to the LAN behind the router.
func (r *NAT) AddHost(name string, link LinkConfig) (*Host, error) {
	return r.inner.AddHost(name, link)
}

// AddForward installs a static port forward. An existing forward of the same
// external port is replaced only if it points at the same internal endpoint,
// as IGD AddPortMapping requires.
func (r *NAT) AddForward(f Forward) error {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	if r.cfg.Firewall {
		return errors.New("natlab: a firewall does not forward ports")
	}
	if f.ExternalPort == 0 {
		return errors.New("natlab: forward needs an external port")
	}
	f.Internal = netip.AddrPortFrom(f.Internal.Addr().Unmap(), f.Internal.Port())
	if !r.inner.prefix.Contains(f.Internal.Addr()) {
		return fmt.Errorf("natlab: forward target %s is not on %s", f.Internal, r.inner.prefix)
	}
	table, err := r.forwardTable(f.Proto)
	if err != nil {
		return err
	}
	if old := table[f.ExternalPort]; old != nil && old.Internal != f.Internal && !r.expiredForward(old, time.Now()) {
		return fmt.Errorf("natlab: external port %d goes to %s: %w", f.ExternalPort, old.Internal, ErrForwardConflict)
	}
	if m := r.byExt[netip.AddrPortFrom(r.publicIP, f.ExternalPort)]; m != nil && f.Proto == "UDP" {
		// A dynamic mapping holds the port; the forward wins, as on
		// consumer routers, and the flow loses its mapping.
		r.dropMapping(m)
	}
	ff := f
	table[f.ExternalPort] = &ff
	return nil
}

// RemoveForward deletes a port forward; it reports whether one existed.
func (r *NAT) RemoveForward(proto string, externalPort uint16) bool {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	table, err := r.forwardTable(proto)
	if err != nil || table[externalPort] == nil {
		return false
	}
	delete(table, externalPort)
	return true
}

// Forwards lists the live port forwards, sorted by protocol and port.
func (r *NAT) Forwards() []Forward {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	now := time.Now()
	var out []Forward
	for _, t := range []map[uint16]*Forward{r.forwards, r.tcpFwd} {
		for _, f := range t {
			if !r.expiredForward(f, now) {
				out = append(out, *f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].ExternalPort < out[j].ExternalPort
	})
	return out
}

// Mappings reports how many dynamic mappings are live.
func (r *NAT) Mappings() int {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	now := time.Now()
	n := 0
	for _, m := range r.byExt {
		if now.Sub(m.lastOut) <= r.cfg.MappingTimeout {
			n++
		}
	}
	return n
}

func (r *NAT) forwardTable(proto string) (map[uint16]*Forward, error) {
	switch proto {
	case "UDP":
		return r.forwards, nil
	case "TCP":
		if r.tcpFwd == nil {
			r.tcpFwd = map[uint16]*Forward{}
		}
		return r.tcpFwd, nil
	}
	return nil, fmt.Errorf("natlab: protocol %q is neither UDP nor TCP", proto)
}

func (r *NAT) expiredForward(f *Forward, now time.Time) bool {
	return !f.Expires.IsZero() && now.After(f.Expires)
}

// liveForward returns the UDP forward of an external port, dropping it if
// its lease ran out.
func (r *NAT) liveForward(port uint16, now time.Time) *Forward {
	f := r.forwards[port]
	if f != nil && r.expiredForward(f, now) {
		delete(r.forwards, port)
		return nil
	}
	return f
}

func (r *NAT) forwardFor(internal netip.AddrPort, now time.Time) *Forward {
	for port, f := range r.forwards {
		if f.Internal == internal && r.liveForward(port, now) != nil {
			return f
		}
	}
	return nil
}

func (r *NAT) dropMapping(m *mapping) {
	delete(r.byOut, m.key)
	delete(r.byExt, m.external)
}

// arrive takes a datagram from the outer network.
func (r *NAT) arrive(p *packet, t time.Time) {
	t, ok := r.link.down.pass(t, len(p.data), r.in.rng)
	if !ok {
		r.in.stats.Dropped++
		return
	}
	r.inbound(p, t, 0)
}

// outbound takes a datagram leaving the LAN.
func (r *NAT) outbound(p *packet, t time.Time, hops int) {
	if r.cfg.BlockUDP {
		r.in.stats.Dropped++
		return
	}
	now := time.Now()
	if r.cfg.Firewall {
		m := r.mappingFor(p.src, p.dst, now)
		m.perms[p.dst] = now
	} else if f := r.forwardFor(p.src, now); f != nil {
		// A forwarded endpoint speaks from its forwarded port, so that
		// peers who reached it through the forward see replies from there.
		p.src = netip.AddrPortFrom(r.publicIP, f.ExternalPort)
	} else {
		m := r.mappingFor(p.src, p.dst, now)
		if m == nil {
			r.in.stats.Dropped++ // port space exhausted
			return
		}
		m.perms[p.dst] = now
		p.src = m.external
	}
	if !r.cfg.Firewall && p.dst.Addr() == r.publicIP {
		if !r.cfg.Hairpinning {
			r.in.stats.Dropped++
			return
		}
		r.inbound(p, t, hops+1)
		return
	}
	t, ok := r.link.up.pass(t, len(p.data), r.in.rng)
	if !ok {
		r.in.stats.Dropped++
		return
	}
	r.outer.route(p, t, hops+1)
}

// inbound filters and translates a datagram addressed to the router's
// outside (or, for a firewall, to a host behind it).
func (r *NAT) inbound(p *packet, t time.Time, hops int) {
	if r.cfg.BlockUDP {
		r.in.stats.Dropped++
		return
	}
	now := time.Now()
	if !r.cfg.Firewall {
		if f := r.liveForward(p.dst.Port(), now); f != nil && p.dst.Addr() == r.publicIP {
			p.dst = f.Internal
			r.inner.route(p, t, hops+1)
			return
		}
	}
	m := r.byExt[p.dst]
	if m != nil && now.Sub(m.lastOut) > r.cfg.MappingTimeout {
		r.dropMapping(m)
		m = nil
	}
	if m == nil || !r.permits(m, p.src, now) {
		r.in.stats.Dropped++
		return
	}
	p.dst = m.key.internal
	r.inner.route(p, t, hops+1)
}

func (r *NAT) permits(m *mapping, src netip.AddrPort, now time.Time) bool {
	switch r.cfg.Filtering {
	case nat.BehaviorEndpointIndependent:
		return true
	case nat.BehaviorAddressDependent:
		for rem, at := range m.perms {
			if rem.Addr() == src.Addr() && now.Sub(at) <= r.cfg.MappingTimeout {
				return true
			}
		}
		return false
	default:
		at, ok := m.perms[src]
		return ok && now.Sub(at) <= r.cfg.MappingTimeout
	}
}

// mappingFor finds or creates the mapping of an outbound flow and refreshes
// it.
func (r *NAT) mappingFor(src, dst netip.AddrPort, now time.Time) *mapping {
	key := outKey{internal: src}
	if !r.cfg.Firewall {
		switch r.cfg.Mapping {
		case nat.BehaviorAddressDependent:
			key.remote = netip.AddrPortFrom(dst.Addr(), 0)
		case nat.BehaviorAddressAndPortDependent:
			key.remote = dst
		}
	}
	m := r.byOut[key]
	if m != nil && now.Sub(m.lastOut) > r.cfg.MappingTimeout {
		r.dropMapping(m)
		m = nil
	}
	if m == nil {
		ext := src // a firewall does not translate
		if !r.cfg.Firewall {
			port, ok := r.allocPort(src.Port(), now)
			if !ok {
				return nil
			}
			ext = netip.AddrPortFrom(r.publicIP, port)
		}
		m = &mapping{key: key, external: ext, perms: map[netip.AddrPort]time.Time{}}
		r.byOut[key] = m
		r.byExt[ext] = m
	}
	m.lastOut = now
	return m
}

// allocPort picks an external port for a new mapping.
func (r *NAT) allocPort(internal uint16, now time.Time) (uint16, bool) {
	free := func(p uint16) bool {
		if p < 1024 || r.liveForward(p, now) != nil {
			return false
		}
		m := r.byExt[netip.AddrPortFrom(r.publicIP, p)]
		if m != nil && now.Sub(m.lastOut) > r.cfg.MappingTimeout {
			r.dropMapping(m)
			m = nil
		}
		return m == nil
	}
	if r.cfg.PortPreservation && free(internal) {
		return internal, true
	}
	for range 1 << 16 {
		p := uint16(1024 + r.in.rng.IntN(65536-1024))
		if p != internal && free(p) {
			return p, true
		}
	}
	return 0, false
}
