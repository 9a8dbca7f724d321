package stun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Client runs STUN transactions over one socket. Either it reads the
// socket itself (NewClient), or the socket belongs to someone else — the
// torrent client's uTP socket — who hands it every datagram through Deliver
// (NewSharedClient).
type Client struct {
	conn net.PacketConn

	mu      sync.Mutex
	pending map[TxID]*call
	closed  bool

	readerDone chan struct{} // nil for shared clients
}

type call struct {
	expect        *net.UDPAddr // required source; nil = any
	to            *net.UDPAddr // where the request went
	acceptRequest bool         // hairpin probes receive our own request
	sent          time.Time
	sends         int
	ch            chan *Response
	wrongSource   bool
	// garbled: a datagram from the destination that did not decode as
	// STUN arrived; wrongFamily: an answer whose mapped address is of the
	// other address family than the request's.
	garbled, wrongFamily bool
}

// NewClient starts reading conn. Nobody else may read conn until Close.
func NewClient(conn net.PacketConn) *Client {
	c := &Client{conn: conn, pending: map[TxID]*call{}, readerDone: make(chan struct{})}
	go c.readLoop()
	return c
}

// NewSharedClient makes a client for a socket read by someone else, who
// must pass received datagrams to Deliver.
func NewSharedClient(conn net.PacketConn) *Client {
	return &Client{conn: conn, pending: map[TxID]*call{}}
}

// LocalAddr is the socket's local address.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Close stops the reader (without closing the socket) and fails pending
// transactions.
func (c *Client) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	if c.readerDone != nil {
		// A deadline in the past wakes the blocked ReadFrom without
		// closing a socket that may belong to the caller.
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
		<-c.readerDone
		_ = c.conn.SetReadDeadline(time.Time{})
	}
}

func (c *Client) readLoop() {
	defer close(c.readerDone)
	buf := make([]byte, 2048)
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// ICMP errors surface as read errors on some systems; they
			// say nothing about our transactions, so keep reading, but
			// do not spin on a broken socket.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.Deliver(buf[:n], from)
	}
}

