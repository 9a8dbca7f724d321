package labtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// run is one swarmscope process in the lab.
type run struct {
	*nslab.Proc
	t    *testing.T
	Host *nslab.Host
	Dir  string
	Port int
}

// startHeadless runs `swarmscope --headless --json --dir dir --port port
// [extra...] source` on the host.
func startHeadless(t *testing.T, h *nslab.Host, dir string, port int, source string, extra ...string) *run {
	t.Helper()
	needFeature(t, "headless", "headless JSON mode (--headless --json)")
	// No DHT: the lab's tracker is the only way to find peers, and the
	// DHT's bootstrap nodes are outside the lab.
	args := []string{"--headless", "--json", "--no-dht", "--dir", dir, "--port", strconv.Itoa(port)}
	// Headless measures the NAT with STUN: only lab STUN servers, never
	// the default public ones, unless the test names its own.
	if !slices.Contains(extra, "--stun") {
		args = append(args, "--stun", "")
	}
	args = append(args, extra...)
	args = append(args, source)
	p := h.StartWith(nslab.StartOptions{SeparateStdout: true}, binary, args...)
	return &run{Proc: p, t: t, Host: h, Dir: dir, Port: port}
}

// tick is one line of headless JSON output: a snapshot plus per-path stats.
type tick struct {
	Time     time.Time                  `json:"time"`
	Torrents []swarm.TorrentInfo        `json:"torrents"`
	Paths    map[string]swarm.PathStats `json:"paths"`
}

// output is the headless output parsed so far.
type output struct {
	Ticks   []tick
	Events  []swarm.Event
	Summary *tick
	// Other holds lines that were JSON objects of no known shape.
	Other []string
	// Bad holds lines that were not JSON at all.
	Bad []string
}

// parse reads the process's standard output. Unknown shapes are kept, not
// fatal: the CLI may add kinds of lines.
func (r *run) parse() output {
	var o output
	sc := bufio.NewScanner(strings.NewReader(r.Stdout()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			o.Bad = append(o.Bad, line)
			continue
		}
		switch {
		case m["summary"] != nil:
			var s tick
			if json.Unmarshal(m["summary"], &s) == nil {
				o.Summary = &s
			}
		case m["event"] != nil:
			var ev swarm.Event
			if json.Unmarshal(m["event"], &ev) == nil {
				o.Events = append(o.Events, ev)
			}
		case m["kind"] != nil && m["message"] != nil:
			var ev swarm.Event
			if json.Unmarshal([]byte(line), &ev) == nil {
				o.Events = append(o.Events, ev)
			}
		case m["torrents"] != nil:
			var tk tick
			if json.Unmarshal([]byte(line), &tk) == nil {
				if string(m["type"]) == `"summary"` || string(m["final"]) == "true" {
					o.Summary = &tk
				} else {
					o.Ticks = append(o.Ticks, tk)
				}
			}
		default:
			o.Other = append(o.Other, line)
		}
	}
	return o
}

// last is the summary if there is one, else the last tick.
func (o output) last() (tick, bool) {
	if o.Summary != nil {
		return *o.Summary, true
	}
	if len(o.Ticks) == 0 {
		return tick{}, false
	}
	return o.Ticks[len(o.Ticks)-1], true
}

// torrent finds a torrent in a tick by info hash.
func (tk tick) torrent(ih string) (swarm.TorrentInfo, bool) {
	for _, ti := range tk.Torrents {
		if strings.EqualFold(ti.InfoHash, ih) {
			return ti, true
		}
	}
	return swarm.TorrentInfo{}, false
}

// connected returns the peer-connected events whose remote address has the
// given IP (any port: a NAT may change it).
func (o output) connected(ip string) []swarm.Event {
	var evs []swarm.Event
	for _, ev := range o.Events {
		if ev.Kind == swarm.EventPeerConnected && hostOf(ev.Peer) == ip {
			evs = append(evs, ev)
		}
	}
	return evs
}

