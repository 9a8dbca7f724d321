package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	ourstorage "github.com/swarmscope/swarmscope/engine/storage"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// Bad data from peers, judged per peer rather than per IP address.
//
// anacrolix v1.59.1 answers a failed piece by banning IP addresses: that of
// the piece's only contributor, or, after comparing blocks (smart ban),
// those of the peers whose blocks differed from the verified piece. Behind
// CGNAT or in one household many honest peers share an address; an IP ban
// dropped them all and never dialed them again, and a download with one
// hostile and one honest peer on 127.0.0.1 stalled at 44-50 % for good.
// There is no knob for it. Our storage (engine/storage) therefore reports a
// failed check as an error (ErrHashMismatch), which keeps anacrolix from
// judging, and tells the judge every verdict together with the digest of
// each block. The judge knows who wrote each block: anacrolix calls
// ReceivedUsefulData, under its lock, just before it writes a block, and a
// block is written by one peer only (later copies are discarded as
// redundant until the piece fails and is requested again). It decides:
//
//   - a failed piece whose every block came from one peer: that peer sent
//     bad data;
//   - a failed piece with blocks from several peers proves nothing about
//     any one of them: the digests of their blocks are kept, and once the
//     piece passes, every peer whose kept block differs from the verified
//     data sent bad data (block comparison as libtorrent's and anacrolix's
//     smart ban do it). Until it passes, the piece is on parole: the first
//     peer to send a block of it again is the only one whose blocks are
//     written (others are refused through engine/storage's Admit, and
//     anacrolix requests those blocks again), so the next check convicts
//     that peer or yields the verified data the kept blocks are compared
//     with. A parole owner that goes quiet for paroleIdle, or away, hands
//     over to the next peer.
//
// A guilty peer is dropped and refused afterwards by the address it is
// dialed at (IP and listen port) and by IP plus peer ID; other peers on its
// IP are untouched. One event names it, the pieces and the reason.

// blockLen is the unit in which peers send piece data: anacrolix requests
// 16 KiB chunks, and engine/storage reports digests per 16 KiB.
const blockLen = 16 << 10

// maxKeptBlocks bounds the block digests kept from failed pieces per
// torrent (about 2 MB); beyond it, blocks of further failures are not kept.
const maxKeptBlocks = 1 << 16

// paroleIdle is how long the one peer allowed to fetch a piece on parole
// may send nothing for it before another peer may take over.
const paroleIdle = 10 * time.Second

var (
	// errBanned refuses a dial to a banned peer, and blocks it sent before
	// its connection was closed.
	errBanned = errors.New("peer banned for sending bad data")
	// errParole refuses a block of a piece on parole from a peer other
	// than the one fetching it.
	errParole = errors.New("piece on parole: fetched again from one peer alone")
)

// peerRef is one connection as the judge knows it.
type peerRef struct {
	peer   *torrent.Peer
	remote netip.AddrPort
	dial   netip.AddrPort // where it can be dialed, if known
	id     torrent.PeerID
	hasID  bool
	client string
	banned bool
	closed bool
}

