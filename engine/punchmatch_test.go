package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

func TestConnectRecordMatch(t *testing.T) {
	older := &connectRecord{at: t0, relay: "old"}
	newer := &connectRecord{at: t0.Add(time.Second), relay: "new"}
	exact := &connectRecord{at: t0, relay: "exact"}
	cases := []struct {
		name     string
		connects map[string]*connectRecord
		remote   string
		want     *connectRecord
	}{
		{"none", nil, "192.0.2.5:6881", nil},
		{"exact address", map[string]*connectRecord{"192.0.2.5:6881": exact, "192.0.2.5:7000": newer}, "192.0.2.5:6881", exact},
		{"same IP, NAT changed the port: newest record", map[string]*connectRecord{"192.0.2.5:6881": older, "192.0.2.5:6990": newer}, "192.0.2.5:40123", newer},
		{"other IP", map[string]*connectRecord{"192.0.2.6:6881": exact}, "192.0.2.5:6881", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &Engine{connects: map[netip.AddrPort]*connectRecord{}}
			for a, r := range c.connects {
				e.connects[ap(a)] = r
			}
			if got := e.connectRecordLocked(ap(c.remote)); got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestRelabelEarlyPunch(t *testing.T) {
	const ih = "aa"
	now := t0.Add(time.Minute)
	target := ap("192.0.2.5:6881")
	cases := []struct {
		name   string
		peer   peerState
		relabl bool
	}{
		{"inbound from the target IP just before", peerState{ih: ih, origin: swarm.OriginInbound, addr: "192.0.2.5:40123", since: now.Add(-time.Second)}, true},
		{"upnp-labelled from the target IP", peerState{ih: ih, origin: swarm.OriginUPnP, addr: "192.0.2.5:6881", since: now.Add(-2 * time.Second)}, true},
		{"IPv4-mapped address", peerState{ih: ih, origin: swarm.OriginInbound, addr: "[::ffff:192.0.2.5]:6881", since: now}, true},
		{"outbound: we dialed it, no punch", peerState{ih: ih, origin: swarm.OriginOutbound, addr: "192.0.2.5:6881", since: now}, false},
		{"too long before the Connect", peerState{ih: ih, origin: swarm.OriginInbound, addr: "192.0.2.5:6881", since: now.Add(-earlyPunchWindow - time.Second)}, false},
		{"another torrent", peerState{ih: "bb", origin: swarm.OriginInbound, addr: "192.0.2.5:6881", since: now}, false},
		{"another IP", peerState{ih: ih, origin: swarm.OriginInbound, addr: "192.0.2.6:6881", since: now}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := c.peer
			e := &Engine{peers: map[*torrent.PeerConn]*peerState{{}: &ps}}
			rec := &connectRecord{at: now, ih: ih, relay: "r"}
			got := e.relabelEarlyPunchLocked(target, rec, now)
			if (got != nil) != c.relabl {
				t.Fatalf("relabelled %v, want %v", got != nil, c.relabl)
			}
			if c.relabl && (ps.origin != swarm.OriginHolepunched || !rec.resolved) {
				t.Errorf("origin %s resolved %v after relabel", ps.origin, rec.resolved)
			}
			if !c.relabl && (ps.origin == swarm.OriginHolepunched || rec.resolved) {
				t.Errorf("changed without a match: origin %s resolved %v", ps.origin, rec.resolved)
			}
		})
	}
}
