package natlab

import (
	"math/rand/v2"
	"time"
)

// LinkConfig describes the link between a node (host or NAT router) and the
// network it sits on. Both directions get the same parameters but separate
// queues.
type LinkConfig struct {
	// Latency is the one-way propagation delay.
	Latency time.Duration
	// Rate is the bandwidth in bytes per second; 0 means unlimited.
	Rate int64
	// Burst is the token-bucket depth in bytes; 0 means 16 KiB.
	Burst int
	// MaxQueue is how much queueing delay the link buffers before it drops
	// (tail drop); 0 means 3 s, a bufferbloated home router. anacrolix/utp
	// has no congestion control (a fixed window of 256 packets, about
	// 360 KB in flight per connection) and drops a connection whose packet
	// stays unacknowledged for 15 s; behind a short buffer on a slow link
	// it loses packet after packet to tail drop until that happens, which
	// looks like a stalled transfer.
	MaxQueue time.Duration
	// Loss is the probability that a datagram is lost, 0..1.
	Loss float64
}

type link struct {
	up, down linkDir
}

func newLink(c LinkConfig) *link {
	if c.Burst <= 0 {
		c.Burst = 16 << 10
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 3 * time.Second
	}
	return &link{up: linkDir{cfg: c}, down: linkDir{cfg: c}}
}

// linkDir is one direction of a link: a token bucket (in its GCRA form,
// which needs only one timestamp) feeding a FIFO with a delay bound.
type linkDir struct {
	cfg LinkConfig
	tat time.Time // theoretical arrival time of the next byte
}

// pass returns when a datagram of size bytes that enters the link at t comes
// out of the other end, or false if the link drops it.
func (d *linkDir) pass(t time.Time, size int, rng *rand.Rand) (time.Time, bool) {
	if d.cfg.Loss > 0 && rng.Float64() < d.cfg.Loss {
		return t, false
	}
	depart := t
	if d.cfg.Rate > 0 {
		burst := time.Duration(float64(d.cfg.Burst) / float64(d.cfg.Rate) * float64(time.Second))
		cost := time.Duration(float64(size) / float64(d.cfg.Rate) * float64(time.Second))
		tat := d.tat
		if tat.Before(t) {
			tat = t
		}
		if s := tat.Add(-burst); s.After(depart) {
			depart = s
		}
		if depart.Sub(t) > d.cfg.MaxQueue {
			return t, false
		}
		d.tat = tat.Add(cost)
	}
	return depart.Add(d.cfg.Latency), true
}
