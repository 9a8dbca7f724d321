package nat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmscope/swarmscope/nat/stun"
)

// Discovery timing. Phase one (finding any server) uses the RFC 5389 RTO of
// 500 ms, doubling; phase two scales its retransmissions to the RTT measured
// in phase one, so a negative answer ("the NAT filtered it") costs a bounded
// few RTTs rather than the RFC's 39.5 s.
const (
	initialRTO      = 500 * time.Millisecond
	phase1Limit     = 4 * time.Second
	minPhase2RTO    = 100 * time.Millisecond
	maxPhase2RTO    = 500 * time.Millisecond
	phase2Attempts  = 3
	lateServerGrace = 300 * time.Millisecond
	// behaviourGrace is extra patience for servers that can run behaviour
	// tests, when only plain ones have answered: it covers one lost
	// packet's retransmission (sent 500 ms after the first).
	behaviourGrace = time.Second
)

// stunResult is the outcome of STUN discovery, before UPnP and the verdict.
type stunResult struct {
	servers       []ServerResult
	local         *net.UDPAddr
	mapped        *net.UDPAddr
	mapping       Behavior
	filtering     Behavior
	portPreserved *bool
	hairpin       *bool
	notes         []string
	disagreements []string
	anyAnswer     bool
	// answered and resolved are server addresses that answered / could
	// at least be resolved.
	answered, resolved []*net.UDPAddr
}

// prober holds one discovery run's shared state.
type prober struct {
	opts    *Options
	resolve func(ctx context.Context, hostport string) (*net.UDPAddr, error)
	// lossy is set when any transaction needed a retransmission: then
	// silence is not trusted as a result.
	lossy atomic.Bool
}

// do runs a transaction and notes whether the path lost packets.
func (p *prober) do(ctx context.Context, s *sock, req stun.Request) (*stun.Response, error) {
	r, err := s.client.Do(ctx, req)
	if err == nil && r.Sends > 1 {
		p.lossy.Store(true)
	}
	return r, err
}

// server is one configured STUN server and its answer to test I.
type server struct {
	name    string
	addr    *net.UDPAddr
	resp    *stun.Response
	err     error
	outcome Outcome
}

// behaviourServer is a server able to answer from a second address.
type behaviourServer struct {
	primary *net.UDPAddr
	other   *net.UDPAddr // OTHER-ADDRESS or CHANGED-ADDRESS
	// ipChange is false when the "other" address shares the primary's IP:
	// then only port-change tests are meaningful.
	ipChange bool
}

// sock is one probing socket with its STUN client.
type sock struct {
	conn   net.PacketConn
	client *stun.Client
	owned  bool // we opened it, so we close it
	unreg  func()
}

func (s *sock) close() {
	if s.unreg != nil {
		s.unreg()
	}
	s.client.Close()
	if s.owned {
		_ = s.conn.Close()
	}
}

func (p *prober) listen(ctx context.Context, port int) (*sock, error) {
	addr := net.JoinHostPort(p.opts.LocalIP, strconv.Itoa(port))
	c, err := p.opts.Listener.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("open UDP socket on %s: %w", addr, err)
	}
	return &sock{conn: c, client: stun.NewClient(c), owned: true}, nil
}

// primarySocket is the socket whose public endpoint matters: the caller's
// own socket when given, else a fresh one on LocalPort.
func (p *prober) primarySocket(ctx context.Context) (*sock, error) {
	if p.opts.Conn == nil {
		return p.listen(ctx, p.opts.LocalPort)
	}
	if p.opts.ConnReader == nil {
		return &sock{conn: p.opts.Conn, client: stun.NewClient(p.opts.Conn)}, nil
	}
	cl := stun.NewSharedClient(p.opts.Conn)
	return &sock{conn: p.opts.Conn, client: cl, unreg: p.opts.ConnReader(cl.Deliver)}, nil
}