// ofKind returns the events of one kind.
func (o output) ofKind(k swarm.EventKind) []swarm.Event {
	var evs []swarm.Event
	for _, ev := range o.Events {
		if ev.Kind == k {
			evs = append(evs, ev)
		}
	}
	return evs
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// waitTick waits until some tick satisfies cond.
func (r *run) waitTick(timeout time.Duration, what string, cond func(tick) bool) tick {
	r.t.Helper()
	var found tick
	err := nslab.WaitFor(timeout, func() (bool, error) {
		o := r.parse()
		for _, tk := range o.Ticks {
			if cond(tk) {
				found = tk
				return true, nil
			}
		}
		if r.Exited() {
			if o.Summary != nil && cond(*o.Summary) {
				found = *o.Summary
				return true, nil
			}
			return false, nslab.Stop(fmt.Errorf("swarmscope exited (%v)", r.Err()))
		}
		return false, nil
	})
	if err != nil {
		r.t.Fatalf("waiting for %s: %v\n%s", what, err, r.describe())
	}
	return found
}

// waitEvent waits until an event satisfies cond.
func (r *run) waitEvent(timeout time.Duration, what string, cond func(swarm.Event) bool) swarm.Event {
	r.t.Helper()
	var found swarm.Event
	err := nslab.WaitFor(timeout, func() (bool, error) {
		for _, ev := range r.parse().Events {
			if cond(ev) {
				found = ev
				return true, nil
			}
		}
		if r.Exited() {
			return false, nslab.Stop(fmt.Errorf("swarmscope exited (%v)", r.Err()))
		}
		return false, nil
	})
	if err != nil {
		r.t.Fatalf("waiting for %s: %v\n%s", what, err, r.describe())
	}
	return found
}

// progress is the torrent's progress in the latest tick, 0 if unknown.
func (r *run) progress(ih string) float64 {
	o := r.parse()
	if tk, ok := o.last(); ok {
		if ti, ok := tk.torrent(ih); ok {
			return ti.Progress
		}
	}
	return 0
}

// waitExit waits for the process to exit with status 0.
func (r *run) waitExit(timeout time.Duration) output {
	r.t.Helper()
	if err := r.Wait(timeout); err != nil {
		r.t.Fatalf("swarmscope: %v\n%s", err, r.describe())
	}
	o := r.parse()
	r.t.Logf("swarmscope on %s: %s", r.Host.Name, o.timeline())
	return o
}

// timeline is the verified byte count every few ticks, to show where a slow
// run spent its time.
func (o output) timeline() string {
	if len(o.Ticks) == 0 {
		return "no ticks"
	}
	var b strings.Builder
	t0 := o.Ticks[0].Time
	step := max(1, len(o.Ticks)/12)
	for i := 0; i < len(o.Ticks); i += step {
		tk := o.Ticks[i]
		var done int64
		for _, ti := range tk.Torrents {
			done += int64(ti.Progress * float64(ti.Size))
		}
		fmt.Fprintf(&b, "%.0fs:%dKiB ", tk.Time.Sub(t0).Seconds(), done>>10)
	}
	last := o.Ticks[len(o.Ticks)-1]
	fmt.Fprintf(&b, "(%d ticks over %.0fs)", len(o.Ticks), last.Time.Sub(t0).Seconds())
	return b.String()
}

// describe summarizes the run for failure messages.
func (r *run) describe() string {
	o := r.parse()
	var b strings.Builder
	fmt.Fprintf(&b, "swarmscope on %s: %d ticks, %d events, summary=%v, %d other, %d non-JSON lines\n",
		r.Host.Name, len(o.Ticks), len(o.Events), o.Summary != nil, len(o.Other), len(o.Bad))
	for _, ev := range o.Events {
		fmt.Fprintf(&b, "  event %s %s %s %s: %s\n", ev.Kind, ev.Origin, ev.Peer, ev.Via, ev.Message)
	}
	if tk, ok := o.last(); ok {
		js, _ := json.Marshal(tk)
		fmt.Fprintf(&b, "  last: %s\n", js)
	}
	for i, l := range o.Other {
		if i >= 5 {
			break
		}
		fmt.Fprintf(&b, "  other: %.300s\n", l)
	}
	for i, l := range o.Bad {
		if i >= 10 {
			break
		}
		fmt.Fprintf(&b, "  stdout: %.300s\n", l)
	}
	fmt.Fprintf(&b, "  stderr (tail): %s", tail(r.Output(), 3000))
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// checkPathsAddUp asserts that the per-path byte counters add up to the
// torrents' session totals.
func checkPathsAddUp(t *testing.T, tk tick) {
	t.Helper()
	var pathDown, pathUp, tDown, tUp int64
	for _, p := range tk.Paths {
		pathDown += p.DownBytes
		pathUp += p.UpBytes
	}
	for _, ti := range tk.Torrents {
		tDown += ti.DownBytes
		tUp += ti.UpBytes
	}
	if pathDown != tDown || pathUp != tUp {
		t.Errorf("per-path bytes do not add up: paths down %d up %d, torrents down %d up %d (paths %+v)",
			pathDown, pathUp, tDown, tUp, tk.Paths)
	}
}
