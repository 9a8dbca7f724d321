package swarm

import "time"

// EventKind names what happened.
type EventKind string

const (
	EventPeerConnected    EventKind = "peer-connected"
	EventPeerDisconnected EventKind = "peer-disconnected"
	// A holepunch rendezvous we asked a relay for.
	EventHolepunchRendezvous EventKind = "holepunch-rendezvous"
	// We relayed a rendezvous between two other peers.
	EventHolepunchRelayed EventKind = "holepunch-relayed"
	// A relay told us to connect to a peer.
	EventHolepunchConnect EventKind = "holepunch-connect"
	// The connection that a holepunch Connect asked for formed, or did not.
	EventHolepunchSucceeded EventKind = "holepunch-succeeded"
	EventHolepunchFailed    EventKind = "holepunch-failed"
	// A relay answered a rendezvous with an error.
	EventHolepunchError  EventKind = "holepunch-error"
	EventTrackerAnnounce EventKind = "tracker-announce"
	EventTrackerError    EventKind = "tracker-error"
	// A DHT announce failed (or works again after failing).
	EventDHTError         EventKind = "dht-error"
	EventTorrentAdded     EventKind = "torrent-added"
	EventTorrentMetadata  EventKind = "torrent-metadata"
	EventTorrentCompleted EventKind = "torrent-completed"
	EventTorrentRemoved   EventKind = "torrent-removed"
	EventError            EventKind = "error"
	// NAT events come from nat/ through Engine.Publish: STUN and UPnP changes.
	EventNAT EventKind = "nat"
	// The stall watchdog saw a download make no progress and acted.
	EventStall EventKind = "stall"
	// A peer was banned for bad data.
	EventPeerBanned EventKind = "peer-banned"
	// The engine refused to dial an address: our own, or a peer we are
	// connected to already (no rendezvous follows either).
	EventDialSkipped EventKind = "dial-skipped"
	// A piece failed its hash check with blocks from several peers, which
	// proves none of them guilty: it is fetched again from one peer alone.
	EventPieceFailed EventKind = "piece-failed"
	// A DHT lookup (get_peers, announce_peer) of a torrent ended.
	EventDHTLookup EventKind = "dht-lookup"
	// A torrent reached its seeding limit (ratio or time) and stopped.
	EventTorrentFinished EventKind = "torrent-finished"
	// A torrent was added that is already there.
	EventTorrentDuplicate EventKind = "torrent-duplicate"
)

// Event is one thing that happened, for the events pane and headless logs.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     EventKind `json:"kind"`
	InfoHash string    `json:"infohash,omitempty"`
	Peer     string    `json:"peer,omitempty"` // remote address
	Origin   Origin    `json:"origin,omitempty"`
	Via      string    `json:"via,omitempty"` // relay address for holepunch events
	Message  string    `json:"message"`
	// Repeat, when above 1, says this event repeats the most recent one
	// with the same Kind, InfoHash and Peer for the Repeat-th time within
	// ten minutes of the one before: a UI shows it in that one's place,
	// "×Repeat", rather than as a new line.
	Repeat int `json:"repeat,omitempty"`
	// Tracker is the announce URL of tracker-announce and tracker-error
	// events; the results are in the torrent's Trackers in the snapshot.
	Tracker string `json:"tracker,omitempty"`
}
