package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Config says what to map and where.
type Config struct {
	Source Source // required
	Port   int    // internal and external port (peers are told this port)
	// Protocols defaults to TCP and UDP.
	Protocols []string
	// InternalIP is the address the gateway forwards to; by default the
	// local address the OS would use to reach the gateway.
	InternalIP string
	// Lease defaults to one hour; the mapping is renewed at half-life.
	Lease       time.Duration
	Description string
	// OnEvent receives state changes. It is called synchronously from the
	// mapper's goroutines and must not block for long.
	OnEvent func(Event)
	// OpTimeout bounds each SOAP call (default 3 s).
	OpTimeout time.Duration
}

// Mapper holds the mappings made on one gateway.
type Mapper struct {
	cfg Config

	mu       sync.Mutex
	report   Report
	conn     wanConn
	mappings []Mapping
	closed   bool
	started  bool
	stop     context.CancelFunc
	done     chan struct{}

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
	if cfg.Description == "" {
		cfg.Description = "swarmscope"
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 3 * time.Second
	}
	return &Mapper{cfg: cfg}
}

func (m *Mapper) emit(e Event) {
	e.Time = time.Now()
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(e)
	}
}

// fail records a whole-gateway failure in the report and as an event.
func (m *Mapper) fail(err error) error {
	msg := describeErr(err)
	m.mu.Lock()
	m.report.Error = msg
	m.report.ErrorCode = SOAPCode(err)
	m.mu.Unlock()
	m.emit(Event{Kind: EventFailed, Err: err, Code: SOAPCode(err), Message: msg})
	return err
}

// Start discovers the gateway, picks the best WAN connection, reads its
// external IP and maps the port. It returns once the first mapping attempt
// is done; renewal continues in the background until Close. A gateway that
// refuses one protocol still keeps the other's mapping.
func (m *Mapper) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.closed || m.started {
		m.mu.Unlock()
		return errors.New("upnp: mapper already started or closed")
	}
	m.started = true
	m.mu.Unlock()
	if m.cfg.Source == nil {
		return m.fail(errors.New("upnp: no discovery source"))
	}
	if m.cfg.Port <= 0 || m.cfg.Port > 65535 {
		return m.fail(fmt.Errorf("upnp: bad port %d", m.cfg.Port))
	}

	m.emit(Event{Kind: EventDiscovering, Message: "searching for a UPnP gateway"})
	roots, err := m.cfg.Source(ctx)
	if err != nil {
		return m.fail(fmt.Errorf("discover gateway: %w", err))
	}
	cands := candidates(roots)
	if len(cands) == 0 {
		return m.fail(errors.New("no UPnP gateway with a WAN connection service found"))
	}
	best := m.pick(ctx, cands)

	internal := m.cfg.InternalIP
	if internal == "" && best.local != nil {
		internal = best.local.String()
	}
	if internal == "" {
		if internal, err = localIPToward(best.loc.Host); err != nil {
			return m.fail(fmt.Errorf("find our address toward the gateway: %w", err))
		}
	}
	m.mu.Lock()
	m.conn = best.conn
	m.report = Report{Found: true, Device: best.device, Service: best.service, Location: best.loc.String(), ExternalIP: best.extIP}
	m.mu.Unlock()

	var firstErr error
	for _, proto := range m.cfg.Protocols {
		mp, err := m.add(ctx, proto, internal, m.cfg.Lease)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			m.mu.Lock()
			if m.report.Error == "" {
				m.report.Error = fmt.Sprintf("%s %d: %s", proto, m.cfg.Port, describeErr(err))
				m.report.ErrorCode = SOAPCode(err)
			}
			m.mu.Unlock()
			m.emit(Event{Kind: EventFailed, Err: err, Code: SOAPCode(err), Mapping: &Mapping{Proto: proto, ExternalPort: m.cfg.Port, InternalIP: internal, InternalPort: m.cfg.Port},
				Message: fmt.Sprintf("mapping %s %d failed: %s", proto, m.cfg.Port, describeMapErr(err))})
			continue
		}
		m.mu.Lock()
		m.mappings = append(m.mappings, mp)
		m.mu.Unlock()
		m.emit(Event{Kind: EventMapped, Mapping: &mp, Message: fmt.Sprintf("mapped %s %d -> %s:%d (%s)", proto, mp.ExternalPort, internal, mp.InternalPort, leaseText(mp.Lease))})
	}

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
		return errors.New("upnp: closed during start")
	} else {
		go m.renewLoop(rctx)
	}
	if len(m.Mappings()) == 0 && firstErr != nil {
		return firstErr
	}
	return nil
}

// pick prefers a connected service with a public external IP, then any
// connected one, then the first.
func (m *Mapper) pick(ctx context.Context, cands []*candidate) *candidate {
	var wg sync.WaitGroup
	for _, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			octx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
			defer cancel()
			status, _, _, err := c.conn.GetStatusInfoCtx(octx)
			if err == nil && status == "Connected" {
				c.score += 2
			}
			ip, err := c.conn.GetExternalIPAddressCtx(octx)
			if parsed := net.ParseIP(ip); err == nil && parsed != nil && !parsed.IsUnspecified() {
				c.extIP = parsed.String()
				c.score++
				if !isPrivate(parsed) {
					c.score++
				}
			}
		}()
	}
	wg.Wait()
	best := cands[0]
	for _, c := range cands[1:] {
		if c.score > best.score {
			best = c
		}
	}
	return best
}

