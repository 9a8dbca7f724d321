package demo

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Local Service Discovery (BEP 14): peers on one LAN find each other by
// multicasting announces, which is how a flatmate's laptop reaches "you"
// without crossing the router.
const (
	lsdPort  = 6771
	lsdGroup = "239.192.152.143"
)

func lsdMessage(ih string, port int) []byte {
	return []byte("BT-SEARCH * HTTP/1.1\r\n" +
		"Host: " + lsdGroup + ":" + strconv.Itoa(lsdPort) + "\r\n" +
		"Port: " + strconv.Itoa(port) + "\r\n" +
		"Infohash: " + strings.ToUpper(ih) + "\r\n" +
		"\r\n\r\n")
}

// parseLSD returns the infohash and port of an announce.
func parseLSD(b []byte) (string, uint16, bool) {
	lines := strings.Split(string(b), "\r\n")
	if len(lines) < 3 || lines[0] != "BT-SEARCH * HTTP/1.1" {
		return "", 0, false
	}
	var ih string
	var port uint16
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "port":
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil || p == 0 {
				return "", 0, false
			}
			port = uint16(p)
		case "infohash":
			if len(v) != 40 {
				return "", 0, false
			}
			ih = strings.ToLower(v)
		}
	}
	return ih, port, ih != "" && port != 0
}

// runLSD announces (ih, port) on the LAN every interval and reports peers
// heard announcing the same torrent to found, until ctx is done.
func runLSD(ctx context.Context, pc net.PacketConn, ih string, port int, interval time.Duration, found func(netip.AddrPort)) {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	group := &net.UDPAddr{IP: net.ParseIP(lsdGroup), Port: lsdPort}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			pc.WriteTo(lsdMessage(ih, port), group)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		gotIH, p, ok := parseLSD(buf[:n])
		src, err := netip.ParseAddrPort(from.String())
		if !ok || err != nil || gotIH != ih {
			continue
		}
		found(netip.AddrPortFrom(src.Addr(), p))
	}
}
