package stunserver

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// sink is a PacketConn that records what the server writes.
type sink struct {
	addr  *net.UDPAddr
	wrote int
}

func (s *sink) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, net.ErrClosed }
func (s *sink) WriteTo(b []byte, _ net.Addr) (int, error) {
	s.wrote++
	return len(b), nil
}
func (s *sink) Close() error                     { return nil }
func (s *sink) LocalAddr() net.Addr              { return s.addr }
func (s *sink) SetDeadline(time.Time) error      { return nil }
func (s *sink) SetReadDeadline(time.Time) error  { return nil }
func (s *sink) SetWriteDeadline(time.Time) error { return nil }

// FuzzHandle: no request, however malformed, crashes the server in any
// mode.
func FuzzHandle(f *testing.F) {
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: stun.AttrChangeRequest, Length: 4, Value: []byte{0, 0, 0, 6}}).Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: 0x0042, Length: 1, Value: []byte{1}}).Raw)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Fuzz(func(t *testing.T, b []byte) {
		var conns [2][2]net.PacketConn
		sinks := [2][2]*sink{}
		for i, ip := range []string{"192.0.2.1", "192.0.2.2"} {
			for j, port := range []int{3478, 3479} {
				sinks[i][j] = &sink{addr: &net.UDPAddr{IP: net.ParseIP(ip), Port: port}}
				conns[i][j] = sinks[i][j]
			}
		}
		from := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 40000}
		for _, mode := range []Mode{ModeRFC5780, ModeRFC3489, ModePlain} {
			s := New(conns, WithMode(mode))
			s.handle(conns[0][0], b, from)
		}
	})
}
