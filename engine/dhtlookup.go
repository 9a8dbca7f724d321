package engine

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// The DHT announcer (engine/dhtannounce.go) runs its get_peers traversals
// here rather than through anacrolix's Torrent.AnnounceToDht, which tells
// nobody how many nodes a lookup asked or how many peers it found; "why is
// nothing happening" needs exactly that. Each lookup ends with
// announce_peer to the closest nodes (the port is implied: the one our DHT
// packets leave from).
const dhtLookupTimeout = 2 * time.Minute

// dhtEntry is one torrent's DHT lookups; guarded by Engine.mu.
type dhtEntry struct {
	status    swarm.DHTLookupStatus
	lookups   int
	lastAt    time.Time // last lookup ended
	lastFound int       // distinct peers the last lookup returned
	found     int       // distinct peers over all lookups
	contacted int       // nodes the last (or current) lookup asked
	nextAt    time.Time
	err       string
	seen      map[netip.AddrPort]bool
}

func (e *Engine) setDHT(de *dhtEntry, f func()) {
	e.mu.Lock()
	f()
	e.mu.Unlock()
}

// dhtLookup runs one lookup of the torrent on the DHT server to its end
// (or dhtLookupTimeout), adding the peers it finds. A server that is not
// anacrolix's goes through Torrent.AnnounceToDht, uncounted.
func (e *Engine) dhtLookup(ctx context.Context, srv torrent.DhtServer, ts *torrentState) error {
	w, ok := srv.(torrent.AnacrolixDhtServerWrapper)
	if !ok {
		done, stop, err := ts.t.AnnounceToDht(srv)
		if err != nil {
			return err
		}
		defer stop()
		select {
		case <-done:
		case <-ctx.Done():
		case <-time.After(dhtLookupTimeout):
		}
		return nil
	}
	s := w.Server
	de := ts.dht
	e.setDHT(de, func() { de.status, de.contacted, de.err = swarm.DHTLookupSearching, 0, "" })
	ann, err := s.AnnounceTraversal(ts.t.InfoHash(), dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: e.cl.LocalPort(), ImpliedPort: true}))
	if err != nil {
		e.setDHT(de, func() { de.status, de.err, de.lastAt = swarm.DHTLookupFailed, oneLine(err), time.Now() })
		return err
	}
	defer ann.Close()
	timeout := time.NewTimer(dhtLookupTimeout)
	defer timeout.Stop()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	found := map[netip.AddrPort]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timeout.C:
			e.finishLookup(ts, ann, found)
			return nil
		case <-progress.C:
			n := int(ann.NumContacted())
			e.setDHT(de, func() { de.contacted = n })
		case pv, ok := <-ann.Peers:
			if !ok {
				e.finishLookup(ts, ann, found)
				return nil
			}
			var pis []torrent.PeerInfo
			for _, p := range pv.Peers {
				ap, ok := peerAddr(p.IP, p.Port)
				if !ok || found[ap] {
					continue
				}
				found[ap] = true
				pis = append(pis, torrent.PeerInfo{Addr: addrPortAddr(ap), Source: torrent.PeerSourceDhtGetPeers})
			}
			if len(pis) > 0 {
				ts.t.AddPeers(pis)
				e.mu.Lock()
				for _, p := range pis {
					ap := netip.AddrPort(p.Addr.(addrPortAddr))
					if !de.seen[ap] && len(de.seen) < maxDialMemoryDHT {
						de.seen[ap] = true
						de.found++
					}
				}
				e.mu.Unlock()
			}
		}
	}
}

// maxDialMemoryDHT bounds the peer addresses remembered per torrent to
// count distinct finds.
const maxDialMemoryDHT = 4096

func (e *Engine) finishLookup(ts *torrentState, ann *dht.Announce, found map[netip.AddrPort]bool) {
	de := ts.dht
	n := int(ann.NumContacted())
	e.mu.Lock()
	de.lookups++
	de.status, de.lastAt, de.lastFound, de.contacted = swarm.DHTLookupDone, time.Now(), len(found), n
	e.mu.Unlock()
	e.emit(swarm.Event{Kind: swarm.EventDHTLookup, InfoHash: ts.src.InfoHash, Message: fmt.Sprintf("DHT lookup asked %d nodes, found %d peers", n, len(found))})
}

// dhtInfoLocked is the torrent's DHT state for the snapshot.
func (de *dhtEntry) infoLocked() swarm.TorrentDHT {
	if de == nil {
		return swarm.TorrentDHT{Status: swarm.DHTLookupOff}
	}
	return swarm.TorrentDHT{
		Status: de.status, Lookups: de.lookups, LastLookup: de.lastAt, LastFound: de.lastFound,
		Found: de.found, Contacted: de.contacted, NextLookup: de.nextAt, Error: de.err,
	}
}

// dhtInfo is the client's DHT state for the snapshot; it reads the DHT
// server's counters (its own lock, not the client's).
func (e *Engine) dhtInfo() swarm.DHTInfo {
	if e.cfg.NoDHT || e.cfg.PacketConn != nil {
		return swarm.DHTInfo{State: swarm.DHTOff}
	}
	var s *dht.Server
	for _, srv := range e.cl.DhtServers() {
		if w, ok := srv.(torrent.AnacrolixDhtServerWrapper); ok {
			s = w.Server
			break
		}
	}
	if s == nil {
		return swarm.DHTInfo{State: swarm.DHTOff}
	}
	st := s.Stats()
	di := swarm.DHTInfo{
		Enabled: true, Addr: s.Addr().String(), Nodes: st.Nodes, GoodNodes: st.GoodNodes,
		Queries: st.OutboundQueriesAttempted, AnnouncesOK: st.SuccessfulOutboundAnnouncePeerQueries,
	}
	switch {
	case st.Nodes == 0:
		di.State = swarm.DHTNoNodes
	case st.GoodNodes == 0:
		di.State = swarm.DHTBootstrapping
	default:
		di.State = swarm.DHTReady
	}
	return di
}

func (ts *torrentState) wantsPeers(e *Engine) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return ts.wantsPeersLocked()
}
