// Package pmp holds the NAT-PMP (RFC 6886) and PCP (RFC 6887) clients of
// nat/portmap. Both speak UDP to port 5351 of the default gateway, map the
// asked port for the asked lease, delete with lifetime 0, and listen on
// 224.0.0.1:5350 for the gateway's announcements (NAT-PMP external address
// changes, PCP ANNOUNCE after a restart); a PCP gateway may also send new
// MAP responses unsolicited, and an epoch that goes back means the gateway
// lost its state. Each of those becomes a portmaptype.Change, upon which the
// mapper re-makes its mappings.
package pmp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pt "github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

// Port is the gateway's NAT-PMP/PCP server port; AnnounceAddr is where
// gateways multicast their announcements.
const (
	Port         = 5351
	AnnounceAddr = "224.0.0.1:5350"
)

// Config configures both probers.
type Config struct {
	// Gateway is the gateway's address; default: the default route's
	// next hop (Linux /proc/net/route).
	Gateway netip.Addr
	// Port overrides the server port (tests); default 5351.
	Port int
	// Dial opens the UDP socket toward the gateway; default the OS.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// ListenAnnounce opens the socket on which gateway announcements
	// arrive, given our address toward the gateway; default: the OS
	// multicast group 224.0.0.1:5350 on that interface. A nil conn and
	// nil error means no announcements.
	ListenAnnounce func(local netip.Addr) (net.PacketConn, error)
	// ProbeTimeout bounds the probe (default 750 ms: a gateway on the LAN
	// answers in a few ms, and the whole nat check should take ≤ 1 s).
	ProbeTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Port == 0 {
		c.Port = Port
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.ListenAnnounce == nil {
		c.ListenAnnounce = listenMulticast
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 750 * time.Millisecond
	}
}

// PCPProber probes for a PCP server with ANNOUNCE.
func PCPProber(cfg Config) pt.Prober { cfg.defaults(); return prober{cfg, pt.PCP} }

// NATPMPProber probes for a NAT-PMP server with an external address
// request.
func NATPMPProber(cfg Config) pt.Prober { cfg.defaults(); return prober{cfg, pt.NATPMP} }

type prober struct {
	cfg   Config
	proto pt.Protocol
}

func (p prober) Protocol() pt.Protocol { return p.proto }

func (p prober) Probe(ctx context.Context) (pt.Client, error) {
	gw := p.cfg.Gateway
	if !gw.IsValid() {
		var err error
		if gw, err = DefaultGateway(); err != nil {
			return nil, err
		}
	}
	gw = gw.Unmap()
	if !gw.Is4() {
		return nil, fmt.Errorf("gateway %s is not IPv4", gw)
	}
	c, err := dial(ctx, p.cfg, netip.AddrPortFrom(gw, uint16(p.cfg.Port)))
	if err != nil {
		return nil, err
	}
	cl := &client{conn: c, proto: p.proto, changes: make(chan pt.Change, 4), nonces: map[string][12]byte{}}
	c.unsolicited = cl.unsolicited
	pctx, cancel := context.WithTimeout(ctx, p.cfg.ProbeTimeout)
	defer cancel()
	if p.proto == pt.PCP {
		err = cl.pcpAnnounce(pctx)
	} else {
		err = cl.pmpAddress(pctx)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	if ln, err := p.cfg.ListenAnnounce(c.local); err == nil && ln != nil {
		cl.announce = ln
		go cl.readAnnouncements(ln)
	}
	return cl, nil
}

// client is a NAT-PMP or PCP client on one gateway.
type client struct {
	*conn
	proto    pt.Protocol
	changes  chan pt.Change
	announce net.PacketConn

	mu       sync.Mutex
	extIP    netip.Addr
	nonces   map[string][12]byte // PCP: one per TCP/UDP, kept for renewal and deletion
	epoch    uint32
	epochAt  time.Time
	closeOne sync.Once
}

func (c *client) Gateway() pt.Gateway {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := pt.Gateway{Protocol: c.proto, Address: c.gw.String(), LocalIP: c.local.String()}
	if c.extIP.IsValid() {
		g.ExternalIP = c.extIP.String()
	}
	return g
}

func (c *client) Changes() <-chan pt.Change { return c.changes }

func (c *client) Close() error {
	c.closeOne.Do(func() {
		if c.announce != nil {
			_ = c.announce.Close()
		}
		c.conn.close()
	})
	return nil
}

func (c *client) notify(ch pt.Change) {
	ch.Protocol = c.proto
	select {
	case c.changes <- ch:
	default: // one pending change re-makes everything anyway
	}
}

// sawEpoch checks the gateway's seconds-since-start-of-epoch: when it is
// less than it must be by now (RFC 6886 §3.6: previous + 7/8 of the time
// elapsed, minus 2 s), the gateway restarted and may have lost our
// mappings.
func (c *client) sawEpoch(e uint32) {
	now := time.Now()
	c.mu.Lock()
	prev, at := c.epoch, c.epochAt
	c.epoch, c.epochAt = e, now
	c.mu.Unlock()
	if at.IsZero() {
		return
	}
	elapsed := now.Sub(at).Seconds()
	if float64(e)+2 < float64(prev)+elapsed*7/8 {
		c.notify(pt.Change{Reason: fmt.Sprintf("its epoch went back (%d s after %d s): it restarted and may have lost the mappings", e, prev)})
	}
}

func (c *client) setExternal(ip netip.Addr) (changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = c.extIP.IsValid() && ip != c.extIP
	c.extIP = ip
	return changed
}

func (c *client) pcpAnnounce(ctx context.Context) error {
	b, err := c.exchange(ctx, pcpAnnounceRequest(c.local), func(b []byte) bool {
		if len(b) > 1 && b[0] == pmpVersion {
			return true // a NAT-PMP-only gateway: "unsupported version"
		}
		r, err := parsePCP(b)
		return err == nil && r.op == pcpOpAnnounce
	})
	if err != nil {
		return err
	}
	if b[0] == pmpVersion {
		return &pt.Error{Protocol: pt.PCP, Code: 1, Text: "the gateway speaks NAT-PMP, not PCP"}
	}
	r, _ := parsePCP(b)
	if r.result != 0 {
		return &pt.Error{Protocol: pt.PCP, Code: r.result, Text: resultText(pcpVersion, r.result)}
	}
	c.sawEpoch(r.epoch)
	return nil
}

func (c *client) pmpAddress(ctx context.Context) error {
	b, err := c.exchange(ctx, pmpAddrRequest(), func(b []byte) bool {
		if len(b) > 1 && b[0] == pcpVersion {
			return true // a PCP-only gateway answering version 0
		}
		r, err := parsePMP(b)
		return err == nil && r.op == pmpOpAddr
	})
	if err != nil {
		return err
	}
	if b[0] == pcpVersion {
		return &pt.Error{Protocol: pt.NATPMP, Code: 1, Text: "the gateway speaks PCP, not NAT-PMP"}
	}
	r, err := parsePMP(b)
	if err != nil {
		return fmt.Errorf("NAT-PMP address reply: %w", err)
	}
	if r.result != 0 {
		return &pt.Error{Protocol: pt.NATPMP, Code: r.result, Text: resultText(pmpVersion, r.result)}
	}
	c.sawEpoch(r.epoch)
	c.setExternal(r.external)
	return nil
}

// lifetime converts a lease for the wire: 0 there means "delete", so a
// permanent lease is asked as two hours.
func lifetime(lease time.Duration) uint32 {
	if lease <= 0 {
		return 7200
	}
	return uint32(min(max(lease/time.Second, 1), 1<<31))
}

func (c *client) Map(ctx context.Context, proto, internalIP string, port int, lease time.Duration) (pt.Mapping, error) {
	if internalIP != "" && internalIP != c.local.String() {
		return pt.Mapping{}, fmt.Errorf("%s maps only this host's own address %s, not %s", c.proto.Name(), c.local, internalIP)
	}
	if port <= 0 || port > 65535 {
		return pt.Mapping{}, fmt.Errorf("bad port %d", port)
	}
	mp := pt.Mapping{Protocol: c.proto, Proto: proto, InternalIP: c.local.String(), InternalPort: port}
	if c.proto == pt.PCP {
		r, err := c.pcpMap(ctx, proto, uint16(port), uint16(port), lifetime(lease))
		if err != nil {
			return mp, err
		}
		mp.ExternalPort, mp.Lease = int(r.mapped), time.Duration(r.lifetime)*time.Second
		if r.external.IsValid() && !r.external.IsUnspecified() {
			c.setExternal(r.external)
			mp.ExternalIP = r.external.String()
		}
	} else {
		r, err := c.pmpMap(ctx, proto, uint16(port), uint16(port), lifetime(lease))
		if err != nil {
			return mp, err
		}
		mp.ExternalPort, mp.Lease = int(r.mapped), time.Duration(r.lifetime)*time.Second
		mp.ExternalIP = c.Gateway().ExternalIP
	}
	if mp.Lease == 0 {
		return mp, fmt.Errorf("%s gateway granted a zero lifetime", c.proto.Name())
	}
	mp.Renewed = time.Now()
	return mp, nil
}

func (c *client) Unmap(ctx context.Context, m pt.Mapping) error {
	if c.proto == pt.PCP {
		_, err := c.pcpMap(ctx, m.Proto, uint16(m.InternalPort), uint16(m.ExternalPort), 0)
		return err
	}
	_, err := c.pmpMap(ctx, m.Proto, uint16(m.InternalPort), 0, 0)
	return err
}

func (c *client) pmpMap(ctx context.Context, proto string, internal, external uint16, life uint32) (pmpReply, error) {
	req, err := pmpMapRequest(proto, internal, external, life)
	if err != nil {
		return pmpReply{}, err
	}
	b, err := c.exchange(ctx, req, func(b []byte) bool {
		r, err := parsePMP(b)
		return err == nil && r.op == req[1] && (r.result != 0 || r.internal == internal)
	})
	if err != nil {
		return pmpReply{}, err
	}
	r, _ := parsePMP(b)
	c.sawEpoch(r.epoch)
	if r.result != 0 {
		return r, &pt.Error{Protocol: pt.NATPMP, Code: r.result, Text: resultText(pmpVersion, r.result)}
	}
	return r, nil
}

func (c *client) nonce(proto string) [12]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nonces[proto]
	if !ok {
		_, _ = rand.Read(n[:])
		c.nonces[proto] = n
	}
	return n
}

func (c *client) pcpMap(ctx context.Context, proto string, internal, external uint16, life uint32) (pcpReply, error) {
	nonce := c.nonce(proto)
	req, err := pcpMapRequest(nonce, proto, internal, external, life, c.local)
	if err != nil {
		return pcpReply{}, err
	}
	b, err := c.exchange(ctx, req, func(b []byte) bool {
		r, err := parsePCP(b)
		return err == nil && r.op == pcpOpMap && r.nonce == nonce
	})
	if err != nil {
		return pcpReply{}, err
	}
	r, _ := parsePCP(b)
	c.sawEpoch(r.epoch)
	if r.result != 0 {
		return r, &pt.Error{Protocol: pt.PCP, Code: r.result, Text: resultText(pcpVersion, r.result)}
	}
	return r, nil
}

// unsolicited handles datagrams from the gateway no request waits for: a
// PCP server sends MAP responses on its own when the external address
// changes (RFC 6887 §14.2).
func (c *client) unsolicited(b []byte) {
	if c.proto != pt.PCP {
		return
	}
	r, err := parsePCP(b)
	if err != nil || r.op != pcpOpMap || r.result != 0 {
		return
	}
	c.mu.Lock()
	ours := false
	for _, n := range c.nonces {
		ours = ours || n == r.nonce
	}
	c.mu.Unlock()
	if !ours {
		return
	}
	c.sawEpoch(r.epoch)
	if r.external.IsValid() && c.setExternal(r.external) {
		c.notify(pt.Change{ExternalIP: r.external.String(), Reason: "it sent a new mapping with another external address"})
	}
}

// readAnnouncements reads the multicast group until the client closes.
func (c *client) readAnnouncements(ln net.PacketConn) {
	buf := make([]byte, 1100)
	for {
		n, from, err := ln.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || !ua.IP.Equal(net.IP(c.gw.Addr().AsSlice())) {
			continue // RFC 6886 §3.2.1: only the gateway's word counts
		}
		b := buf[:n]
		switch {
		case len(b) >= 12 && b[0] == pmpVersion:
			r, err := parsePMP(b)
			if err != nil || r.op != pmpOpAddr || r.result != 0 {
				continue
			}
			c.sawEpoch(r.epoch)
			c.setExternal(r.external)
			c.notify(pt.Change{ExternalIP: r.external.String(), Reason: "it announced its external address " + r.external.String()})
		case len(b) >= pcpHeaderLen && b[0] == pcpVersion:
			r, err := parsePCP(b)
			if err != nil || r.op != pcpOpAnnounce || r.result != 0 {
				continue
			}
			c.sawEpoch(r.epoch)
			c.notify(pt.Change{Reason: "it announced a restart (PCP ANNOUNCE)"})
		}
	}
}

// conn is a UDP socket connected to the gateway's server port, with one
// reader dispatching replies to the requests waiting for them.
type conn struct {
	c     net.Conn
	gw    netip.AddrPort
	local netip.Addr

	mu          sync.Mutex
	waiters     map[*waiter]bool
	unsolicited func([]byte)
	done        chan struct{}
}

type waiter struct {
	match func([]byte) bool
	ch    chan reply
}

type reply struct {
	b   []byte
	err error
}

func dial(ctx context.Context, cfg Config, gw netip.AddrPort) (*conn, error) {
	nc, err := cfg.Dial(ctx, "udp4", gw.String())
	if err != nil {
		return nil, fmt.Errorf("socket toward %s: %w", gw, err)
	}
	la, ok := nc.LocalAddr().(*net.UDPAddr)
	if !ok {
		nc.Close()
		return nil, errors.New("no local UDP address")
	}
	local, _ := netip.AddrFromSlice(la.IP)
	c := &conn{c: nc, gw: gw, local: local.Unmap(), waiters: map[*waiter]bool{}, done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

func (c *conn) close() {
	_ = c.c.Close()
	<-c.done
}

func (c *conn) readLoop() {
	defer close(c.done)
	buf := make([]byte, 1100) // PCP messages are at most 1100 bytes
	for {
		n, err := c.c.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				c.deliverAll(fmt.Errorf("nothing answers on %s (port unreachable)", c.gw))
				continue
			}
			c.deliverAll(err)
			return
		}
		b := append([]byte(nil), buf[:n]...)
		c.mu.Lock()
		var got *waiter
		for w := range c.waiters {
			if w.match(b) {
				got = w
				delete(c.waiters, w)
				break
			}
		}
		un := c.unsolicited
		c.mu.Unlock()
		if got != nil {
			got.ch <- reply{b: b}
		} else if un != nil {
			un(b)
		}
	}
}

func (c *conn) deliverAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.waiters {
		w.ch <- reply{err: err}
		delete(c.waiters, w)
	}
}

