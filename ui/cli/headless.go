package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/ui/text"
)

// headlessOptions configures runHeadless.
type headlessOptions struct {
	Out, Err io.Writer
	JSON     bool
	Seed     bool          // keep running after completion
	Every    time.Duration // human line interval; default 2 s
}

// Headless source of truth: an Engine's snapshots and events.
type snapshotSource interface {
	Snapshots() <-chan swarm.Snapshot
	Events() <-chan swarm.Event
}

type jsonPath struct {
	Peers     int     `json:"peers"`
	DownBps   float64 `json:"down_bps"`
	UpBps     float64 `json:"up_bps"`
	DownBytes int64   `json:"down_bytes"`
	UpBytes   int64   `json:"up_bytes"`
}

type jsonTorrent struct {
	Name     string             `json:"name"`
	InfoHash string             `json:"infohash"`
	State    swarm.State        `json:"state"`
	Progress float64            `json:"progress"`
	Size     int64              `json:"size"`
	DownBps  float64            `json:"down_bps"`
	UpBps    float64            `json:"up_bps"`
	DownB    int64              `json:"down_bytes"`
	UpB      int64              `json:"up_bytes"`
	Peers    swarm.OriginCounts `json:"peers"`
	Error    string             `json:"error,omitempty"`
	// Holepunch is the torrent's BEP 55 funnel (swarm.HolepunchFunnel).
	Holepunch swarm.HolepunchFunnel `json:"holepunch"`
	// Trackers, DHT lookups and why nothing is happening, as the engine
	// measured them (engine/swarm.TrackerInfo, TorrentDHT).
	Trackers []swarm.TrackerInfo `json:"trackers"`
	DHT      swarm.TorrentDHT    `json:"dht"`
	Why      string              `json:"why,omitempty"`
	// Over every run of the session, and the seeding limits in force.
	UploadedTotal   int64         `json:"uploaded_total"`
	DownloadedTotal int64         `json:"downloaded_total"`
	Ratio           float64       `json:"ratio"`
	SeedRatioLimit  float64       `json:"seed_ratio_limit,omitempty"`
	SeedTimeLimit   time.Duration `json:"seed_time_limit_ns,omitempty"`
	SeedingFor      time.Duration `json:"seeding_for_ns,omitempty"`
}

type jsonTick struct {
	Type     string              `json:"type"` // "tick"
	Time     time.Time           `json:"time"`
	Torrents []jsonTorrent       `json:"torrents"`
	Paths    map[string]jsonPath `json:"paths"`
	// Holepunch is the BEP 55 funnel of all torrents; HolepunchRelays
	// the same per relay.
	Holepunch       swarm.HolepunchFunnel `json:"holepunch"`
	HolepunchRelays []swarm.RelayFunnel   `json:"holepunch_relays,omitempty"`
	DHT             swarm.DHTInfo         `json:"dht"`
}

type jsonEvent struct {
	Type  string      `json:"type"` // "event"
	Event swarm.Event `json:"event"`
}

type jsonSummary struct {
	Type     string              `json:"type"` // "summary"
	Time     time.Time           `json:"time"`
	Complete bool                `json:"complete"`
	Elapsed  float64             `json:"elapsed_s"`
	Torrents []jsonTorrent       `json:"torrents"`
	Paths    map[string]jsonPath `json:"paths"`
	// As in jsonTick.
	Holepunch       swarm.HolepunchFunnel `json:"holepunch"`
	HolepunchRelays []swarm.RelayFunnel   `json:"holepunch_relays,omitempty"`
}

func pathsJSON(s swarm.Snapshot) map[string]jsonPath {
	m := make(map[string]jsonPath, swarm.NumOrigins)
	for _, o := range swarm.AllOrigins() {
		p := s.Path(o)
		m[string(o)] = jsonPath{p.Peers, p.DownBps, p.UpBps, p.DownBytes, p.UpBytes}
	}
	return m
}

func torrentsJSON(s swarm.Snapshot) []jsonTorrent {
	out := make([]jsonTorrent, 0, len(s.Torrents))
	for _, t := range s.Torrents {
		out = append(out, jsonTorrent{t.Name, t.InfoHash, t.State, t.Progress, t.Size, t.DownBps, t.UpBps, t.DownBytes, t.UpBytes, t.Peers, t.Err, t.Holepunch,
			t.Trackers, t.DHT, t.Why, t.UploadedTotal, t.DownloadedTotal, t.TotalRatio(), t.SeedRatioLimit, t.SeedTimeLimit, t.SeedingFor})
	}
	return out
}

