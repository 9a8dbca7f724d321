package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker"
	httpTracker "github.com/anacrolix/torrent/tracker/http"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// swarmscope announces to HTTP and UDP trackers itself. anacrolix v1.59.1
// announces too, but reports nothing of it (its StatusUpdated events fire
// for websocket trackers only), re-announces every minute whenever it wants
// peers whatever interval the tracker asked for, and never reads "min
// interval". So torrents are added to anacrolix without trackers, and each
// tracker URL of a torrent gets an announcer here that keeps what every
// announce returned for the snapshot and the event stream.
//
// Scheduling, per tracker:
//   - the first announce (event=started) goes out when the torrent is added;
//   - after a success the next is at the tracker's interval (30 min when it
//     gave none); a torrent that has no peer connected and is not complete
//     announces early, at the tracker's "min interval", if it gave one (and
//     is not private: private trackers ask to be left alone);
//   - after a failure it retries after 30 s, doubling to at most 30 min,
//     and never sooner than a min interval the tracker asked for;
//   - completion sends event=completed at once, pause and removal
//     event=stopped, and closing the engine event=stopped to all
//     (engine/stopped.go).
//
// Every tracker of every tier is announced to (as qBittorrent and
// Transmission do by default), not only the first working one per tier.

// Bounds on scheduling, whatever a tracker says: an interval below
// minTrackerInterval would have us hammer it, one above maxTrackerInterval
// would leave us silent for days.
const (
	defaultTrackerInterval = 30 * time.Minute
	minTrackerInterval     = 15 * time.Second
	maxTrackerInterval     = 24 * time.Hour
	trackerRetryFirst      = 30 * time.Second
	trackerRetryMax        = 30 * time.Minute
	trackerTimeout         = 15 * time.Second
	// maxTrackerResponse bounds an HTTP tracker's answer: 200 peers in
	// dictionary form are about 20 KiB.
	maxTrackerResponse = 2 << 20
	// maxTrackerText bounds the failure reason or warning we keep and show.
	maxTrackerText = 200
)

// trackerEntry is one tracker URL of one torrent. Fields after url are
// guarded by Engine.mu.
type trackerEntry struct {
	url  string
	tier int

	status      swarm.TrackerStatus
	lastAt      time.Time // last announce finished
	lastEvent   string
	lastOK      time.Time // last successful announce
	peers       int
	seeders     int
	leechers    int
	interval    time.Duration
	minInterval time.Duration
	nextAt      time.Time
	err         string
	warning     string
	announces   int // successful
	failures    int // consecutive
	attempted   bool
	trackerID   string
	// toldLeft is the "left" of the last successful announce (-1 before
	// one): a seeder whose data was still being checked when it said
	// "started" is counted as a leecher until it says otherwise.
	toldLeft int64
}

// torrentAnnouncer runs one goroutine per tracker of a torrent.
type torrentAnnouncer struct {
	e       *Engine
	ts      *torrentState
	private bool
	entries []*trackerEntry
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// wake carries a reason to announce now (one per entry).
	wakes []chan string
}

// trackerURLs flattens the announce list of a spec into tiers of distinct
// URLs, and empties the spec's list so that anacrolix does not announce.
func takeTrackers(spec *torrent.TorrentSpec) [][]string {
	seen := map[string]bool{}
	var tiers [][]string
	for _, tier := range spec.Trackers {
		var t []string
		for _, u := range tier {
			u = strings.TrimSpace(u)
			if u == "" || seen[u] {
				continue
			}
			seen[u] = true
			t = append(t, u)
		}
		if len(t) > 0 {
			tiers = append(tiers, t)
		}
	}
	spec.Trackers = nil
	return tiers
}

func (e *Engine) newAnnouncer(ts *torrentState, tiers [][]string, private bool) *torrentAnnouncer {
	a := &torrentAnnouncer{e: e, ts: ts, private: private}
	a.ctx, a.cancel = context.WithCancel(ts.ctx)
	for i, tier := range tiers {
		for _, u := range tier {
			te := &trackerEntry{url: u, tier: i, status: swarm.TrackerNotContacted, seeders: -1, leechers: -1, toldLeft: -1}
			if reason := unsupportedTracker(u, e.cfg); reason != "" {
				te.status, te.err = swarm.TrackerDisabled, reason
			}
			a.entries = append(a.entries, te)
			a.wakes = append(a.wakes, make(chan string, 1))
		}
	}
	return a
}

