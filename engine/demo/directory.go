package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The peer directory is the demo's tracker. It speaks a one-line announce
// protocol over simulated UDP so that, like a real UDP tracker, it sees the
// announcer's address after NAT: it pairs that observed IP with the port the
// client declares (BEP 15 does the same), and answers with the other peers.
//
//	request:  "ANNOUNCE <infohash> <port>"
//	response: "PEERS <ip:port> <ip:port> ..."
const dirPort = 6969

type directory struct {
	mu    sync.Mutex
	peers map[string]map[netip.AddrPort]time.Time // infohash -> peer -> last announce
}

// serve answers announces on pc until ctx is done.
func (d *directory) serve(ctx context.Context, pc net.PacketConn) {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		ih, port, ok := parseAnnounce(string(buf[:n]))
		src, err2 := netip.ParseAddrPort(from.String())
		if !ok || err2 != nil {
			pc.WriteTo([]byte("ERROR bad announce"), from)
			continue
		}
		peer := netip.AddrPortFrom(src.Addr(), port)
		pc.WriteTo([]byte(d.announce(ih, peer)), from)
	}
}

func parseAnnounce(s string) (string, uint16, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "ANNOUNCE" || len(f[1]) != 40 {
		return "", 0, false
	}
	p, err := strconv.ParseUint(f[2], 10, 16)
	if err != nil || p == 0 {
		return "", 0, false
	}
	return strings.ToLower(f[1]), uint16(p), true
}

func (d *directory) announce(ih string, peer netip.AddrPort) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers == nil {
		d.peers = map[string]map[netip.AddrPort]time.Time{}
	}
	m := d.peers[ih]
	if m == nil {
		m = map[netip.AddrPort]time.Time{}
		d.peers[ih] = m
	}
	m[peer] = time.Now()
	var others []string
	for p := range m {
		if p != peer {
			others = append(others, p.String())
		}
	}
	sort.Strings(others)
	return strings.TrimSpace("PEERS " + strings.Join(others, " "))
}

// announceOnce sends one announce from pc and returns the peers listed.
func announceOnce(ctx context.Context, pc net.PacketConn, dir *net.UDPAddr, ih string, port int) ([]netip.AddrPort, error) {
	req := fmt.Sprintf("ANNOUNCE %s %d", ih, port)
	buf := make([]byte, 64<<10)
	for attempt := range 4 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, err := pc.WriteTo([]byte(req), dir); err != nil {
			return nil, fmt.Errorf("announce: %w", err)
		}
		pc.SetReadDeadline(time.Now().Add(time.Duration(500<<attempt) * time.Millisecond))
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, fmt.Errorf("announce: %w", err)
			}
			if from.String() != dir.String() {
				continue
			}
			return parsePeers(string(buf[:n]))
		}
	}
	return nil, errors.New("announce: directory did not answer")
}

func parsePeers(s string) ([]netip.AddrPort, error) {
	f := strings.Fields(s)
	if len(f) == 0 || f[0] != "PEERS" {
		return nil, fmt.Errorf("directory answered %q", s)
	}
	var out []netip.AddrPort
	for _, x := range f[1:] {
		ap, err := netip.ParseAddrPort(x)
		if err != nil {
			return nil, fmt.Errorf("directory listed %q: %w", x, err)
		}
		out = append(out, ap)
	}
	return out, nil
}
