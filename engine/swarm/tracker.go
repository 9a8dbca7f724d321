package swarm

import "time"

// TrackerStatus is where a tracker stands with a torrent.
type TrackerStatus string

const (
	TrackerNotContacted TrackerStatus = "not contacted" // nothing sent yet (or stopped: paused)
	TrackerUpdating     TrackerStatus = "updating"      // an announce is in flight
	TrackerWorking      TrackerStatus = "working"       // the last announce succeeded
	TrackerError        TrackerStatus = "error"         // the last announce failed; see Error
	TrackerDisabled     TrackerStatus = "disabled"      // never announced to; Error says why
)

// TrackerInfo is one tracker URL of a torrent: what its last announce
// returned and when the next one goes out. Counts from the last successful
// announce stay while later ones fail.
type TrackerInfo struct {
	URL    string        `json:"url"`
	Tier   int           `json:"tier"`
	Status TrackerStatus `json:"status"`
	// LastAnnounce is when the last announce (successful or not) finished;
	// LastEvent its BEP 3 event ("started", "completed", "stopped", "").
	LastAnnounce time.Time `json:"last_announce,omitzero"`
	LastEvent    string    `json:"last_event,omitempty"`
	LastSuccess  time.Time `json:"last_success,omitzero"`
	// Peers is how many peer addresses the last successful announce
	// returned; Seeders and Leechers the swarm counts it reported (-1 when
	// the tracker did not say).
	Peers    int `json:"peers_returned"`
	Seeders  int `json:"seeders"`
	Leechers int `json:"leechers"`
	// Interval and MinInterval as the tracker asked (0: it gave no min).
	Interval     time.Duration `json:"interval_ns"`
	MinInterval  time.Duration `json:"min_interval_ns"`
	NextAnnounce time.Time     `json:"next_announce,omitzero"`
	Error        string        `json:"error,omitempty"`
	Warning      string        `json:"warning,omitempty"`
	Announces    int           `json:"announces_ok"`      // successful announces this run
	Failures     int           `json:"failures_in_a_row"` // since the last success
}

// DHTState is the client's DHT as a whole.
type DHTState string

const (
	DHTOff           DHTState = "off"           // --no-dht, or no DHT on this network
	DHTNoNodes       DHTState = "no nodes"      // routing table empty: no bootstrap node answered yet
	DHTBootstrapping DHTState = "bootstrapping" // nodes known, none has answered yet
	DHTReady         DHTState = "ready"         // nodes that answer
)

// DHTInfo is the client's DHT node.
type DHTInfo struct {
	Enabled   bool     `json:"enabled"`
	State     DHTState `json:"state"`
	Addr      string   `json:"addr,omitempty"`
	Nodes     int      `json:"nodes"`      // in the routing table
	GoodNodes int      `json:"good_nodes"` // that answered our last query or are not yet asked
	Queries   int64    `json:"queries"`    // outbound queries sent
	// AnnouncesOK counts announce_peer queries that nodes accepted.
	AnnouncesOK int64 `json:"announce_peer_ok"`
}

// DHTLookupStatus is where a torrent's DHT lookups stand.
type DHTLookupStatus string

const (
	DHTLookupOff       DHTLookupStatus = "off"
	DHTLookupIdle      DHTLookupStatus = "idle" // paused
	DHTLookupNoNodes   DHTLookupStatus = "waiting for nodes"
	DHTLookupSearching DHTLookupStatus = "searching"
	DHTLookupDone      DHTLookupStatus = "done"
	DHTLookupFailed    DHTLookupStatus = "failed"
)

// TorrentDHT is one torrent's DHT lookups (get_peers, then announce_peer).
type TorrentDHT struct {
	Status     DHTLookupStatus `json:"status"`
	Lookups    int             `json:"lookups"`
	LastLookup time.Time       `json:"last_lookup,omitzero"`
	LastFound  int             `json:"last_found"` // distinct peers the last lookup returned
	Found      int             `json:"found"`      // distinct peers over all lookups
	Contacted  int             `json:"contacted"`  // nodes the last (or current) lookup asked
	NextLookup time.Time       `json:"next_lookup,omitzero"`
	Error      string          `json:"error,omitempty"`
}
