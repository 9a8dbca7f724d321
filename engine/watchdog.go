package engine

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// Stall watchdog. anacrolix v1.59.1 can leave a connection idle forever:
// after a peer rejects a request it adds no requests until an unchoke that
// an already-unchoking peer never sends, refills only when nothing is
// outstanding, and its periodic request update is off. Transmission 3.00
// advertises reqq 512 but accepts only 511 ("pendingReqsToClient + 1 >=
// ReqQ"), so every download from it stopped at 16 MiB - 32 KiB, when
// anacrolix's request bursts first reached 512.
//
// The root fix is in capReqq: we never keep more than reqq-1 requests
// outstanding, so the peer has no reason to reject. The watchdog is the
// net under it for any other way a transfer can go quiet.
const (
	// stallAfter is how long a torrent may go without a useful byte while
	// connected peers have pieces it needs.
	stallAfter = 20 * time.Second
	// watchdogEvery is how often the watchdog looks.
	watchdogEvery = 5 * time.Second
)

// noReqqCapEnv turns the reqq cap off, for the lab test that shows the
// watchdog alone recovering from Transmission's stall.
const noReqqCapEnv = "SWARMSCOPE_TEST_NO_REQQ_CAP"

// capReqq lowers each peer's advertised request queue by one. The
// ReadExtendedHandshake callback runs before anacrolix copies Reqq into
// PeerConn.PeerMaxRequests, the cap of our outstanding requests.
func capReqq(tc *torrent.ClientConfig) {
	if os.Getenv(noReqqCapEnv) == "1" {
		return
	}
	prev := tc.Callbacks.ReadExtendedHandshake
	tc.Callbacks.ReadExtendedHandshake = func(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
		if m.Reqq > 1 {
			m.Reqq--
		}
		if prev != nil {
			prev(pc, m)
		}
	}
}

// stallState is the watchdog's memory of one torrent.
type stallState struct {
	useful   int64     // useful payload bytes received, all connections
	since    time.Time // when useful last changed
	nudged   time.Time // last re-request, zero if none since progress
	closedAt time.Time // last time stalled connections were closed
}

func (e *Engine) watchdog() {
	tick := time.NewTicker(watchdogEvery)
	defer tick.Stop()
	states := map[string]*stallState{}
	bans := e.bans
	// Bans are looked for every second: the peers a ban drops must have
	// been seen before it.
	banTick := time.NewTicker(time.Second)
	defer banTick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-tick.C:
			e.checkStalls(now, states)
		case now := <-banTick.C:
			e.checkBans(now, bans)
		}
	}
}

// banWatch remembers which banned IPs were reported, and which peers each
// IP had recently, to name them once the ban has dropped them.
type banWatch struct {
	mu    sync.Mutex
	known map[string]bool
	seen  map[string]map[string]time.Time // IP -> "addr (client)" -> last seen
}

func (w *banWatch) saw(ap netip.AddrPort, client string, now time.Time) {
	d := ap.String()
	if client != "" {
		d += " (" + client + ")"
	}
	ip := ap.Addr().Unmap().String()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]map[string]time.Time{}
	}
	if w.seen[ip] == nil {
		w.seen[ip] = map[string]time.Time{}
	}
	w.seen[ip][d] = now
}

// installBanWatch records every connection as it is made: a ban can come
// within a second of it.
func (e *Engine) installBanWatch(tc *torrent.ClientConfig) {
	e.bans = &banWatch{known: map[string]bool{}}
	tc.Callbacks.PeerConnAdded = append(tc.Callbacks.PeerConnAdded, func(pc *torrent.PeerConn) {
		if ap := remoteAddrPort(pc); ap.IsValid() {
			e.bans.saw(ap, "", time.Now())
		}
	})
}

// banMemory is how long a peer is remembered for naming in a ban event.
const banMemory = 2 * time.Minute

