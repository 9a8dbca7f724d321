package engine

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// The holepunch (BEP 55) bookkeeping: which addresses are ours, which peers
// we are already connected to, the state of every rendezvous target, and the
// funnel counters. punchBook holds plain data; the engine calls it with e.mu
// held, so its methods take the time as an argument and never block.

// Rendezvous retry schedule. The first rendezvous to an address is the one
// anacrolix sends the moment a direct dial failed; the retries are ours, and
// they are rendezvous only, without another direct dial. A direct dial that
// crosses a router which accepts packets addressed to itself leaves a
// conntrack entry there that makes the router remap the target's punch to
// another port (seen in the namespace lab); that entry lasts the kernel's
// 30 s UDP timeout after the last packet, so the first retry waits longer
// than that and no direct dial refreshes it meanwhile.
const (
	rendezvousRetryBase = 40 * time.Second
	rendezvousRetryMax  = 10 * time.Minute
	// rendezvousAttempts bounds the attempts per target; after the last
	// one the address is left alone until it has been quiet for
	// punchTargetForget.
	rendezvousAttempts = 8
	punchTargetForget  = 30 * time.Minute
	// connectWait is how long after a rendezvous a relay's Connect or Error
	// may take before the attempt counts as "no Connect arrived". Relays
	// answer at once; this covers piece data queued ahead on their link.
	connectWait = 10 * time.Second
	// punchDialWindow is how long after a Connect a dial to its target is
	// the punch the Connect asked for.
	punchDialWindow = 10 * time.Second
	// repeatWindow is how long an event stays the one later identical ones
	// repeat.
	repeatWindow = 10 * time.Minute
)

// rendezvousBackoff is the wait after the n-th attempt (n >= 1).
func rendezvousBackoff(n int) time.Duration {
	d := rendezvousRetryBase
	for i := 1; i < n && d < rendezvousRetryMax; i++ {
		d *= 2
	}
	return min(d, rendezvousRetryMax)
}

// liveConn is what the punch rules need to know of one connection.
type liveConn struct {
	id         string // peerState.id
	ih         string
	remote     netip.AddrPort
	utp        bool
	peerID     string
	listenPort uint16 // from the extended handshake's "p"; 0 = not told
	holepunch  bool   // the peer speaks ut_holepunch (can relay)
	pex        bool   // the peer speaks ut_pex: it relays only peers it listed
	pexLive    map[netip.AddrPort]struct{}
	ptr        string // the PeerConn's %p, which anacrolix's log lines print
	punchRelay string // the relay that introduced us, if holepunched
	gaveData   bool   // counted in the funnel's GaveData
}

// dialAddr is where the peer says it listens, as anacrolix computes it.
func (c *liveConn) dialAddr() netip.AddrPort {
	if c.listenPort == 0 {
		return c.remote
	}
	return netip.AddrPortFrom(c.remote.Addr(), c.listenPort)
}

// natChangedPort reports evidence that the peer's NAT rewrote its port: a
// uTP peer dials from its listen socket, so an accepted uTP connection
// from another port than the one it listens on was translated on the way.
// (TCP dials leave from ephemeral ports, so TCP gives no such evidence.)
func (c *liveConn) natChangedPort() bool {
	return c.utp && (c.listenPort == 0 || c.listenPort != c.remote.Port())
}

// punchTarget is one address we asked relays to introduce us to.
type punchTarget struct {
	ih       string
	addr     netip.AddrPort
	attempts int
	first    time.Time
	last     time.Time // last rendezvous sent
	next     time.Time // next retry is due
	relays   []string  // relays asked in the last attempt
	// answered: a Connect or an Error came back for the last attempt.
	answered bool
	// judged: the last attempt's "no Connect" verdict has been counted.
	judged bool
	done   bool // connected, or given up
}

type punchBook struct {
	ownIPs   map[netip.Addr]string // our addresses → where we learned them
	ownPorts map[uint16]string
	ownPairs map[netip.AddrPort]string
	conns    map[string]*liveConn          // by peerState.id
	peerIDs  map[netip.AddrPort]string     // address → peer id, from connections
	dials    map[netip.AddrPort]*dialBurst // direct dials in flight
	targets  map[netip.AddrPort]*punchTarget
	funnels  map[string]*swarm.HolepunchFunnel // by infohash
	relays   map[string]*swarm.HolepunchFunnel // by relay address
	repeats  map[string]*repeatState
	vetoed   map[netip.AddrPort]vetoMemo
}

