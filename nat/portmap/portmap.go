// Package portmap maps the torrent port on the user's gateway with whichever
// protocol it speaks: UPnP IGD, PCP (RFC 6887) or NAT-PMP (RFC 6886). All
// protocols are probed in parallel and the first that maps wins; TCP and UDP
// are mapped with external port = internal port where the gateway allows,
// leases are renewed at half-life, gateway announcements (PCP ANNOUNCE,
// NAT-PMP address changes, epoch resets) re-make the mappings, and Close
// removes every mapping made. The model is Tailscale's net/portmapper.
package portmap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pt "github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

// Config says what to map and with which protocols.
type Config struct {
	// Probers are the protocols to try, e.g. upnp.Prober(...) and
	// pmp.Prober(...); at least one is required.
	Probers []pt.Prober
	Port    int // internal and asked-for external port (peers are told it)
	// Protocols defaults to TCP and UDP.
	Protocols []string
	// InternalIP is the address the gateway forwards to; by default our
	// address toward the gateway.
	InternalIP string
	// Lease defaults to one hour; mappings are renewed at half-life.
	Lease time.Duration
	// OnEvent receives state changes. It is called synchronously from the
	// mapper's goroutines and must not block for long.
	OnEvent func(pt.Event)
	// OpTimeout bounds each mapping call (default 3 s).
	OpTimeout time.Duration
}

// Mapper holds the mappings made on one gateway.
type Mapper struct {
	cfg Config

	mu       sync.Mutex
	report   pt.Report
	client   pt.Client
	mappings []pt.Mapping
	closed   bool
	started  bool
	stop     context.CancelFunc
	done     chan struct{}
	probes   sync.WaitGroup // probes still running after the winner
	pending  map[pt.Protocol]int
	// retry holds, per TCP/UDP, when a failed renewal is tried again;
	// lost marks mappings whose lease ran out (reported once).
	retry map[string]time.Time
	lost  map[string]bool

	closeOnce sync.Once
	closeErr  error
}

// New makes a mapper; nothing happens on the network until Start.
func New(cfg Config) *Mapper {
	if len(cfg.Protocols) == 0 {
		cfg.Protocols = []string{"TCP", "UDP"}
	}
	if cfg.Lease == 0 {
		cfg.Lease = time.Hour
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 3 * time.Second
	}
	return &Mapper{cfg: cfg, retry: map[string]time.Time{}, lost: map[string]bool{}, pending: map[pt.Protocol]int{}}
}

func (m *Mapper) emit(e pt.Event) {
	e.Time = time.Now()
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(e)
	}
}

func (m *Mapper) fail(err error) error {
	msg := oneLine(err.Error())
	m.mu.Lock()
	m.report.Error = msg
	m.report.ErrorCode = pt.Code(err)
	proto := m.report.Protocol
	m.mu.Unlock()
	m.emit(pt.Event{Kind: pt.EventFailed, Protocol: proto, Err: err, Code: pt.Code(err), Message: msg})
	return err
}

type probeResult struct {
	proto  pt.Protocol
	client pt.Client
	err    error
}

