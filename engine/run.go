package engine

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// installCallbacks hooks the client. Callbacks run with the client lock
// held: they only record facts under e.mu and queue events; everything that
// needs the client lock (Stats) happens on the tick.
func (e *Engine) installCallbacks(tc *torrent.ClientConfig) {
	cb := &tc.Callbacks
	cb.PeerConnAdded = append(cb.PeerConnAdded, e.onPeerConnAdded)
	cb.PeerConnClosed = e.onPeerConnClosed
	cb.PeerConnReadExtensionMessage = append(cb.PeerConnReadExtensionMessage, e.onExtensionMessage)
	e.installPunch(tc)     // engine/punchplan.go: listen ports, extensions, PEX
	capReqq(tc)            // engine/watchdog.go: Transmission's reqq stall
	e.installMetaGuard(tc) // engine/metaguard.go: metadata bombs from peers
	e.installBanWatch(tc)  // engine/watchdog.go: say whom an IP ban dropped
	e.judge.install(tc)    // engine/smartban.go: bad data judged per peer
}

func (e *Engine) upnpActive() bool {
	e.mu.Lock()
	u := e.cfg.UPnP
	e.mu.Unlock()
	return u != nil && u.Active()
}

func (e *Engine) onPeerConnAdded(pc *torrent.PeerConn) {
	now := time.Now()
	remote := remoteAddrPort(pc)
	upnp := e.upnpActive()
	ih := ""
	if t := pc.Torrent(); t != nil {
		ih = t.InfoHash().HexString()
	}
	e.mu.Lock()
	origin := classify(connInfo{Discovery: string(pc.Discovery), Remote: remote, At: now}, e.connectSeenLocked, upnp)
	e.nextID++
	ps := &peerState{
		id:        fmt.Sprintf("p%d", e.nextID),
		ih:        ih,
		origin:    origin,
		transport: transportOf(pc.Network),
		discovery: discoveryOf(string(pc.Discovery)),
		addr:      pc.RemoteAddr.String(),
		encrypted: encryptedFlag(pc.String()),
		since:     now,
	}
	e.peers[pc] = ps
	e.punchConnAddedLocked(pc, ps, remote) // engine/punchplan.go
	var resolved *connectRecord
	var how string
	if rec := e.connectRecordLocked(remote); rec != nil && origin == swarm.OriginHolepunched && !rec.resolved {
		rec.resolved = true
		resolved = rec
		ps.relay, ps.connectTook = rec.relay, now.Sub(rec.at)
		how = e.punchSucceededLocked(rec, ps, remote, now)
	}
	e.mu.Unlock()
	e.emit(swarm.Event{Time: now, Kind: swarm.EventPeerConnected, InfoHash: ih, Peer: ps.addr, Origin: origin,
		Message: fmt.Sprintf("%s %s peer %s connected (%s)", origin, ps.transport, ps.addr, ps.discovery)})
	if resolved != nil {
		e.emit(swarm.Event{Time: now, Kind: swarm.EventHolepunchSucceeded, InfoHash: ih, Peer: ps.addr, Origin: origin, Via: resolved.relay,
			Message: fmt.Sprintf("holepunch to %s via %s succeeded in %s%s", ps.addr, resolved.relay, now.Sub(resolved.at).Round(time.Millisecond), how)})
	}
}

// encryptedFlag reads the connection flags that PeerConn.String prints:
// anacrolix keeps its crypto state unexported, and "E" (RC4) or "e" (header
// obfuscation) in that list is the only public sign of it.
func encryptedFlag(s string) bool {
	i := strings.Index(s, "flags=")
	if i < 0 {
		return false
	}
	rest := s[i+len("flags="):]
	if j := strings.IndexAny(rest, " ]"); j >= 0 {
		rest = rest[:j]
	}
	for _, f := range strings.Split(rest, ",") {
		if f == "E" || f == "e" {
			return true
		}
	}
	return false
}

func remoteAddrPort(pc *torrent.PeerConn) netip.AddrPort {
	if pc.RemoteAddr == nil {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(pc.RemoteAddr.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (e *Engine) connectSeenLocked(a netip.AddrPort) time.Time {
	if rec := e.connectRecordLocked(a); rec != nil {
		return rec.at
	}
	return time.Time{}
}

func (e *Engine) onPeerConnClosed(pc *torrent.PeerConn) {
	e.mu.Lock()
	ps := e.peers[pc]
	if ps != nil {
		e.closing = append(e.closing, pc)
		e.punch.connClosed(ps.id)
	}
	e.mu.Unlock()
	if ps != nil {
		e.emit(swarm.Event{Kind: swarm.EventPeerDisconnected, InfoHash: ps.ih, Peer: ps.addr, Origin: ps.origin,
			Message: fmt.Sprintf("%s peer %s disconnected after %s", ps.origin, ps.addr, time.Since(ps.since).Round(time.Second))})
	}
}

func (e *Engine) run() {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.Tick)
	defer tick.Stop()
	e.sample(time.Now())
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-tick.C:
			e.sample(now)
		case <-e.kick:
			e.sample(time.Now())
		}
	}
}

