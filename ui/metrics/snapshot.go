package metrics

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/text"
)

// transports are the peer transports exported; a peer on a transport this
// list does not name counts as "other".
var transports = []swarm.Transport{swarm.TransportTCP, swarm.TransportUTP, swarm.TransportWebRTC}

// states are the torrent states of the state-set gauge.
var states = []swarm.State{swarm.StateMetadata, swarm.StateDownloading, swarm.StateSeeding, swarm.StatePaused, swarm.StateError, swarm.StateFinished}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descSnapshotTime = desc("snapshot_timestamp_seconds", "When the engine took the snapshot this scrape reads (Unix time).")
	descPathBytes    = desc("path_bytes_total", "Payload bytes carried by connections of each origin this session, including connections that have closed; direction down = to us, up = from us.", "origin", "direction")
	descPeers        = desc("peers", "Connected peers by origin and transport.", "origin", "transport")
	descTorrentBytes = desc("torrent_bytes_total", "Payload bytes of one torrent this session; direction down = to us, up = from us.", "infohash", "name", "direction")
	descTorrentSize  = desc("torrent_size_bytes", "Total size of one torrent (absent until its metadata is known).", "infohash", "name")
	descTorrentDone  = desc("torrent_verified_bytes", "Bytes of one torrent verified and stored (absent until its metadata is known).", "infohash", "name")
	descTorrentProg  = desc("torrent_progress_ratio", "Verified fraction of one torrent, 0 to 1 (absent until its metadata is known).", "infohash", "name")
	descTorrentState = desc("torrent_state", "1 for the torrent's current state, 0 for the others.", "infohash", "name", "state")
	descTorrentPeers = desc("torrent_peers", "Connected peers of one torrent by origin.", "infohash", "name", "origin")
	descTorrentKnown = desc("torrent_known_peers", "Peer addresses one torrent knows but is not connected to.", "infohash", "name")
	descDHTNodes     = desc("dht_nodes", "Nodes in the DHT routing table (absent when the DHT is off).")
	descDHTGood      = desc("dht_good_nodes", "DHT routing-table nodes that answered our last query or were not yet asked (absent when the DHT is off).")
	descDHTQueries   = desc("dht_queries_total", "Outbound DHT queries sent (absent when the DHT is off).")
	descDHTAnnounces = desc("dht_announce_peer_accepted_total", "DHT announce_peer queries that nodes accepted (absent when the DHT is off).")
	descUPnPActive   = desc("engine_port_mapping_active", "1 when the engine believed a port mapping of its listen port was active at the snapshot; it decides the upnp origin.")
)

// snapshotCollector exports the newest snapshot at scrape time.
type snapshotCollector struct {
	latest func() swarm.Snapshot

	// mu guards high: byte counters never go down. The engine may move a
	// connection's bytes to another path when it relabels it holepunched
	// (a Connect that arrived after the connection it caused); a counter
	// that fell would read as a reset and a spike in rate(), so each
	// keeps the highest value exported.
	mu        sync.Mutex
	high      map[string]float64  // by series: descriptor and label values
	punchTime swarm.DurationStats // the histogram last exported
}

func newSnapshotCollector(latest func() swarm.Snapshot) *snapshotCollector {
	return &snapshotCollector{latest: latest, high: map[string]float64{}}
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSnapshotTime, descPathBytes, descPeers, descTorrentBytes, descTorrentSize,
		descTorrentDone, descTorrentProg, descTorrentState, descTorrentPeers, descTorrentKnown, descDHTNodes, descDHTGood, descDHTQueries, descDHTAnnounces, descUPnPActive} {
		ch <- d
	}
	describeHolepunch(ch)
}

// monotonic returns the larger of v and what was last exported for the
// series k.
func (c *snapshotCollector) monotonic(k string, v float64, seen map[string]bool) float64 {
	seen[k] = true
	if h := c.high[k]; h > v {
		return h
	}
	c.high[k] = v
	return v
}

