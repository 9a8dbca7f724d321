package stun

import (
	"net"
	"testing"
)

// FuzzResponse feeds arbitrary datagrams through the whole receive path:
// parsing, transaction matching and source checks. The seed corpus in
// testdata/fuzz/FuzzResponse holds real RFC 5780, RFC 3489 and error
// responses and some broken ones.
func FuzzResponse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("not stun at all"))
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, r, err := Parse(b)
		if err == nil {
			if r == nil {
				t.Fatal("nil response without error")
			}
			if r.Class == ClassSuccess && r.Mapped == nil {
				t.Fatal("success without mapped address")
			}
			if r.Mapped != nil && (r.Mapped.Port == 0 || r.Mapped.IP.IsUnspecified()) {
				t.Fatal("zero mapped address accepted")
			}
		}
		// Register the packet's own transaction ID so matching runs too.
		c := NewSharedClient(nil)
		cl := &call{expect: from, ch: make(chan *Response, 1)}
		c.pending[id] = cl
		c.Deliver(b, from)
		c.Deliver(b, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1})
		c.Deliver(b, nil)
	})
}
