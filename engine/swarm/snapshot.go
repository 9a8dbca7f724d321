// Package swarm holds the values the engine publishes: snapshots of
// torrents, peers and paths, events, and the origin table. It imports
// nothing of the torrent engine, so the UI, the styles and the metrics read
// them without pulling anacrolix in (the shape of Tailscale's
// portmappertype: shared types in a leaf package).
package swarm

import (
	"time"
)

// Transport is the wire protocol of a peer connection.
type Transport string

const (
	TransportTCP    Transport = "tcp"
	TransportUTP    Transport = "utp"
	TransportWebRTC Transport = "webrtc"
)

// Discovery says where we learned about the peer.
type Discovery string

const (
	DiscoveryTracker   Discovery = "tracker"
	DiscoveryDHT       Discovery = "dht"
	DiscoveryPEX       Discovery = "pex"
	DiscoveryHolepunch Discovery = "holepunch"
	DiscoveryDirect    Discovery = "direct" // magnet x.pe, added by hand or by the demo directory
	DiscoveryIncoming  Discovery = "incoming"
)

// State is a torrent's life-cycle state.
type State string

const (
	StateMetadata    State = "fetching metadata"
	StateDownloading State = "downloading"
	StateSeeding     State = "seeding"
	StatePaused      State = "paused"
	StateError       State = "error"
	// StateFinished: complete, and seeding stopped at its ratio or time
	// limit.
	StateFinished State = "finished"
)

// Snapshot is the engine's complete state at one tick. It is never mutated
// after publication, so the UI may keep and read it from any goroutine.
type Snapshot struct {
	Time     time.Time     `json:"time"`
	Torrents []TorrentInfo `json:"torrents"`
	// Paths holds one entry per origin, in the order of AllOrigins.
	Paths      []PathStats `json:"-"`
	DownBps    float64     `json:"down_bps"`
	UpBps      float64     `json:"up_bps"`
	ListenAddr string      `json:"listen_addr,omitempty"`
	// UPnPActive reports whether the engine believed a UPnP mapping was active
	// at this tick; it decides the upnp origin.
	UPnPActive bool `json:"upnp_active"`
	// Holepunch is the BEP 55 funnel of every torrent together, plus the
	// dials refused before any torrent was known (engine/punchgate.go).
	Holepunch HolepunchFunnel `json:"holepunch"`
	// HolepunchRelays is the funnel per relay, by relay address.
	HolepunchRelays []RelayFunnel `json:"holepunch_relays,omitempty"`
	// DHT is the client's DHT node.
	DHT DHTInfo `json:"dht"`
}

// Path returns the stats of origin o.
func (s *Snapshot) Path(o Origin) PathStats {
	for _, p := range s.Paths {
		if p.Origin == o {
			return p
		}
	}
	return PathStats{Origin: o}
}

// TorrentInfo describes one torrent at a tick.
type TorrentInfo struct {
	InfoHash  string        `json:"infohash"`
	Name      string        `json:"name"`
	Size      int64         `json:"size"`      // 0 until the metadata is known
	Completed int64         `json:"completed"` // verified bytes
	Progress  float64       `json:"progress"`  // 0..1
	DownBps   float64       `json:"down_bps"`
	UpBps     float64       `json:"up_bps"`
	DownBytes int64         `json:"down_bytes"` // payload received this session
	UpBytes   int64         `json:"up_bytes"`   // payload sent this session
	ETA       time.Duration `json:"eta_ns"`     // -1 when unknown
	State     State         `json:"state"`
	Err       string        `json:"error,omitempty"`
	Peers     OriginCounts  `json:"peers"`
	Seeds     int           `json:"seeds"`    // connected peers that have everything
	Leechers  int           `json:"leechers"` // connected peers that do not
	Known     int           `json:"known"`    // peer addresses known but not connected
	// Holepunch is this torrent's BEP 55 funnel.
	Holepunch HolepunchFunnel `json:"holepunch"`
	PeerList  []PeerInfo      `json:"-"`
	Files     []FileInfo      `json:"-"`
	AddedAt   time.Time       `json:"-"`
	// Trackers holds one entry per announce URL, in tier order.
	Trackers []TrackerInfo `json:"trackers"`
	// DHT is this torrent's DHT lookups.
	DHT TorrentDHT `json:"dht"`
	// Why says in one line, from what was measured, why a torrent that
	// wants data has no peer ("" otherwise).
	Why string `json:"why,omitempty"`
	// Payload over every run of the remembered session (this run
	// included), for the all-time ratio the seeding limits use.
	UploadedTotal   int64 `json:"uploaded_total"`
	DownloadedTotal int64 `json:"downloaded_total"`
	// Seeding limits in force (0 = none) and how long it has seeded.
	SeedRatioLimit float64       `json:"seed_ratio_limit,omitempty"`
	SeedTimeLimit  time.Duration `json:"seed_time_limit_ns,omitempty"`
	SeedingFor     time.Duration `json:"seeding_for_ns,omitempty"`
}