// checkBans reports the IP bans anacrolix makes for bad data. anacrolix
// v1.59.1 bans the whole IP (smart ban and single-toucher hash failures
// alike) and has no knob, hook or unban for it: every peer behind that
// address (CGNAT, one household) is dropped with the culprit and never
// dialed again. For v1 pieces the judge (engine/smartban.go) keeps it from
// ever doing so; hybrid pieces, which anacrolix hashes itself, can still
// cause one. We cannot undo it; we say who was dropped and why.
func (e *Engine) checkBans(now time.Time, w *banWatch) {
	e.mu.Lock()
	tss := make([]*torrentState, 0, len(e.order))
	for _, ih := range e.order {
		tss = append(tss, e.torrents[ih])
	}
	e.mu.Unlock()
	for _, ts := range tss {
		for _, pc := range ts.t.PeerConns() {
			ap := remoteAddrPort(pc)
			if !ap.IsValid() {
				continue
			}
			name, _ := pc.PeerClientName.Load().(string)
			w.saw(ap, name, now)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range e.cl.BadPeerIPs() {
		ip := s
		if a, err := netip.ParseAddr(s); err == nil {
			ip = a.Unmap().String()
		}
		if w.known[ip] {
			continue
		}
		w.known[ip] = true
		var who []string
		for d := range w.seen[ip] {
			who = append(who, d)
		}
		sort.Strings(who)
		list := "no peer seen on it recently"
		if len(who) > 0 {
			list = strings.Join(who, ", ")
		}
		e.emit(swarm.Event{Kind: swarm.EventPeerBanned, Peer: ip,
			Message: fmt.Sprintf("banned IP %s after data from it failed the piece hash check; every peer on that IP is dropped and not dialed again (anacrolix bans whole IPs): %s", ip, list)})
	}
	for ip, m := range w.seen {
		for d, at := range m {
			if now.Sub(at) > banMemory {
				delete(m, d)
			}
		}
		if len(m) == 0 {
			delete(w.seen, ip)
		}
	}
}

func (e *Engine) checkStalls(now time.Time, states map[string]*stallState) {
	e.mu.Lock()
	var live []*torrentState
	for _, ih := range e.order {
		ts := e.torrents[ih]
		if ts.gotInfo && !ts.paused && ts.err == "" && !ts.complete {
			live = append(live, ts)
		}
	}
	e.mu.Unlock()
	seen := map[string]bool{}
	for _, ts := range live {
		ih := ts.src.InfoHash
		seen[ih] = true
		t := ts.t
		if t.Info() == nil || t.Complete().Bool() {
			continue
		}
		st := states[ih]
		if st == nil {
			st = &stallState{since: now}
			states[ih] = st
		}
		var useful int64
		var holders []*torrent.PeerConn
		for _, pc := range t.PeerConns() {
			ps := pc.Stats()
			useful += ps.BytesReadUsefulData.Int64()
			if hasPieceWeNeed(t, pc) {
				holders = append(holders, pc)
			}
		}
		if useful != st.useful || len(holders) == 0 {
			// Progress, or nobody to blame: a torrent without sources is
			// waiting, not stalled. (Connections come and go; a closed one
			// lowers the sum, which also counts as a change.)
			st.useful, st.since, st.nudged = useful, now, time.Time{}
			continue
		}
		idle := now.Sub(st.since)
		switch {
		case idle < stallAfter:
		case st.nudged.IsZero():
			// Cancel everything and ask again: anacrolix recomputes the
			// requests of every connection, whatever stopped them.
			st.nudged = now
			t.DisallowDataDownload()
			e.mu.Lock()
			paused := ts.paused
			e.mu.Unlock()
			if !paused {
				t.AllowDataDownload()
			}
			e.emit(swarm.Event{Kind: swarm.EventStall, InfoHash: ih, Peer: holders[0].RemoteAddr.String(),
				Message: fmt.Sprintf("stall: no data for %s from %d connected peer(s) that have pieces we need (first %s); cancelled and re-sent our requests",
					idle.Round(time.Second), len(holders), holders[0].RemoteAddr)})
		case now.Sub(st.nudged) >= stallAfter && now.Sub(st.closedAt) >= 2*stallAfter:
			// Re-requesting did not help: start those connections over.
			st.closedAt = now
			var again []torrent.PeerInfo
			for _, pc := range holders {
				e.emit(swarm.Event{Kind: swarm.EventStall, InfoHash: ih, Peer: pc.RemoteAddr.String(),
					Message: fmt.Sprintf("stall: %s sent nothing for %s though it has pieces we need, even after re-requesting; closing the connection so it is dialed again",
						pc.RemoteAddr, idle.Round(time.Second))})
				if a, ok := redialAddr(pc); ok {
					again = append(again, torrent.PeerInfo{Addr: addrPortAddr(a), Source: torrent.PeerSourceDirect})
				}
				pc.Close()
			}
			// anacrolix forgets a peer once connected: without this a closed
			// peer would wait for the next tracker announce or PEX message.
			t.AddPeers(again)
		}
	}
	for ih := range states {
		if !seen[ih] {
			delete(states, ih)
		}
	}
}

// redialAddr is where pc can be dialed: the address we dialed, or for a
// peer that dialed us its IP and the listen port it announced.
func redialAddr(pc *torrent.PeerConn) (netip.AddrPort, bool) {
	ap := remoteAddrPort(pc)
	if !ap.IsValid() {
		return ap, false
	}
	if string(pc.Discovery) != torrent.PeerSourceIncoming {
		return ap, true
	}
	if pc.PeerListenPort > 0 && pc.PeerListenPort < 65536 {
		return netip.AddrPortFrom(ap.Addr(), uint16(pc.PeerListenPort)), true
	}
	return ap, false
}

// hasPieceWeNeed reports whether pc has a piece the torrent wants and lacks.
func hasPieceWeNeed(t *torrent.Torrent, pc *torrent.PeerConn) bool {
	bm := pc.PeerPieces()
	if bm == nil {
		return false
	}
	it := bm.Iterator()
	for it.HasNext() {
		i := int(it.Next())
		if i >= t.NumPieces() {
			break
		}
		p := t.Piece(i)
		if ps := p.State(); !ps.Complete && ps.Priority != 0 {
			return true
		}
	}
	return false
}
