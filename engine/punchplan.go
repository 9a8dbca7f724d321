package engine

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
	utHolepunch "github.com/anacrolix/torrent/peer_protocol/ut-holepunch"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// NoteOwnAddr tells the engine an endpoint of ours that peers may list
// back to us: the STUN-mapped address, a UPnP mapping's external address.
// The engine never dials it and never asks a relay for it.
func (e *Engine) NoteOwnAddr(a netip.AddrPort, source string) {
	if !a.IsValid() {
		return
	}
	e.mu.Lock()
	e.punch.noteOwnAddr(a, source)
	e.mu.Unlock()
}

// noteLocalAddrs records this host's own addresses with our listen port.
func (e *Engine) noteLocalAddrs() {
	port := uint16(e.ListenPort())
	e.mu.Lock()
	defer e.mu.Unlock()
	e.punch.noteOwnPort(port, "our listen port")
	if e.utpSock != nil {
		if ua, ok := e.utpSock.Addr().(*net.UDPAddr); ok {
			e.punch.noteOwnAddr(ua.AddrPort(), "our listen address")
		}
		return
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				e.punch.noteOwnAddr(netip.AddrPortFrom(ip.Unmap(), port), "a local interface")
			}
		}
	}
}

// punchLoop runs the rendezvous retries and judges unanswered attempts.
func (e *Engine) punchLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-t.C:
			e.punchStep(now)
		}
	}
}

type rendezvousSend struct {
	t   *punchTarget
	pcs []*torrent.PeerConn
}

func (e *Engine) punchStep(now time.Time) {
	var evs []swarm.Event
	var sends []rendezvousSend
	e.mu.Lock()
	pb := e.punch
	retry, unanswered, gaveUp := pb.due(now)
	for _, t := range unanswered {
		relays := append([]string(nil), t.relays...)
		fc := func(f *swarm.HolepunchFunnel) { f.Failures.NoConnect++ }
		fc(pb.funnel(t.ih))
		for _, r := range relays {
			fc(pb.relayFunnel(r))
		}
		evs = append(evs, swarm.Event{Time: now, Kind: swarm.EventHolepunchFailed, InfoHash: t.ih, Peer: t.addr.String(), Via: strings.Join(relays, ","),
			Message: fmt.Sprintf("holepunch to %s failed: no Connect arrived from %s within %s of our rendezvous (attempt %d); %s",
				t.addr, plural(len(relays), "relay", "relays", strings.Join(relays, ", ")), connectWait, t.attempts, e.natEvidenceLocked())})
	}
	for _, t := range gaveUp {
		pb.funnel(t.ih).Failures.GaveUp++
		evs = append(evs, swarm.Event{Time: now, Kind: swarm.EventHolepunchFailed, InfoHash: t.ih, Peer: t.addr.String(),
			Message: fmt.Sprintf("giving up on holepunching %s after %d rendezvous since %s", t.addr, t.attempts, t.first.Format(time.TimeOnly))})
	}
	for _, t := range retry {
		if _, ok := pb.connected(t.ih, t.addr); ok {
			t.done = true
			continue
		}
		if _, ok := pb.own(t.addr); ok {
			t.done = true
			continue
		}
		relays := pb.relaysFor(t.ih, t.addr)
		if len(relays) == 0 {
			// Nobody can introduce us now; look again later without
			// spending an attempt.
			t.next = now.Add(rendezvousRetryBase)
			continue
		}
		ids := make(map[string]bool, len(relays))
		for _, r := range relays {
			ids[r.id] = true
		}
		s := rendezvousSend{t: t}
		for pc, ps := range e.peers {
			if ids[ps.id] {
				s.pcs = append(s.pcs, pc)
			}
		}
		// Not due again until this send is recorded.
		t.next = now.Add(rendezvousRetryBase)
		sends = append(sends, s)
	}
	e.mu.Unlock()

	for _, s := range sends {
		payload, err := (&utHolepunch.Msg{MsgType: utHolepunch.Rendezvous, AddrPort: s.t.addr}).MarshalBinary()
		if err != nil {
			continue
		}
		var sent []string
		for _, pc := range s.pcs {
			// Takes the client lock; e.mu is not held.
			if pc.WriteExtendedMessage(utHolepunch.ExtensionName, payload) == nil {
				sent = append(sent, remoteAddrPort(pc).String())
			}
		}
		if len(sent) == 0 {
			continue
		}
		e.mu.Lock()
		t, _ := pb.rendezvousSent(s.t.ih, s.t.addr, sent, now)
		attempt, next := t.attempts, t.next
		e.mu.Unlock()
		then := "last attempt"
		if attempt < rendezvousAttempts {
			then = "next in " + next.Sub(now).Round(time.Second).String() + " if this fails"
		}
		evs = append(evs, swarm.Event{Time: now, Kind: swarm.EventHolepunchRendezvous, InfoHash: s.t.ih, Peer: s.t.addr.String(), Via: strings.Join(sent, ","),
			Message: fmt.Sprintf("asked %s to introduce us to %s again (attempt %d of %d, no direct dial; %s)",
				plural(len(sent), "relay", "relays", strings.Join(sent, ", ")), s.t.addr, attempt, rendezvousAttempts, then)})
	}
	for _, ev := range evs {
		e.emitRepeat(ev)
	}
}

