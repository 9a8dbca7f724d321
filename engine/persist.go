package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/types"

	"github.com/swarmscope/swarmscope/engine/session"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// persisted is what a torrent carries for the session (engine/session) and
// its seeding limits; guarded by Engine.mu.
type persisted struct {
	tiers      [][]string // its trackers, which anacrolix never sees
	origSource string     // what the user added (a magnet stays a magnet)
	origKind   SourceKind
	// Payload of earlier runs, and of this run at the last tick.
	prevUp, prevDown int64
	runUp, runDown   int64
	// Seeding limits of this torrent: 0 = the engine's, <0 = none.
	seedRatio float64
	seedTime  time.Duration
	// Seeding time of earlier runs and stretches, and since when it seeds.
	seedingPrev  time.Duration
	seedingSince time.Time
	finished     bool     // a seeding limit was reached
	prios        []string // remembered file priorities, applied with the metadata
	savedAt      time.Time
	removed      bool // Remove ran: never saved again
}

// persistEvery is how often the payload counters are saved while
// torrents move data; every other change is saved when it happens.
const persistEvery = 30 * time.Second

// restore applies a remembered torrent's record before the torrent is
// visible (rec nil: a new torrent).
func (e *Engine) restore(ts *torrentState, rec *session.Record) {
	ts.origSource, ts.origKind = ts.src.Input, ts.src.Kind
	if ts.src.Kind == SourceFile {
		if abs, err := filepath.Abs(ts.src.Input); err == nil {
			ts.origSource = abs
		}
	}
	if rec == nil {
		return
	}
	ts.origSource, ts.origKind = rec.Source, SourceKind(rec.Kind)
	if !rec.AddedAt.IsZero() {
		ts.addedAt = rec.AddedAt
	}
	ts.paused, ts.finished = rec.Paused, rec.Finished
	ts.prevUp, ts.prevDown = max(rec.Uploaded, 0), max(rec.Downloaded, 0)
	ts.seedRatio, ts.seedTime, ts.seedingPrev = rec.SeedRatio, rec.SeedTime, max(rec.SeedingFor, 0)
	ts.prios = rec.Priorities
	if ts.paused || ts.finished {
		ts.t.DisallowDataUpload()
		ts.t.SetMaxEstablishedConns(0)
	}
}

// restorePriorities sets the remembered file priorities once the metadata
// is known (at once for a .torrent, later for a magnet).
func (e *Engine) restorePriorities(ts *torrentState) {
	e.mu.Lock()
	prios := ts.prios
	ts.prios = nil
	e.mu.Unlock()
	files := ts.t.Files()
	if len(prios) != len(files) {
		return // none remembered, or not this torrent's shape: all normal
	}
	for i, p := range prios {
		switch p {
		case "skip":
			files[i].SetPriority(types.PiecePriorityNone)
		case "high":
			files[i].SetPriority(types.PiecePriorityHigh)
		}
	}
}

// persist saves the torrent's record; a failure is an event, not fatal.
func (e *Engine) persist(ts *torrentState) {
	if e.session == nil {
		return
	}
	var prios []string
	e.mu.Lock()
	got := ts.gotInfo
	e.mu.Unlock()
	if got {
		skipOrHigh := false
		for _, f := range ts.t.Files() {
			p := priorityOf(f)
			prios = append(prios, p.String())
			skipOrHigh = skipOrHigh || p != swarm.PriorityNormal
		}
		if !skipOrHigh {
			prios = nil
		}
	}
	e.mu.Lock()
	if !got {
		prios = ts.prios // not applied yet: keep them
	}
	seeding := ts.seedingPrev
	if !ts.seedingSince.IsZero() {
		seeding += time.Since(ts.seedingSince)
	}
	rec := session.Record{
		InfoHash: ts.src.InfoHash, Source: ts.origSource, Kind: string(ts.origKind), Name: ts.t.Name(),
		Dir: e.cfg.DataDir, AddedAt: ts.addedAt, Paused: ts.paused, Priorities: prios,
		SeedRatio: ts.seedRatio, SeedTime: ts.seedTime, SeedingFor: seeding, Finished: ts.finished,
		Uploaded: ts.prevUp + ts.runUp, Downloaded: ts.prevDown + ts.runDown,
	}
	ts.savedAt = time.Now()
	e.mu.Unlock()
	if abs, err := filepath.Abs(rec.Dir); err == nil {
		rec.Dir = abs
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if e.isGone(ts) {
		return // removed meanwhile: do not bring it back
	}
	if err := e.session.Save(rec); err != nil {
		e.emit(swarm.Event{Kind: swarm.EventError, InfoHash: rec.InfoHash, Message: "remembering the torrent: " + oneLine(err)})
	}
}

func (e *Engine) isGone(ts *torrentState) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return ts.removed
}