// allDone reports whether every torrent has finished (complete, or
// finished seeding; a paused torrent does not hold the run), and whether
// any failed on the way.
func allDone(s swarm.Snapshot) (done, failed bool) {
	if len(s.Torrents) == 0 {
		return false, false
	}
	for _, t := range s.Torrents {
		switch t.State {
		case swarm.StateSeeding, swarm.StateFinished, swarm.StatePaused:
		case swarm.StateError:
			failed = true
		default:
			return false, false
		}
	}
	return true, failed
}

// stillSeeding reports whether a torrent seeds on: with --seed forever,
// with a seeding limit until it finishes.
func stillSeeding(s swarm.Snapshot, seed bool) bool {
	for _, t := range s.Torrents {
		if t.State == swarm.StateSeeding && (seed || t.SeedRatioLimit > 0 || t.SeedTimeLimit > 0) {
			return true
		}
	}
	return false
}

// runHeadless prints progress until every torrent is complete (unless
// Seed) or ctx ends, then a summary of what each path delivered.
func runHeadless(ctx context.Context, src snapshotSource, o headlessOptions) int {
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	enc := text.NewJSONEncoder(o.Out)
	start := time.Now()
	var last swarm.Snapshot
	var lastLine time.Time
	whys := map[string]whySeen{}
	events := src.Events()
	for {
		select {
		case <-ctx.Done():
			// A signal after every torrent is complete (a --seed run
			// stopped) is the normal end; before, it interrupts (exit 1).
			if done, failed := allDone(last); done && !failed {
				printSummary(o, enc, last, start, true)
				return ExitOK
			}
			printSummary(o, enc, last, start, false)
			fmt.Fprintln(o.Err, "swarmscope: interrupted; verified pieces are kept and resume next time")
			return ExitFailure
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if o.JSON {
				enc.Encode(jsonEvent{Type: "event", Event: ev})
			} else if notable(ev.Kind) {
				rep := ""
				if ev.Repeat > 1 {
					rep = fmt.Sprintf(" (×%d)", ev.Repeat)
				}
				fmt.Fprintf(o.Out, "%s  %s%s\n", ev.Time.Format(time.TimeOnly), text.CleanLine(ev.Message), rep)
			}
		case s := <-src.Snapshots():
			last = s
			if o.JSON {
				enc.Encode(jsonTick{Type: "tick", Time: s.Time, Torrents: torrentsJSON(s), Paths: pathsJSON(s),
					Holepunch: s.Holepunch, HolepunchRelays: s.HolepunchRelays, DHT: s.DHT})
			} else {
				if s.Time.Sub(lastLine) >= o.Every-100*time.Millisecond {
					lastLine = s.Time
					fmt.Fprintln(o.Out, humanLine(s))
				}
				printWhys(o.Out, s, whys)
			}
			if done, failed := allDone(s); done && !stillSeeding(s, o.Seed) {
				printSummary(o, enc, s, start, !failed)
				if failed {
					for _, t := range s.Torrents {
						if t.Err != "" {
							fmt.Fprintf(o.Err, "swarmscope: %s: %s\n", text.Clean(t.Name), text.CleanLine(t.Err))
						}
					}
					return ExitFailure
				}
				return ExitOK
			}
		}
	}
}

func notable(k swarm.EventKind) bool {
	switch k {
	case swarm.EventPeerConnected, swarm.EventPeerDisconnected:
		return false
	}
	return true
}

// whySeen is the why-idle line last printed for a torrent.
type whySeen struct {
	line string
	at   time.Time
}

// whyRepeat is how often an unchanged why-idle line is printed again.
const whyRepeat = 30 * time.Second

// printWhys prints, for each torrent with no peer, the engine's line
// saying why, when it changes and every whyRepeat while it stays.
func printWhys(w io.Writer, s swarm.Snapshot, seen map[string]whySeen) {
	for _, t := range s.Torrents {
		prev := seen[t.InfoHash]
		if t.Why == "" {
			delete(seen, t.InfoHash)
			continue
		}
		if t.Why == prev.line && s.Time.Sub(prev.at) < whyRepeat {
			continue
		}
		// Times to the next announce change every tick; compare without
		// them so a ticking clock alone does not print a line.
		if stripNumbers(t.Why) == stripNumbers(prev.line) && s.Time.Sub(prev.at) < whyRepeat {
			continue
		}
		seen[t.InfoHash] = whySeen{t.Why, s.Time}
		fmt.Fprintf(w, "%s  %s: %s\n", s.Time.Format(time.TimeOnly), t.Name, t.Why)
	}
}

func stripNumbers(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, s)
}

