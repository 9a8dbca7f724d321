package engine

import (
	"net/netip"
	"testing"
	"time"

	alog "github.com/anacrolix/log"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	public := netip.MustParseAddrPort("44.1.2.3:6881")
	other := netip.MustParseAddrPort("44.1.2.3:6882")
	lan := netip.MustParseAddrPort("192.168.1.20:6881")
	loop := netip.MustParseAddrPort("127.0.0.1:6881")
	connects := map[netip.AddrPort]time.Time{}
	seen := func(a netip.AddrPort) time.Time { return connects[a] }
	cases := []struct {
		name      string
		discovery string
		remote    netip.AddrPort
		connectAt time.Time // of a ut_holepunch Connect naming public; zero = none
		upnp      bool
		want      swarm.Origin
	}{
		{"dialed from tracker", "Tr", public, time.Time{}, false, swarm.OriginOutbound},
		{"dialed from DHT", "Hg", public, time.Time{}, true, swarm.OriginOutbound},
		{"dialed from PEX", "X", public, time.Time{}, false, swarm.OriginOutbound},
		{"dialed directly", "M", public, time.Time{}, false, swarm.OriginOutbound},
		{"dialed after Connect", "C", public, time.Time{}, false, swarm.OriginHolepunched},
		{"dialed after Connect, upnp on", "C", public, time.Time{}, true, swarm.OriginHolepunched},
		{"accepted, nothing special", "I", public, time.Time{}, false, swarm.OriginInbound},
		{"accepted with upnp mapping", "I", public, time.Time{}, true, swarm.OriginUPnP},
		{"accepted from LAN with upnp", "I", lan, time.Time{}, true, swarm.OriginInbound},
		{"accepted from loopback with upnp", "I", loop, time.Time{}, true, swarm.OriginInbound},
		{"accepted right after Connect", "I", public, now.Add(-time.Second), false, swarm.OriginHolepunched},
		{"accepted at the window's edge", "I", public, now.Add(-HolepunchWindow), false, swarm.OriginHolepunched},
		{"accepted after the window", "I", public, now.Add(-HolepunchWindow - time.Millisecond), false, swarm.OriginInbound},
		{"accepted after the window, upnp", "I", public, now.Add(-HolepunchWindow - time.Second), true, swarm.OriginUPnP},
		{"Connect in the future is not evidence", "I", public, now.Add(time.Second), false, swarm.OriginInbound},
		{"Connect named another port", "I", other, now.Add(-time.Second), false, swarm.OriginInbound},
		{"Connect beats upnp", "I", public, now.Add(-time.Second), true, swarm.OriginHolepunched},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clear(connects)
			if !c.connectAt.IsZero() {
				connects[public] = c.connectAt
			}
			got := classify(connInfo{Discovery: c.discovery, Remote: c.remote, At: now}, seen, c.upnp)
			if got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestEncryptedFlag(t *testing.T) {
	for s, want := range map[string]bool{
		"*torrent.PeerConn 0xc000 [flags=I,U,E,v1 id=...": true,
		"*torrent.PeerConn 0xc000 [flags=Tr,e,v1 id=...":  true,
		"*torrent.PeerConn 0xc000 [flags=Tr,v1 id=...":    false,
		"*torrent.PeerConn 0xc000 [flags=M,U,v1 id=\"E\"": false,
		"garbage": false,
	} {
		if got := encryptedFlag(s); got != want {
			t.Errorf("encryptedFlag(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRateWindow(t *testing.T) {
	var w rateWindow
	t0 := time.Unix(0, 0)
	for i := 0; i <= 10; i++ {
		w.add(t0.Add(time.Duration(i)*time.Second), int64(i)*1000, int64(i)*10)
	}
	down, up := w.rates()
	if down != 1000 || up != 10 {
		t.Errorf("rates = %v, %v; want 1000, 10", down, up)
	}
	// A stall shows within the window, not after minutes.
	for i := 11; i <= 16; i++ {
		w.add(t0.Add(time.Duration(i)*time.Second), 10000, 100)
	}
	if down, _ := w.rates(); down != 0 {
		t.Errorf("after 6 idle seconds rate = %v, want 0", down)
	}
}

func TestPathHistoryRing(t *testing.T) {
	var p pathState
	for i := 0; i < swarm.HistoryLen+5; i++ {
		p.push(swarm.RateSample{DownBps: float64(i)})
	}
	h := p.historyCopy()
	if len(h) != swarm.HistoryLen || h[0].DownBps != 5 || h[len(h)-1].DownBps != swarm.HistoryLen+4 {
		t.Errorf("history len %d first %v last %v", len(h), h[0], h[len(h)-1])
	}
}

func TestRendezvousLogThroughTorrentLogger(t *testing.T) {
	// Build the logger chain the way anacrolix builds a torrent's logger, so
	// a change in its wording or prefixes fails here, not silently in a demo.
	e := &Engine{events: make(chan swarm.Event, 4), punch: newPunchBook()}
	l := e.newLogger(nil)
	ih := "0123456789abcdef0123456789abcdef01234567"
	tl := l.WithValues("client").WithDefaultLevel(alog.Debug).WithNames(ih).WithContextText(ih)
	tl.Levelf(alog.Debug, "sent ut_holepunch rendezvous message to %v for %v", "*torrent.PeerConn 0xc0 [flags=X for y]", "192.0.2.7:6881")
	select {
	case ev := <-e.events:
		if ev.Kind != swarm.EventHolepunchRendezvous || ev.Peer != "192.0.2.7:6881" || ev.InfoHash != ih {
			t.Errorf("event %+v", ev)
		}
	default:
		t.Fatal("no rendezvous event from the log line")
	}
}
