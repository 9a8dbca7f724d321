package natlab

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// Host is a simulated machine. It implements nat.PacketListener.
type Host struct {
	in    *Internet
	name  string
	net   *Network
	addrs []netip.Addr
	link  *link
	socks map[netip.AddrPort]*udpConn // bound address (IP may be unspecified)
}

// Name is the host's label.
func (h *Host) Name() string { return h.name }

// Addr is the host's primary address.
func (h *Host) Addr() netip.Addr { return h.addrs[0] }

// Addrs lists every address of the host.
func (h *Host) Addrs() []netip.Addr { return append([]netip.Addr(nil), h.addrs...) }

// Network is the network the host is attached to.
func (h *Host) Network() *Network { return h.net }

func (h *Host) hasAddr(a netip.Addr) bool {
	for _, x := range h.addrs {
		if x == a {
			return true
		}
	}
	return false
}

// ListenPacket opens a UDP socket on the host. network is "udp" or "udp4";
// address is "[ip]:port" where ip is empty, 0.0.0.0 or one of the host's
// addresses, and port 0 picks a free ephemeral port.
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if network != "udp" && network != "udp4" {
		return nil, fmt.Errorf("natlab: listen %s %s: only udp is simulated", network, address)
	}
	hostPart, portPart, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("natlab: listen %s: %w", address, err)
	}
	var ip netip.Addr
	if hostPart != "" {
		ip, err = netip.ParseAddr(hostPart)
		if err != nil {
			return nil, fmt.Errorf("natlab: listen %s: %w", address, err)
		}
		ip = ip.Unmap()
		if ip.IsUnspecified() {
			ip = netip.Addr{}
		} else if !h.hasAddr(ip) {
			return nil, fmt.Errorf("natlab: listen %s: %s is not an address of host %s", address, ip, h.name)
		}
	}
	var port uint16
	if portPart != "" {
		p, err := strconv.ParseUint(portPart, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("natlab: listen %s: bad port %q", address, portPart)
		}
		port = uint16(p)
	}
	h.in.mu.Lock()
	defer h.in.mu.Unlock()
	if port == 0 {
		port, err = h.ephemeralLocked(ip)
		if err != nil {
			return nil, fmt.Errorf("natlab: listen %s: %w", address, err)
		}
	} else if h.portBusyLocked(ip, port) {
		return nil, fmt.Errorf("natlab: listen %s on %s: address already in use", address, h.name)
	}
	c := &udpConn{h: h, bound: netip.AddrPortFrom(ip, port), wake: make(chan struct{})}
	local := ip
	if !local.IsValid() {
		local = h.addrs[0]
	}
	c.local = &net.UDPAddr{IP: local.AsSlice(), Port: int(port)}
	h.socks[c.bound] = c
	return c, nil
}

func (h *Host) portBusyLocked(ip netip.Addr, port uint16) bool {
	if ip.IsValid() {
		return h.socks[netip.AddrPortFrom(ip, port)] != nil || h.socks[netip.AddrPortFrom(netip.Addr{}, port)] != nil
	}
	for k := range h.socks {
		if k.Port() == port {
			return true
		}
	}
	return false
}

func (h *Host) ephemeralLocked(ip netip.Addr) (uint16, error) {
	// The Linux default ephemeral range.
	const lo, hi = 32768, 60999
	start := lo + h.in.rng.IntN(hi-lo+1)
	for i := range hi - lo + 1 {
		p := uint16(lo + (start-lo+i)%(hi-lo+1))
		if !h.portBusyLocked(ip, p) {
			return p, nil
		}
	}
	return 0, errors.New("no free ephemeral port")
}

// send injects a datagram from one of the host's sockets.
func (h *Host) send(src, dst netip.AddrPort, b []byte) {
	h.in.mu.Lock()
	defer h.in.mu.Unlock()
	h.in.stats.Sent++
	p := &packet{src: src, dst: dst, data: append([]byte(nil), b...)}
	now := time.Now()
	if dst.Addr().IsLoopback() || h.hasAddr(dst.Addr()) {
		if dst.Addr().IsLoopback() {
			p.src = netip.AddrPortFrom(dst.Addr(), src.Port())
		}
		h.deliver(p, now)
		return
	}
	t, ok := h.link.up.pass(now, len(b), h.in.rng)
	if !ok {
		h.in.stats.Dropped++
		return
	}
	h.net.route(p, t, 0)
}

func (h *Host) arrive(p *packet, t time.Time) {
	t, ok := h.link.down.pass(t, len(p.data), h.in.rng)
	if !ok {
		h.in.stats.Dropped++
		return
	}
	h.deliver(p, t)
}