// TotalRatio is uploaded over downloaded payload over every run; a torrent
// that was complete on disk before it downloaded anything counts its size
// as downloaded (as Transmission does).
func (t TorrentInfo) TotalRatio() float64 {
	down := t.DownloadedTotal
	if down <= 0 {
		down = t.Size
	}
	if down <= 0 {
		return 0
	}
	return float64(t.UploadedTotal) / float64(down)
}

// Ratio is uploaded over downloaded payload for this session.
func (t TorrentInfo) Ratio() float64 {
	if t.DownBytes == 0 {
		if t.UpBytes > 0 {
			return float64(t.UpBytes) / float64(max(t.Size, 1))
		}
		return 0
	}
	return float64(t.UpBytes) / float64(t.DownBytes)
}

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID        string    `json:"id"` // stable for the life of the connection
	Origin    Origin    `json:"origin"`
	Transport Transport `json:"transport"`
	Discovery Discovery `json:"discovery"`
	Addr      string    `json:"addr"`
	Client    string    `json:"client"`
	Encrypted bool      `json:"encrypted"`
	Progress  float64   `json:"progress"` // the peer's completion, 0..1
	DownBps   float64   `json:"down_bps"` // from the peer to us
	UpBps     float64   `json:"up_bps"`   // from us to the peer
	DownBytes int64     `json:"down_bytes"`
	UpBytes   int64     `json:"up_bytes"`
	Since     time.Time `json:"since"`
	// Relay is, for a holepunched peer, the peer that relayed the
	// ut_holepunch Connect; ConnectTook is how long the connection took to
	// form after that Connect (zero when unknown, or formed before it).
	Relay       string        `json:"relay,omitempty"`
	ConnectTook time.Duration `json:"connect_took_ns,omitempty"`
}

// Priority of a file's pieces.
type Priority int

const (
	PrioritySkip Priority = iota
	PriorityNormal
	PriorityHigh
)

func (p Priority) String() string {
	switch p {
	case PrioritySkip:
		return "skip"
	case PriorityHigh:
		return "high"
	}
	return "normal"
}

// FileInfo describes one file of a torrent.
type FileInfo struct {
	Path      string   `json:"path"`
	Size      int64    `json:"size"`
	Completed int64    `json:"completed"`
	Priority  Priority `json:"priority"`
}

// HistoryLen is how many one-second samples each path keeps (10 minutes).
const HistoryLen = 600

// RateSample is one second of a path's throughput.
type RateSample struct {
	DownBps float64
	UpBps   float64
}

// PathStats aggregates every connection of one origin.
type PathStats struct {
	Origin    Origin  `json:"-"`
	Peers     int     `json:"peers"`
	DownBps   float64 `json:"down_bps"`
	UpBps     float64 `json:"up_bps"`
	DownBytes int64   `json:"down_bytes"` // includes peers that have left
	UpBytes   int64   `json:"up_bytes"`
	// History holds up to HistoryLen samples, oldest first.
	History []RateSample `json:"-"`
}