// unsupportedTracker says why a URL is not announced to, or "".
func unsupportedTracker(u string, cfg Config) string {
	if cfg.NoTrackers {
		return "trackers are off"
	}
	if cfg.PacketConn != nil {
		return "trackers are off on the simulated network"
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "not a URL"
	}
	switch pu.Scheme {
	case "http", "https", "udp", "udp4", "udp6":
		if pu.Host == "" {
			return "no host in URL"
		}
		return ""
	case "ws", "wss":
		return "WebTorrent trackers are not supported"
	}
	return "unknown scheme " + strconv.Quote(pu.Scheme)
}

func (a *torrentAnnouncer) start() {
	for i, te := range a.entries {
		if te.status == swarm.TrackerDisabled {
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.loop(te, a.wakes[i])
		}()
	}
}

// poke makes every tracker announce now, with event ("started",
// "completed", "stopped") or "" for a regular announce.
func (a *torrentAnnouncer) poke(event string) {
	for _, w := range a.wakes {
		select {
		case <-w: // an older reason gives way to the newer one
		default:
		}
		w <- event
	}
}

// stop ends the loops; it does not announce stopped (see stopAll).
func (a *torrentAnnouncer) stop() {
	a.cancel()
	a.wg.Wait()
}

// loop announces to one tracker until the torrent goes.
func (a *torrentAnnouncer) loop(te *trackerEntry, wake <-chan string) {
	e := a.e
	event := tracker.Started
	running := true   // not paused
	immediate := true // the first announce, and the first after a resume
	for {
		e.mu.Lock()
		paused := a.ts.paused || a.ts.finished
		e.mu.Unlock()
		if paused && running {
			running = false
			e.mu.Lock()
			attempted := te.attempted
			e.mu.Unlock()
			if attempted {
				a.announceOnce(a.ctx, te, tracker.Stopped)
			}
			e.mu.Lock()
			te.nextAt = time.Time{}
			e.mu.Unlock()
		}
		if !paused && !running {
			running = true
			event = tracker.Started
			immediate = true
		}
		var timer <-chan time.Time
		var t *time.Timer
		if running {
			var wait time.Duration
			if !immediate {
				wait = a.untilNext(te)
			}
			t = time.NewTimer(wait)
			timer = t.C
		}
		var why string
		woken := false
		select {
		case <-a.ctx.Done():
		case why = <-wake:
			woken = true
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if a.ctx.Err() != nil {
			return
		}
		if woken {
			switch why {
			case "completed":
				// A tracker that has not taken our "started" hears of the
				// completion with its next retry, not sooner (BEP 3:
				// "completed" goes to trackers that know us).
				if event == tracker.Started {
					continue
				}
				event = tracker.Completed
			case "seeding":
				// Data already on disk finished checking. A tracker that
				// heard "started" with bytes left counts us as a leecher
				// for a whole interval (~30 min) unless told now; one
				// announce per torrent, so the min interval is not waited.
				e.mu.Lock()
				told := te.toldLeft
				e.mu.Unlock()
				if event == tracker.Started || told == 0 {
					continue // the pending started, or nothing to correct
				}
			case "stopped", "resume":
				continue // re-read the paused state
			case "now":
				// An announce the user asked for: still after a min interval.
				if w := a.minWait(te); w > 0 {
					continue
				}
			}
			if !running {
				continue
			}
		}
		immediate = false
		a.announceOnce(a.ctx, te, event)
		e.mu.Lock()
		ok := te.failures == 0
		e.mu.Unlock()
		if ok {
			event = tracker.None
		}
	}
}

// untilNext is how long to wait before the next regular announce, and
// records it as the entry's next announce time.
func (a *torrentAnnouncer) untilNext(te *trackerEntry) time.Duration {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	next := a.nextLocked(te)
	te.nextAt = next
	return time.Until(next)
}

func (a *torrentAnnouncer) nextLocked(te *trackerEntry) time.Time {
	if te.failures > 0 {
		back := trackerRetryFirst << min(te.failures-1, 10)
		back = min(back, trackerRetryMax)
		back = max(back, te.minInterval)
		return te.lastAt.Add(back)
	}
	next := te.lastAt.Add(te.interval)
	if te.minInterval > 0 && !a.private && a.ts.wantsPeersLocked() {
		next = te.lastAt.Add(te.minInterval)
	}
	return next
}

// minWait is how long a tracker's min interval still forbids announcing.
func (a *torrentAnnouncer) minWait(te *trackerEntry) time.Duration {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if te.lastAt.IsZero() {
		return 0
	}
	return time.Until(te.lastAt.Add(max(te.minInterval, minTrackerInterval)))
}

// wantsPeersLocked: downloading and nobody to download from.
func (ts *torrentState) wantsPeersLocked() bool {
	return !ts.paused && !ts.complete && ts.err == "" && ts.connected == 0
}

// announceResult is what one announce returned.
type announceResult struct {
	peers       []netip.AddrPort
	seeders     int
	leechers    int
	interval    time.Duration
	minInterval time.Duration
	warning     string
	trackerID   string
}

func (a *torrentAnnouncer) announceOnce(ctx context.Context, te *trackerEntry, event tracker.AnnounceEvent) {
	e := a.e
	e.mu.Lock()
	te.status = swarm.TrackerUpdating
	te.attempted = true
	trackerID := te.trackerID
	e.mu.Unlock()
	req := e.announceRequest(a.ts, event)
	ctx, cancel := context.WithTimeout(ctx, trackerTimeout)
	res, err := e.announce(ctx, te.url, req, trackerID)
	cancel()
	now := time.Now()
	ih := a.ts.src.InfoHash
	evName := event.String()
	if event == tracker.Stopped {
		// Nothing to schedule on: the torrent is paused or going.
		e.mu.Lock()
		te.lastAt, te.lastEvent = now, evName
		if err != nil {
			te.status, te.err = swarm.TrackerError, announceErrText(err, a.ctx)
		} else {
			te.status, te.err = swarm.TrackerNotContacted, ""
		}
		e.mu.Unlock()
		if err == nil {
			e.emit(swarm.Event{Kind: swarm.EventTrackerAnnounce, InfoHash: ih, Tracker: te.url, Message: "announced stopped to " + te.url})
		}
		return
	}
	if err != nil {
		if a.ctx.Err() != nil {
			return // the torrent went; nothing to report
		}
		msg := announceErrText(err, ctx)
		e.mu.Lock()
		te.status, te.err = swarm.TrackerError, msg
		te.lastAt, te.lastEvent = now, evName
		te.failures++
		next := a.nextLocked(te)
		te.nextAt = next
		e.mu.Unlock()
		e.emit(swarm.Event{Kind: swarm.EventTrackerError, InfoHash: ih, Tracker: te.url,
			Message: fmt.Sprintf("announce to %s failed: %s; retrying in %s", te.url, msg, shortDur(time.Until(next)))})
		return
	}
	if len(res.peers) > 0 {
		pis := make([]torrent.PeerInfo, 0, len(res.peers))
		for _, p := range res.peers {
			pis = append(pis, torrent.PeerInfo{Addr: addrPortAddr(p), Source: torrent.PeerSourceTracker})
		}
		a.ts.t.AddPeers(pis)
	}
	e.mu.Lock()
	te.status, te.err, te.warning = swarm.TrackerWorking, "", res.warning
	te.lastAt, te.lastOK, te.lastEvent = now, now, evName
	te.peers, te.seeders, te.leechers = len(res.peers), res.seeders, res.leechers
	te.interval, te.minInterval = res.interval, res.minInterval
	if res.trackerID != "" {
		te.trackerID = res.trackerID
	}
	te.announces++
	te.failures = 0
	te.toldLeft = req.Left
	next := a.nextLocked(te)
	te.nextAt = next
	e.mu.Unlock()
	var counts string
	if res.seeders >= 0 && res.leechers >= 0 {
		counts = fmt.Sprintf(" (swarm: %d seeders, %d leechers)", res.seeders, res.leechers)
	}
	msg := fmt.Sprintf("announced to %s: %d peers%s, interval %s", te.url, len(res.peers), counts, shortDur(res.interval))
	if res.minInterval > 0 {
		msg += fmt.Sprintf(", min interval %s", shortDur(res.minInterval))
	}
	if res.warning != "" {
		msg += "; tracker warns: " + res.warning
	}
	e.emit(swarm.Event{Kind: swarm.EventTrackerAnnounce, InfoHash: ih, Tracker: te.url, Message: msg})
}

// announceErrText names the failure without Go's request wrapping.
func announceErrText(err error, ctx context.Context) string {
	if errors.Is(err, context.DeadlineExceeded) || (ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return fmt.Sprintf("no answer within %s", trackerTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return cleanTrackerText(oneLine(err))
}

// announceRequest describes us to a tracker; the counters are this run's.
func (e *Engine) announceRequest(ts *torrentState, event tracker.AnnounceEvent) tracker.AnnounceRequest {
	t := ts.t
	st := t.Stats()
	var left int64 = -1
	if t.Info() != nil {
		left = max(t.Length()-t.BytesCompleted(), 0)
	}
	e.mu.Lock()
	want := int32(200)
	if ts.complete {
		want = 50 // a seeder wants leechers, not other seeders, but needs some
	}
	if event == tracker.Stopped {
		want = 0
	}
	e.mu.Unlock()
	return tracker.AnnounceRequest{
		InfoHash:   t.InfoHash(),
		PeerId:     e.cl.PeerID(),
		Event:      event,
		Port:       uint16(e.cl.LocalPort()),
		Left:       left,
		Uploaded:   st.BytesWrittenData.Int64(),
		Downloaded: st.BytesReadUsefulData.Int64(),
		Key:        e.announceKey,
		NumWant:    want,
	}
}

// announce performs one announce over HTTP(S) or UDP.
func (e *Engine) announce(ctx context.Context, u string, req tracker.AnnounceRequest, trackerID string) (announceResult, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return announceResult{}, err
	}
	switch pu.Scheme {
	case "http", "https":
		return e.announceHTTP(ctx, pu, req, trackerID)
	}
	res, err := tracker.Announce{Context: ctx, TrackerUrl: u, Request: req, UserAgent: userAgent}.Do()
	if err != nil {
		return announceResult{}, err
	}
	out := announceResult{seeders: int(res.Seeders), leechers: int(res.Leechers), interval: clampInterval(res.Interval)}
	for _, p := range res.Peers {
		if ap, ok := peerAddr(p.IP, p.Port); ok {
			out.peers = append(out.peers, ap)
		}
	}
	return out, nil
}

const userAgent = "swarmscope"

func clampInterval(secs int32) time.Duration {
	if secs <= 0 {
		return defaultTrackerInterval
	}
	return min(max(time.Duration(secs)*time.Second, minTrackerInterval), maxTrackerInterval)
}

func peerAddr(ip net.IP, port int) (netip.AddrPort, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 || a.IsUnspecified() || a.IsMulticast() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

// httpAnnounceResponse is BEP 3's answer with the keys anacrolix drops:
// min interval, warning message, tracker id.
type httpAnnounceResponse struct {
	FailureReason  string                    `bencode:"failure reason"`
	WarningMessage string                    `bencode:"warning message"`
	Interval       int64                     `bencode:"interval"`
	MinInterval    int64                     `bencode:"min interval"`
	TrackerID      string                    `bencode:"tracker id"`
	Complete       int64                     `bencode:"complete"`
	Incomplete     int64                     `bencode:"incomplete"`
	Peers          httpTracker.Peers         `bencode:"peers"`
	Peers6         krpc.CompactIPv6NodeAddrs `bencode:"peers6"`
}

var trackerHTTP = &http.Client{
	// Connection reuse across announces is of no use (minutes apart), and
	// per-request transports would leak idle connections.
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: trackerTimeout,
		TLSHandshakeTimeout:   trackerTimeout,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	},
}

func (e *Engine) announceHTTP(ctx context.Context, pu *url.URL, req tracker.AnnounceRequest, trackerID string) (announceResult, error) {
	q := url.Values{}
	q.Set("info_hash", string(req.InfoHash[:]))
	q.Set("peer_id", string(req.PeerId[:]))
	q.Set("port", strconv.Itoa(int(req.Port)))
	q.Set("uploaded", strconv.FormatInt(req.Uploaded, 10))
	q.Set("downloaded", strconv.FormatInt(req.Downloaded, 10))
	left := req.Left
	if left < 0 {
		left = 1 << 62 // unknown (a magnet without metadata): "much"
	}
	q.Set("left", strconv.FormatInt(left, 10))
	if req.Event != tracker.None {
		q.Set("event", req.Event.String())
	}
	q.Set("compact", "1")
	q.Set("numwant", strconv.Itoa(int(req.NumWant)))
	q.Set("key", strconv.FormatUint(uint64(uint32(req.Key)), 16))
	q.Set("supportcrypto", "1")
	if trackerID != "" {
		q.Set("trackerid", trackerID)
	}
	u := *pu
	qs := strings.ReplaceAll(q.Encode(), "+", "%20")
	if u.RawQuery != "" {
		u.RawQuery += "&" + qs // private trackers want their own key first
	} else {
		u.RawQuery = qs
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return announceResult{}, err
	}
	hreq.Header.Set("User-Agent", userAgent)
	resp, err := trackerHTTP.Do(hreq)
	if err != nil {
		return announceResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTrackerResponse+1))
	if err != nil {
		return announceResult{}, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxTrackerResponse {
		return announceResult{}, fmt.Errorf("answer larger than %d bytes", maxTrackerResponse)
	}
	if resp.StatusCode != http.StatusOK {
		msg := "HTTP " + resp.Status
		if t := cleanTrackerText(string(body)); t != "" {
			msg += ": " + t
		}
		return announceResult{}, errors.New(msg)
	}
	if err := checkBencode(body); err != nil {
		return announceResult{}, fmt.Errorf("answer refused before decoding: %v", err)
	}
	var r httpAnnounceResponse
	if err := bencode.Unmarshal(body, &r); err != nil {
		var trailing bencode.ErrUnusedTrailingBytes
		if !errors.As(err, &trailing) {
			return announceResult{}, fmt.Errorf("answer is not a bencoded announce response: %s", cleanTrackerText(oneLine(err)))
		}
	}
	if r.FailureReason != "" {
		return announceResult{}, fmt.Errorf("tracker says: %s", cleanTrackerText(r.FailureReason))
	}
	out := announceResult{
		seeders: -1, leechers: -1,
		interval:  clampInterval(int32(min(max(r.Interval, -1), 1<<30))),
		warning:   cleanTrackerText(r.WarningMessage),
		trackerID: cleanTrackerText(r.TrackerID),
	}
	if bytes.Contains(body, []byte("8:completei")) {
		out.seeders = int(min(max(r.Complete, 0), 1<<30))
	}
	if bytes.Contains(body, []byte("10:incompletei")) {
		out.leechers = int(min(max(r.Incomplete, 0), 1<<30))
	}
	if r.MinInterval > 0 {
		out.minInterval = min(max(time.Duration(min(r.MinInterval, 1<<30))*time.Second, minTrackerInterval), out.interval)
	}
	for _, p := range r.Peers.List {
		if ap, ok := peerAddr(p.IP, p.Port); ok {
			out.peers = append(out.peers, ap)
		}
	}
	for _, p := range r.Peers6 {
		if ap, ok := peerAddr(p.IP, p.Port); ok {
			out.peers = append(out.peers, ap)
		}
	}
	return out, nil
}

// cleanTrackerText makes text from a tracker safe to show: one line,
// printable, bounded.
func cleanTrackerText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case !unicode.IsPrint(r) || r == unicode.ReplacementChar:
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxTrackerText {
		cut := maxTrackerText
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

// trackersLocked is the snapshot of a torrent's trackers.
func (a *torrentAnnouncer) trackersLocked() []swarm.TrackerInfo {
	if a == nil {
		return nil
	}
	out := make([]swarm.TrackerInfo, 0, len(a.entries))
	for _, te := range a.entries {
		out = append(out, swarm.TrackerInfo{
			URL: te.url, Tier: te.tier, Status: te.status,
			LastAnnounce: te.lastAt, LastEvent: te.lastEvent, LastSuccess: te.lastOK,
			Peers: te.peers, Seeders: te.seeders, Leechers: te.leechers,
			Interval: te.interval, MinInterval: te.minInterval,
			NextAnnounce: te.nextAt, Error: te.err, Warning: te.warning,
			Announces: te.announces, Failures: te.failures,
		})
	}
	return out
}

func newAnnounceKey() int32 { return rand.Int32() }
