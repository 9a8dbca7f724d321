package engine

import (
	"fmt"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// The engine announces torrents to the DHT itself; anacrolix's announcer
// (ClientConfig.PeriodicallyAnnounceTorrentsToDht) is off. v1.59.1's
// retries a failing announce at once, forever: with the DHT on and no DHT
// node reachable (no internet, the bootstrap names do not resolve) each
// attempt fails within microseconds, and one idle headless client burned
// 0.78 CPU-s per second (7.76 CPU-s in 10 s against 0.02 with --no-dht).
// v1.61.0 sleeps 5 minutes after an error; this does the same with a
// shorter first retry, so a DHT that comes up is used soon.
const (
	// dhtAnnounceEvery is how long one announce traversal may run and how
	// often it is repeated: anacrolix's own timebox.
	dhtAnnounceEvery = 5 * time.Minute
	// dhtRetryFirst is the wait after a failed announce, doubled after each
	// further failure up to dhtRetryMax.
	dhtRetryFirst = 15 * time.Second
	dhtRetryMax   = 5 * time.Minute
	// dhtPausedCheck is how often a paused or failed torrent is looked at
	// again.
	dhtPausedCheck = 15 * time.Second
	// dhtRetryNoPeers is the wait after a lookup while the torrent has no
	// peer at all.
	dhtRetryNoPeers = time.Minute
)

// announceToDHT starts one announcer per DHT server (IPv4, IPv6) for the
// torrent. They end when the torrent is dropped or the engine closes.
func (e *Engine) announceToDHT(ts *torrentState) {
	for _, s := range e.cl.DhtServers() {
		go e.dhtAnnouncer(ts, s)
	}
}

func (e *Engine) dhtAnnouncer(ts *torrentState, s torrent.DhtServer) {
	retry := dhtRetryFirst
	failing := false // one event per run of failures, not one per retry
	for {
		if privateTorrent(ts.t) {
			// BEP 27: a private torrent's peers come from its trackers
			// only. (anacrolix v1.59.1 announces them anyway.)
			return
		}
		wait := dhtPausedCheck
		if e.dhtWanted(ts) {
			e.dhtAnnounces.Add(1)
			// One lookup to its end, counted (engine/dhtlookup.go).
			err := e.dhtLookup(ts.ctx, s, ts)
			switch {
			case err != nil:
				wait, retry = retry, min(2*retry, dhtRetryMax)
				if !failing {
					failing = true
					e.emit(swarm.Event{Kind: swarm.EventDHTError, InfoHash: ts.src.InfoHash,
						Message: fmt.Sprintf("DHT announce failed: %v; retrying in %s, then less and less often (up to every %s)", err, wait, dhtRetryMax)})
				}
			default:
				failing = false
				retry, wait = dhtRetryFirst, dhtAnnounceEvery
			}
		}
		if wait == dhtAnnounceEvery && ts.wantsPeers(e) {
			// Nobody to download from: look again soon.
			wait = dhtRetryNoPeers
		}
		t := time.NewTimer(wait)
		var done bool
		select {
		case <-t.C:
		case <-ts.dhtWake: // resumed
		case <-ts.t.Closed():
			done = true
		case <-e.ctx.Done():
			done = true
		}
		t.Stop()
		if done {
			return
		}
	}
}

// dhtWanted: a paused torrent, or one in an error state, asks nobody for
// peers (anacrolix's announcer waited while the torrent wanted no
// connections).
func (e *Engine) dhtWanted(ts *torrentState) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !ts.paused && ts.err == ""
}

func privateTorrent(t *torrent.Torrent) bool {
	info := t.Info()
	return info != nil && info.Private != nil && *info.Private
}