func plural(n int, one, many, list string) string {
	if n == 1 {
		return one + " " + list
	}
	return fmt.Sprintf("%d %s (%s)", n, many, list)
}

// emitRepeat emits a holepunch event with its repeat count: how many
// identical ones (kind, torrent, peer) came within repeatWindow of each
// other, this one included.
func (e *Engine) emitRepeat(ev swarm.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.mu.Lock()
	ev.Repeat = e.punch.repeat(string(ev.Kind)+"|"+ev.InfoHash+"|"+ev.Peer, ev.Time)
	e.mu.Unlock()
	e.emit(ev)
}

// natEvidenceLocked says what we measured of our own NAT and that the
// target's is unknown; it never names a NAT type nobody measured.
func (e *Engine) natEvidenceLocked() string {
	return natEvidence(e.natHint)
}

func natEvidence(ours string) string {
	const theirs = "the target's NAT: not measured (it cannot be seen from here)"
	switch ours {
	case "", "unknown":
		return "our NAT: not measured (no STUN result); " + theirs
	case "symmetric":
		return "our NAT: symmetric (measured by STUN): it gives each destination its own port, so the port the relay saw is not the one the target must hit; " + theirs
	case "open":
		return "our address is public (measured by STUN), so packets from the target were stopped on its side or on the way; " + theirs
	case "udp-blocked":
		return "UDP from here looked blocked (measured by STUN); " + theirs
	}
	return "our NAT: " + ours + " (measured by STUN), which keeps one mapping per socket, so our side lets in what answers our punch; " + theirs
}

// onPEX keeps the peers a connection listed in ut_pex: a relay that speaks
// PEX is asked only for peers it listed. It runs in anacrolix's callback
// with the client lock held and only records under e.mu.
func (e *Engine) onPEX(pc *torrent.PeerConn, payload []byte) {
	m, err := pp.LoadPexMsg(payload)
	if err != nil {
		return
	}
	var added, dropped []netip.AddrPort
	for _, a := range m.Added {
		added = append(added, krpcAddrPort(a.IP, a.Port))
	}
	for _, a := range m.Added6 {
		added = append(added, krpcAddrPort(a.IP, a.Port))
	}
	for _, a := range m.Dropped {
		dropped = append(dropped, krpcAddrPort(a.IP, a.Port))
	}
	for _, a := range m.Dropped6 {
		dropped = append(dropped, krpcAddrPort(a.IP, a.Port))
	}
	e.mu.Lock()
	if ps := e.peers[pc]; ps != nil {
		e.punch.connPEX(ps.id, added, dropped)
	}
	e.mu.Unlock()
}

func krpcAddrPort(ip net.IP, port int) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), uint16(port))
}

// countErrCode counts a relay's Error by its BEP 55 code.
func countErrCode(f *swarm.HolepunchFunnel, code utHolepunch.ErrCode) {
	switch code {
	case utHolepunch.NoSuchPeer:
		f.Errors.NoSuchPeer++
	case utHolepunch.NotConnected:
		f.Errors.NotConnected++
	case utHolepunch.NoSupport:
		f.Errors.NoSupport++
	case utHolepunch.NoSelf:
		f.Errors.NoSelf++
	default:
		f.Errors.Other++
	}
}

// relayOfLogLocked finds the relay named in anacrolix's rendezvous log
// line, which prints the PeerConn with %v: "*torrent.PeerConn 0xc0… [...]".
func (e *Engine) relayOfLogLocked(conn string) string {
	i := strings.Index(conn, "0x")
	if i < 0 {
		return ""
	}
	ptr := conn[i:]
	if j := strings.IndexAny(ptr, " ["); j >= 0 {
		ptr = ptr[:j]
	}
	for _, c := range e.punch.conns {
		if c.ptr == ptr {
			return c.remote.String()
		}
	}
	return ""
}

// installPunch hooks what the punch rules read from connections: the
// extended handshake (listen port, ut_holepunch and ut_pex support, our
// address as the peer sees it) and the extension messages.
func (e *Engine) installPunch(tc *torrent.ClientConfig) {
	cb := &tc.Callbacks
	prev := cb.ReadExtendedHandshake
	cb.ReadExtendedHandshake = func(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
		e.onPunchHandshake(pc, m)
		if prev != nil {
			prev(pc, m)
		}
	}
	cb.PeerConnReadExtensionMessage = append(cb.PeerConnReadExtensionMessage, e.onExtensionMessage)
}