func humanLine(s swarm.Snapshot) string {
	var b strings.Builder
	b.WriteString(s.Time.Format(time.TimeOnly))
	var size, done int64
	var peers swarm.OriginCounts
	for _, t := range s.Torrents {
		size += t.Size
		done += t.Completed
		for _, o := range swarm.AllOrigins() {
			peers.Add(o, t.Peers.Get(o))
		}
	}
	if size > 0 {
		fmt.Fprintf(&b, "  %5.1f%% of %s", 100*float64(done)/float64(size), text.Bytes(size))
	} else {
		b.WriteString("  fetching metadata")
	}
	fmt.Fprintf(&b, "  ↓ %s  ↑ %s  peers:", text.Rate(s.DownBps), text.Rate(s.UpBps))
	for i, o := range swarm.AllOrigins() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", o, peers.Get(o))
	}
	return b.String()
}

func printSummary(o headlessOptions, enc *json.Encoder, s swarm.Snapshot, start time.Time, complete bool) {
	elapsed := time.Since(start)
	if o.JSON {
		enc.Encode(jsonSummary{Type: "summary", Time: time.Now(), Complete: complete, Elapsed: elapsed.Seconds(), Torrents: torrentsJSON(s), Paths: pathsJSON(s),
			Holepunch: s.Holepunch, HolepunchRelays: s.HolepunchRelays})
		return
	}
	if complete {
		fmt.Fprintf(o.Out, "complete in %s\n", elapsed.Round(100*time.Millisecond))
	}
	for _, t := range s.Torrents {
		fmt.Fprintf(o.Out, "  %s  %s  %.1f%%  %s\n", t.InfoHash[:min(8, len(t.InfoHash))], text.Clean(t.Name), 100*t.Progress, t.State)
	}
	fmt.Fprintln(o.Out, "bytes by path:")
	for _, o2 := range swarm.AllOrigins() {
		p := s.Path(o2)
		fmt.Fprintf(o.Out, "  %-12s ↓ %-10s ↑ %-10s\n", o2, text.Bytes(p.DownBytes), text.Bytes(p.UpBytes))
	}
	printFunnel(o.Out, s)
}

// printFunnel writes the BEP 55 funnel of the summary: the whole, then
// each relay's share.
func printFunnel(w io.Writer, s swarm.Snapshot) {
	if s.Holepunch.Zero() {
		return
	}
	fmt.Fprintln(w, "holepunch (BEP 55):")
	fmt.Fprintf(w, "  %s\n", funnelLine(s.Holepunch))
	for _, r := range s.HolepunchRelays {
		fmt.Fprintf(w, "  via %s: %s\n", r.Relay, funnelLine(r.HolepunchFunnel))
	}
}

func funnelLine(f swarm.HolepunchFunnel) string {
	parts := []string{
		fmt.Sprintf("%d rendezvous (%d sent)", f.RendezvousAttempts, f.RendezvousSent),
		fmt.Sprintf("%d Connect received", f.ConnectsReceived),
		fmt.Sprintf("%d punch dials", f.PunchDials),
	}
	hs := fmt.Sprintf("%d connected", f.Handshakes)
	if r, ok := f.SuccessRate(); ok {
		hs += fmt.Sprintf(" (%.0f%% of Connects", 100*r)
		if f.ConnectTime.Count > 0 {
			hs += fmt.Sprintf(", %.0f ms mean, %.0f–%.0f ms", f.ConnectTime.MeanMs(), f.ConnectTime.MinMs, f.ConnectTime.MaxMs)
		}
		hs += ")"
	}
	parts = append(parts, hs, fmt.Sprintf("%d gave data", f.GaveData))
	if f.Remapped > 0 {
		parts = append(parts, fmt.Sprintf("%d from a remapped port", f.Remapped))
	}
	if n := f.Failures.Total(); n > 0 {
		parts = append(parts, fmt.Sprintf("failed: %d no Connect, %d no answer after Connect, %d given up", f.Failures.NoConnect, f.Failures.NoAnswer, f.Failures.GaveUp))
	}
	if n := f.Errors.Total(); n > 0 {
		parts = append(parts, fmt.Sprintf("relay errors: %d NoSuchPeer, %d NotConnected, %d NoSupport, %d NoSelf, %d other",
			f.Errors.NoSuchPeer, f.Errors.NotConnected, f.Errors.NoSupport, f.Errors.NoSelf, f.Errors.Other))
	}
	if k := f.Skipped; k.Own+k.Connected+k.PunchOnly > 0 {
		parts = append(parts, fmt.Sprintf("dials refused: %d own address, %d already connected, %d rendezvous-only", k.Own, k.Connected, k.PunchOnly))
	}
	if f.Relayed > 0 {
		parts = append(parts, fmt.Sprintf("relayed %d for others", f.Relayed))
	}
	return strings.Join(parts, ", ")
}