func seriesKey(d *prometheus.Desc, labels []string) string {
	return d.String() + "\xff" + strings.Join(labels, "\xff")
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.latest()
	if s.Time.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, c.monotonic(seriesKey(d, labels), float64(v), seen), labels...)
	}

	gauge(descSnapshotTime, float64(s.Time.UnixNano())/1e9)
	gauge(descUPnPActive, boolValue(s.UPnPActive))
	for _, o := range swarm.AllOrigins() {
		p := s.Path(o)
		counter(descPathBytes, p.DownBytes, string(o), "down")
		counter(descPathBytes, p.UpBytes, string(o), "up")
	}

	type ot struct{ o, t string }
	peers := map[ot]int{}
	for _, t := range s.Torrents {
		for _, p := range t.PeerList {
			if !knownOrigin(p.Origin) {
				continue
			}
			peers[ot{string(p.Origin), transportLabel(p.Transport)}]++
		}
	}
	for _, o := range swarm.AllOrigins() {
		for _, t := range transports {
			gauge(descPeers, float64(peers[ot{string(o), string(t)}]), string(o), string(t))
		}
		if n := peers[ot{string(o), "other"}]; n > 0 {
			gauge(descPeers, float64(n), string(o), "other")
		}
	}

	for _, t := range s.Torrents {
		ih, name := t.InfoHash, SanitizeName(t.Name)
		counter(descTorrentBytes, t.DownBytes, ih, name, "down")
		counter(descTorrentBytes, t.UpBytes, ih, name, "up")
		if t.State != swarm.StateMetadata && t.Size > 0 {
			gauge(descTorrentSize, float64(t.Size), ih, name)
			gauge(descTorrentDone, float64(t.Completed), ih, name)
			gauge(descTorrentProg, t.Progress, ih, name)
		}
		for _, st := range states {
			gauge(descTorrentState, boolValue(t.State == st), ih, name, string(st))
		}
		if !slices.Contains(states, t.State) && t.State != "" {
			// A state newer than this list still shows as current.
			gauge(descTorrentState, 1, ih, name, string(t.State))
		}
		for _, o := range swarm.AllOrigins() {
			gauge(descTorrentPeers, float64(t.Peers.Get(o)), ih, name, string(o))
		}
		gauge(descTorrentKnown, float64(t.Known), ih, name)
	}
	if d := s.DHT; d.Enabled {
		gauge(descDHTNodes, float64(d.Nodes))
		gauge(descDHTGood, float64(d.GoodNodes))
		counter(descDHTQueries, d.Queries)
		counter(descDHTAnnounces, d.AnnouncesOK)
	}
	c.collectHolepunch(ch, s.Holepunch, counter, seen)
	// A removed torrent forgets its high-water marks: added again, it
	// starts a new series from zero, which Prometheus reads as a reset.
	for k := range c.high {
		if !seen[k] {
			delete(c.high, k)
		}
	}
}

func transportLabel(t swarm.Transport) string {
	for _, k := range transports {
		if k == t {
			return string(t)
		}
	}
	return "other"
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// maxNameRunes bounds the name label: a label is for telling torrents
// apart on a dashboard, the info hash identifies them.
const maxNameRunes = 64

// SanitizeName makes a torrent name (which comes from strangers) fit for a
// label: valid UTF-8, none of the characters ui/text keeps from terminals
// (controls, bidi overrides) nor other invisible format characters,
// whitespace runs as one space, at most 64 characters ("…" marks a cut).
// Dropped rather than replaced: a label is for reading on a dashboard.
func SanitizeName(s string) string {
	var b strings.Builder
	n := 0
	space := false
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '\uFFFD'
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case text.Unsafe(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r):
			continue
		}
		if space {
			if n == maxNameRunes-1 {
				b.WriteRune('…')
				return b.String()
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n == maxNameRunes-1 && i+size < len(s) {
			b.WriteRune('…')
			return b.String()
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