// Start probes every protocol in parallel and maps the port with the first
// gateway that answers; if its mapping fails, the next one that answered is
// tried. It returns once a protocol mapped (or all failed); renewal goes on
// in the background until Close. A gateway that refuses one of TCP/UDP
// still keeps the other's mapping.
func (m *Mapper) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.closed || m.started {
		m.mu.Unlock()
		return errors.New("portmap: mapper already started or closed")
	}
	m.started = true
	m.mu.Unlock()
	if len(m.cfg.Probers) == 0 {
		return m.fail(errors.New("portmap: no mapping protocol enabled"))
	}
	if m.cfg.Port <= 0 || m.cfg.Port > 65535 {
		return m.fail(fmt.Errorf("portmap: bad port %d", m.cfg.Port))
	}
	names := make([]string, len(m.cfg.Probers))
	for i, p := range m.cfg.Probers {
		names[i] = p.Protocol().Name()
	}
	m.emit(pt.Event{Kind: pt.EventDiscovering, Message: "searching for a gateway (" + strings.Join(names, ", ") + ")"})

	results := make(chan probeResult, len(m.cfg.Probers))
	m.mu.Lock()
	for _, p := range m.cfg.Probers {
		m.pending[p.Protocol()]++
	}
	m.mu.Unlock()
	for _, p := range m.cfg.Probers {
		go func() {
			c, err := p.Probe(ctx)
			results <- probeResult{p.Protocol(), c, err}
		}()
	}
	var errs []error
	var lastMapErr error
	for left := len(m.cfg.Probers); left > 0; left-- {
		r := <-results
		m.recordProbe(r)
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.proto.Name(), r.err))
			continue
		}
		if err := m.mapWith(ctx, r.client); err != nil {
			lastMapErr = err
			_ = r.client.Close()
			continue
		}
		// Won. The other probes finish in the background: their
		// clients are closed, their findings kept for the report.
		m.probes.Add(1)
		go func(left int) {
			defer m.probes.Done()
			for ; left > 0; left-- {
				r := <-results
				m.recordProbe(r)
				if r.client != nil {
					_ = r.client.Close()
				}
			}
		}(left - 1)
		m.startLoop(ctx)
		return nil
	}
	if lastMapErr != nil {
		return lastMapErr
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no gateway answered"))
	}
	err := errors.Join(errs...)
	m.mu.Lock()
	m.report.Error = oneLine(strings.ReplaceAll(err.Error(), "\n", "; "))
	m.mu.Unlock()
	m.emit(pt.Event{Kind: pt.EventFailed, Err: err, Message: "no gateway mapped the port: " + m.Report().Error})
	return err
}

// WaitProbes waits until the probes that lost the race have finished, so
// that Report lists what every protocol found, or until ctx ends.
func (m *Mapper) WaitProbes(ctx context.Context) {
	done := make(chan struct{})
	go func() { m.probes.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (m *Mapper) recordProbe(r probeResult) {
	pr := pt.Probe{Protocol: r.proto}
	if r.err != nil {
		pr.Error = oneLine(r.err.Error())
	} else {
		g := r.client.Gateway()
		pr.Protocol, pr.Found, pr.Gateway, pr.ExternalIP = g.Protocol, true, g.Address, g.ExternalIP
	}
	m.mu.Lock()
	m.pending[r.proto]--
	m.report.Probes = append(m.report.Probes, pr)
	if pr.Found {
		m.report.Found = true
	}
	m.mu.Unlock()
}

// mapWith maps every protocol with c; it fails only when none mapped.
func (m *Mapper) mapWith(ctx context.Context, c pt.Client) error {
	g := c.Gateway()
	m.mu.Lock()
	m.client = c
	m.report.Protocol, m.report.Gateway, m.report.Device, m.report.Service, m.report.ExternalIP = g.Protocol, g.Address, g.Device, g.Service, g.ExternalIP
	m.report.Error, m.report.ErrorCode = "", 0
	m.mu.Unlock()
	var firstErr error
	for _, proto := range m.cfg.Protocols {
		mp, err := m.mapOne(ctx, c, proto)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			m.mu.Lock()
			if m.report.Error == "" {
				m.report.Error = fmt.Sprintf("%s %s %d: %s", g.Protocol.Name(), proto, m.cfg.Port, oneLine(err.Error()))
				m.report.ErrorCode = pt.Code(err)
			}
			m.mu.Unlock()
			m.emit(pt.Event{Kind: pt.EventFailed, Protocol: g.Protocol, Err: err, Code: pt.Code(err),
				Mapping: &pt.Mapping{Protocol: g.Protocol, Proto: proto, ExternalPort: m.cfg.Port, InternalIP: m.cfg.InternalIP, InternalPort: m.cfg.Port},
				Message: fmt.Sprintf("%s mapping %s %d failed: %s", g.Protocol.Name(), proto, m.cfg.Port, oneLine(err.Error()))})
			continue
		}
		m.mu.Lock()
		m.mappings = append(m.mappings, mp)
		if mp.ExternalIP != "" {
			m.report.ExternalIP = mp.ExternalIP
		}
		m.mu.Unlock()
		m.emit(pt.Event{Kind: pt.EventMapped, Protocol: g.Protocol, Mapping: &mp, Message: "mapped " + describe(mp)})
	}
	m.mu.Lock()
	n := len(m.mappings)
	if n == 0 {
		m.client = nil
	}
	m.mu.Unlock()
	if n == 0 {
		return firstErr
	}
	return nil
}

func (m *Mapper) mapOne(ctx context.Context, c pt.Client, proto string) (pt.Mapping, error) {
	octx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
	defer cancel()
	return c.Map(octx, proto, m.cfg.InternalIP, m.cfg.Port, m.cfg.Lease)
}

func (m *Mapper) startLoop(ctx context.Context) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.mu.Lock()
	m.stop = cancel
	m.done = make(chan struct{})
	closed := m.closed
	m.mu.Unlock()
	if closed {
		// Close ran while we were mapping: undo what we just made.
		cancel()
		close(m.done)
		m.removeAll()
		return
	}
	go m.loop(rctx)
}