// sample reads every counter once and publishes a snapshot. It takes the
// client lock (through anacrolix calls) and e.mu, never both at once.
func (e *Engine) sample(now time.Time) {
	e.mu.Lock()
	type tref struct {
		ih string
		ts *torrentState
		// validated: metadata checked and file priorities set, so the
		// file list is worth showing.
		validated bool
	}
	refs := make([]tref, 0, len(e.order))
	for _, ih := range e.order {
		ts := e.torrents[ih]
		refs = append(refs, tref{ih, ts, ts.gotInfo})
	}
	closing := e.closing
	e.closing = nil
	e.mu.Unlock()

	// Final counts of closed connections: safe now, outside the callback.
	type final struct {
		pc       *torrent.PeerConn
		down, up int64
	}
	finals := make([]final, 0, len(closing))
	for _, pc := range closing {
		st := pc.Stats()
		finals = append(finals, final{pc, st.BytesReadData.Int64(), st.BytesWrittenData.Int64()})
	}

	type peerRead struct {
		pc       *torrent.PeerConn
		down, up int64
		have     int
		client   string
	}
	type torrentRead struct {
		ref       tref
		info      bool
		name      string
		size      int64
		completed int64
		numPieces int
		stats     torrent.TorrentStats
		peers     []peerRead
		files     []swarm.FileInfo
		complete  bool
	}
	reads := make([]torrentRead, 0, len(refs))
	for _, r := range refs {
		t := r.ts.t
		tr := torrentRead{ref: r, name: t.Name()}
		if info := t.Info(); info != nil {
			tr.info = true
			tr.size = t.Length()
			tr.completed = t.BytesCompleted()
			// Progress is what is verified and stored (a restart keeps it),
			// not chunks of pieces still in flight.
			if n, ok := e.store.VerifiedBytes(t.InfoHash()); ok {
				tr.completed = n
			}
			tr.numPieces = t.NumPieces()
			tr.complete = t.Complete().Bool()
			for _, f := range filesIf(r.validated, t) {
				tr.files = append(tr.files, swarm.FileInfo{Path: f.DisplayPath(), Size: f.Length(), Completed: f.BytesCompleted(), Priority: priorityOf(f)})
			}
		}
		tr.stats = t.Stats()
		for _, pc := range t.PeerConns() {
			st := pc.Stats()
			name, _ := pc.PeerClientName.Load().(string)
			tr.peers = append(tr.peers, peerRead{pc, st.BytesReadData.Int64(), st.BytesWrittenData.Int64(), st.RemotePieceCount, name})
		}
		reads = append(reads, tr)
	}

	dhtInfo := e.dhtInfo()
	snap := swarm.Snapshot{Time: now, ListenAddr: e.ListenAddr(), UPnPActive: e.upnpActive(), DHT: dhtInfo}
	var finishing []finishing
	var completedNow []swarm.TorrentInfo
	var failedPunches []swarm.Event

	e.mu.Lock()
	for _, f := range finals {
		ps := e.peers[f.pc]
		if ps == nil {
			continue
		}
		p := &e.paths[originIndex(ps.origin)]
		p.closedDown += f.down
		p.closedUp += f.up
		if ts := e.torrents[ps.ih]; ts != nil {
			ts.closedDown += f.down
			ts.closedUp += f.up
		}
		delete(e.peers, f.pc)
	}
	var pathPeers [swarm.NumOrigins]int
	var pathDown, pathUp [swarm.NumOrigins]float64
	var liveDown, liveUp [swarm.NumOrigins]int64
	for _, tr := range reads {
		ts := tr.ref.ts
		ti := swarm.TorrentInfo{
			InfoHash:  tr.ref.ih,
			Name:      tr.name,
			Size:      tr.size,
			Completed: tr.completed,
			AddedAt:   ts.addedAt,
			Files:     tr.files,
			Err:       ts.err,
			ETA:       -1,
			DownBytes: ts.closedDown,
			UpBytes:   ts.closedUp,
		}
		if ti.Name == "" {
			ti.Name = displayName(ts.src)
		}
		if tr.size > 0 {
			ti.Progress = float64(tr.completed) / float64(tr.size)
		}
		for _, p := range tr.peers {
			ps := e.peers[p.pc]
			if ps == nil {
				continue // closed between reads, or not yet added
			}
			ps.down, ps.up = p.down, p.up
			e.punchGaveDataLocked(ps) // engine/punchplan.go
			ps.rate.add(now, p.down, p.up)
			down, up := ps.rate.rates()
			prog := 0.0
			if tr.numPieces > 0 {
				prog = float64(p.have) / float64(tr.numPieces)
			}
			ti.PeerList = append(ti.PeerList, swarm.PeerInfo{
				ID: ps.id, Origin: ps.origin, Transport: ps.transport, Discovery: ps.discovery,
				Addr: ps.addr, Client: p.client, Encrypted: ps.encrypted, Progress: prog,
				DownBps: down, UpBps: up, DownBytes: p.down, UpBytes: p.up, Since: ps.since,
				Relay: ps.relay, ConnectTook: ps.connectTook,
			})
			ti.Peers.Add(ps.origin, 1)
			ti.DownBps += down
			ti.UpBps += up
			ti.DownBytes += p.down
			ti.UpBytes += p.up
			if tr.numPieces > 0 && p.have >= tr.numPieces {
				ti.Seeds++
			} else {
				ti.Leechers++
			}
			i := originIndex(ps.origin)
			pathPeers[i]++
			pathDown[i] += down
			pathUp[i] += up
			liveDown[i] += p.down
			liveUp[i] += p.up
		}
		ti.Known = max(tr.stats.TotalPeers-tr.stats.ActivePeers, 0)
		switch {
		case ts.err != "":
			ti.State = swarm.StateError
		case ts.finished:
			ti.State = swarm.StateFinished
		case ts.paused:
			ti.State = swarm.StatePaused
		case !tr.info:
			ti.State = swarm.StateMetadata
		case tr.complete:
			ti.State = swarm.StateSeeding
		default:
			ti.State = swarm.StateDownloading
		}
		if ti.State == swarm.StateSeeding {
			ti.ETA = 0
		} else if ti.DownBps > 0 && tr.info {
			ti.ETA = time.Duration(float64(tr.size-tr.completed) / ti.DownBps * float64(time.Second))
		}
		if tr.complete && !ts.complete {
			ts.complete = true
			completedNow = append(completedNow, ti)
		}
		// Trackers, DHT, why idle, session counters, seeding limits
		// (engine/tick.go).
		finishing = e.tickTorrentLocked(ts, &ti, tr.complete, len(tr.peers), tr.stats.HalfOpenPeers, dhtInfo, now, finishing)
		sort.Slice(ti.PeerList, func(a, b int) bool { return ti.PeerList[a].Since.Before(ti.PeerList[b].Since) })
		snap.Torrents = append(snap.Torrents, ti)
		snap.DownBps += ti.DownBps
		snap.UpBps += ti.UpBps
	}
	snap.Paths = make([]swarm.PathStats, swarm.NumOrigins)
	for i := range e.paths {
		p := &e.paths[i]
		p.push(swarm.RateSample{DownBps: pathDown[i], UpBps: pathUp[i]})
		snap.Paths[i] = swarm.PathStats{
			Origin: p.origin, Peers: pathPeers[i], DownBps: pathDown[i], UpBps: pathUp[i],
			DownBytes: p.closedDown + liveDown[i], UpBytes: p.closedUp + liveUp[i],
			History: p.historyCopy(),
		}
	}
	for addr, rec := range e.connects {
		if now.Sub(rec.at) <= HolepunchWindow {
			continue
		}
		if ev, failed := e.punchWindowEndedLocked(addr, rec, now); failed { // engine/punchplan.go
			failedPunches = append(failedPunches, ev)
		}
		delete(e.connects, addr)
	}
	e.punchSnapshotLocked(&snap)
	e.mu.Unlock()

	for _, ev := range failedPunches {
		e.emitRepeat(ev)
	}
	for _, f := range finishing {
		e.finish(f.ts, f.reason)
	}
	go e.persistDue()
	for _, ti := range completedNow {
		e.emit(swarm.Event{Time: now, Kind: swarm.EventTorrentCompleted, InfoHash: ti.InfoHash, Message: fmt.Sprintf("%s complete: %s verified", ti.Name, FormatBytes(ti.Size))})
	}
	e.latest.Store(&snap)
	select {
	case <-e.snaps:
	default:
	}
	e.snaps <- snap
}

func filesIf(ok bool, t *torrent.Torrent) []*torrent.File {
	if !ok {
		return nil
	}
	return t.Files()
}

func priorityOf(f *torrent.File) swarm.Priority {
	switch p := f.Priority(); {
	case p == 0:
		return swarm.PrioritySkip
	case p > 1:
		return swarm.PriorityHigh
	}
	return swarm.PriorityNormal
}
