package swarm

// HolepunchFunnel counts BEP 55 (ut_holepunch) attempts from the first
// request to a peer that gave data, for one torrent, one relay, or all of
// them. Each stage counts what was measured at that stage, so the ratio of
// two adjacent fields is that stage's success rate.
type HolepunchFunnel struct {
	// RendezvousAttempts counts our tries to be introduced: one per target
	// per try, however many relays were asked.
	RendezvousAttempts int `json:"rendezvous_attempts"`
	// RendezvousSent counts rendezvous messages sent, one per relay asked.
	RendezvousSent int `json:"rendezvous_sent"`
	// ConnectsReceived counts relays' Connect messages, ours or the other
	// side's initiative alike.
	ConnectsReceived int `json:"connects_received"`
	// PunchDials counts dials made because of a Connect.
	PunchDials int `json:"punch_dials"`
	// Handshakes counts connections that formed (BitTorrent handshake
	// done) because of a Connect, whichever side's packet got through.
	Handshakes int `json:"handshakes"`
	// Remapped counts those handshakes that came from another port than
	// the one the Connect named: the target's NAT remapped it.
	Remapped int `json:"remapped"`
	// GaveData counts holepunched peers that sent us piece data.
	GaveData int `json:"gave_data"`
	// Errors counts relays' Error messages by the BEP 55 error code.
	Errors HolepunchErrors `json:"errors"`
	// Failures counts failed attempts by what we measured.
	Failures HolepunchFailures `json:"failures"`
	// Skipped counts dials (and so rendezvous) we did not make.
	Skipped HolepunchSkips `json:"skipped"`
	// ConnectTime is the time from a Connect to the connection.
	ConnectTime DurationStats `json:"connect_time"`
	// Relayed counts rendezvous requests other peers sent us as relay.
	Relayed int `json:"relayed"`
}

// HolepunchErrors are relay Error messages by BEP 55 code.
type HolepunchErrors struct {
	NoSuchPeer   int `json:"no_such_peer"`  // 1: the target endpoint is invalid
	NotConnected int `json:"not_connected"` // 2: the relay is not connected to the target
	NoSupport    int `json:"no_support"`    // 3: the target does not speak ut_holepunch
	NoSelf       int `json:"no_self"`       // 4: the target is the relay itself
	Other        int `json:"other"`         // any other code
}

// Total is the number of errors of every code.
func (e HolepunchErrors) Total() int {
	return e.NoSuchPeer + e.NotConnected + e.NoSupport + e.NoSelf + e.Other
}

// HolepunchFailures are failed attempts by measured cause.
type HolepunchFailures struct {
	// NoConnect: a rendezvous was sent and no relay answered with a
	// Connect or an Error in time.
	NoConnect int `json:"no_connect"`
	// NoAnswer: a Connect arrived (and we punched), but no connection
	// with the target formed within the holepunch window.
	NoAnswer int `json:"no_answer"`
	// GaveUp: targets left alone after the last rendezvous attempt.
	GaveUp int `json:"gave_up"`
}

// Total is the number of failures of every cause.
func (f HolepunchFailures) Total() int { return f.NoConnect + f.NoAnswer + f.GaveUp }

// HolepunchSkips are dials the engine refused, by reason. A refused dial
// is never followed by a rendezvous.
type HolepunchSkips struct {
	Own       int `json:"own"`        // the address is our own
	Connected int `json:"connected"`  // we are connected to that peer already
	PunchOnly int `json:"punch_only"` // a rendezvous target: retried by rendezvous only
}

// DurationBucketsMs are the upper bounds of DurationStats.Buckets, from
// loopback punches (milliseconds) to the 30 s holepunch window; a
// Prometheus histogram is made from them.
var DurationBucketsMs = [...]float64{10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}

// DurationStats summarises a set of durations in milliseconds.
type DurationStats struct {
	Count   int     `json:"count"`
	TotalMs float64 `json:"total_ms"`
	MinMs   float64 `json:"min_ms"`
	MaxMs   float64 `json:"max_ms"`
	// Buckets[i] counts durations of at most DurationBucketsMs[i] and
	// more than the bound before it (not cumulative); longer ones are
	// only in Count.
	Buckets [len(DurationBucketsMs)]int `json:"buckets"`
}

// Add records one duration in milliseconds.
func (d *DurationStats) Add(ms float64) {
	if d.Count == 0 || ms < d.MinMs {
		d.MinMs = ms
	}
	if ms > d.MaxMs {
		d.MaxMs = ms
	}
	d.Count++
	d.TotalMs += ms
	for i, le := range DurationBucketsMs {
		if ms <= le {
			d.Buckets[i]++
			break
		}
	}
}

// MeanMs is the mean duration, 0 when there is none.
func (d DurationStats) MeanMs() float64 {
	if d.Count == 0 {
		return 0
	}
	return d.TotalMs / float64(d.Count)
}

func (d *DurationStats) merge(o DurationStats) {
	if o.Count == 0 {
		return
	}
	if d.Count == 0 || o.MinMs < d.MinMs {
		d.MinMs = o.MinMs
	}
	d.MaxMs = max(d.MaxMs, o.MaxMs)
	d.Count += o.Count
	d.TotalMs += o.TotalMs
	for i, n := range o.Buckets {
		d.Buckets[i] += n
	}
}

// Merge adds o's counts to f.
func (f *HolepunchFunnel) Merge(o HolepunchFunnel) {
	f.RendezvousAttempts += o.RendezvousAttempts
	f.RendezvousSent += o.RendezvousSent
	f.ConnectsReceived += o.ConnectsReceived
	f.PunchDials += o.PunchDials
	f.Handshakes += o.Handshakes
	f.Remapped += o.Remapped
	f.GaveData += o.GaveData
	f.Errors.NoSuchPeer += o.Errors.NoSuchPeer
	f.Errors.NotConnected += o.Errors.NotConnected
	f.Errors.NoSupport += o.Errors.NoSupport
	f.Errors.NoSelf += o.Errors.NoSelf
	f.Errors.Other += o.Errors.Other
	f.Failures.NoConnect += o.Failures.NoConnect
	f.Failures.NoAnswer += o.Failures.NoAnswer
	f.Failures.GaveUp += o.Failures.GaveUp
	f.Skipped.Own += o.Skipped.Own
	f.Skipped.Connected += o.Skipped.Connected
	f.Skipped.PunchOnly += o.Skipped.PunchOnly
	f.ConnectTime.merge(o.ConnectTime)
	f.Relayed += o.Relayed
}

// Zero reports whether nothing was counted.
func (f HolepunchFunnel) Zero() bool { return f == HolepunchFunnel{} }

// SuccessRate is handshakes per Connect received: of the introductions
// that reached us, the share that became a connection. ok is false when
// no Connect arrived.
func (f HolepunchFunnel) SuccessRate() (rate float64, ok bool) {
	if f.ConnectsReceived == 0 {
		return 0, false
	}
	return float64(f.Handshakes) / float64(f.ConnectsReceived), true
}

// RelayFunnel is the funnel of the attempts one relay took part in.
type RelayFunnel struct {
	Relay string `json:"relay"` // the relay's address
	HolepunchFunnel
}