type dialBurst struct {
	pending int
	ok      bool
	punch   bool
}

type repeatState struct {
	n    int
	last time.Time
}

type vetoMemo struct {
	at     time.Time
	reason string
}

func newPunchBook() *punchBook {
	return &punchBook{
		ownIPs:   map[netip.Addr]string{},
		ownPorts: map[uint16]string{},
		ownPairs: map[netip.AddrPort]string{},
		conns:    map[string]*liveConn{},
		peerIDs:  map[netip.AddrPort]string{},
		dials:    map[netip.AddrPort]*dialBurst{},
		targets:  map[netip.AddrPort]*punchTarget{},
		funnels:  map[string]*swarm.HolepunchFunnel{},
		relays:   map[string]*swarm.HolepunchFunnel{},
		repeats:  map[string]*repeatState{},
		vetoed:   map[netip.AddrPort]vetoMemo{},
	}
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// noteOwnIP records an address of ours (a local interface, STUN's mapped
// address, the UPnP gateway's external address, a peer's "yourip").
func (b *punchBook) noteOwnIP(ip netip.Addr, source string) {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		return
	}
	if _, ok := b.ownIPs[ip]; !ok {
		b.ownIPs[ip] = source
	}
}

// noteOwnPort records a port peers reach us on: the listen port, the port
// STUN saw our socket mapped to, a UPnP mapping's external port.
func (b *punchBook) noteOwnPort(p uint16, source string) {
	if p == 0 {
		return
	}
	if _, ok := b.ownPorts[p]; !ok {
		b.ownPorts[p] = source
	}
}

// noteOwnAddr records an exact endpoint of ours.
func (b *punchBook) noteOwnAddr(a netip.AddrPort, source string) {
	a = unmap(a)
	if !a.IsValid() {
		return
	}
	b.noteOwnIP(a.Addr(), source)
	b.noteOwnPort(a.Port(), source)
	if _, ok := b.ownPairs[a]; !ok {
		b.ownPairs[a] = source
	}
}

// own reports whether a is one of our own endpoints, and how we know. An
// address of ours with a port of ours is ours: another host behind our NAT
// cannot hold our public port, and another program on this host cannot
// listen on our port.
func (b *punchBook) own(a netip.AddrPort) (string, bool) {
	a = unmap(a)
	if src, ok := b.ownPairs[a]; ok {
		return src, true
	}
	ipSrc, ok1 := b.ownIPs[a.Addr()]
	_, ok2 := b.ownPorts[a.Port()]
	if ok1 && ok2 {
		return ipSrc, true
	}
	return "", false
}

func (b *punchBook) connAdded(c *liveConn) {
	c.remote = unmap(c.remote)
	b.conns[c.id] = c
	if c.peerID != "" {
		b.learnPeerID(c.remote, c.peerID)
	}
}

func (b *punchBook) learnPeerID(a netip.AddrPort, id string) {
	// Bounded: addresses of long-gone peers are dropped wholesale rather
	// than grow without end on a busy public client.
	if len(b.peerIDs) > 8192 {
		clear(b.peerIDs)
	}
	b.peerIDs[a] = id
}

// connHandshake records the extended handshake: listen port and extensions.
func (b *punchBook) connHandshake(id string, listenPort int, holepunch, pex bool) {
	c := b.conns[id]
	if c == nil {
		return
	}
	if listenPort > 0 && listenPort < 1<<16 {
		c.listenPort = uint16(listenPort)
		if c.peerID != "" {
			b.learnPeerID(c.dialAddr(), c.peerID)
		}
	}
	c.holepunch, c.pex = holepunch, pex
}

// connPEX applies one ut_pex message from the connection.
func (b *punchBook) connPEX(id string, added, dropped []netip.AddrPort) {
	c := b.conns[id]
	if c == nil {
		return
	}
	if c.pexLive == nil {
		c.pexLive = map[netip.AddrPort]struct{}{}
	}
	for _, a := range dropped {
		delete(c.pexLive, unmap(a))
	}
	for _, a := range added {
		if len(c.pexLive) < 4096 {
			c.pexLive[unmap(a)] = struct{}{}
		}
	}
}

func (b *punchBook) connClosed(id string) { delete(b.conns, id) }

