package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// The dial gate. anacrolix dials every address its peer sources give it
// and, the moment all dials to one have failed, asks every eligible relay
// to introduce it (a BEP 55 rendezvous); there is no option to skip either.
// Its only duplicate check compares the remote address exactly, so it
// dials a peer it is already connected to when that peer's connection came
// from a NAT-translated port, and it dials our own public address when a
// tracker lists us. Every dialer is therefore wrapped: the gate refuses a
// dial to our own addresses, to peers we are connected to, and to
// rendezvous targets (retried by rendezvous only, see punchbook.go). A
// refused dial returns a connection that fails the BitTorrent handshake at
// once, without a packet sent: to anacrolix that is a dial that connected
// and a handshake that failed, which it neither retries at once nor
// follows with a rendezvous. An error would have triggered the rendezvous.

// errDialRefused is what a refused dial's connection reads and writes.
var errDialRefused = errors.New("dial refused by swarmscope")

type gatedDialer struct {
	torrent.Dialer
	e *Engine
}

func (d gatedDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return d.Dialer.Dial(ctx, addr)
	}
	ap = unmap(ap)
	if reason, refuse := d.e.gateDial(ap); refuse {
		return newRefusedConn(d.DialerNetwork(), ap, reason), nil
	}
	c, err := d.Dialer.Dial(ctx, addr)
	d.e.dialEnded(ap, err == nil)
	return c, err
}

// gateDial applies the rules; a dial it lets through is counted started.
func (e *Engine) gateDial(a netip.AddrPort) (reason string, refuse bool) {
	now := time.Now()
	var ev *swarm.Event
	e.mu.Lock()
	pb := e.punch
	// TCP and uTP dial the same address at once, and anacrolix redials
	// once after a failed handshake: they all get one verdict.
	if m, ok := pb.vetoed[a]; ok && now.Sub(m.at) < 2*time.Second {
		e.mu.Unlock()
		return m.reason, true
	}
	punch := e.punchDialLocked(a, now)
	v, why := pb.gate(a, e.activeTorrentsLocked(), punch, now)
	if v != dialAllow {
		pb.vetoed[a] = vetoMemo{at: now, reason: why}
		if len(pb.vetoed) > 1024 {
			for k, m := range pb.vetoed {
				if now.Sub(m.at) > time.Minute {
					delete(pb.vetoed, k)
				}
			}
		}
		f := pb.funnel("")
		switch v {
		case dialVetoOwn:
			f.Skipped.Own++
		case dialVetoConnected:
			f.Skipped.Connected++
		case dialVetoPunchOnly:
			f.Skipped.PunchOnly++
		}
		// Refusals repeat each time a peer source re-lists the address;
		// the event says so with a count, at 1, 2, 4, 8… occurrences.
		if v != dialVetoPunchOnly {
			key := "skip|" + a.String()
			if n := pb.repeat(key, now); n&(n-1) == 0 {
				ev = &swarm.Event{Time: now, Kind: swarm.EventDialSkipped, Peer: a.String(), Repeat: n,
					Message: fmt.Sprintf("not dialing %s: %s", a, why)}
			}
		}
		e.mu.Unlock()
		if ev != nil {
			e.emit(*ev)
		}
		return why, true
	}
	first := pb.dialStarted(a, punch)
	var ih, relay string
	if punch && first {
		if rec := e.connects[a]; rec != nil {
			ih, relay = rec.ih, rec.relay
			rec.dialed = true
		}
		pb.count(ih, relay, func(f *swarm.HolepunchFunnel) { f.PunchDials++ })
	}
	e.mu.Unlock()
	return "", false
}

// activeTorrentsLocked lists the torrents that may be dialing.
func (e *Engine) activeTorrentsLocked() []string {
	out := make([]string, 0, len(e.order))
	for _, ih := range e.order {
		if ts := e.torrents[ih]; ts != nil && !ts.paused {
			out = append(out, ih)
		}
	}
	return out
}

// punchDialLocked reports whether a relay's Connect named a moments ago:
// a dial to it now is the punch.
func (e *Engine) punchDialLocked(a netip.AddrPort, now time.Time) bool {
	rec := e.connects[a]
	return rec != nil && !rec.resolved && now.Sub(rec.at) <= punchDialWindow
}

func (e *Engine) dialEnded(a netip.AddrPort, ok bool) {
	e.mu.Lock()
	e.punch.dialEnded(a, ok)
	e.mu.Unlock()
}

// refusedConn is the connection of a refused dial: nothing is sent, every
// read and write fails.
type refusedConn struct {
	local, remote net.Addr
	err           error
}

func newRefusedConn(network string, a netip.AddrPort, reason string) *refusedConn {
	c := &refusedConn{err: fmt.Errorf("%w: %s", errDialRefused, reason)}
	if transportOf(network) == swarm.TransportUTP {
		c.local, c.remote = &net.UDPAddr{}, net.UDPAddrFromAddrPort(a)
	} else {
		c.local, c.remote = &net.TCPAddr{}, net.TCPAddrFromAddrPort(a)
	}
	return c
}

func (c *refusedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c *refusedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c *refusedConn) Close() error                     { return nil }
func (c *refusedConn) LocalAddr() net.Addr              { return c.local }
func (c *refusedConn) RemoteAddr() net.Addr             { return c.remote }
func (c *refusedConn) SetDeadline(time.Time) error      { return nil }
func (c *refusedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *refusedConn) SetWriteDeadline(time.Time) error { return nil }
