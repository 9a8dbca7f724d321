package engine

import "net/netip"

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
