package engine

import (
	"time"

	"github.com/anacrolix/torrent"
)

// Tuning adjusts client behaviour that the defaults get right for the
// internet but wrong for a small simulated swarm. The zero value changes
// nothing.
type Tuning struct {
	// DialTimeout bounds each outgoing connection attempt. A holepunch
	// rendezvous is only asked for after a direct dial has failed, so on a
	// simulated network with known latencies a short timeout makes
	// holepunches happen within seconds instead of after anacrolix's 20 s.
	DialTimeout time.Duration
	// KeepCompletePeers keeps connections between two complete peers. They
	// carry no data, but a relay must stay connected to a holepunch target
	// for ut_holepunch to work, and in the demo most targets are seeders.
	KeepCompletePeers bool
	// DropDuplicatePeers keeps one connection per peer ID. Without it a
	// peer reached both directly and by a hairpin or holepunch shows up
	// twice with different origins.
	DropDuplicatePeers bool
}

func (t Tuning) apply(tc *torrent.ClientConfig) {
	if t.DialTimeout > 0 {
		tc.NominalDialTimeout = t.DialTimeout
		tc.MinDialTimeout = t.DialTimeout
	}
	if t.KeepCompletePeers {
		tc.DropMutuallyCompletePeers = false
	}
	if t.DropDuplicatePeers {
		tc.DropDuplicatePeerIds = true
	}
}