// discover runs all STUN tests; a is the primary socket (closed by the
// caller).
func (p *prober) discover(ctx context.Context, a *sock) (*stunResult, error) {
	res := &stunResult{mapping: BehaviorUnknown, filtering: BehaviorUnknown}
	res.local = stun.UDPAddrOf(a.conn.LocalAddr())

	servers := p.phase1(ctx, a)
	var rtt time.Duration
	for _, s := range servers {
		if s.addr != nil {
			res.resolved = append(res.resolved, s.addr)
			if s.err == nil {
				res.answered = append(res.answered, s.addr)
			}
		}
		sr := ServerResult{Address: s.name, Outcome: s.outcome}
		if s.addr != nil {
			sr.Resolved = s.addr.String()
		}
		if s.err != nil {
			sr.Error = s.err.Error()
		} else {
			res.anyAnswer = true
			sr.RTTms = float64(s.resp.RTT.Microseconds()) / 1000
			sr.MappedAddr = s.resp.Mapped.String()
			sr.RFC5780 = s.resp.OtherRFC5780 && s.resp.Other != nil
			sr.Protocol = protocolOf(s.resp)
			if rtt == 0 || s.resp.RTT > rtt {
				rtt = s.resp.RTT
			}
		}
		res.servers = append(res.servers, sr)
	}
	if !res.anyAnswer {
		return res, nil
	}

	first := firstAnswer(servers)
	res.mapped = first.resp.Mapped
	for _, s := range servers {
		if s.err == nil && !s.resp.Mapped.IP.Equal(first.resp.Mapped.IP) {
			d := fmt.Sprintf("servers disagree on the public IP: %s says %s, %s says %s (several uplinks or a load-balancing NAT); the report shows %s's", first.name, first.resp.Mapped.IP, s.name, s.resp.Mapped.IP, first.name)
			res.notes = append(res.notes, d)
			res.disagreements = append(res.disagreements, d)
		}
	}

	bs, bsServer := pickBehaviourServer(servers, &res.notes)
	if bsServer != nil {
		// Phase two talks to this server only; its RTT sets the pace.
		rtt = bsServer.resp.RTT
	}
	floor := minPhase2RTO
	if p.opts.MinRTO > 0 {
		floor = p.opts.MinRTO
	}
	rto := max(min(max(3*rtt, floor), maxPhase2RTO), floor)

	var (
		wg                   sync.WaitGroup
		mapping5780          = BehaviorUnknown
		filtering            = BehaviorUnknown
		hairpin              *bool
		filterMapped         []*net.UDPAddr
		filterNotes, mapNote []string
	)
	if bs != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			mapping5780, mapNote = p.mappingTest(ctx, a, bs, bsServer.resp.Mapped, rto)
		}()
		go func() {
			defer wg.Done()
			filtering, filterMapped, filterNotes = p.filteringTest(ctx, bs, rto)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		hairpin = p.hairpinTest(ctx, a, res.mapped, rto)
	}()
	wg.Wait()
	res.notes = append(res.notes, mapNote...)
	res.notes = append(res.notes, filterNotes...)
	res.hairpin = hairpin
	res.filtering = filtering
	if p.lossy.Load() {
		// A negative result is only as good as the path: with loss seen,
		// silence may be loss rather than the NAT.
		if filtering == BehaviorAddressDependent || filtering == BehaviorAddressAndPortDependent {
			res.filtering = BehaviorUnknown
			res.notes = append(res.notes, "packet loss seen on the path; the filtering test's silence is not trusted")
		}
		if hairpin != nil && !*hairpin {
			res.hairpin = nil
		}
	}

	multi := compareMappings(servers)
	nNotes := len(res.notes)
	res.mapping = combineMapping(mapping5780, multi, &res.notes)
	res.disagreements = append(res.disagreements, res.notes[nNotes:]...)
	if res.hairpin != nil && !*res.hairpin && res.mapping != BehaviorEndpointIndependent && res.filtering != BehaviorEndpointIndependent {
		// Under a destination-dependent (or unknown) mapping the looped
		// packet gets a new source port that the filter drops, so silence
		// says nothing about hairpin support.
		res.hairpin = nil
		res.notes = append(res.notes, "hairpinning cannot be tested through this NAT's mapping and filtering")
	}

	// Port preservation over every socket we saw through the NAT.
	res.portPreserved = portPreservation(res.local, res.mapped, filterMapped)
	return res, nil
}

