package engine

import (
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// finishing is a torrent that reached a seeding limit at this tick.
type finishing struct {
	ts     *torrentState
	reason string
}

// tickTorrentLocked adds to a torrent's snapshot what this session's code
// keeps: its trackers, its DHT lookups, the line that says why it is idle,
// the counters over every run and its seeding limits. It returns fin with
// the torrent appended if it has just reached a limit.
func (e *Engine) tickTorrentLocked(ts *torrentState, ti *swarm.TorrentInfo, complete bool, connected, halfOpen int, d swarm.DHTInfo, now time.Time, fin []finishing) []finishing {
	ts.connected = connected
	ts.runUp, ts.runDown = ti.UpBytes, ti.DownBytes
	ti.UploadedTotal = ts.prevUp + ti.UpBytes
	ti.DownloadedTotal = ts.prevDown + ti.DownBytes
	seeding := complete && !ts.paused && !ts.finished && ts.err == ""
	switch {
	case seeding && ts.seedingSince.IsZero():
		ts.seedingSince = now
	case !seeding && !ts.seedingSince.IsZero():
		ts.seedingPrev += now.Sub(ts.seedingSince)
		ts.seedingSince = time.Time{}
	}
	ti.SeedingFor = ts.seedingPrev
	if !ts.seedingSince.IsZero() {
		ti.SeedingFor += now.Sub(ts.seedingSince)
	}
	ti.SeedRatioLimit, ti.SeedTimeLimit = e.limitsLocked(ts)
	ti.Trackers = ts.announcer.trackersLocked()
	ti.DHT = ts.dht.infoLocked()
	if !e.cfg.NoDHT && e.cfg.PacketConn == nil && ts.dht == nil {
		ti.DHT.Status = swarm.DHTLookupNoNodes
	}
	ti.Why = whyIdle(*ti, d, dialFacts{known: ti.Known, halfOpen: halfOpen}, now)
	if seeding {
		if reason := seedLimitReached(*ti); reason != "" {
			ts.finished = true
			ts.seedingPrev = ti.SeedingFor
			ts.seedingSince = time.Time{}
			ti.State = swarm.StateFinished
			fin = append(fin, finishing{ts, reason})
		}
	}
	return fin
}
