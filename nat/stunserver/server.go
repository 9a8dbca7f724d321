// Package stunserver is an RFC 5780 STUN server (with RFC 3489 and plain
// RFC 5389 emulation modes) built on pion/stun. It serves any
// net.PacketConn, so it runs on loopback in tests and on the simulated
// internet of nat/natlab.
package stunserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"

	natstun "github.com/swarmscope/swarmscope/nat/stun"
)

// Mode selects which generation of STUN the server speaks.
type Mode int

const (
	// ModeRFC5780 answers with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS,
	// RESPONSE-ORIGIN and OTHER-ADDRESS and honours CHANGE-REQUEST.
	ModeRFC5780 Mode = iota
	// ModeRFC3489 behaves like classic stund: MAPPED-ADDRESS,
	// SOURCE-ADDRESS, CHANGED-ADDRESS, no XOR or RFC 5780 attributes.
	ModeRFC3489
	// ModePlain is what most public servers are: XOR-MAPPED-ADDRESS and
	// MAPPED-ADDRESS only, no second address, CHANGE-REQUEST rejected.
	ModePlain
)

type config struct {
	mode         Mode
	software     string
	ignoreChange bool
	// Hostile modes, for clients' tests.
	dropChange  bool
	changeDelay time.Duration
	fakeOther   *net.UDPAddr
	fakeMapped  net.IP
	malformed   bool
}

// Option configures a Server.
type Option func(*config)

// WithMode picks the protocol generation (default ModeRFC5780).
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// RFC3489Only makes the server behave like classic stund.
func RFC3489Only() Option { return WithMode(ModeRFC3489) }

// NoOtherAddress makes the server a plain RFC 5389 server that does not
// advertise a second address.
func NoOtherAddress() Option { return WithMode(ModePlain) }

// WithSoftware sets the SOFTWARE attribute ("" omits it).
func WithSoftware(s string) Option { return func(c *config) { c.software = s } }

// IgnoreChangeRequest emulates a broken server that advertises a second
// address but answers CHANGE-REQUESTs from the primary socket anyway; clients
// must not mistake that for a filtering result.
func IgnoreChangeRequest() Option { return func(c *config) { c.ignoreChange = true } }

// DropChangeRequest emulates a server that advertises a second address but
// silently drops every request carrying CHANGE-REQUEST: silence that is the
// server's, not the client's NAT's.
func DropChangeRequest() Option { return func(c *config) { c.dropChange = true } }

// DelayChangeRequest answers CHANGE-REQUESTs only after d: a slow or
// overloaded server whose late answers a client must not read as filtering.
func DelayChangeRequest(d time.Duration) Option { return func(c *config) { c.changeDelay = d } }

// AdvertiseOther puts a (typically unreachable) address in OTHER-ADDRESS /
// CHANGED-ADDRESS instead of the server's real second address.
func AdvertiseOther(a *net.UDPAddr) Option { return func(c *config) { c.fakeOther = a } }

// MappedAddress makes the server report ip (with the client's port) as the
// client's mapped address, e.g. an IPv6 address for an IPv4 request.
func MappedAddress(ip net.IP) Option { return func(c *config) { c.fakeMapped = ip } }

// Malformed makes every success answer undecodable (a truncated
// XOR-MAPPED-ADDRESS) while keeping the request's transaction ID.
func Malformed() Option { return func(c *config) { c.malformed = true } }

// Server answers STUN Binding requests on up to four sockets.
type Server struct {
	conns [2][2]net.PacketConn
	cfg   config

	requests atomic.Int64
}

