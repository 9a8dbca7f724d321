package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// The BEP 55 funnel, read from the snapshot (swarm.HolepunchFunnel of every
// torrent together): each stage counts what was measured at that stage, so
// the ratio of adjacent counters is that stage's success rate.
var (
	descPunchAttempts = desc("holepunch_rendezvous_attempts_total", "Tries to be introduced to a peer we could not dial (one per target per try, however many relays were asked).")
	descPunchSent     = desc("holepunch_rendezvous_sent_total", "BEP 55 rendezvous messages sent, one per relay asked.")
	descPunchConnects = desc("holepunch_connects_received_total", "BEP 55 Connect messages received from relays, on our initiative or the other side's.")
	descPunchDials    = desc("holepunch_dials_total", "Dials made because of a Connect.")
	descPunchOK       = desc("holepunch_succeeded_total", "Connections that formed (BitTorrent handshake done) because of a Connect, whichever side's packet got through.")
	descPunchRemapped = desc("holepunch_remapped_total", "Punched connections that came from another port than the Connect named: the target's NAT remapped it.")
	descPunchData     = desc("holepunch_gave_data_total", "Holepunched peers that sent us piece data.")
	descPunchFailed   = desc("holepunch_failed_total", "Failed holepunch attempts by measured cause: no-connect (no relay answered the rendezvous), no-answer (a Connect came, no connection formed in the window), gave-up (target left alone after the last try).", "reason")
	descPunchErrors   = desc("holepunch_relay_errors_total", "BEP 55 Error messages from relays, by error code.", "code")
	descPunchSkipped  = desc("holepunch_dials_skipped_total", "Dials the engine refused (never followed by a rendezvous), by reason: own (our own address), connected (already connected to that peer), punch-only (retried by rendezvous only).", "reason")
	descPunchRelayed  = desc("holepunch_rendezvous_relayed_total", "BEP 55 rendezvous requests other peers sent us as their relay.")
	descPunchTime     = desc("holepunch_connect_duration_seconds", "Time from a relay's Connect to the punched connection.")
)

func describeHolepunch(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPunchAttempts, descPunchSent, descPunchConnects, descPunchDials, descPunchOK, descPunchRemapped,
		descPunchData, descPunchFailed, descPunchErrors, descPunchSkipped, descPunchRelayed, descPunchTime} {
		ch <- d
	}
}

func (c *snapshotCollector) collectHolepunch(ch chan<- prometheus.Metric, f swarm.HolepunchFunnel, counter func(*prometheus.Desc, int64, ...string), seen map[string]bool) {
	n := func(d *prometheus.Desc, v int, labels ...string) { counter(d, int64(v), labels...) }
	n(descPunchAttempts, f.RendezvousAttempts)
	n(descPunchSent, f.RendezvousSent)
	n(descPunchConnects, f.ConnectsReceived)
	n(descPunchDials, f.PunchDials)
	n(descPunchOK, f.Handshakes)
	n(descPunchRemapped, f.Remapped)
	n(descPunchData, f.GaveData)
	n(descPunchFailed, f.Failures.NoConnect, "no-connect")
	n(descPunchFailed, f.Failures.NoAnswer, "no-answer")
	n(descPunchFailed, f.Failures.GaveUp, "gave-up")
	n(descPunchErrors, f.Errors.NoSuchPeer, "no-such-peer")
	n(descPunchErrors, f.Errors.NotConnected, "not-connected")
	n(descPunchErrors, f.Errors.NoSupport, "no-support")
	n(descPunchErrors, f.Errors.NoSelf, "no-self")
	n(descPunchErrors, f.Errors.Other, "other")
	n(descPunchSkipped, f.Skipped.Own, "own")
	n(descPunchSkipped, f.Skipped.Connected, "connected")
	n(descPunchSkipped, f.Skipped.PunchOnly, "punch-only")
	n(descPunchRelayed, f.Relayed)

	// The histogram, from the funnel's buckets. Like the counters it may
	// not go back: if the engine's total ever shrank (a torrent removed
	// with its funnel), the last histogram exported stands.
	d := f.ConnectTime
	key := seriesKey(descPunchTime, nil)
	seen[key] = true
	if c.punchTime.Count > d.Count {
		d = c.punchTime
	}
	c.punchTime = d
	buckets := make(map[float64]uint64, len(swarm.DurationBucketsMs))
	var cum uint64
	for i, le := range swarm.DurationBucketsMs {
		cum += uint64(d.Buckets[i])
		buckets[le/1000] = cum
	}
	ch <- prometheus.MustNewConstHistogram(descPunchTime, uint64(d.Count), d.TotalMs/1000, buckets)
}