// Deliver offers one received datagram to the client. It reports whether
// the datagram belonged to one of its transactions (the caller should then
// not process it further). b is not retained.
func (c *Client) Deliver(b []byte, from net.Addr) bool {
	id, r, err := Parse(b)
	if err != nil {
		c.noteGarbage(from)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.pending[id]
	if cl == nil {
		return false
	}
	if r.Class == ClassRequest && !cl.acceptRequest || r.Class == ClassOther {
		return true
	}
	r.From = UDPAddrOf(from)
	// A server that cannot honour CHANGE-REQUEST answers with an error
	// from the address we sent to, not from the changed one.
	errorFromTarget := r.Class == ClassError && SameAddr(r.From, cl.to)
	if cl.expect != nil && !SameAddr(r.From, cl.expect) && !errorFromTarget {
		cl.wrongSource = true
		return true
	}
	if r.Class == ClassSuccess && !SameFamily(r.Mapped, cl.to) {
		// An IPv6 "public address" for an IPv4 request (or the reverse)
		// describes no mapping of this socket: a broken or lying server.
		cl.wrongFamily = true
		return true
	}
	r.RTT = time.Since(cl.sent)
	r.Sends = cl.sends
	select {
	case cl.ch <- r:
	default:
	}
	return true
}

// noteGarbage marks the transactions toward from: something arrived from
// the server, so its silence cannot be read as "UDP blocked".
func (c *Client) noteGarbage(from net.Addr) {
	src := UDPAddrOf(from)
	if src == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.pending {
		if SameAddr(cl.to, src) || SameAddr(cl.expect, src) {
			cl.garbled = true
		}
	}
}

// SameFamily reports whether a and b are both IPv4 or both IPv6.
func SameFamily(a, b *net.UDPAddr) bool {
	if a == nil || b == nil {
		return false
	}
	return (a.IP.To4() == nil) == (b.IP.To4() == nil)
}

// Stats describes how a transaction went, filled in by Do when
// Request.Stats is set, whatever the outcome.
type Stats struct {
	Sends   int           // transmissions (copies not counted)
	Elapsed time.Duration // from the first send to the end
	// Complete: the whole retransmission schedule ran (the context did
	// not cut it short), so silence is a result.
	Complete    bool
	Garbled     bool // undecodable datagrams came from the server
	WrongFamily bool // answers with a mapped address of the other family
	WrongSource bool // answers from an unexpected address
}

// Heard reports whether anything at all came back from the server.
func (s Stats) Heard() bool { return s.Garbled || s.WrongFamily || s.WrongSource }

// Request describes one Binding transaction.
type Request struct {
	To         *net.UDPAddr
	ChangeIP   bool
	ChangePort bool
	// ExpectFrom is the only source accepted for the answer; nil means
	// To. AnySource accepts every source (hairpin probes).
	ExpectFrom *net.UDPAddr
	AnySource  bool
	// Hairpin makes the transaction complete when our own request comes
	// back to us.
	Hairpin bool
	// RTO is the first retransmission timeout (doubling after each send);
	// Attempts bounds the number of sends. After the last send the client
	// waits one more (doubled) RTO.
	RTO      time.Duration
	Attempts int
	// Copies sends each transmission this many times (default 1), for
	// tests where silence is the answer: independent losses then rarely
	// take every copy.
	Copies int
	// Stats, if set, receives how the transaction went.
	Stats *Stats
}

// Do runs one transaction. The error is ErrTimeout, ErrWrongSource (only
// answers from unexpected addresses arrived), ErrWrongFamily, ErrMalformed,
// a *ServerError, the context's error, or a send failure.
func (c *Client) Do(ctx context.Context, req Request) (resp *Response, err error) {
	if req.To == nil {
		return nil, errors.New("stun: request without destination")
	}
	rto := req.RTO
	if rto <= 0 {
		rto = 500 * time.Millisecond
	}
	attempts := req.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	id, raw, err := NewBindingRequest(req.ChangeIP, req.ChangePort)
	if err != nil {
		return nil, err
	}
	cl := &call{ch: make(chan *Response, 1), acceptRequest: req.Hairpin, to: req.To}
	if !req.AnySource && !req.Hairpin {
		cl.expect = req.ExpectFrom
		if cl.expect == nil {
			cl.expect = req.To
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, net.ErrClosed
	}
	c.pending[id] = cl
	c.mu.Unlock()
	var start time.Time
	complete := false
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		if req.Stats != nil {
			*req.Stats = Stats{Sends: cl.sends, Complete: complete, Garbled: cl.garbled, WrongFamily: cl.wrongFamily, WrongSource: cl.wrongSource}
			if !start.IsZero() {
				req.Stats.Elapsed = time.Since(start)
			}
		}
		c.mu.Unlock()
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	sent := 0
	for {
		if sent < attempts {
			// RTT is measured from the latest send: an answer to an
			// earlier copy then reads short rather than RTO-inflated.
			c.mu.Lock()
			cl.sent = time.Now()
			if start.IsZero() {
				start = cl.sent
			}
			cl.sends++
			c.mu.Unlock()
			for i := 0; i < max(req.Copies, 1); i++ {
				if _, err := c.conn.WriteTo(raw, req.To); err != nil {
					return nil, fmt.Errorf("send to %s: %w", req.To, err)
				}
			}
			sent++
			timer.Reset(rto)
			rto *= 2
		} else {
			c.mu.Lock()
			wrong, fam, garbled := cl.wrongSource, cl.wrongFamily, cl.garbled
			c.mu.Unlock()
			complete = true
			switch {
			case fam:
				return nil, ErrWrongFamily
			case wrong:
				return nil, ErrWrongSource
			case garbled:
				return nil, ErrMalformed
			}
			return nil, ErrTimeout
		}
		select {
		case r := <-cl.ch:
			if r.Class == ClassError {
				return r, &ServerError{Code: r.ErrorCode, Reason: r.ErrorReason}
			}
			return r, nil
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// UDPAddrOf converts a net.Addr from a socket into a *net.UDPAddr.
func UDPAddrOf(a net.Addr) *net.UDPAddr {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v
	case nil:
		return nil
	}
	// Parse, never resolve: an address from the network must not
	// trigger a DNS lookup.
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}