func (e *Engine) onPunchHandshake(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	_, holepunch := m.M[utHolepunch.ExtensionName]
	_, pex := m.M[pp.ExtensionNamePex]
	holepunch = holepunch && m.M[utHolepunch.ExtensionName] != 0
	pex = pex && m.M[pp.ExtensionNamePex] != 0
	var yourIP netip.Addr
	if len(m.YourIp) == net.IPv4len || len(m.YourIp) == net.IPv6len {
		yourIP, _ = netip.AddrFromSlice(m.YourIp)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ps := e.peers[pc]; ps != nil {
		e.punch.connHandshake(ps.id, m.Port, holepunch, pex)
	}
	// What a peer says our address is, is ours with our ports: a tracker
	// that lists us back, or PEX, will not make us dial it.
	if yourIP.IsValid() {
		e.punch.noteOwnIP(yourIP, "a peer's yourip")
	}
}

func (e *Engine) punchConnAddedLocked(pc *torrent.PeerConn, ps *peerState, remote netip.AddrPort) {
	e.punch.connAdded(&liveConn{
		id: ps.id, ih: ps.ih, remote: remote, utp: ps.transport == swarm.TransportUTP,
		peerID: fmt.Sprintf("%x", pc.PeerID[:]), ptr: fmt.Sprintf("%p", pc),
	})
}

// punchSucceededLocked counts a connection a Connect brought about and
// returns what the event should add about it.
func (e *Engine) punchSucceededLocked(rec *connectRecord, ps *peerState, remote netip.AddrPort, now time.Time) string {
	pb := e.punch
	remapped := rec.target.IsValid() && remote.IsValid() && remote != rec.target
	ms := float64(now.Sub(rec.at)) / float64(time.Millisecond)
	pb.count(rec.ih, rec.relay, func(f *swarm.HolepunchFunnel) {
		f.Handshakes++
		f.ConnectTime.Add(max(ms, 0))
		if remapped {
			f.Remapped++
		}
	})
	if c := pb.conns[ps.id]; c != nil {
		c.punchRelay = rec.relay
	}
	if rec.target.IsValid() {
		pb.resolved(rec.target)
	}
	pb.resolved(remote)
	if remapped {
		return fmt.Sprintf("; it came from %s, not the %s the Connect named: its NAT remapped the port", remote, rec.target)
	}
	return ""
}

// punchGaveDataLocked counts a holepunched peer's first piece data.
func (e *Engine) punchGaveDataLocked(ps *peerState) {
	if ps.origin != swarm.OriginHolepunched || ps.down <= 0 {
		return
	}
	c := e.punch.conns[ps.id]
	if c == nil || c.gaveData {
		return
	}
	c.gaveData = true
	e.punch.count(ps.ih, c.punchRelay, func(f *swarm.HolepunchFunnel) { f.GaveData++ })
}

// punchWindowEndedLocked judges a Connect whose holepunch window is over:
// a failure unless its connection formed or we are connected to the
// target anyway.
func (e *Engine) punchWindowEndedLocked(addr netip.AddrPort, rec *connectRecord, now time.Time) (swarm.Event, bool) {
	if rec.resolved {
		return swarm.Event{}, false
	}
	if _, ok := e.punch.connected(rec.ih, addr); ok {
		return swarm.Event{}, false
	}
	e.punch.count(rec.ih, rec.relay, func(f *swarm.HolepunchFunnel) { f.Failures.NoAnswer++ })
	what := "we punched (dialed it at once)"
	if !rec.dialed {
		what = "we made no punch dial of our own (a dial to it was already under way)"
	}
	return swarm.Event{Time: now, Kind: swarm.EventHolepunchFailed, InfoHash: rec.ih, Peer: addr.String(), Via: rec.relay,
		Message: fmt.Sprintf("holepunch to %s via %s failed: the relay's Connect arrived at %s and %s, but no connection with %s formed within %s: nothing it sent got through to us; %s",
			addr, rec.relay, rec.at.Format(time.TimeOnly), what, addr.Addr(), HolepunchWindow, natEvidence(e.natHint))}, true
}

// punchSnapshotLocked puts the funnels into the snapshot.
func (e *Engine) punchSnapshotLocked(snap *swarm.Snapshot) {
	byTorrent, total, relays := e.punch.snapshot()
	snap.Holepunch, snap.HolepunchRelays = total, relays
	for i := range snap.Torrents {
		snap.Torrents[i].Holepunch = byTorrent[snap.Torrents[i].InfoHash]
	}
}

// onRendezvousLog records the rendezvous anacrolix sent the moment a
// direct dial failed (it logs one line per relay asked).
func (e *Engine) onRendezvousLog(ih, conn, target string) {
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return
	}
	ap = unmap(ap)
	now := time.Now()
	e.mu.Lock()
	relay := e.relayOfLogLocked(conn)
	t, fresh := e.punch.rendezvousSent(ih, ap, []string{relay}, now)
	attempt, next := t.attempts, t.next
	e.mu.Unlock()
	if !fresh {
		return
	}
	via := "a relay"
	if relay != "" {
		via = "relay " + relay
	}
	e.emitRepeat(swarm.Event{Time: now, Kind: swarm.EventHolepunchRendezvous, InfoHash: ih, Peer: ap.String(), Via: relay,
		Message: fmt.Sprintf("direct dial to %s failed; asked %s to introduce us (attempt %d of %d; retried by rendezvous only, next in %s if this fails)",
			ap, via, attempt, rendezvousAttempts, next.Sub(now).Round(time.Second))})
}

