package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/anacrolix/torrent/tracker"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// stoppedTimeout bounds the "stopped" announces on exit: a dead tracker
// must not hold up the user's shell.
const stoppedTimeout = 3 * time.Second

// announceStopped tells every tracker of every torrent that we are leaving
// (BEP 3 event=stopped), so that it stops handing out our address. It runs
// before the client closes, all trackers in parallel, within
// stoppedTimeout; the process may exit right after.
func (e *Engine) announceStopped() {
	e.mu.Lock()
	var tss []*torrentState
	for _, ih := range e.order {
		tss = append(tss, e.torrents[ih])
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, ts := range tss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.announceStoppedFor(ts)
		}()
	}
	wg.Wait()
}

// announceStoppedFor sends "stopped" to each tracker of the torrent that
// heard from us and was not told already; the torrent's announce loops
// must have ended (its context is done).
func (e *Engine) announceStoppedFor(ts *torrentState) {
	a := ts.announcer
	if a == nil {
		return
	}
	a.stop()
	var urls []string
	e.mu.Lock()
	for _, te := range a.entries {
		if te.attempted && te.status != swarm.TrackerDisabled && te.lastEvent != tracker.Stopped.String() {
			urls = append(urls, te.url)
		}
	}
	e.mu.Unlock()
	if len(urls) == 0 {
		return
	}
	req := e.announceRequest(ts, tracker.Stopped)
	ctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.announce(ctx, u, req, "")
			msg := "announced stopped to " + u
			kind := swarm.EventTrackerAnnounce
			if err != nil {
				kind = swarm.EventTrackerError
				msg = fmt.Sprintf("stopped announce to %s failed: %s", u, announceErrText(err, ctx))
			}
			e.emit(swarm.Event{Kind: kind, InfoHash: ts.src.InfoHash, Tracker: u, Message: msg})
		}()
	}
	wg.Wait()
}
