package engine

import (
	"time"

	"github.com/swarmscope/swarmscope/engine/bytesize"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// rateWindow turns cumulative byte counters into rates averaged over the
// last few seconds: steadier than one tick's delta, faster to react than
// anacrolix's whole-connection average.
type rateWindow struct {
	n       int
	samples [rateWindowLen]rateSample
}

// rateWindowLen samples at a 1 s tick give a ~5 s average.
const rateWindowLen = 6

type rateSample struct {
	at       time.Time
	down, up int64
}

func (w *rateWindow) add(at time.Time, down, up int64) {
	copy(w.samples[1:], w.samples[:rateWindowLen-1])
	w.samples[0] = rateSample{at, down, up}
	if w.n < rateWindowLen {
		w.n++
	}
}

// rates returns bytes per second over the window.
func (w *rateWindow) rates() (down, up float64) {
	if w.n < 2 {
		return 0, 0
	}
	newest, oldest := w.samples[0], w.samples[w.n-1]
	dt := newest.at.Sub(oldest.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(newest.down-oldest.down) / dt, float64(newest.up-oldest.up) / dt
}

// pathState accumulates one origin's traffic.
type pathState struct {
	origin      swarm.Origin
	closedDown  int64 // bytes of connections that have closed
	closedUp    int64
	history     [swarm.HistoryLen]swarm.RateSample
	head, count int
}

func (p *pathState) push(s swarm.RateSample) {
	p.history[p.head] = s
	p.head = (p.head + 1) % swarm.HistoryLen
	if p.count < swarm.HistoryLen {
		p.count++
	}
}

// historyCopy returns the samples oldest first.
func (p *pathState) historyCopy() []swarm.RateSample {
	out := make([]swarm.RateSample, p.count)
	start := (p.head - p.count + swarm.HistoryLen) % swarm.HistoryLen
	n := copy(out, p.history[start:min(start+p.count, swarm.HistoryLen)])
	copy(out[n:], p.history[:p.count-n])
	return out
}

func originIndex(o swarm.Origin) int {
	for i, x := range swarm.AllOrigins() {
		if x == o {
			return i
		}
	}
	return 1 // unknown origins count as outbound, the conservative claim
}

// FormatBytes renders a byte count with binary units.
func FormatBytes(n int64) string { return bytesize.Format(n) }

// FormatRate renders bytes per second.
func FormatRate(bps float64) string {
	return FormatBytes(int64(bps)) + "/s"
}
