package engine

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// dialFacts is what the engine knows of its attempts to reach a torrent's
// known peers.
type dialFacts struct {
	known    int    // addresses known, not connected
	halfOpen int    // dials in flight
	failed   int    // addresses whose last dial failed
	lastErr  string // the newest failure, one line
}

// whyIdle says in one line why a torrent that wants data has no peer,
// from what was measured: its trackers, its DHT lookups and the client's
// DHT node, and the peers it knows and dialed. It is "" when the torrent
// has a peer or wants none.
func whyIdle(ti swarm.TorrentInfo, d swarm.DHTInfo, df dialFacts, now time.Time) string {
	if ti.Peers.Total() > 0 {
		return ""
	}
	switch ti.State {
	case swarm.StateDownloading, swarm.StateMetadata:
	default:
		return ""
	}
	var parts []string
	parts = append(parts, trackersWhy(ti.Trackers, now))
	parts = append(parts, dhtWhy(ti.DHT, d, now))
	parts = append(parts, dialWhy(df))
	return "no peers: " + strings.Join(parts, "; ")
}

func trackersWhy(trs []swarm.TrackerInfo, now time.Time) string {
	if len(trs) == 0 {
		return "no trackers"
	}
	var working, updating, waiting, disabled []swarm.TrackerInfo
	var failing []swarm.TrackerInfo
	for _, tr := range trs {
		switch tr.Status {
		case swarm.TrackerWorking:
			working = append(working, tr)
		case swarm.TrackerUpdating:
			updating = append(updating, tr)
		case swarm.TrackerError:
			failing = append(failing, tr)
		case swarm.TrackerDisabled:
			disabled = append(disabled, tr)
		default:
			waiting = append(waiting, tr)
		}
	}
	var out []string
	if len(working) > 0 {
		peers := 0
		var next time.Time
		for _, tr := range working {
			peers += tr.Peers
			if !tr.NextAnnounce.IsZero() && (next.IsZero() || tr.NextAnnounce.Before(next)) {
				next = tr.NextAnnounce
			}
		}
		s := fmt.Sprintf("%s returned %d peers", count(len(working), "tracker"), peers)
		if len(working) == 1 {
			s = fmt.Sprintf("tracker %s returned %d peers", trackerHost(working[0].URL), peers)
		}
		if !next.IsZero() {
			s += ", next announce in " + untilText(next, now)
		}
		out = append(out, s)
	}
	if len(updating) > 0 {
		out = append(out, count(len(updating), "tracker")+" announcing")
	}
	if len(failing) > 0 {
		tr := failing[0]
		s := fmt.Sprintf("tracker %s failed: %s", trackerHost(tr.URL), tr.Error)
		if len(failing) > 1 {
			s = fmt.Sprintf("%s failing (%s: %s)", count(len(failing), "tracker"), trackerHost(tr.URL), tr.Error)
		}
		out = append(out, s)
	}
	if len(waiting) > 0 {
		out = append(out, count(len(waiting), "tracker")+" not contacted")
	}
	if len(disabled) > 0 && len(out) == 0 {
		out = append(out, fmt.Sprintf("%s not used (%s)", count(len(disabled), "tracker"), disabled[0].Error))
	}
	return strings.Join(out, ", ")
}

func dhtWhy(td swarm.TorrentDHT, d swarm.DHTInfo, now time.Time) string {
	switch {
	case !d.Enabled || d.State == swarm.DHTOff:
		return "DHT off"
	case d.State == swarm.DHTNoNodes:
		return "DHT has no nodes (no bootstrap node answered)"
	}
	s := fmt.Sprintf("DHT %d nodes", d.Nodes)
	switch td.Status {
	case swarm.DHTLookupSearching:
		s += fmt.Sprintf(", lookup running (%d asked)", td.Contacted)
	case swarm.DHTLookupDone:
		s += fmt.Sprintf(", last lookup asked %d and found %d peers", td.Contacted, td.LastFound)
		if !td.NextLookup.IsZero() {
			s += ", next in " + untilText(td.NextLookup, now)
		}
	case swarm.DHTLookupFailed:
		s += ", lookup failed: " + td.Error
	case swarm.DHTLookupNoNodes:
		s += ", lookup waiting for nodes"
	}
	return s
}

func dialWhy(df dialFacts) string {
	if df.known == 0 {
		return "no peer addresses known"
	}
	s := count(df.known, "known peer")
	var more []string
	if df.halfOpen > 0 {
		more = append(more, fmt.Sprintf("%d being dialed", df.halfOpen))
	}
	if df.failed > 0 {
		f := fmt.Sprintf("%d dials failed", df.failed)
		if df.lastErr != "" {
			f += " (last: " + df.lastErr + ")"
		}
		more = append(more, f)
	}
	if len(more) > 0 {
		s += ": " + strings.Join(more, ", ")
	}
	return s
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func trackerHost(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		return pu.Scheme + "://" + pu.Host
	}
	return u
}

func untilText(t, now time.Time) string {
	return shortDur(t.Sub(now))
}

// shortDur prints 45s, 28m, 2h5m.
func shortDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	}
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}