// add maps one protocol, retrying as permanent when the gateway only
// supports permanent leases (error 725).
func (m *Mapper) add(ctx context.Context, proto, internal string, lease time.Duration) (Mapping, error) {
	m.mu.Lock()
	conn := m.conn
	m.mu.Unlock()
	try := func(lease time.Duration) error {
		octx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
		defer cancel()
		return conn.AddPortMappingCtx(octx, "", uint16(m.cfg.Port), proto, uint16(m.cfg.Port), internal, true, m.cfg.Description, uint32(lease/time.Second))
	}
	err := try(lease)
	if err != nil && lease != 0 && SOAPCode(err) == CodeOnlyPermanentLease {
		lease = 0
		err = try(0)
	}
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{Proto: proto, ExternalPort: m.cfg.Port, InternalIP: internal, InternalPort: m.cfg.Port, Lease: lease, Renewed: time.Now()}, nil
}

func (m *Mapper) renewLoop(ctx context.Context) {
	defer close(m.done)
	for {
		m.mu.Lock()
		var next time.Duration
		for _, mp := range m.mappings {
			if mp.Lease == 0 {
				continue
			}
			d := max(time.Until(mp.Renewed.Add(mp.Lease/2)), time.Second)
			if next == 0 || d < next {
				next = d
			}
		}
		m.mu.Unlock()
		if next == 0 {
			<-ctx.Done()
			return
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		m.renewDue(ctx)
	}
}

// renewDue re-adds every finite mapping past half its lease.
func (m *Mapper) renewDue(ctx context.Context) {
	m.mu.Lock()
	due := []Mapping{}
	for _, mp := range m.mappings {
		if mp.Lease != 0 && time.Since(mp.Renewed) >= mp.Lease/2 {
			due = append(due, mp)
		}
	}
	m.mu.Unlock()
	for _, mp := range due {
		nm, err := m.add(ctx, mp.Proto, mp.InternalIP, mp.Lease)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		for i := range m.mappings {
			if m.mappings[i].Proto == mp.Proto {
				if err == nil {
					m.mappings[i] = nm
				} else {
					// Try again in a quarter lease rather than
					// hammering a struggling gateway.
					m.mappings[i].Renewed = m.mappings[i].Renewed.Add(mp.Lease / 4)
				}
			}
		}
		m.mu.Unlock()
		if err != nil {
			m.emit(Event{Kind: EventFailed, Err: err, Code: SOAPCode(err), Mapping: &mp, Message: fmt.Sprintf("renewing %s %d failed: %s", mp.Proto, mp.ExternalPort, describeMapErr(err))})
			continue
		}
		m.emit(Event{Kind: EventRenewed, Mapping: &nm, Message: fmt.Sprintf("renewed %s %d (%s)", nm.Proto, nm.ExternalPort, leaseText(nm.Lease))})
	}
}

// Port is the port this mapper maps (internal = external).
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
func (m *Mapper) Mappings() []Mapping {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mapping(nil), m.mappings...)
}

// Report returns the current state.
func (m *Mapper) Report() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.report
	r.Mappings = append([]Mapping(nil), m.mappings...)
	return r
}

// Close stops renewal and deletes every mapping this mapper made. It is
// idempotent and safe to call concurrently — e.g. from the normal exit path
// and a SIGINT/SIGTERM handler at once; later calls wait for the first and
// return its result. It uses its own timeouts, so a cancelled context
// elsewhere does not leave mappings behind.
func (m *Mapper) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		stop, done := m.stop, m.done
		m.mu.Unlock()
		if stop != nil {
			stop()
			<-done
		}
		m.closeErr = m.removeAll()
	})
	return m.closeErr
}

// removeAll deletes every mapping held, reporting each as an event.
func (m *Mapper) removeAll() error {
	m.mu.Lock()
	conn := m.conn
	maps := m.mappings
	m.mappings = nil
	m.mu.Unlock()
	var errs []error
	for _, mp := range maps {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.OpTimeout)
		err := conn.DeletePortMappingCtx(ctx, "", uint16(mp.ExternalPort), mp.Proto)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s %d: %s", mp.Proto, mp.ExternalPort, describeErr(err)))
			m.emit(Event{Kind: EventFailed, Err: err, Code: SOAPCode(err), Mapping: &mp, Message: fmt.Sprintf("removing %s %d failed: %s", mp.Proto, mp.ExternalPort, describeErr(err))})
			continue
		}
		m.emit(Event{Kind: EventRemoved, Mapping: &mp, Message: fmt.Sprintf("removed %s %d", mp.Proto, mp.ExternalPort)})
	}
	return errors.Join(errs...)
}

// Detach stops renewal but leaves the mappings on the gateway (until their
// lease expires); used for --keep-mapping.
func (m *Mapper) Detach() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		stop, done := m.stop, m.done
		m.mu.Unlock()
		if stop != nil {
			stop()
			<-done
		}
	})
}

func describeMapErr(err error) string {
	switch SOAPCode(err) {
	case CodeConflict:
		return describeErr(err) + " (the port is already mapped to another host)"
	}
	return describeErr(err)
}

func leaseText(d time.Duration) string {
	if d == 0 {
		return "permanent"
	}
	return "lease " + d.String()
}

func localIPToward(host string) (string, error) {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = host, "80"
	}
	c, err := net.Dial("udp4", net.JoinHostPort(h, p))
	if err != nil {
		return "", err
	}
	defer c.Close()
	ua, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return "", errors.New("no local UDP address")
	}
	return ua.IP.String(), nil
}

func isPrivate(ip net.IP) bool {
	if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return true
	}
	_, cg, _ := net.ParseCIDR("100.64.0.0/10")
	return cg.Contains(ip)
}