// New builds a server. conns[i][j] is bound to IP i, port j; the primary
// socket is conns[0][0] and must not be nil. Missing sockets limit which
// CHANGE-REQUESTs can be honoured; with ModePlain only conns[0][0] is used.
// All four sockets must have concrete (non-wildcard) local addresses, since
// they are advertised to clients.
func New(conns [2][2]net.PacketConn, opts ...Option) *Server {
	s := &Server{conns: conns, cfg: config{mode: ModeRFC5780, software: "swarmscope-stunserver"}}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

// Requests reports how many well-formed Binding requests were answered or
// rejected so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Serve answers requests on every non-nil socket until ctx is done or a
// socket fails. It takes ownership of the sockets and closes them on return,
// which is what unblocks the readers. A closed socket ends Serve without
// error; any other read failure is returned.
func (s *Server) Serve(ctx context.Context) error {
	if s.conns[0][0] == nil {
		return errors.New("stunserver: primary socket conns[0][0] is nil")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			c := s.conns[i][j]
			if c == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.serveConn(ctx, c); err != nil {
					errOnce.Do(func() { firstErr = err })
				}
				cancel()
			}()
		}
	}
	<-ctx.Done()
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			if c := s.conns[i][j]; c != nil {
				_ = c.Close()
			}
		}
	}
	wg.Wait()
	return firstErr
}

func (s *Server) serveConn(ctx context.Context, c net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("stunserver: read on %s: %w", c.LocalAddr(), err)
		}
		s.handle(c, buf[:n], from)
	}
}

// handle answers one datagram; anything that is not a well-formed Binding
// request is silently dropped, as RFC 5389 asks.
func (s *Server) handle(in net.PacketConn, b []byte, from net.Addr) {
	if !stun.IsMessage(b) {
		return
	}
	req := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := req.Decode(); err != nil {
		return
	}
	if req.Type != stun.BindingRequest {
		return
	}
	src, ok := from.(*net.UDPAddr)
	if !ok {
		if src = natstun.UDPAddrOf(from); src == nil {
			return
		}
	}
	s.requests.Add(1)

	x, y := s.indexOf(in)
	var unknown []stun.AttrType
	changeIP, changePort := false, false
	for _, a := range req.Attributes {
		switch {
		case a.Type == stun.AttrChangeRequest:
			if len(a.Value) != 4 {
				s.sendError(in, src, req, 400, "Bad CHANGE-REQUEST")
				return
			}
			changeIP = a.Value[3]&0x04 != 0
			changePort = a.Value[3]&0x02 != 0
		case a.Type == stun.AttrFingerprint || a.Type == stun.AttrSoftware || a.Type == stun.AttrPadding:
		case a.Type.Required():
			unknown = append(unknown, a.Type)
		}
	}
	if s.cfg.mode == ModePlain && (changeIP || changePort) {
		unknown = append(unknown, stun.AttrChangeRequest)
	}
	if len(unknown) > 0 {
		s.sendError(in, src, req, 420, "Unknown Attribute", stun.UnknownAttributes(unknown))
		return
	}
	if (changeIP || changePort) && s.cfg.dropChange {
		return
	}
	if s.cfg.ignoreChange {
		changeIP, changePort = false, false
	}
	if changeIP {
		x = 1 - x
	}
	if changePort {
		y = 1 - y
	}
	out := s.conns[x][y]
	if out == nil {
		// RFC 5780 §6.1: a CHANGE-REQUEST the server cannot honour is an
		// unknown attribute.
		s.sendError(in, src, req, 420, "Unknown Attribute", stun.UnknownAttributes{stun.AttrChangeRequest})
		return
	}
	origin := natstun.UDPAddrOf(out.LocalAddr())
	if s.cfg.fakeMapped != nil {
		src = &net.UDPAddr{IP: s.cfg.fakeMapped, Port: src.Port}
	}
	setters := []stun.Setter{req, stun.BindingSuccess}
	switch s.cfg.mode {
	case ModeRFC3489:
		setters = append(setters, &stun.MappedAddress{IP: src.IP, Port: src.Port})
		if origin != nil {
			setters = append(setters, addrAs(origin, stun.AttrSourceAddress))
		}
		if other := s.other(x, y); other != nil {
			setters = append(setters, addrAs(other, stun.AttrChangedAddress))
		}
	case ModePlain:
		setters = append(setters,
			&stun.XORMappedAddress{IP: src.IP, Port: src.Port},
			&stun.MappedAddress{IP: src.IP, Port: src.Port})
	default:
		setters = append(setters,
			&stun.XORMappedAddress{IP: src.IP, Port: src.Port},
			&stun.MappedAddress{IP: src.IP, Port: src.Port})
		if origin != nil {
			setters = append(setters, &stun.ResponseOrigin{IP: origin.IP, Port: origin.Port})
		}
		if other := s.other(x, y); other != nil {
			setters = append(setters, &stun.OtherAddress{IP: other.IP, Port: other.Port})
		}
	}
	if s.cfg.software != "" && s.cfg.mode != ModeRFC3489 {
		setters = append(setters, stun.NewSoftware(s.cfg.software))
	}
	if s.cfg.mode != ModeRFC3489 {
		setters = append(setters, stun.Fingerprint)
	}
	if s.cfg.malformed {
		// A truncated address attribute: the header and transaction ID
		// are right, the body is not.
		setters = []stun.Setter{req, stun.BindingSuccess, stun.RawAttribute{Type: stun.AttrXORMappedAddress, Length: 3, Value: []byte{0, 1, 0}}}
	}
	resp, err := stun.Build(setters...)
	if err != nil {
		return
	}
	to := natstun.UDPAddrOf(from)
	send := func() {
		_ = out.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = out.WriteTo(resp.Raw, to)
	}
	if d := s.cfg.changeDelay; d > 0 && (changeIP || changePort) {
		time.AfterFunc(d, send)
		return
	}
	send()
}