// saveMetainfo keeps the torrent's metainfo in the session once it is
// known, so a restart needs neither the .torrent file nor the peers that
// sent a magnet's metadata.
func (e *Engine) saveMetainfo(ts *torrentState) {
	if e.session == nil || e.session.HasMetainfo(ts.src.InfoHash) {
		return
	}
	mi := ts.t.Metainfo()
	if len(mi.InfoBytes) == 0 {
		return
	}
	out := metainfo.MetaInfo{InfoBytes: mi.InfoBytes, AnnounceList: ts.tiers, CreatedBy: "swarmscope"}
	if len(ts.tiers) > 0 {
		out.Announce = ts.tiers[0][0]
	}
	var b bytes.Buffer
	if err := out.Write(&b); err != nil {
		return
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if e.isGone(ts) {
		return
	}
	if err := e.session.SaveMetainfo(ts.src.InfoHash, b.Bytes()); err != nil {
		e.emit(swarm.Event{Kind: swarm.EventError, InfoHash: ts.src.InfoHash, Message: "remembering the torrent's metainfo: " + oneLine(err)})
	}
}

// forget ends a torrent's announces and lookups, tells its trackers
// "stopped" (in the background, bounded) and drops it from the session.
func (e *Engine) forget(ts *torrentState) {
	e.mu.Lock()
	ts.removed = true
	e.mu.Unlock()
	ts.cancel()
	ts.announcer.stop()
	go e.announceStoppedFor(ts)
	if e.session == nil {
		return
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if err := e.session.Remove(ts.src.InfoHash); err != nil {
		e.emit(swarm.Event{Kind: swarm.EventError, InfoHash: ts.src.InfoHash, Message: "forgetting the torrent: " + oneLine(err)})
	}
}

// persistDue saves the torrents whose counters have not been saved for
// persistEvery; it runs off the tick.
func (e *Engine) persistDue() {
	if e.session == nil {
		return
	}
	e.mu.Lock()
	var due []*torrentState
	for _, ih := range e.order {
		ts := e.torrents[ih]
		if time.Since(ts.savedAt) >= persistEvery {
			due = append(due, ts)
		}
	}
	e.mu.Unlock()
	for _, ts := range due {
		e.persist(ts)
	}
}

// persistAll saves every torrent (at close: the final counters).
func (e *Engine) persistAll() {
	e.mu.Lock()
	all := make([]*torrentState, 0, len(e.order))
	for _, ih := range e.order {
		all = append(all, e.torrents[ih])
	}
	e.mu.Unlock()
	for _, ts := range all {
		e.persist(ts)
	}
}

// RestoreSession adds back every torrent the session remembers, as it
// was: paused or not, its file priorities, limits and counters. A record
// that cannot be used is skipped and returned as a problem; the others are
// still restored.
func (e *Engine) RestoreSession(ctx context.Context) (restored int, problems []error) {
	if e.session == nil {
		return 0, nil
	}
	recs, probs, err := e.session.Load()
	if err != nil {
		return 0, []error{err}
	}
	for _, p := range probs {
		problems = append(problems, p)
	}
	for _, rec := range recs {
		in := rec.Source
		if e.session.HasMetainfo(rec.InfoHash) {
			in = e.session.MetainfoPath(rec.InfoHash)
		}
		src, err := ParseSourceContext(ctx, in)
		if err == nil && src.InfoHash != rec.InfoHash {
			err = fmt.Errorf("its source is torrent %s", src.InfoHash)
		}
		if err != nil {
			if ctx.Err() != nil {
				return restored, append(problems, ctx.Err())
			}
			problems = append(problems, fmt.Errorf("session: torrent %s (%s) not restored: %v", rec.InfoHash[:8], rec.Name, oneLine(err)))
			continue
		}
		if err := e.add(src, &rec); err != nil {
			if !errors.Is(err, ErrAlreadyAdded) {
				problems = append(problems, fmt.Errorf("session: torrent %s (%s) not restored: %v", rec.InfoHash[:8], rec.Name, oneLine(err)))
			}
			continue
		}
		restored++
	}
	return restored, problems
}

// Torrents is how many torrents the engine has.
func (e *Engine) Torrents() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.order)
}

