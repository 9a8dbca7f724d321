package cli

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/demo"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/ui/metrics"
)

const metricsUsage = "serve Prometheus metrics on `host:port` at /metrics, e.g. 127.0.0.1:9741 (default: off)"

// metricsRun is --metrics for one command. Every method is a no-op when
// the flag was not given, so the modes call them unconditionally.
type metricsRun struct {
	x    *metrics.Exporter // nil when off
	addr string            // where it listens
	you  atomic.Pointer[engine.Engine]
	// natEvery is how often the NAT is measured again (NATRecheck).
	natEvery time.Duration
}

// openMetrics listens on addr before the engine starts, so that a busy
// address costs one line and nothing else; "" is off.
func openMetrics(ctx context.Context, addr string) (*metricsRun, error) {
	m := &metricsRun{natEvery: NATRecheck}
	if addr == "" {
		return m, nil
	}
	l, err := metrics.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %v", addr, err)
	}
	m.addr = l.Addr().String()
	m.x = metrics.New(metrics.Options{Snapshot: m.snapshot, Version: version()})
	go m.x.Serve(ctx, l) // stops with ctx; a process that returns first just exits
	return m, nil
}

func (m *metricsRun) snapshot() swarm.Snapshot {
	if e := m.you.Load(); e != nil {
		return e.Latest()
	}
	return swarm.Snapshot{}
}

// follow exports e's snapshots from now on.
func (m *metricsRun) follow(e *engine.Engine) { m.you.Store(e) }

// demoMapper exports the state of "you"'s mapping (UDP only: the demo is
// uTP). Its events go to the demo's own handler, so renewals and failures
// are not counted here.
func (m *metricsRun) demoMapper(s *demo.Swarm) {
	if s.You.Mapper != nil {
		m.x.AddPortMapper(metrics.UPnP(s.You.Mapper, []string{"udp"}, false))
	}
}

// announce tells a headless user where the metrics are.
func (m *metricsRun) announce(w io.Writer) {
	if m.x != nil {
		fmt.Fprintf(w, "swarmscope: metrics at http://%s/metrics\n", m.addr)
	}
}

// events counts evs on their way to the view.
func (m *metricsRun) events(evs <-chan swarm.Event) <-chan swarm.Event { return m.x.Tee(evs) }

// source is src with its events counted on the way.
func (m *metricsRun) source(src snapshotSource) snapshotSource {
	if m.x == nil {
		return src
	}
	return teedSource{src, m.x.Tee(src.Events())}
}

type teedSource struct {
	snapshotSource
	evs <-chan swarm.Event
}

func (t teedSource) Events() <-chan swarm.Event { return t.evs }

// observeNAT exports what a NAT diagnosis measured.
func (m *metricsRun) observeNAT(ctx context.Context, r nat.Report, err error) {
	if ctx.Err() == nil { // a cancelled check measured nothing about the NAT
		m.x.ObserveNAT(r, err)
	}
}

// natCheck wraps a NAT diagnosis so that its result is exported too.
func (m *metricsRun) natCheck(f func(context.Context) (nat.Report, error)) func(context.Context) (nat.Report, error) {
	if m.x == nil {
		return f
	}
	return func(ctx context.Context) (nat.Report, error) {
		r, err := f(ctx)
		m.observeNAT(ctx, r, err)
		return r, err
	}
}

// NATRecheck is how often a run with --metrics measures the NAT again, so
// that a graph shows the NAT type or the public address changing over the
// days it runs; the first measurement is the mode's own.
const NATRecheck = 30 * time.Minute

// recheckNAT runs check every natEvery until ctx ends; check must export
// its result (observeNAT or natCheck). The diagnoses are also sent on the
// returned channel (newest wins), for a view to show; nil when --metrics
// is off.
func (m *metricsRun) recheckNAT(ctx context.Context, check func(context.Context) (nat.Report, error)) <-chan nat.Report {
	if m.x == nil {
		return nil
	}
	out := make(chan nat.Report, 1)
	go func() {
		t := time.NewTicker(m.natEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			r, err := check(cctx)
			cancel()
			if err != nil || ctx.Err() != nil {
				continue
			}
			select {
			case <-out:
			default:
			}
			out <- r
		}
	}()
	return out
}