// phase1 sends test I (a plain Binding request) to every server in
// parallel from the primary socket. Once one server has answered, slower
// ones get a short grace period rather than the whole budget, so one dead
// server does not stall the report.
func (p *prober) phase1(ctx context.Context, a *sock) []*server {
	servers := make([]*server, len(p.opts.Servers))
	ctx1, cancel := context.WithTimeout(ctx, phase1Limit)
	defer cancel()
	var wg sync.WaitGroup
	type answer struct {
		rtt     time.Duration
		capable bool
	}
	answered := make(chan answer, len(servers))
	for i, name := range p.opts.Servers {
		s := &server{name: name}
		servers[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.addr, s.err = p.resolve(ctx1, name)
			if s.err != nil {
				s.outcome = OutcomeUnresolved
				return
			}
			var st stun.Stats
			s.resp, s.err = p.do(ctx1, a, stun.Request{To: s.addr, RTO: initialRTO, Attempts: 7, Stats: &st})
			s.outcome, s.err = judgeFirst(s.err, st, ctx, s.addr)
			if s.err == nil {
				answered <- answer{s.resp.RTT, s.resp.Other != nil}
			}
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	var first answer
	select {
	case <-all:
		return servers
	case first = <-answered:
	case <-ctx1.Done():
		<-all
		return servers
	}
	capable := first.capable
	grace := time.NewTimer(max(lateServerGrace, 4*first.rtt))
	defer grace.Stop()
	var extra <-chan time.Time
	for {
		select {
		case <-all:
			return servers
		case a := <-answered:
			capable = capable || a.capable
			if capable && extra != nil {
				// The behaviour server is in; stop waiting for others.
				cancel()
				<-all
				return servers
			}
		case <-grace.C:
			if capable {
				cancel()
				<-all
				return servers
			}
			t := time.NewTimer(behaviourGrace)
			defer t.Stop()
			extra = t.C
		case <-extra:
			cancel()
			<-all
			return servers
		}
	}
}

// minSilentSends is how many transmissions must have gone unanswered (at
// the 500 ms doubling RTO: 1.5 s of waiting) before silence counts as a
// result rather than as a wait cut short by the time limit.
const minSilentSends = 3

// judgeFirst names how a server's first transaction ended and words the
// failure for the servers table. parent is Check's context: when it ran
// out, the wait was the user's time limit, not the server's silence.
func judgeFirst(err error, st stun.Stats, parent context.Context, to *net.UDPAddr) (Outcome, error) {
	var se *stun.ServerError
	switch {
	case err == nil:
		return OutcomeAnswered, nil
	case st.WrongFamily || errors.Is(err, stun.ErrWrongFamily):
		return OutcomeWrongFamily, errors.New("answered with a mapped address of the other address family: rejected")
	case st.Garbled || errors.Is(err, stun.ErrMalformed):
		return OutcomeMalformed, errors.New("answered only with malformed STUN messages")
	case st.WrongSource || errors.Is(err, stun.ErrWrongSource):
		return OutcomeWrongSource, stun.ErrWrongSource
	case errors.As(err, &se):
		return OutcomeRefused, err
	case errors.Is(err, stun.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		if st.Sends >= minSilentSends && (parent.Err() == nil || errors.Is(err, stun.ErrTimeout)) {
			return OutcomeSilent, errors.New("no response")
		}
		return OutcomeCutShort, fmt.Errorf("no response before the time limit (%d request(s) sent in %.0f ms)", st.Sends, float64(st.Elapsed.Microseconds())/1000)
	}
	return OutcomeSendFailed, err
}

func firstAnswer(servers []*server) *server {
	for _, s := range servers {
		if s.err == nil {
			return s
		}
	}
	return nil
}

func protocolOf(r *stun.Response) string {
	switch {
	case r.Other != nil && r.OtherRFC5780:
		return "rfc5780"
	case r.Other != nil:
		return "rfc3489"
	case r.XOR:
		return "rfc5389"
	default:
		return "rfc3489"
	}
}

// pickBehaviourServer chooses the server for the RFC 5780 tests: the first
// whose second address differs in IP and port, else one that differs in
// port only (port tests still work). A "second address" equal to the
// primary, or on the same IP and port, is no second address at all.
func pickBehaviourServer(servers []*server, notes *[]string) (*behaviourServer, *server) {
	var portOnly *server
	for _, s := range servers {
		if s.err != nil || s.resp.Other == nil {
			continue
		}
		o := s.resp.Other
		if !stun.SameFamily(o, s.addr) {
			*notes = append(*notes, fmt.Sprintf("%s advertises a second address %s of the other address family; ignored", s.name, o))
			continue
		}
		if o.IP.IsUnspecified() || o.IP.IsMulticast() {
			*notes = append(*notes, fmt.Sprintf("%s advertises an unusable second address %s", s.name, o))
			continue
		}
		sameIP := o.IP.Equal(s.addr.IP)
		if !sameIP && o.Port != s.addr.Port {
			return &behaviourServer{primary: s.addr, other: o, ipChange: true}, s
		}
		if sameIP && o.Port != s.addr.Port && portOnly == nil {
			portOnly = s
		}
		if sameIP {
			*notes = append(*notes, fmt.Sprintf("%s advertises a second address on its own IP (%s); only port tests are possible", s.name, o))
		}
	}
	if portOnly != nil {
		return &behaviourServer{primary: portOnly.addr, other: portOnly.resp.Other}, portOnly
	}
	return nil, nil
}

// mappingTest is RFC 5780 §4.3 on the primary socket: does the mapping
// stay the same toward the server's other IP (test II) and other IP and
// port (test III)? Both are sent at once.
func (p *prober) mappingTest(ctx context.Context, a *sock, bs *behaviourServer, m1 *net.UDPAddr, rto time.Duration) (Behavior, []string) {
	if !bs.ipChange {
		// Only the port can change: a different mapping proves port
		// dependence; the same mapping cannot tell EIM from ADM.
		to := &net.UDPAddr{IP: bs.primary.IP, Port: bs.other.Port}
		r, err := p.do(ctx, a, stun.Request{To: to, RTO: rto, Attempts: phase2Attempts})
		if err != nil {
			return BehaviorUnknown, []string{fmt.Sprintf("mapping test to %s: %v", to, err)}
		}
		if !stun.SameAddr(r.Mapped, m1) {
			return BehaviorAddressAndPortDependent, nil
		}
		return BehaviorUnknown, nil
	}
	to2 := &net.UDPAddr{IP: bs.other.IP, Port: bs.primary.Port}
	to3 := &net.UDPAddr{IP: bs.other.IP, Port: bs.other.Port}
	var (
		wg         sync.WaitGroup
		r2, r3     *stun.Response
		err2, err3 error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		r2, err2 = p.do(ctx, a, stun.Request{To: to2, RTO: rto, Attempts: phase2Attempts})
	}()
	go func() {
		defer wg.Done()
		r3, err3 = p.do(ctx, a, stun.Request{To: to3, RTO: rto, Attempts: phase2Attempts})
	}()
	wg.Wait()
	switch {
	case err2 == nil && stun.SameAddr(r2.Mapped, m1):
		if err3 == nil && !stun.SameAddr(r3.Mapped, m1) {
			// Same toward a new IP but different toward a new IP and
			// port: no RFC 4787 behaviour looks like that.
			return BehaviorUnknown, []string{"mapping tests gave inconsistent answers"}
		}
		return BehaviorEndpointIndependent, nil
	case err2 == nil && err3 == nil:
		if stun.SameAddr(r2.Mapped, r3.Mapped) {
			return BehaviorAddressDependent, nil
		}
		return BehaviorAddressAndPortDependent, nil
	case err2 == nil:
		return BehaviorEndpointDependent, []string{fmt.Sprintf("mapping test III to %s: %v", to3, err3)}
	default:
		return BehaviorUnknown, []string{fmt.Sprintf("mapping test II to %s: %v", to2, err2)}
	}
}

// filteringTest is RFC 5780 §4.4, each half on its own fresh socket so
// that the mapping tests (which open the filter toward the server's other
// addresses) cannot make the filter look open. Each socket first does a
// plain Binding to the primary as a control: only when the control answers
// does silence after a CHANGE-REQUEST mean "filtered" rather than "lost".
func (p *prober) filteringTest(ctx context.Context, bs *behaviourServer, rto time.Duration) (Behavior, []*net.UDPAddr, []string) {
	type outcome struct {
		passed bool // the changed-address answer arrived
		// filtered: silence first, then an answer once our filter was
		// opened toward the changed address — the server proved it
		// answers from there, so the first silence was the filter.
		filtered bool
		// silent: silence the server did not explain (it may drop or
		// delay CHANGE-REQUESTs, or its second address may be dead);
		// otherAnswered: a direct request to the changed address was
		// answered, so that address at least exists.
		silent, otherAnswered bool
		local                 *net.UDPAddr
		mapped                *net.UDPAddr
		note                  string
	}
	run := func(changeIP, changePort bool, from *net.UDPAddr) outcome {
		s, err := p.listen(ctx, 0)
		if err != nil {
			return outcome{note: err.Error()}
		}
		defer s.close()
		o := outcome{local: stun.UDPAddrOf(s.conn.LocalAddr())}
		ctl, err := p.do(ctx, s, stun.Request{To: bs.primary, RTO: rto, Attempts: phase2Attempts})
		if err != nil {
			o.note = fmt.Sprintf("filtering control to %s: %v", bs.primary, err)
			return o
		}
		o.mapped = ctl.Mapped
		change := stun.Request{To: bs.primary, ChangeIP: changeIP, ChangePort: changePort, ExpectFrom: from, RTO: rto, Attempts: phase2Attempts, Copies: 2}
		_, err = p.do(ctx, s, change)
		var se *stun.ServerError
		switch {
		case err == nil:
			o.passed = true
			return o
		case errors.Is(err, stun.ErrTimeout):
			// Guards following: silence is the filter only if the
			// server can be shown to answer from the changed address.
		case errors.Is(err, stun.ErrWrongSource):
			o.note = fmt.Sprintf("%s ignored CHANGE-REQUEST (answered from the wrong address)", bs.primary)
			return o
		case errors.As(err, &se):
			o.note = fmt.Sprintf("%s refused CHANGE-REQUEST: %v", bs.primary, err)
			return o
		default:
			o.note = fmt.Sprintf("filtering test: %v", err)
			return o
		}
		// Open our filter toward the changed address by sending to it
		// from this socket, then ask again. Under an endpoint-
		// independent mapping the answer now passes: the server works
		// and the first silence was the filter.
		o.silent = true
		if _, err := p.do(ctx, s, stun.Request{To: from, RTO: rto, Attempts: phase2Attempts}); err != nil {
			o.note = fmt.Sprintf("%s (the server's second address) did not answer, so silence after CHANGE-REQUEST says nothing about filtering", from)
			return o
		}
		o.otherAnswered = true
		if _, err := p.do(ctx, s, change); err == nil {
			o.silent, o.filtered = false, true
			return o
		}
		o.note = fmt.Sprintf("%s did not answer CHANGE-REQUEST even with the filter open toward %s (the server drops or delays it, or the mapping depends on the destination), so that filtering test is not counted", bs.primary, from)
		return o
	}
	var (
		wg         sync.WaitGroup
		both, port outcome
	)
	if bs.ipChange {
		wg.Add(1)
		go func() {
			defer wg.Done()
			both = run(true, true, bs.other)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		port = run(false, true, &net.UDPAddr{IP: bs.primary.IP, Port: bs.other.Port})
	}()
	wg.Wait()

	var notes []string
	var seen []*net.UDPAddr
	for _, o := range []outcome{both, port} {
		if o.local != nil && o.mapped != nil {
			seen = append(seen, o.local, o.mapped)
		}
	}
	var f Behavior
	switch {
	case both.passed:
		f = BehaviorEndpointIndependent
	case port.filtered:
		f = BehaviorAddressAndPortDependent
	case port.passed && (both.filtered || both.silent && both.otherAnswered):
		// The server honours CHANGE-REQUEST (the port change came
		// through) and its other IP answers: the IP change's silence is
		// the filter, even where a destination-dependent mapping keeps
		// the reopening trick from confirming it.
		f = BehaviorAddressDependent
	default:
		f = BehaviorUnknown
	}
	if f == BehaviorUnknown || f == BehaviorAddressAndPortDependent {
		for _, o := range []outcome{both, port} {
			if o.note != "" {
				notes = append(notes, o.note)
			}
		}
	} else {
		for _, o := range []outcome{both, port} {
			if o.note != "" && !o.silent {
				notes = append(notes, o.note)
			}
		}
	}
	return f, seen, notes
}

// hairpinTest sends a Binding request from the primary socket to its own
// public endpoint. Using the same socket matters: its filter is then open
// toward that endpoint, so only the NAT's hairpin support is measured.
func (p *prober) hairpinTest(ctx context.Context, a *sock, mapped *net.UDPAddr, rto time.Duration) *bool {
	if mapped == nil {
		return nil
	}
	_, err := p.do(ctx, a, stun.Request{To: mapped, Hairpin: true, RTO: rto, Attempts: phase2Attempts, Copies: 2})
	switch {
	case err == nil:
		return ptr(true)
	case errors.Is(err, stun.ErrTimeout):
		return ptr(false)
	}
	return nil
}

// multiMapping is what comparing the public endpoints reported by several
// servers says about mapping.
type multiMapping struct {
	behavior Behavior
	detail   string
}

// compareMappings tells endpoint-independent from dependent mapping with
// servers that cannot do RFC 5780 tests: the same socket talked to all of
// them, so different endpoints mean the mapping depends on the
// destination.
func compareMappings(servers []*server) multiMapping {
	var ok []*server
	for _, s := range servers {
		if s.err == nil {
			ok = append(ok, s)
		}
	}
	if len(ok) < 2 {
		return multiMapping{behavior: BehaviorUnknown}
	}
	differentIP := false
	for i := range ok {
		for j := i + 1; j < len(ok); j++ {
			a, b := ok[i], ok[j]
			if stun.SameAddr(a.addr, b.addr) {
				continue
			}
			if !stun.SameAddr(a.resp.Mapped, b.resp.Mapped) {
				if a.addr.IP.Equal(b.addr.IP) {
					return multiMapping{BehaviorAddressAndPortDependent, fmt.Sprintf("%s and %s (same IP) saw different endpoints", a.name, b.name)}
				}
				return multiMapping{BehaviorEndpointDependent, fmt.Sprintf("%s saw %s but %s saw %s", a.name, a.resp.Mapped, b.name, b.resp.Mapped)}
			}
			if !a.addr.IP.Equal(b.addr.IP) {
				differentIP = true
			}
		}
	}
	if differentIP {
		return multiMapping{BehaviorEndpointIndependent, "servers on different IPs saw the same endpoint"}
	}
	return multiMapping{behavior: BehaviorUnknown}
}

// combineMapping merges the RFC 5780 test with the multi-server comparison.
// Agreement or one-sided evidence gives an answer; a contradiction gives
// unknown.
func combineMapping(t Behavior, m multiMapping, notes *[]string) Behavior {
	if m.behavior == BehaviorUnknown {
		return t
	}
	if t == BehaviorUnknown {
		return m.behavior
	}
	tIndep := t == BehaviorEndpointIndependent
	mIndep := m.behavior == BehaviorEndpointIndependent
	if tIndep != mIndep {
		*notes = append(*notes, "RFC 5780 mapping test and server comparison disagree ("+m.detail+")")
		return BehaviorUnknown
	}
	if t == BehaviorEndpointDependent {
		return m.behavior
	}
	return t
}

// portPreservation: true if every socket's public port equals its local
// port, false if any differs, nil if nothing was observed. extra holds
// (local, mapped) pairs.
func portPreservation(local, mapped *net.UDPAddr, extra []*net.UDPAddr) *bool {
	if local == nil || mapped == nil {
		return nil
	}
	preserved := local.Port == mapped.Port
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i].Port != extra[i+1].Port {
			preserved = false
		}
	}
	return &preserved
}