func (r *peerRef) String() string {
	s := r.remote.String()
	var extra []string
	if r.dial.IsValid() && r.dial != r.remote {
		extra = append(extra, "listening on "+r.dial.String())
	}
	if r.hasID {
		extra = append(extra, "peer ID "+peerIDString(r.id))
	}
	if r.client != "" {
		extra = append(extra, "client "+strings.ToValidUTF8(fmt.Sprintf("%+q", r.client), ""))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// peerIDString shows a peer ID as its BEP 20 client prefix ("-TR3000-")
// followed by the rest in hex, or all in hex when it has no such prefix.
func peerIDString(id torrent.PeerID) string {
	if id[0] == '-' && id[7] == '-' {
		ok := true
		for _, c := range id[1:7] {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.') {
				ok = false
			}
		}
		if ok {
			return fmt.Sprintf("%s%x", id[:8], id[8:])
		}
	}
	return fmt.Sprintf("%x", id[:])
}

type keptBlock struct {
	block int
	by    *peerRef
	sum   [20]byte
}

// judgeTorrent is what the judge knows about one torrent's pieces.
type judgeTorrent struct {
	writers map[int]map[int]*peerRef // piece -> block -> who wrote it since the last check
	kept    map[int][]keptBlock      // piece -> blocks of its failed checks
	nkept   int
	parole  map[int]*parole // pieces that one peer alone may fetch
}

// parole is a piece that failed with blocks from several peers.
type parole struct {
	owner *peerRef  // the one peer whose blocks are written; nil = the next
	last  time.Time // its last block
}

type idKey struct {
	ip netip.Addr
	id torrent.PeerID
}

type banRecord struct {
	who    string
	reason string
}

// judge attributes blocks to peers and decides who sent bad data.
type judge struct {
	e *Engine

	mu       sync.Mutex
	refs     map[*torrent.Peer]*peerRef
	torrents map[metainfo.Hash]*judgeTorrent
	addrs    map[netip.AddrPort]*banRecord // dial and remote addresses
	ids      map[idKey]*banRecord

	refused atomic.Int64 // connections from banned peers closed at once
}

func newJudge(e *Engine) *judge {
	return &judge{
		e:        e,
		refs:     map[*torrent.Peer]*peerRef{},
		torrents: map[metainfo.Hash]*judgeTorrent{},
		addrs:    map[netip.AddrPort]*banRecord{},
		ids:      map[idKey]*banRecord{},
	}
}

// install hooks the client's callbacks. They run with the client lock held
// and only touch the judge's own state.
func (j *judge) install(tc *torrent.ClientConfig) {
	cb := &tc.Callbacks
	cb.ReceivedUsefulData = append(cb.ReceivedUsefulData, j.onBlock)
	cb.PeerClosed = append(cb.PeerClosed, func(p *torrent.Peer) {
		j.mu.Lock()
		if r := j.refs[p]; r != nil {
			r.closed = true
		}
		delete(j.refs, p)
		j.mu.Unlock()
	})
	cb.PeerConnAdded = append(cb.PeerConnAdded, func(pc *torrent.PeerConn) {
		// A banned peer that dialed us: refuse it once its peer ID is known
		// (its port is a new one). Closing needs the client lock.
		if j.isBanned(j.ref(&pc.Peer)) {
			j.refused.Add(1)
			go pc.Close()
		}
	})
}

// ref returns the judge's record of p, refreshed with what anacrolix has
// learned since. The client lock is held (it guards p's fields).
func (j *judge) ref(p *torrent.Peer) *peerRef {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.refs[p]
	if r == nil {
		r = &peerRef{peer: p}
		if p.RemoteAddr != nil {
			if ap, err := netip.ParseAddrPort(p.RemoteAddr.String()); err == nil {
				r.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
		}
		j.refs[p] = r
	}
	if pc, ok := p.TryAsPeerConn(); ok {
		if pc.PeerID != (torrent.PeerID{}) {
			r.id, r.hasID = pc.PeerID, true
		}
		if name, _ := pc.PeerClientName.Load().(string); name != "" {
			r.client = name
		}
		if a, ok := redialAddr(pc); ok {
			r.dial = a
		}
	}
	return r
}

func (j *judge) onBlock(ev torrent.ReceivedUsefulDataEvent) {
	t := ev.Peer.Torrent()
	if t == nil || ev.Message == nil {
		return
	}
	if info := t.Info(); info == nil || info.HasV2() {
		// v2 and hybrid pieces are hashed by anacrolix, not by our
		// storage: no verdicts reach the judge.
		return
	}
	r := j.ref(ev.Peer)
	ih := t.InfoHash()
	piece, block := int(ev.Message.Index), int(ev.Message.Begin)/blockLen
	j.mu.Lock()
	defer j.mu.Unlock()
	jt := j.torrentLocked(ih)
	w := jt.writers[piece]
	if w == nil {
		w = map[int]*peerRef{}
		jt.writers[piece] = w
	}
	w[block] = r
}

func (j *judge) torrentLocked(ih metainfo.Hash) *judgeTorrent {
	jt := j.torrents[ih]
	if jt == nil {
		jt = &judgeTorrent{writers: map[int]map[int]*peerRef{}, kept: map[int][]keptBlock{}, parole: map[int]*parole{}}
		j.torrents[ih] = jt
	}
	return jt
}

// forget drops what the judge knows about a torrent that was removed.
func (j *judge) forget(ih metainfo.Hash) {
	j.mu.Lock()
	delete(j.torrents, ih)
	j.mu.Unlock()
}

// verdict is one peer found guilty.
type verdict struct {
	ref    *peerRef
	reason string
}

// hashed is engine/storage's OnHashed: a piece was checked. It runs with
// anacrolix's storage lock held and not its client lock.
func (j *judge) hashed(ih metainfo.Hash, piece int, ok bool, blocks func() ([][20]byte, error)) {
	j.mu.Lock()
	jt := j.torrents[ih]
	if jt == nil {
		j.mu.Unlock()
		return
	}
	writers := jt.writers[piece]
	delete(jt.writers, piece)
	kept := jt.kept[piece]
	if ok {
		delete(jt.kept, piece)
		delete(jt.parole, piece)
		jt.nkept -= len(kept)
	} else if pr := jt.parole[piece]; pr != nil {
		pr.owner = nil // the next attempt is one peer's again
	}
	j.mu.Unlock()

	var guilty []verdict
	switch {
	case ok && len(kept) > 0:
		sums, err := blocks()
		if err != nil {
			return // a storage error, not the peers'
		}
		bad := map[*peerRef]int{}
		sent := map[*peerRef]int{}
		for _, k := range kept {
			sent[k.by]++
			if k.block < len(sums) && sums[k.block] != k.sum {
				bad[k.by]++
			}
		}
		for r, n := range bad {
			guilty = append(guilty, verdict{r, fmt.Sprintf(
				"piece %d failed its hash check with blocks from several peers; once it passed, %d of the %d blocks this peer had sent for it differed from the verified data", piece, n, sent[r])})
		}
	case !ok && len(writers) > 0:
		var only *peerRef
		mixed := false
		for _, r := range writers {
			if only != nil && r != only {
				mixed = true
			}
			only = r
		}
		sums, err := blocks()
		if err != nil {
			return // a storage error, not the peers'
		}
		if !mixed && len(writers) == len(sums) {
			guilty = append(guilty, verdict{only, fmt.Sprintf(
				"piece %d failed its hash check and all %d of its blocks came from this peer", piece, len(sums))})
			break
		}
		// Several peers (or blocks of unknown origin): keep the evidence
		// for the moment the piece passes, and fetch it from one peer.
		j.mu.Lock()
		for b, r := range writers {
			if b < len(sums) && jt.nkept < maxKeptBlocks {
				jt.kept[piece] = append(jt.kept[piece], keptBlock{block: b, by: r, sum: sums[b]})
				jt.nkept++
			}
		}
		first := jt.parole[piece] == nil
		var names []string
		if first {
			jt.parole[piece] = &parole{}
			who := map[string]bool{}
			for _, r := range writers {
				who[r.String()] = true
			}
			for n := range who {
				names = append(names, n)
			}
			sort.Strings(names)
		}
		j.mu.Unlock()
		if first {
			j.e.emit(swarm.Event{Kind: swarm.EventPieceFailed, InfoHash: ih.HexString(),
				Message: fmt.Sprintf("piece %d failed its hash check with blocks from %d peers (%s); that proves nothing about any one of them, so it is fetched again from one peer alone and their blocks are compared with the verified piece",
					piece, len(names), strings.Join(names, "; "))})
		}
	}
	sort.Slice(guilty, func(a, b int) bool { return guilty[a].ref.remote.String() < guilty[b].ref.remote.String() })
	for _, v := range guilty {
		j.convict(ih, v)
	}
}

// convict bans a guilty peer: its addresses and ID are refused from now on,
// its connection is closed, and an event says why.
func (j *judge) convict(ih metainfo.Hash, v verdict) {
	r := v.ref
	j.mu.Lock()
	if r.banned {
		j.mu.Unlock()
		return
	}
	r.banned = true
	rec := &banRecord{who: r.String(), reason: v.reason}
	for _, a := range []netip.AddrPort{r.remote, r.dial} {
		if a.IsValid() {
			j.addrs[a] = rec
		}
	}
	if r.hasID {
		j.ids[idKey{r.remote.Addr(), r.id}] = rec
	}
	j.mu.Unlock()
	go func() {
		// Close takes the client lock, which the caller may be waiting
		// for.
		if r.peer != nil {
			r.peer.Close()
		}
		j.dropMatching()
	}()
	ip := r.remote.Addr().String()
	j.e.emit(swarm.Event{Kind: swarm.EventPeerBanned, InfoHash: ih.HexString(), Peer: r.remote.String(),
		Message: fmt.Sprintf("dropped peer %s for bad data: %s; it is not dialed or accepted again, other peers on %s are kept", rec.who, v.reason, ip)})
}

// admit is engine/storage's Admit: whether the block just received at off
// of a piece may be written. anacrolix called onBlock for it, under its
// lock, just before this write.
func (j *judge) admit(ih metainfo.Hash, piece int, off int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	jt := j.torrents[ih]
	if jt == nil {
		return nil
	}
	w := jt.writers[piece][int(off/blockLen)]
	if w == nil {
		return nil
	}
	if w.banned {
		return errBanned
	}
	pr := jt.parole[piece]
	if pr == nil {
		return nil
	}
	now := time.Now()
	if pr.owner == nil || pr.owner.closed || pr.owner.banned || now.Sub(pr.last) > paroleIdle {
		pr.owner = w
	}
	if pr.owner != w {
		return errParole
	}
	pr.last = now
	return nil
}

// isBanned reports whether a connection belongs to a banned peer.
func (j *judge) isBanned(r *peerRef) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r.banned {
		return true
	}
	if j.addrs[r.remote] != nil || (r.dial.IsValid() && j.addrs[r.dial] != nil) {
		return true
	}
	return r.hasID && j.ids[idKey{r.remote.Addr(), r.id}] != nil
}

// dropMatching closes other connections of banned peers (the same peer in
// another torrent, or connected twice).
func (j *judge) dropMatching() {
	j.e.mu.Lock()
	tss := make([]*torrentState, 0, len(j.e.torrents))
	for _, ts := range j.e.torrents {
		tss = append(tss, ts)
	}
	j.e.mu.Unlock()
	for _, ts := range tss {
		for _, pc := range ts.t.PeerConns() {
			ap := remoteAddrPort(pc)
			d, _ := redialAddr(pc)
			j.mu.Lock()
			hit := j.addrs[ap] != nil || (d.IsValid() && j.addrs[d] != nil) || j.ids[idKey{ap.Addr(), pc.PeerID}] != nil
			j.mu.Unlock()
			if hit {
				pc.Close()
			}
		}
	}
}

// bannedAddr reports whether addr (as anacrolix dials it) is a banned
// peer's.
func (j *judge) bannedAddr(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.addrs[ap] != nil
}

// bannedDialer refuses to dial banned peers; anacrolix has no per-address
// filter of its own (its ban list holds whole IPs). Like the dial gate
// (engine/punchgate.go) it answers with a connection that fails the
// handshake: an error would make anacrolix ask relays for a rendezvous.
type bannedDialer struct {
	torrent.Dialer
	j *judge
}

func (d bannedDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if d.j.bannedAddr(addr) {
		ap, _ := netip.ParseAddrPort(addr)
		return newRefusedConn(d.DialerNetwork(), ap, errBanned.Error()), nil
	}
	return d.Dialer.Dial(ctx, addr)
}

// quietJudgeLog reports whether an anacrolix warning only echoes the
// judge's own errors ("error hashing piece" for ErrHashMismatch, "writing
// received chunk" for a refused block): the judge's events say what
// matters.
func quietJudgeLog(text string) bool {
	for _, err := range []error{ourstorage.ErrHashMismatch, errParole, errBanned} {
		if strings.Contains(text, err.Error()) {
			return true
		}
	}
	return false
}