func (e *Engine) onExtensionMessage(ev torrent.PeerConnReadExtensionMessageEvent) {
	pc := ev.PeerConn
	m := pc.LocalLtepProtocolMap
	n := int(ev.ExtensionNumber)
	if m == nil || n < 1 || n > len(m.Index) {
		return
	}
	switch m.Index[n-1] {
	case pp.ExtensionNamePex:
		e.onPEX(pc, ev.Payload)
		return
	case utHolepunch.ExtensionName:
	default:
		return
	}
	var msg utHolepunch.Msg
	if err := msg.UnmarshalBinary(ev.Payload); err != nil {
		return // anacrolix reports the protocol error itself
	}
	from := remoteAddrPort(pc).String()
	ih := ""
	if t := pc.Torrent(); t != nil {
		ih = t.InfoHash().HexString()
	}
	target := unmap(msg.AddrPort)
	now := time.Now()
	switch msg.MsgType {
	case utHolepunch.Rendezvous:
		e.mu.Lock()
		e.punch.funnel(ih).Relayed++
		e.mu.Unlock()
		e.emit(swarm.Event{Time: now, Kind: swarm.EventHolepunchRelayed, InfoHash: ih, Peer: target.String(), Via: from,
			Message: fmt.Sprintf("relaying: %s asked us to introduce it to %s", from, target)})
	case utHolepunch.Connect:
		e.mu.Lock()
		rec := &connectRecord{at: now, relay: from, ih: ih, target: target}
		e.connects[target] = rec
		e.punch.count(ih, from, func(f *swarm.HolepunchFunnel) { f.ConnectsReceived++ })
		e.punch.answered(target)
		early := e.relabelEarlyPunchLocked(target, rec, now)
		how := ""
		if early != nil {
			early.relay = from
			how = e.punchSucceededLocked(rec, early, addrPortOf(early.addr), now)
		}
		e.mu.Unlock()
		e.emit(swarm.Event{Time: now, Kind: swarm.EventHolepunchConnect, InfoHash: ih, Peer: target.String(), Via: from,
			Message: fmt.Sprintf("relay %s says connect to %s: punching", from, target)})
		if early != nil {
			e.emit(swarm.Event{Time: now, Kind: swarm.EventHolepunchSucceeded, InfoHash: ih, Peer: early.addr, Origin: swarm.OriginHolepunched, Via: from,
				Message: fmt.Sprintf("holepunch to %s via %s succeeded: its dial arrived before the relay's Connect did%s", early.addr, from, how)})
		}
	case utHolepunch.Error:
		e.mu.Lock()
		e.punch.count(ih, from, func(f *swarm.HolepunchFunnel) { countErrCode(f, msg.ErrCode) })
		e.punch.answered(target)
		e.mu.Unlock()
		e.emitRepeat(swarm.Event{Time: now, Kind: swarm.EventHolepunchError, InfoHash: ih, Peer: target.String(), Via: from,
			Message: fmt.Sprintf("relay %s cannot introduce us to %s: %v (BEP 55 error %d, %s)", from, target, msg.ErrCode, uint32(msg.ErrCode), errCodeName(msg.ErrCode))})
	}
}

func addrPortOf(s string) netip.AddrPort {
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return unmap(a)
}

// errCodeName is the BEP 55 name of an error code.
func errCodeName(c utHolepunch.ErrCode) string {
	switch c {
	case utHolepunch.NoSuchPeer:
		return "NoSuchPeer"
	case utHolepunch.NotConnected:
		return "NotConnected"
	case utHolepunch.NoSupport:
		return "NoSupport"
	case utHolepunch.NoSelf:
		return "NoSelf"
	}
	return "unknown code"
}
