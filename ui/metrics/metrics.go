// Package metrics exports swarmscope to Prometheus: what each connection
// path carried, the connected peers, every torrent, the NAT as measured,
// the port mappings and the BEP 55 holepunch funnel.
//
// It is an output like the TUI: it reads the engine's snapshots and events
// and nat's reports and never imports the BitTorrent client. Values that
// describe the present (bytes, peers, progress) are read from the newest
// snapshot when Prometheus scrapes, so one scrape is one consistent tick
// and nothing is Set behind the scrape's back; things that happen (a
// holepunch, an announce, a renewal) are counted from events as they pass.
// What was not measured is left out, never exported as zero.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// Namespace prefixes every swarmscope metric.
const Namespace = "swarmscope"

// Options configures an Exporter.
type Options struct {
	// Snapshot returns the newest engine snapshot; a zero Time means there
	// is none yet (the demo builds its engine after the exporter starts),
	// and then no engine series are exported.
	Snapshot func() swarm.Snapshot
	// Version is exported as swarmscope_build_info{version}.
	Version string
	// NoProcessMetrics leaves out the Go runtime and process collectors
	// (tests compare exact output).
	NoProcessMetrics bool
}

// Exporter is the Prometheus registry of one swarmscope process. Its
// methods are safe for concurrent use, and a nil *Exporter ignores every
// call, so callers need not check whether --metrics was given.
type Exporter struct {
	reg  *prometheus.Registry
	snap *snapshotCollector
	nat  *natCollector
	pm   *portMapCollector

	connections *prometheus.CounterVec

	// announces counts tracker announces by result. It is made at the
	// first announce event: before the engine reports one there is
	// nothing measured to count.
	annMu     sync.Mutex
	announces map[string]int
}

// New makes an exporter. Nothing listens until Serve.
func New(o Options) *Exporter {
	if o.Snapshot == nil {
		o.Snapshot = func() swarm.Snapshot { return swarm.Snapshot{} }
	}
	x := &Exporter{
		reg:  prometheus.NewRegistry(),
		snap: newSnapshotCollector(o.Snapshot),
		nat:  &natCollector{},
		pm:   newPortMapCollector(),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "peer_connections_total",
			Help: "Peer connections formed, by the origin they were classified with when they formed.",
		}, []string{"origin"}),
		announces: map[string]int{},
	}
	for _, o := range swarm.AllOrigins() {
		x.connections.WithLabelValues(string(o))
	}

	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the version label says which swarmscope is running.",
		ConstLabels: prometheus.Labels{"version": o.Version},
	})
	build.Set(1)
	x.reg.MustRegister(x.snap, x.nat, x.pm, build, x.connections, announceCollector{x})
	if !o.NoProcessMetrics {
		x.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return x
}

// Registry is the exporter's registry (for tests and extra collectors).
func (x *Exporter) Registry() *prometheus.Registry { return x.reg }

func knownOrigin(o swarm.Origin) bool { return o.Index() >= 0 }

// Observe counts one engine event.
func (x *Exporter) Observe(ev swarm.Event) {
	if x == nil {
		return
	}
	switch ev.Kind {
	case swarm.EventPeerConnected:
		if knownOrigin(ev.Origin) {
			x.connections.WithLabelValues(string(ev.Origin)).Inc()
		}
	case swarm.EventTrackerAnnounce:
		x.announce("success")
	case swarm.EventTrackerError:
		x.announce("error")
	}
}

func (x *Exporter) announce(result string) {
	x.annMu.Lock()
	defer x.annMu.Unlock()
	if len(x.announces) == 0 {
		x.announces["success"], x.announces["error"] = 0, 0
	}
	x.announces[result]++
}

var descAnnounces = desc("tracker_announces_total", "Tracker announces the engine reported, by result (success or error); absent until the first.", "result")

// announceCollector exports the announce counts.
type announceCollector struct{ x *Exporter }

func (c announceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAnnounces }

func (c announceCollector) Collect(ch chan<- prometheus.Metric) {
	c.x.annMu.Lock()
	defer c.x.annMu.Unlock()
	for r, n := range c.x.announces {
		ch <- prometheus.MustNewConstMetric(descAnnounces, prometheus.CounterValue, float64(n), r)
	}
}

// Tee counts the events on in and passes them on. Like the engine, it
// drops an event rather than block when the reader is behind, so a slow
// view never stalls the count. The returned channel closes when in does.
func (x *Exporter) Tee(in <-chan swarm.Event) <-chan swarm.Event {
	if x == nil {
		return in
	}
	out := make(chan swarm.Event, max(cap(in), 1024))
	go func() {
		defer close(out)
		for ev := range in {
			x.Observe(ev)
			select {
			case out <- ev:
			default:
			}
		}
	}()
	return out
}

// Handler serves the registry in the Prometheus text format.
func (x *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Listen opens addr (host:port) for scrapes, so that a bad or busy address
// is reported before anything else starts.
func Listen(addr string) (net.Listener, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return l, nil
}

// CheckAddr accepts host:port with a numeric port; the host may be empty
// (all interfaces).
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, e.g. 127.0.0.1:9741")
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("%q is not a port", port)
	}
	_ = host
	return nil
}

// Serve answers scrapes on l (GET /metrics) until ctx ends.
func (x *Exporter) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", x.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `swarmscope: metrics are at /metrics`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ObserveNAT records the outcome of a NAT diagnosis (nat.Check or the
// demo's). Only what it measured is exported.
func (x *Exporter) ObserveNAT(r nat.Report, err error) {
	if x == nil {
		return
	}
	x.nat.observe(r, err)
}