// loop renews mappings at half-life and re-makes them when the gateway
// announces a change.
func (m *Mapper) loop(ctx context.Context) {
	defer close(m.done)
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	var changes <-chan pt.Change
	if n, ok := c.(pt.Notifier); ok {
		changes = n.Changes()
	}
	for {
		m.mu.Lock()
		var next time.Time
		for _, mp := range m.mappings {
			if mp.Lease == 0 {
				continue
			}
			at := mp.RenewAfter()
			if r := m.retry[mp.Proto]; r.After(at) {
				at = r
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		m.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(max(time.Until(next), 100*time.Millisecond))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-fire:
			m.renew(ctx, c, false)
		case ch, ok := <-changes:
			if !ok {
				changes = nil
			} else {
				m.changed(ctx, c, ch)
			}
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// changed re-makes every mapping after a gateway announcement.
func (m *Mapper) changed(ctx context.Context, c pt.Client, ch pt.Change) {
	m.mu.Lock()
	old := m.report.ExternalIP
	if ch.ExternalIP != "" {
		m.report.ExternalIP = ch.ExternalIP
	}
	m.mu.Unlock()
	msg := ch.Protocol.Name() + " gateway: " + ch.Reason
	if ch.ExternalIP != "" && old != "" && ch.ExternalIP != old {
		msg = fmt.Sprintf("%s gateway's external address changed from %s to %s", ch.Protocol.Name(), old, ch.ExternalIP)
	}
	m.emit(pt.Event{Kind: pt.EventChanged, Protocol: ch.Protocol, Message: msg + "; re-making the mappings"})
	m.renew(ctx, c, true)
}

// renew re-maps every finite mapping due for renewal (or retry), or all
// of them when all is set.
func (m *Mapper) renew(ctx context.Context, c pt.Client, all bool) {
	now := time.Now()
	m.mu.Lock()
	var due []pt.Mapping
	for _, mp := range m.mappings {
		if all || (mp.Lease != 0 && !now.Before(mp.RenewAfter()) && !now.Before(m.retry[mp.Proto])) {
			due = append(due, mp)
		}
	}
	m.mu.Unlock()
	for _, mp := range due {
		nm, err := m.mapOne(ctx, c, mp.Proto)
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		lost := false
		m.mu.Lock()
		for i := range m.mappings {
			if m.mappings[i].Proto != mp.Proto {
				continue
			}
			if err == nil {
				m.mappings[i] = nm
				if nm.ExternalIP != "" {
					m.report.ExternalIP = nm.ExternalIP
				}
				delete(m.retry, mp.Proto)
				delete(m.lost, mp.Proto)
				continue
			}
			// Try again in a quarter lease rather than hammering a
			// struggling gateway; the mapping's own lease stays true.
			m.retry[mp.Proto] = now.Add(max(mp.Lease/4, time.Second))
			if mp.Lease != 0 && mp.Remaining(now) == 0 && !m.lost[mp.Proto] {
				m.lost[mp.Proto] = true
				lost = true
			}
		}
		m.mu.Unlock()
		if err != nil {
			kind, what := pt.EventFailed, "renewing"
			if lost {
				kind, what = pt.EventLost, "lost (its lease ran out); renewing"
			}
			m.emit(pt.Event{Kind: kind, Protocol: mp.Protocol, Err: err, Code: pt.Code(err), Mapping: &mp,
				Message: fmt.Sprintf("%s %s %d %s failed: %s", mp.Protocol.Name(), mp.Proto, mp.ExternalPort, what, oneLine(err.Error()))})
			continue
		}
		kind, what := pt.EventRenewed, "renewed "
		if lost := mp.Lease != 0 && mp.Remaining(now) == 0; lost {
			kind, what = pt.EventMapped, "restored "
		}
		m.emit(pt.Event{Kind: kind, Protocol: nm.Protocol, Mapping: &nm, Message: what + describe(nm)})
	}
}

// Port is the port this mapper maps.
func (m *Mapper) Port() int { return m.cfg.Port }

// Active reports whether at least one mapping is currently held.
func (m *Mapper) Active() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for _, mp := range m.mappings {
		if mp.Lease == 0 || mp.Remaining(now) > 0 {
			return true
		}
	}
	return false
}

// Mappings returns a copy of the current mappings.
func (m *Mapper) Mappings() []pt.Mapping {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]pt.Mapping(nil), m.mappings...)
}

// Report returns the current state.
func (m *Mapper) Report() pt.Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.report
	r.Mappings = append([]pt.Mapping(nil), m.mappings...)
	r.Probes = append([]pt.Probe(nil), m.report.Probes...)
	for _, p := range m.cfg.Probers {
		if m.pending[p.Protocol()] > 0 {
			r.Probes = append(r.Probes, pt.Probe{Protocol: p.Protocol(), Error: "still searching when the report was made"})
		}
	}
	return r
}

