// Package benchtest loads one engine with more peers than a benchmark
// swarm can run: a fleet of lightweight BitTorrent peers (a handshake, a
// have-all and nothing more) connects to it over loopback, and the engine's
// heap is measured. It also holds the Go test that runs the side-by-side
// benchmark (engine/benchtest/cmd/bench) in its tiny version.
package benchtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	pstr         = "BitTorrent protocol"
	handshakeLen = 1 + len(pstr) + 8 + 20 + 20
	msgHaveAll   = 0x0e // BEP 6
	msgBitfield  = 5
)

// Fleet is a set of peer connections to one BitTorrent client. Each peer
// has its own source address in 127.1.0.0/16, its own peer ID, claims every
// piece and never unchokes: the client keeps it connected and interested,
// which is a downloader's state with a big swarm.
type Fleet struct {
	conns     []net.Conn
	connected atomic.Int64
	wg        sync.WaitGroup
}

// DialFleet connects n peers to target for the torrent infoHash (hex) with
// numPieces pieces. It returns once every peer has completed the handshake
// or ctx ends; a peer the client refused is an error.
func DialFleet(ctx context.Context, target string, infoHash string, numPieces, n int) (*Fleet, error) {
	ih, err := hex.DecodeString(infoHash)
	if err != nil || len(ih) != 20 {
		return nil, fmt.Errorf("benchtest: bad info hash %q", infoHash)
	}
	if n < 1 || n > 250*250 {
		return nil, fmt.Errorf("benchtest: %d peers: want 1..62500", n)
	}
	f := &Fleet{conns: make([]net.Conn, n)}
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	var dial sync.WaitGroup
	for i := range n {
		dial.Add(1)
		sem <- struct{}{}
		go func() {
			defer dial.Done()
			defer func() { <-sem }()
			f.conns[i], errs[i] = dialPeer(ctx, target, ih, numPieces, i)
		}()
	}
	dial.Wait()
	if err := errors.Join(errs...); err != nil {
		f.Close()
		return nil, err
	}
	for _, c := range f.conns {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			// Whatever the client sends is read and dropped; a closed
			// connection ends the peer.
			io.Copy(io.Discard, c)
			f.connected.Add(-1)
		}()
	}
	f.connected.Store(int64(n))
	return f, nil
}

// Connected is how many peers still have their connection.
func (f *Fleet) Connected() int { return int(f.connected.Load()) }

// Close disconnects every peer.
func (f *Fleet) Close() {
	for _, c := range f.conns {
		if c != nil {
			c.Close()
		}
	}
	f.wg.Wait()
}

func dialPeer(ctx context.Context, target string, ih []byte, numPieces, i int) (net.Conn, error) {
	local := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
	d := net.Dialer{LocalAddr: local, Timeout: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("benchtest: peer %d: %w", i, err)
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, fmt.Errorf("benchtest: peer %d (%s): %w", i, local.IP, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(60 * time.Second))
	}
	hs := make([]byte, 0, handshakeLen)
	hs = append(hs, byte(len(pstr)))
	hs = append(hs, pstr...)
	reserved := [8]byte{}
	reserved[5] |= 0x10 // extension protocol (BEP 10)
	reserved[7] |= 0x04 // fast extension (BEP 6)
	hs = append(hs, reserved[:]...)
	hs = append(hs, ih...)
	hs = append(hs, fmt.Sprintf("-SB0001-%012d", i)...)
	if _, err := c.Write(hs); err != nil {
		return fail(err)
	}
	reply := make([]byte, handshakeLen)
	if _, err := io.ReadFull(c, reply); err != nil {
		return fail(fmt.Errorf("reading the handshake: %w", err))
	}
	if int(reply[0]) != len(pstr) || string(reply[1:1+len(pstr)]) != pstr || !bytes.Equal(reply[1+len(pstr)+8:1+len(pstr)+8+20], ih) {
		return fail(errors.New("unexpected handshake reply"))
	}
	var msg []byte
	if reply[1+len(pstr)+7]&0x04 != 0 {
		msg = []byte{0, 0, 0, 1, msgHaveAll}
	} else {
		bf := make([]byte, (numPieces+7)/8)
		for p := range numPieces {
			bf[p/8] |= 0x80 >> (p % 8)
		}
		l := 1 + len(bf)
		msg = append([]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l), msgBitfield}, bf...)
	}
	if _, err := c.Write(msg); err != nil {
		return fail(err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
