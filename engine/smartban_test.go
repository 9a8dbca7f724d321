package engine

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// The judge's rules on pieces written by several peers, driven directly:
// which peer a piece written by two proves guilty depends on data the
// loopback test cannot choose (who sent which block). Two peers share one
// IP, as behind CGNAT.
func TestJudgeMixedPieces(t *testing.T) {
	e, err := New(context.Background(), Config{DataDir: t.TempDir(), ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true, NoPEX: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	j := e.judge
	ih := metainfo.Hash{1}
	honest := &peerRef{remote: netip.MustParseAddrPort("100.64.0.1:6881"), id: [20]byte{'h'}, hasID: true}
	hostile := &peerRef{remote: netip.MustParseAddrPort("100.64.0.1:6882"), id: [20]byte{'x'}, hasID: true}
	good := func(n int) [][20]byte {
		s := make([][20]byte, n)
		for i := range s {
			s[i] = sha1.Sum([]byte(fmt.Sprint("good ", i)))
		}
		return s
	}
	// What a check saw: block i from by[i]; the hostile peer's blocks bad.
	seen := func(by ...*peerRef) [][20]byte {
		s := good(len(by))
		for i, r := range by {
			if r == hostile {
				s[i] = sha1.Sum([]byte(fmt.Sprint("bad ", i)))
			}
		}
		return s
	}
	write := func(piece int, by ...*peerRef) (refused []int) {
		j.mu.Lock()
		jt := j.torrentLocked(ih)
		jt.writers[piece] = map[int]*peerRef{}
		j.mu.Unlock()
		for b, r := range by {
			// anacrolix calls onBlock, then writes; as onBlock does:
			j.mu.Lock()
			jt.writers[piece][b] = r
			j.mu.Unlock()
			if err := j.admit(ih, piece, int64(b*blockLen)); err != nil {
				if !errors.Is(err, errParole) {
					t.Fatalf("admit: %v", err)
				}
				refused = append(refused, b)
				j.mu.Lock()
				delete(jt.writers[piece], b) // anacrolix requests it again
				j.mu.Unlock()
			}
		}
		return refused
	}
	check := func(piece int, ok bool, sums [][20]byte) {
		j.hashed(ih, piece, ok, func() ([][20]byte, error) { return sums, nil })
	}
	events := func() (evs []swarm.Event) {
		for {
			select {
			case ev := <-e.Events():
				if ev.Kind == swarm.EventPeerBanned || ev.Kind == swarm.EventPieceFailed {
					evs = append(evs, ev)
				}
			case <-time.After(100 * time.Millisecond):
				return evs
			}
		}
	}

	// Piece 0: half from each. It fails, and proves nothing.
	write(0, honest, hostile, honest, hostile)
	check(0, false, seen(honest, hostile, honest, hostile))
	evs := events()
	if len(evs) != 1 || evs[0].Kind != swarm.EventPieceFailed {
		t.Fatalf("after a mixed failure: %v, want one piece-failed event", evs)
	}
	if j.bannedAddr(honest.remote.String()) || j.bannedAddr(hostile.remote.String()) {
		t.Fatal("a mixed failure banned a peer")
	}
	// On parole: the first peer to send a block again is the only one
	// whose blocks are written.
	if refused := write(0, honest, hostile, honest, honest); len(refused) != 1 || refused[0] != 1 {
		t.Fatalf("on parole, refused blocks %v, want [1] (the second peer's)", refused)
	}
	// Block 1 comes again, from the parole owner; the piece passes. The
	// hostile peer's kept blocks differ from it: guilty. The honest one's
	// match.
	j.mu.Lock()
	j.torrents[ih].writers[0][1] = honest
	j.mu.Unlock()
	if err := j.admit(ih, 0, blockLen); err != nil {
		t.Fatal(err)
	}
	check(0, true, good(4))
	evs = events()
	if len(evs) != 1 || evs[0].Kind != swarm.EventPeerBanned || evs[0].Peer != hostile.remote.String() {
		t.Fatalf("after the piece passed: %v, want one ban of %s", evs, hostile.remote)
	}
	if m := evs[0].Message; !strings.Contains(m, "2 of the 2 blocks") || !strings.Contains(m, "piece 0") || !strings.Contains(m, hostile.remote.String()) {
		t.Errorf("ban event: %s", m)
	}
	if !j.bannedAddr(hostile.remote.String()) || j.bannedAddr(honest.remote.String()) {
		t.Fatal("wrong peer banned")
	}
	if !j.isBanned(&peerRef{remote: netip.MustParseAddrPort("100.64.0.1:50000"), id: hostile.id, hasID: true}) {
		t.Error("the banned peer's ID from a new port is not refused")
	}
	if j.isBanned(&peerRef{remote: netip.MustParseAddrPort("100.64.0.1:50001"), id: [20]byte{'n'}, hasID: true}) {
		t.Error("another peer on the banned peer's IP is refused")
	}
	if c, err := (bannedDialer{tcpOnly{}, j}).Dial(context.Background(), hostile.remote.String()); err != nil {
		t.Errorf("dialing the banned peer: %v, want a refused connection", err)
	} else if _, err := c.Write([]byte("x")); !errors.Is(err, errDialRefused) {
		t.Errorf("the banned peer's dial wrote (%v), want errDialRefused", err)
	}

	// Piece 1: mixed failure, then the parole owner goes quiet: after
	// paroleIdle another peer may take over.
	other := &peerRef{remote: netip.MustParseAddrPort("100.64.0.1:6883")}
	write(1, honest, other, honest, other)
	check(1, false, seen(honest, other, honest, other))
	events()
	write(1, other)
	j.mu.Lock()
	j.torrents[ih].parole[1].last = time.Now().Add(-paroleIdle - time.Second)
	j.mu.Unlock()
	if refused := write(1, honest, honest, honest, honest); len(refused) != 0 {
		t.Errorf("after the owner went quiet, refused %v", refused)
	}

	// Piece 2: all blocks from one peer and it fails: guilty at once.
	write(2, other, other, other, other)
	check(2, false, good(4)) // the sums do not matter here
	evs = events()
	if len(evs) != 1 || evs[0].Kind != swarm.EventPeerBanned || evs[0].Peer != other.remote.String() || !strings.Contains(evs[0].Message, "all 4 of its blocks") {
		t.Fatalf("after a one-peer failure: %v", evs)
	}
}

// tcpOnly is a dialer that must not be reached.
type tcpOnly struct{}

func (tcpOnly) Dial(context.Context, string) (net.Conn, error) {
	return nil, errors.New("dialed a banned peer")
}
func (tcpOnly) DialerNetwork() string { return "tcp" }