// exchange sends req and waits for the reply match accepts, resending at
// 250 ms, 500 ms, 1 s … (RFC 6886 §3.1) until ctx ends.
func (c *conn) exchange(ctx context.Context, req []byte, match func([]byte) bool) ([]byte, error) {
	w := &waiter{match: match, ch: make(chan reply, 1)}
	c.mu.Lock()
	c.waiters[w] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, w)
		c.mu.Unlock()
	}()
	wait := 250 * time.Millisecond
	for {
		if _, err := c.c.Write(req); err != nil {
			return nil, fmt.Errorf("send to %s: %w", c.gw, err)
		}
		t := time.NewTimer(wait)
		select {
		case r := <-w.ch:
			t.Stop()
			return r.b, r.err
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("no answer from %s: %w", c.gw, ctx.Err())
		case <-t.C:
			wait *= 2
		}
	}
}

// listenMulticast joins 224.0.0.1:5350 on the interface holding local.
func listenMulticast(local netip.Addr) (net.PacketConn, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifi := range ifis {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(net.IP(local.AsSlice())) {
				group, _ := net.ResolveUDPAddr("udp4", AnnounceAddr)
				return net.ListenMulticastUDP("udp4", &ifi, group)
			}
		}
	}
	return nil, fmt.Errorf("no interface holds %s", local)
}

// DefaultGateway is the next hop of the IPv4 default route (Linux).
func DefaultGateway() (netip.Addr, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find the default gateway: %w", err)
	}
	defer f.Close()
	return parseRoutes(bufio.NewScanner(f))
}

func parseRoutes(s *bufio.Scanner) (netip.Addr, error) {
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 4 || f[1] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&0x3 != 0x3 { // RTF_UP|RTF_GATEWAY
			continue
		}
		raw, err := hex.DecodeString(f[2])
		if err != nil || len(raw) != 4 {
			continue
		}
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], binary.BigEndian.Uint32(raw))
		return netip.AddrFrom4(a), nil
	}
	return netip.Addr{}, errors.New("no IPv4 default gateway")
}