// SessionDir is where the session is kept ("" without one).
func (e *Engine) SessionDir() string {
	if e.session == nil {
		return ""
	}
	return e.session.Dir()
}

// SetSeedLimits sets a torrent's own seeding limits: ratio (uploaded over
// downloaded, over every run) and seeding time. 0 means the engine's
// limits, a negative value none.
func (e *Engine) SetSeedLimits(infohash string, ratio float64, seedTime time.Duration) error {
	ts, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	e.mu.Lock()
	ts.seedRatio, ts.seedTime = ratio, seedTime
	e.mu.Unlock()
	e.persist(ts)
	return nil
}

// limitsLocked are the seeding limits in force for a torrent (0 = none).
func (e *Engine) limitsLocked(ts *torrentState) (float64, time.Duration) {
	ratio, st := e.cfg.SeedRatio, e.cfg.SeedTime
	switch {
	case ts.seedRatio < 0:
		ratio = 0
	case ts.seedRatio > 0:
		ratio = ts.seedRatio
	}
	switch {
	case ts.seedTime < 0:
		st = 0
	case ts.seedTime > 0:
		st = ts.seedTime
	}
	return ratio, st
}

// seedLimitReached says which limit a seeding torrent has reached, or "".
func seedLimitReached(ti swarm.TorrentInfo) string {
	if r := ti.SeedRatioLimit; r > 0 && ti.TotalRatio() >= r {
		return fmt.Sprintf("ratio %.2f reached (limit %.2f)", ti.TotalRatio(), r)
	}
	if d := ti.SeedTimeLimit; d > 0 && ti.SeedingFor >= d {
		return fmt.Sprintf("seeded for %s (limit %s)", shortDur(ti.SeedingFor), shortDur(d))
	}
	return ""
}

// finish stops a torrent that reached a seeding limit: no uploads, no
// connections, trackers told "stopped".
func (e *Engine) finish(ts *torrentState, reason string) {
	ts.t.DisallowDataUpload()
	ts.t.SetMaxEstablishedConns(0)
	ts.announcer.poke("stopped")
	e.emit(swarm.Event{Kind: swarm.EventTorrentFinished, InfoHash: ts.src.InfoHash, Message: fmt.Sprintf("%s finished: seeding stopped, %s", ts.t.Name(), reason)})
	e.persist(ts)
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// unfinish: resuming a finished torrent seeds it on with no limits (as
// Transmission's "start anyway"), or it would stop again at once.
func (e *Engine) unfinish(ts *torrentState) {
	e.mu.Lock()
	was := ts.finished
	if was {
		ts.finished = false
		ts.seedRatio, ts.seedTime = -1, -1
	}
	e.mu.Unlock()
	if was {
		e.emit(swarm.Event{Kind: swarm.EventTorrentAdded, InfoHash: ts.src.InfoHash, Message: ts.t.Name() + " seeds again, without seeding limits"})
	}
}

func (e *Engine) wakeDHT(ts *torrentState) {
	select {
	case ts.dhtWake <- struct{}{}:
	default:
	}
}
