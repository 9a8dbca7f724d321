package engine

import (
	"net/netip"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// connectRecordLocked finds the ut_holepunch Connect that names a. A peer
// behind a symmetric NAT answers a Connect from a fresh port, not the one
// the relay named, so when no record has the exact address the newest one
// for the same IP within the holepunch window is used.
func (e *Engine) connectRecordLocked(a netip.AddrPort) *connectRecord {
	if rec := e.connects[a]; rec != nil {
		return rec
	}
	var best *connectRecord
	for addr, rec := range e.connects {
		if addr.Addr() == a.Addr() && (best == nil || rec.at.After(best.at)) {
			best = rec
		}
	}
	return best
}

// earlyPunchWindow is how long before a Connect an accepted connection
// from its target may have formed because of it.
const earlyPunchWindow = 5 * time.Second

// relabelEarlyPunchLocked handles a Connect that arrives after the
// connection it brought about. The relay sends Connect to both ends at once
// and both dial at once; our copy may wait behind piece data on the relay's
// connection while the target's dial has already got in. A connection
// accepted from the target's IP just before is that holepunch, so it is
// relabelled; from the next tick all of its bytes count on the holepunched
// path (the path history already recorded stays as it was). It returns the
// relabelled peer, or nil.
func (e *Engine) relabelEarlyPunchLocked(target netip.AddrPort, rec *connectRecord, now time.Time) *peerState {
	for _, ps := range e.peers {
		if ps.ih != rec.ih || (ps.origin != swarm.OriginInbound && ps.origin != swarm.OriginUPnP) || now.Sub(ps.since) > earlyPunchWindow {
			continue
		}
		ap, err := netip.ParseAddrPort(ps.addr)
		if err != nil || ap.Addr().Unmap() != target.Addr() {
			continue
		}
		ps.origin = swarm.OriginHolepunched
		rec.resolved = true
		return ps
	}
	return nil
}