func (h *Host) deliver(p *packet, at time.Time) {
	c := h.socks[p.dst]
	if c == nil {
		c = h.socks[netip.AddrPortFrom(netip.Addr{}, p.dst.Port())]
	}
	if c == nil || !c.push(p, at) {
		h.in.stats.Dropped++
		return
	}
	h.in.stats.Delivered++
}

// udpConn is a simulated UDP socket.
type udpConn struct {
	h     *Host
	bound netip.AddrPort
	local *net.UDPAddr

	mu      sync.Mutex
	inbox   inbox
	queued  int // bytes in inbox
	seq     uint64
	wake    chan struct{} // closed and replaced on every state change
	closed  bool
	readDL  time.Time
	writeDL time.Time
}

const inboxLimit = 4 << 20 // bytes a socket buffers before it drops

// push queues a datagram that becomes readable at at. It is called with the
// internet's lock held.
func (c *udpConn) push(p *packet, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.queued+len(p.data) > inboxLimit {
		return false
	}
	c.seq++
	heap.Push(&c.inbox, queued{p: p, at: at, seq: c.seq})
	c.queued += len(p.data)
	c.signalLocked()
	return true
}

func (c *udpConn) signalLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, nil, c.opErr("read", net.ErrClosed)
		}
		now := time.Now()
		if len(c.inbox) > 0 && !c.inbox[0].at.After(now) {
			q := heap.Pop(&c.inbox).(queued)
			c.queued -= len(q.p.data)
			c.mu.Unlock()
			n := copy(b, q.p.data)
			return n, &net.UDPAddr{IP: q.p.src.Addr().AsSlice(), Port: int(q.p.src.Port())}, nil
		}
		if !c.readDL.IsZero() && !c.readDL.After(now) {
			c.mu.Unlock()
			return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
		}
		var until time.Time
		if len(c.inbox) > 0 {
			until = c.inbox[0].at
		}
		if !c.readDL.IsZero() && (until.IsZero() || c.readDL.Before(until)) {
			until = c.readDL
		}
		wake := c.wake
		c.mu.Unlock()
		var tc <-chan time.Time
		if !until.IsZero() {
			d := until.Sub(now)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C
		}
		select {
		case <-wake:
		case <-tc:
		}
	}
}

func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	dst, err := addrPortOf(addr)
	if err != nil {
		return 0, c.opErr("write", err)
	}
	c.mu.Lock()
	closed, dl := c.closed, c.writeDL
	c.mu.Unlock()
	if closed {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if !dl.IsZero() && !dl.After(time.Now()) {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	if len(b) > 65507 {
		return 0, c.opErr("write", errors.New("message too long"))
	}
	src := netip.AddrPortFrom(c.bound.Addr(), c.bound.Port())
	if !src.Addr().IsValid() {
		src = netip.AddrPortFrom(c.h.addrs[0], c.bound.Port())
	}
	c.h.send(src, dst, b)
	return len(b), nil
}

func addrPortOf(addr net.Addr) (netip.AddrPort, error) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil {
			return ap, errors.New("nil address")
		}
		ap = a.AddrPort()
	case nil:
		return ap, errors.New("nil address")
	default:
		var err error
		ap, err = netip.ParseAddrPort(addr.String())
		if err != nil {
			return ap, fmt.Errorf("address %q: %w", addr.String(), err)
		}
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !ap.Addr().Is4() {
		return ap, fmt.Errorf("address %s: only IPv4 is simulated", ap)
	}
	if ap.Port() == 0 {
		return ap, fmt.Errorf("address %s: port 0", ap)
	}
	return ap, nil
}

func (c *udpConn) Close() error {
	c.h.in.mu.Lock()
	defer c.h.in.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	c.inbox = nil
	c.signalLocked()
	if c.h.socks[c.bound] == c {
		delete(c.h.socks, c.bound)
	}
	return nil
}

func (c *udpConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: append(net.IP(nil), c.local.IP...), Port: c.local.Port}
}

func (c *udpConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDL, c.writeDL = t, t
	c.signalLocked()
	return nil
}

func (c *udpConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDL = t
	c.signalLocked()
	return nil
}

func (c *udpConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDL = t
	return nil
}

func (c *udpConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.local, Err: err}
}

type queued struct {
	p   *packet
	at  time.Time
	seq uint64
}

// inbox orders datagrams by arrival time, then by send order.
type inbox []queued

func (q inbox) Len() int { return len(q) }
func (q inbox) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q inbox) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *inbox) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *inbox) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
