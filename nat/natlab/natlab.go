// Package natlab is an in-memory internet for tests and the demo: hosts on
// networks, NAT routers between them, and UDP datagrams that cross links with
// latency and bandwidth limits. NAT routers follow the RFC 4787 model
// (mapping and filtering behaviour, port preservation, hairpinning, mapping
// timeout) and accept static port forwards, which is what a UPnP gateway
// installs.
//
// pion/transport's vnet was evaluated first. Its translator is unexported, so
// port forwards, hairpinning and port preservation could not be added without
// forking it, and it allocates ports from an unseeded source; this package is
// a compact rewrite on the same model instead.
//
// Only UDP is carried (STUN, uTP, the demo's directory); multicast reaches
// every host on the sender's own network (SSDP, local peer discovery). There
// is no TCP: the demo's peers speak uTP only.
//
// The whole path of a datagram is evaluated when it is sent: every link on
// the way adds its queueing and propagation delay, and NATs translate and
// filter at send time. The datagram is then queued at the receiving socket
// with its arrival time, and ReadFrom hands it out once that time has come.
// This needs no goroutines or timers per packet and keeps datagrams of one
// path in order.
package natlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Internet is one simulated world. Its zero value is not usable; call New.
type Internet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	public *Network
	nets   []*Network
	stats  Stats
}

// Stats counts datagrams for diagnostics.
type Stats struct {
	Sent      int64 // datagrams handed to WriteTo
	Delivered int64 // datagrams queued at a receiving socket
	Dropped   int64 // datagrams lost anywhere (filtering, no route, queue, loss)
}

// New creates an empty internet. seed makes port allocation and packet loss
// reproducible.
func New(seed uint64) *Internet {
	in := &Internet{rng: rand.New(rand.NewPCG(seed, 0x6e61746c6162))}
	in.public = &Network{in: in, name: "internet", owners: map[netip.Addr]node{}}
	in.nets = append(in.nets, in.public)
	return in
}

// Public is the public internet, where routable addresses live.
func (in *Internet) Public() *Network { return in.public }

// Stats returns datagram counters.
func (in *Internet) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// node is anything that owns an address on a network.
type node interface {
	// arrive takes a datagram that reached the node's address at time t.
	arrive(p *packet, t time.Time)
}

type packet struct {
	src, dst netip.AddrPort
	data     []byte
}

// Network is one broadcast domain: the public internet or a LAN behind a NAT.
type Network struct {
	in     *Internet
	name   string
	prefix netip.Prefix // zero for the public internet
	next   netip.Addr   // next address handed out on a LAN
	owners map[netip.Addr]node
	router *NAT // the gateway out of this LAN, nil for the internet
}

// Name is the network's label.
func (n *Network) Name() string { return n.name }

// Prefix is the LAN's address range (invalid for the public internet).
func (n *Network) Prefix() netip.Prefix { return n.prefix }

// Router is the NAT that connects this LAN to its parent, or nil.
func (n *Network) Router() *NAT { return n.router }

// AddHost attaches a host. On the public internet addrs must be given (the
// first one is the primary address); on a LAN they may be omitted and the
// next free address is assigned.
func (n *Network) AddHost(name string, link LinkConfig, addrs ...netip.Addr) (*Host, error) {
	n.in.mu.Lock()
	defer n.in.mu.Unlock()
	if len(addrs) == 0 {
		a, err := n.allocLocked()
		if err != nil {
			return nil, fmt.Errorf("natlab: add host %s: %w", name, err)
		}
		addrs = []netip.Addr{a}
	}
	h := &Host{
		in:    n.in,
		name:  name,
		net:   n,
		link:  newLink(link),
		socks: map[netip.AddrPort]*udpConn{},
	}
	for _, a := range addrs {
		a = a.Unmap()
		if err := n.claimLocked(a, h); err != nil {
			for _, done := range h.addrs {
				n.releaseLocked(done)
			}
			return nil, fmt.Errorf("natlab: add host %s: %w", name, err)
		}
		h.addrs = append(h.addrs, a)
	}
	return h, nil
}

