package stunserver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

func start(t *testing.T, opts ...Option) [2][2]net.PacketConn {
	t.Helper()
	conns, err := ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(conns, opts...).Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conns
}

// exchange sends one request and waits for the answer with the same
// transaction ID, returning it and the address it came from.
func exchange(t *testing.T, c net.PacketConn, to net.Addr, setters ...stun.Setter) (*stun.Message, net.Addr) {
	t.Helper()
	req := stun.MustBuild(append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, setters...)...)
	buf := make([]byte, 1500)
	for attempt := 0; attempt < 5; attempt++ {
		if _, err := c.WriteTo(req.Raw, to); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() != nil || m.TransactionID != req.TransactionID {
				continue
			}
			return m, from
		}
	}
	t.Fatalf("no answer from %s", to)
	return nil, nil
}

func TestRFC5780(t *testing.T) {
	conns := start(t)
	cl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	local := cl.LocalAddr().(*net.UDPAddr)
	primary := conns[0][0].LocalAddr()

	for _, tc := range []struct {
		name     string
		flags    byte
		wantFrom net.Addr
	}{
		{"plain", 0, conns[0][0].LocalAddr()},
		{"change-ip-port", 0x06, conns[1][1].LocalAddr()},
		{"change-ip", 0x04, conns[1][0].LocalAddr()},
		{"change-port", 0x02, conns[0][1].LocalAddr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []stun.Setter
			if tc.flags != 0 {
				extra = append(extra, stun.RawAttribute{Type: stun.AttrChangeRequest, Length: 4, Value: []byte{0, 0, 0, tc.flags}})
			}
			m, from := exchange(t, cl, primary, extra...)
			if m.Type != stun.BindingSuccess {
				t.Fatalf("type %v", m.Type)
			}
			if from.String() != tc.wantFrom.String() {
				t.Fatalf("answered from %s, want %s", from, tc.wantFrom)
			}
			var xa stun.XORMappedAddress
			if err := xa.GetFrom(m); err != nil || xa.String() != local.String() {
				t.Fatalf("xor-mapped %v %v, want %s", xa, err, local)
			}
			var oa stun.OtherAddress
			if err := oa.GetFrom(m); err != nil {
				t.Fatal(err)
			}
			var ro stun.ResponseOrigin
			if err := ro.GetFrom(m); err != nil || ro.String() != tc.wantFrom.String() {
				t.Fatalf("response-origin %v %v", ro, err)
			}
			// OTHER-ADDRESS is diagonal to the answering socket.
			if oa.IP.Equal(ro.IP) || oa.Port == ro.Port {
				t.Fatalf("other-address %s not diagonal to %s", oa, ro)
			}
		})
	}
}

func TestRFC3489(t *testing.T) {
	conns := start(t, RFC3489Only())
	cl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m, from := exchange(t, cl, conns[0][0].LocalAddr(), stun.RawAttribute{Type: stun.AttrChangeRequest, Length: 4, Value: []byte{0, 0, 0, 6}})
	if from.String() != conns[1][1].LocalAddr().String() {
		t.Fatalf("from %s", from)
	}
	if _, err := m.Get(stun.AttrXORMappedAddress); err == nil {
		t.Fatal("RFC 3489 server sent XOR-MAPPED-ADDRESS")
	}
	var ma, sa, ca stun.MappedAddress
	if err := ma.GetFrom(m); err != nil || ma.String() != cl.LocalAddr().String() {
		t.Fatalf("mapped %v %v", ma, err)
	}
	if err := sa.GetFromAs(m, stun.AttrSourceAddress); err != nil || sa.String() != from.String() {
		t.Fatalf("source %v %v", sa, err)
	}
	if err := ca.GetFromAs(m, stun.AttrChangedAddress); err != nil || ca.String() != conns[0][0].LocalAddr().String() {
		t.Fatalf("changed %v %v", ca, err)
	}
}

func TestPlainRejectsChangeRequest(t *testing.T) {
	conns := start(t, NoOtherAddress())
	cl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m, _ := exchange(t, cl, conns[0][0].LocalAddr())
	if _, err := m.Get(stun.AttrOtherAddress); err == nil {
		t.Fatal("plain server sent OTHER-ADDRESS")
	}
	m, _ = exchange(t, cl, conns[0][0].LocalAddr(), stun.RawAttribute{Type: stun.AttrChangeRequest, Length: 4, Value: []byte{0, 0, 0, 6}})
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(m); err != nil || ec.Code != 420 {
		t.Fatalf("want 420, got %v %v", ec, err)
	}
}

func TestGarbageIgnored(t *testing.T) {
	conns := start(t)
	cl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, b := range [][]byte{nil, {0}, make([]byte, 20), []byte("GET / HTTP/1.1\r\n\r\n"),
		{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x00, 0x03, 0x00, 0x10}} {
		_, _ = cl.WriteTo(b, conns[0][0].LocalAddr())
	}
	// Still alive afterwards.
	exchange(t, cl, conns[0][0].LocalAddr())
}

func TestListenUDPSamePorts(t *testing.T) {
	conns, err := ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 2; j++ {
		if conns[0][j].LocalAddr().(*net.UDPAddr).Port != conns[1][j].LocalAddr().(*net.UDPAddr).Port {
			t.Fatalf("port %d differs between IPs", j)
		}
	}
	for _, row := range conns {
		for _, c := range row {
			c.Close()
		}
	}
}