// Close stops renewal and deletes every mapping this mapper made. It is
// idempotent and safe to call concurrently, e.g. from the normal exit path
// and a SIGINT/SIGTERM handler at once; later calls wait for the first and
// return its result. It uses its own timeouts, so a cancelled context
// elsewhere does not leave mappings behind.
func (m *Mapper) Close() error {
	m.closeOnce.Do(func() {
		m.halt()
		m.closeErr = m.removeAll()
		m.release()
	})
	return m.closeErr
}

// Detach stops renewal but leaves the mappings on the gateway until their
// lease runs out (--keep-mapping).
func (m *Mapper) Detach() {
	m.closeOnce.Do(func() {
		m.halt()
		m.release()
	})
}

func (m *Mapper) halt() {
	m.mu.Lock()
	m.closed = true
	stop, done := m.stop, m.done
	m.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (m *Mapper) release() {
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// removeAll deletes every mapping held, reporting each as an event.
func (m *Mapper) removeAll() error {
	m.mu.Lock()
	c := m.client
	maps := m.mappings
	m.mappings = nil
	m.mu.Unlock()
	var errs []error
	for _, mp := range maps {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.OpTimeout)
		err := c.Unmap(ctx, mp)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s %s %d: %s", mp.Protocol.Name(), mp.Proto, mp.ExternalPort, oneLine(err.Error())))
			m.emit(pt.Event{Kind: pt.EventFailed, Protocol: mp.Protocol, Err: err, Code: pt.Code(err), Mapping: &mp,
				Message: fmt.Sprintf("removing %s %s %d failed: %s", mp.Protocol.Name(), mp.Proto, mp.ExternalPort, oneLine(err.Error()))})
			continue
		}
		m.emit(pt.Event{Kind: pt.EventRemoved, Protocol: mp.Protocol, Mapping: &mp, Message: fmt.Sprintf("removed %s %s %d", mp.Protocol.Name(), mp.Proto, mp.ExternalPort)})
	}
	return errors.Join(errs...)
}

// describe words a mapping: "TCP 6881 -> 192.168.1.2:6881 via PCP (lease 1h0m0s)".
func describe(mp pt.Mapping) string {
	lease := "permanent"
	if mp.Lease != 0 {
		lease = "lease " + mp.Lease.String()
	}
	ext := fmt.Sprint(mp.ExternalPort)
	if mp.ExternalIP != "" {
		ext = mp.ExternalIP + ":" + ext
	}
	return fmt.Sprintf("%s %s -> %s:%d via %s (%s)", mp.Proto, ext, mp.InternalIP, mp.InternalPort, mp.Protocol.Name(), lease)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