// connected reports whether we already have a connection to the peer at a
// in torrent ih (any torrent when ih is ""), and why we think so.
func (b *punchBook) connected(ih string, a netip.AddrPort) (string, bool) {
	a = unmap(a)
	pid := b.peerIDs[a]
	var byIP *liveConn
	for _, c := range b.conns {
		if ih != "" && c.ih != ih {
			continue
		}
		switch {
		case c.remote == a:
			return "connected from that address", true
		case c.dialAddr() == a:
			return fmt.Sprintf("connected from %s, and it listens on %s", c.remote, a), true
		case pid != "" && c.peerID == pid:
			return fmt.Sprintf("connected to the same peer (peer id) from %s", c.remote), true
		case c.remote.Addr() == a.Addr() && c.natChangedPort():
			byIP = c
		}
	}
	if byIP != nil {
		return fmt.Sprintf("connected to that IP from %s: its NAT changed the port", byIP.remote), true
	}
	return "", false
}

func (b *punchBook) connectedInAll(torrents []string, a netip.AddrPort) (why string, ok bool) {
	if len(torrents) == 0 {
		return "", false
	}
	for _, ih := range torrents {
		if why, ok = b.connected(ih, a); !ok {
			return "", false
		}
	}
	return why, true
}

// relaysFor lists the connections of ih that can introduce us to target:
// they speak ut_holepunch, are not the target, and, if they speak PEX, have
// listed the target as a peer of theirs (the rule anacrolix applies).
func (b *punchBook) relaysFor(ih string, target netip.AddrPort) []*liveConn {
	var out []*liveConn
	for _, c := range b.conns {
		if c.ih != ih || !c.holepunch || c.remote == target || c.dialAddr() == target {
			continue
		}
		if c.pex {
			if _, ok := c.pexLive[target]; !ok {
				continue
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].remote.String() < out[j].remote.String() })
	return out
}

func (b *punchBook) funnel(ih string) *swarm.HolepunchFunnel {
	f := b.funnels[ih]
	if f == nil {
		f = &swarm.HolepunchFunnel{}
		b.funnels[ih] = f
	}
	return f
}

func (b *punchBook) relayFunnel(relay string) *swarm.HolepunchFunnel {
	f := b.relays[relay]
	if f == nil {
		f = &swarm.HolepunchFunnel{}
		b.relays[relay] = f
	}
	return f
}

// count applies fn to the torrent's funnel and, when relay is known, to
// the relay's.
func (b *punchBook) count(ih, relay string, fn func(*swarm.HolepunchFunnel)) {
	fn(b.funnel(ih))
	if relay != "" {
		fn(b.relayFunnel(relay))
	}
}

// rendezvousSent records a rendezvous to target through relays, by
// anacrolix after a failed dial or by our retry.
func (b *punchBook) rendezvousSent(ih string, target netip.AddrPort, relays []string, now time.Time) (t *punchTarget, newAttempt bool) {
	target = unmap(target)
	t = b.targets[target]
	if t == nil || t.done {
		t = &punchTarget{ih: ih, addr: target, first: now}
		b.targets[target] = t
	}
	// anacrolix logs one line per relay: lines within a moment of each
	// other are one attempt.
	if t.attempts == 0 || now.Sub(t.last) > time.Second {
		t.attempts++
		t.relays = nil
		t.answered, t.judged = false, false
		b.funnel(ih).RendezvousAttempts++
		newAttempt = true
		t.last = now
		t.next = now.Add(rendezvousBackoff(t.attempts))
	}
	t.done = false
	for _, r := range relays {
		if r != "" {
			t.relays = append(t.relays, r)
		}
		b.count(ih, r, func(f *swarm.HolepunchFunnel) { f.RendezvousSent++ })
	}
	return t, newAttempt
}

// answered marks the target's current attempt answered by a relay.
func (b *punchBook) answered(target netip.AddrPort) {
	if t := b.targets[unmap(target)]; t != nil {
		t.answered = true
	}
}

// resolved marks a target connected: no more rendezvous for it.
func (b *punchBook) resolved(target netip.AddrPort) {
	if t := b.targets[unmap(target)]; t != nil {
		t.done = true
	}
}