// AddNAT attaches a NAT router whose outside face is on n and creates the LAN
// behind it.
func (n *Network) AddNAT(name string, cfg NATConfig) (*NAT, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("natlab: add NAT %s: %w", name, err)
	}
	n.in.mu.Lock()
	defer n.in.mu.Unlock()
	pub := cfg.PublicIP.Unmap()
	if !pub.IsValid() {
		a, err := n.allocLocked()
		if err != nil {
			return nil, fmt.Errorf("natlab: add NAT %s: %w", name, err)
		}
		pub = a
	}
	r := &NAT{
		in:       n.in,
		name:     name,
		cfg:      cfg,
		outer:    n,
		publicIP: pub,
		link:     newLink(cfg.Link),
		byOut:    map[outKey]*mapping{},
		byExt:    map[netip.AddrPort]*mapping{},
		forwards: map[uint16]*Forward{},
	}
	if !cfg.Firewall {
		if err := n.claimLocked(pub, r); err != nil {
			return nil, fmt.Errorf("natlab: add NAT %s: %w", name, err)
		}
	}
	inner := &Network{in: n.in, name: name + "-lan", owners: map[netip.Addr]node{}, router: r}
	if cfg.Firewall {
		// Hosts behind a firewall keep public addresses handed out by the
		// outer network; the firewall claims each of them there.
		inner.prefix = netip.Prefix{}
	} else {
		inner.prefix = cfg.LAN
		// .1 is the router itself, a host on its LAN where gateway services
		// such as the UPnP responder listen.
		lanIP := cfg.LAN.Masked().Addr().Next()
		r.self = &Host{in: n.in, name: name, net: inner, addrs: []netip.Addr{lanIP}, link: newLink(LinkConfig{}), socks: map[netip.AddrPort]*udpConn{}}
		inner.owners[lanIP] = r.self
		inner.next = lanIP.Next()
	}
	r.inner = inner
	n.in.nets = append(n.in.nets, inner)
	return r, nil
}

func (n *Network) allocLocked() (netip.Addr, error) {
	if n.router != nil && n.router.cfg.Firewall {
		// Behind a firewall, addresses come from the outside network and
		// are routed to the firewall.
		a, err := n.router.outer.allocLocked()
		if err != nil {
			return netip.Addr{}, err
		}
		return a, nil
	}
	if !n.prefix.IsValid() {
		// Public addresses default to a documentation range so that nothing
		// in a log can be mistaken for a real host.
		if !n.next.IsValid() {
			n.next = netip.MustParseAddr("198.51.100.10")
		}
	}
	for !n.next.IsValid() || n.owners[n.next] != nil {
		if !n.next.IsValid() {
			return netip.Addr{}, errors.New("address space exhausted")
		}
		n.next = n.next.Next()
	}
	if n.prefix.IsValid() && !n.prefix.Contains(n.next) {
		return netip.Addr{}, fmt.Errorf("LAN %s is full", n.prefix)
	}
	a := n.next
	n.next = n.next.Next()
	return a, nil
}

// claimLocked makes a reachable on n (and, behind a firewall, on every
// network above it, pointing at the firewall).
func (n *Network) claimLocked(a netip.Addr, owner node) error {
	if !a.Is4() {
		return fmt.Errorf("address %s: only IPv4 is simulated", a)
	}
	if n.owners[a] != nil {
		return fmt.Errorf("address %s already in use on %s", a, n.name)
	}
	if n.prefix.IsValid() && !n.prefix.Contains(a) {
		return fmt.Errorf("address %s is outside %s", a, n.prefix)
	}
	if r := n.router; r != nil && r.cfg.Firewall {
		if err := r.outer.claimLocked(a, r); err != nil {
			return err
		}
	}
	n.owners[a] = owner
	return nil
}

func (n *Network) releaseLocked(a netip.Addr) {
	delete(n.owners, a)
	if r := n.router; r != nil && r.cfg.Firewall {
		r.outer.releaseLocked(a)
	}
}

// route moves p across n towards p.dst, starting at time t.
func (n *Network) route(p *packet, t time.Time, hops int) {
	if hops > 16 {
		n.in.stats.Dropped++ // a routing loop; cannot happen with trees
		return
	}
	if o := n.owners[p.dst.Addr()]; o != nil {
		o.arrive(p, t)
		return
	}
	if p.dst.Addr().IsMulticast() {
		// Link-local multicast (SSDP): every other host on this network
		// hears it; it never crosses a router.
		seen := map[*Host]bool{}
		for _, o := range n.owners {
			if h, ok := o.(*Host); ok && !seen[h] && !h.hasAddr(p.src.Addr()) {
				seen[h] = true
				h.arrive(p, t)
			}
		}
		return
	}
	if n.router != nil {
		n.router.outbound(p, t, hops+1)
		return
	}
	n.in.stats.Dropped++ // no route on the public internet
}