func (s *Server) sendError(out net.PacketConn, to *net.UDPAddr, req *stun.Message, code stun.ErrorCode, reason string, extra ...stun.Setter) {
	setters := append([]stun.Setter{req, stun.BindingError, stun.ErrorCodeAttribute{Code: code, Reason: []byte(reason)}}, extra...)
	resp, err := stun.Build(setters...)
	if err != nil {
		return
	}
	_, _ = out.WriteTo(resp.Raw, to)
}

// indexOf finds which of the four sockets c is.
func (s *Server) indexOf(c net.PacketConn) (int, int) {
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			if s.conns[i][j] == c {
				return i, j
			}
		}
	}
	return 0, 0
}

// other is the address diagonally opposite (x, y): different IP and port,
// as OTHER-ADDRESS and CHANGED-ADDRESS are defined. nil if the server has no
// second IP and port.
func (s *Server) other(x, y int) *net.UDPAddr {
	if s.cfg.mode == ModePlain {
		return nil
	}
	if s.cfg.fakeOther != nil {
		return s.cfg.fakeOther
	}
	c := s.conns[1-x][1-y]
	if c == nil {
		return nil
	}
	return natstun.UDPAddrOf(c.LocalAddr())
}

// addrAs encodes an RFC 3489 address attribute (MAPPED-ADDRESS layout).
func addrAs(a *net.UDPAddr, t stun.AttrType) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		ma := stun.MappedAddress{IP: a.IP, Port: a.Port}
		return ma.AddToAs(m, t)
	})
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// ListenUDP opens the four OS sockets a server needs on ip1 and ip2
// (conns[i][j] = IP i, port j). RFC 5780 clients derive the other
// combinations from OTHER-ADDRESS, so both IPs use the same two ports: the
// kernel picks them on ip1 and they are claimed on ip2, retrying on a clash.
// On loopback, ip1 = 127.0.0.1 and ip2 = 127.0.0.2 give a full RFC 5780
// server without root.
func ListenUDP(ip1, ip2 string) ([2][2]net.PacketConn, error) {
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		var conns [2][2]net.PacketConn
		closeAll := func() {
			for _, row := range conns {
				for _, c := range row {
					if c != nil {
						_ = c.Close()
					}
				}
			}
		}
		ok := true
		for j := 0; j < 2 && ok; j++ {
			c, err := net.ListenPacket("udp", net.JoinHostPort(ip1, "0"))
			if err != nil {
				closeAll()
				return conns, fmt.Errorf("stunserver: listen on %s: %w", ip1, err)
			}
			conns[0][j] = c
			port := c.LocalAddr().(*net.UDPAddr).Port
			c2, err := net.ListenPacket("udp", net.JoinHostPort(ip2, fmt.Sprint(port)))
			if err != nil {
				lastErr = err
				ok = false
				break
			}
			conns[1][j] = c2
		}
		if ok {
			return conns, nil
		}
		closeAll()
	}
	return [2][2]net.PacketConn{}, fmt.Errorf("stunserver: listen on %s: %w", ip2, lastErr)
}
