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
// (BEP 3 event=stopped), so that it stops handing out our address.
// anacrolix sends one from a goroutine when a torrent closes, but nothing
// waits for it: the process exits first and the tracker keeps listing us
// until our entry expires. This one runs before the client closes, all
// trackers in parallel, within stoppedTimeout.
func (e *Engine) announceStopped() {
	if e.cfg.NoTrackers || e.cfg.PacketConn != nil {
		return
	}
	e.mu.Lock()
	var tss []*torrentState
	for _, ih := range e.order {
		tss = append(tss, e.torrents[ih])
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
	defer cancel()
	port := e.cl.LocalPort()
	var wg sync.WaitGroup
	for _, ts := range tss {
		t := ts.t
		mi := t.Metainfo()
		urls := mi.UpvertedAnnounceList().DistinctValues()
		if len(urls) == 0 {
			continue
		}
		st := t.Stats()
		var left int64 = -1
		if t.Info() != nil {
			left = t.Length() - t.BytesCompleted()
		}
		req := tracker.AnnounceRequest{
			InfoHash:   t.InfoHash(),
			PeerId:     e.cl.PeerID(),
			Event:      tracker.Stopped,
			Port:       uint16(port),
			Left:       left,
			Uploaded:   st.BytesWrittenData.Int64(),
			Downloaded: st.BytesReadUsefulData.Int64(),
			NumWant:    0,
		}
		ih := ts.src.InfoHash
		for _, u := range urls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := tracker.Announce{Context: ctx, TrackerUrl: u, Request: req, UserAgent: "swarmscope"}.Do()
				msg := "announced stopped to " + u
				kind := swarm.EventTrackerAnnounce
				if err != nil {
					kind = swarm.EventTrackerError
					msg = fmt.Sprintf("stopped announce to %s failed: %s", u, oneLine(err))
				}
				e.emit(swarm.Event{Kind: kind, InfoHash: ih, Message: msg})
			}()
		}
	}
	wg.Wait()
}
