package stun

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	pstun "github.com/pion/stun/v3"
)

func listen(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// responder answers every Binding request on c by calling reply.
func responder(t *testing.T, c net.PacketConn, reply func(req *pstun.Message, from net.Addr)) {
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			m := &pstun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() != nil {
				continue
			}
			reply(m, from)
		}
	}()
}

func success(t *testing.T, id TxID, setters ...pstun.Setter) []byte {
	m, err := pstun.Build(append([]pstun.Setter{pstun.NewTransactionIDSetter(id), pstun.BindingSuccess}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestMatchingAndHostileAnswers(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	intruder := listen(t, "127.0.0.1:0")
	responder(t, srv, func(req *pstun.Message, from net.Addr) {
		ua := from.(*net.UDPAddr)
		// Garbage, a wrong transaction ID, the right ID from the wrong
		// source, a malformed address: all must be ignored...
		srv.WriteTo([]byte("garbage"), from)
		srv.WriteTo(make([]byte, 20), from)
		srv.WriteTo(success(t, pstun.NewTransactionID(), &pstun.XORMappedAddress{IP: net.IPv4(6, 6, 6, 6), Port: 666}), from)
		intruder.WriteTo(success(t, req.TransactionID, &pstun.XORMappedAddress{IP: net.IPv4(6, 6, 6, 6), Port: 666}), from)
		srv.WriteTo(success(t, req.TransactionID, pstun.RawAttribute{Type: pstun.AttrXORMappedAddress, Length: 5, Value: []byte{0, 1, 0, 1, 2}}), from)
		trunc := success(t, req.TransactionID, &pstun.XORMappedAddress{IP: ua.IP, Port: ua.Port})
		srv.WriteTo(trunc[:len(trunc)-3], from)
		// ...and then the real answer arrives.
		srv.WriteTo(success(t, req.TransactionID, &pstun.XORMappedAddress{IP: ua.IP, Port: ua.Port}), from)
	})
	c := listen(t, "127.0.0.1:0")
	cl := NewClient(c)
	defer cl.Close()
	r, err := cl.Do(context.Background(), Request{To: srv.LocalAddr().(*net.UDPAddr), RTO: time.Second, Attempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mapped.String() != c.LocalAddr().String() || !r.XOR {
		t.Fatalf("mapped %v", r.Mapped)
	}
}

func TestWrongSourceOnly(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	other := listen(t, "127.0.0.1:0")
	responder(t, srv, func(req *pstun.Message, from net.Addr) {
		ua := from.(*net.UDPAddr)
		other.WriteTo(success(t, req.TransactionID, &pstun.XORMappedAddress{IP: ua.IP, Port: ua.Port}), from)
	})
	cl := NewClient(listen(t, "127.0.0.1:0"))
	defer cl.Close()
	_, err := cl.Do(context.Background(), Request{To: srv.LocalAddr().(*net.UDPAddr), RTO: 20 * time.Millisecond, Attempts: 2})
	if !errors.Is(err, ErrWrongSource) {
		t.Fatalf("err %v", err)
	}
}

func TestRetransmitsAfterLoss(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	seen := 0
	responder(t, srv, func(req *pstun.Message, from net.Addr) {
		seen++
		if seen < 3 { // the first two requests are "lost"
			return
		}
		ua := from.(*net.UDPAddr)
		srv.WriteTo(success(t, req.TransactionID, &pstun.MappedAddress{IP: ua.IP, Port: ua.Port}), from)
	})
	cl := NewClient(listen(t, "127.0.0.1:0"))
	defer cl.Close()
	r, err := cl.Do(context.Background(), Request{To: srv.LocalAddr().(*net.UDPAddr), RTO: 10 * time.Millisecond, Attempts: 6})
	if err != nil {
		t.Fatal(err)
	}
	if r.XOR || r.Mapped == nil {
		t.Fatalf("%+v", r)
	}
}

func TestTimeoutAndErrorResponse(t *testing.T) {
	silent := listen(t, "127.0.0.1:0")
	cl := NewClient(listen(t, "127.0.0.1:0"))
	defer cl.Close()
	if _, err := cl.Do(context.Background(), Request{To: silent.LocalAddr().(*net.UDPAddr), RTO: 5 * time.Millisecond, Attempts: 2}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	srv := listen(t, "127.0.0.1:0")
	responder(t, srv, func(req *pstun.Message, from net.Addr) {
		m := pstun.MustBuild(pstun.NewTransactionIDSetter(req.TransactionID), pstun.BindingError, pstun.ErrorCodeAttribute{Code: 420, Reason: []byte("Unknown Attribute")})
		srv.WriteTo(m.Raw, from)
	})
	_, err := cl.Do(context.Background(), Request{To: srv.LocalAddr().(*net.UDPAddr), ChangeIP: true, RTO: time.Second, Attempts: 3})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 420 {
		t.Fatalf("err %v", err)
	}
}

func TestSharedClient(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	responder(t, srv, func(req *pstun.Message, from net.Addr) {
		ua := from.(*net.UDPAddr)
		srv.WriteTo(success(t, req.TransactionID, &pstun.XORMappedAddress{IP: ua.IP, Port: ua.Port}), from)
	})
	c := listen(t, "127.0.0.1:0")
	cl := NewSharedClient(c)
	// The owner's read loop: non-STUN traffic stays with the owner.
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			cl.Deliver(buf[:n], from)
		}
	}()
	if _, err := cl.Do(context.Background(), Request{To: srv.LocalAddr().(*net.UDPAddr), RTO: time.Second, Attempts: 3}); err != nil {
		t.Fatal(err)
	}
	if cl.Deliver([]byte("d1:ad2:id20:"), srv.LocalAddr()) {
		t.Fatal("claimed a DHT packet")
	}
}

func TestParseRFC3489(t *testing.T) {
	id := pstun.NewTransactionID()
	m := pstun.MustBuild(pstun.NewTransactionIDSetter(id), pstun.BindingSuccess,
		&pstun.MappedAddress{IP: net.IPv4(198, 51, 100, 1), Port: 4000})
	for _, a := range []struct {
		t    pstun.AttrType
		ip   net.IP
		port int
	}{{pstun.AttrSourceAddress, net.IPv4(203, 0, 113, 1), 3478}, {pstun.AttrChangedAddress, net.IPv4(203, 0, 113, 2), 3479}} {
		ma := pstun.MappedAddress{IP: a.ip, Port: a.port}
		if err := ma.AddToAs(m, a.t); err != nil {
			t.Fatal(err)
		}
	}
	m.WriteLength()
	_, r, err := Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.XOR || r.Mapped.String() != "198.51.100.1:4000" || r.Origin.String() != "203.0.113.1:3478" || r.Other.String() != "203.0.113.2:3479" || r.OtherRFC5780 {
		t.Fatalf("%+v", r)
	}
}