// due returns the targets whose retry is due, the attempts that got
// neither a Connect nor an Error in time (each reported once), and the
// targets given up after their last attempt.
func (b *punchBook) due(now time.Time) (retry, unanswered, gaveUp []*punchTarget) {
	for a, t := range b.targets {
		if t.done {
			if now.Sub(t.last) > punchTargetForget {
				delete(b.targets, a)
			}
			continue
		}
		if !t.answered && !t.judged && now.Sub(t.last) >= connectWait {
			t.judged = true
			unanswered = append(unanswered, t)
		}
		if !now.Before(t.next) {
			if t.attempts >= rendezvousAttempts {
				t.done = true
				gaveUp = append(gaveUp, t)
				continue
			}
			retry = append(retry, t)
		}
	}
	sort.Slice(retry, func(i, j int) bool { return retry[i].addr.String() < retry[j].addr.String() })
	return retry, unanswered, gaveUp
}

// Dial gate verdicts.
type dialVerdict int

const (
	dialAllow dialVerdict = iota
	dialVetoOwn
	dialVetoConnected
	dialVetoPunchOnly // a rendezvous target: retried by rendezvous, not dialed
)

// gate decides whether a direct dial to a goes ahead. punchDial reports
// that a relay's Connect named a just now (the dial is the punch). A dial
// does not say for which torrent it is, so "connected" must hold in every
// torrent of torrents: a peer we share one torrent with may still be
// wanted in another.
func (b *punchBook) gate(a netip.AddrPort, torrents []string, punchDial bool, now time.Time) (dialVerdict, string) {
	a = unmap(a)
	if src, ok := b.own(a); ok {
		return dialVetoOwn, "it is our own address (" + src + ")"
	}
	if why, ok := b.connectedInAll(torrents, a); ok {
		return dialVetoConnected, why
	}
	if punchDial {
		return dialAllow, ""
	}
	if t := b.targets[a]; t != nil && !t.done && t.attempts > 0 {
		return dialVetoPunchOnly, fmt.Sprintf("its direct dial failed; rendezvous attempt %d of %d due %s",
			min(t.attempts+1, rendezvousAttempts), rendezvousAttempts, t.next.Format(time.TimeOnly))
	}
	return dialAllow, ""
}

// dialStarted and dialEnded bracket one real dial (one per dialer: TCP
// and uTP dial at once). ended reports, once all dials to a have ended,
// whether the burst failed as a whole.
func (b *punchBook) dialStarted(a netip.AddrPort, punch bool) (first bool) {
	a = unmap(a)
	d := b.dials[a]
	if d == nil {
		d = &dialBurst{}
		b.dials[a] = d
		first = true
	}
	d.pending++
	d.punch = d.punch || punch
	return first
}

func (b *punchBook) dialEnded(a netip.AddrPort, ok bool) (done, failed, punch bool) {
	a = unmap(a)
	d := b.dials[a]
	if d == nil {
		return false, false, false
	}
	d.pending--
	d.ok = d.ok || ok
	if d.pending > 0 {
		return false, false, d.punch
	}
	delete(b.dials, a)
	return true, !d.ok, d.punch
}

// repeat returns how many times an event with this key has occurred within
// repeatWindow of its previous occurrence, this one included.
func (b *punchBook) repeat(key string, now time.Time) int {
	r := b.repeats[key]
	if r == nil || now.Sub(r.last) > repeatWindow {
		if len(b.repeats) > 4096 {
			for k, v := range b.repeats {
				if now.Sub(v.last) > repeatWindow {
					delete(b.repeats, k)
				}
			}
		}
		r = &repeatState{}
		b.repeats[key] = r
	}
	r.n++
	r.last = now
	return r.n
}

// snapshot copies the funnels: per torrent, the total, and per relay.
func (b *punchBook) snapshot() (byTorrent map[string]swarm.HolepunchFunnel, total swarm.HolepunchFunnel, relays []swarm.RelayFunnel) {
	byTorrent = make(map[string]swarm.HolepunchFunnel, len(b.funnels))
	for ih, f := range b.funnels {
		if ih != "" {
			byTorrent[ih] = *f
		}
		total.Merge(*f)
	}
	for r, f := range b.relays {
		relays = append(relays, swarm.RelayFunnel{Relay: r, HolepunchFunnel: *f})
	}
	sort.Slice(relays, func(i, j int) bool { return relays[i].Relay < relays[j].Relay })
	return byTorrent, total, relays
}

// ownList describes our own addresses for a log line or test.
func (b *punchBook) ownList() string {
	var parts []string
	for a, s := range b.ownPairs {
		parts = append(parts, a.String()+" ("+s+")")
	}
	for ip, s := range b.ownIPs {
		parts = append(parts, ip.String()+" ("+s+")")
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
