package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// fixedNow is the clock of every fixture, so goldens never move.
var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// asciiRenderer draws without any escape codes: goldens compare text only.
func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}

// rng is a tiny deterministic generator (no global math/rand state).
type rng uint64

func (r *rng) next() uint64 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return uint64(*r >> 33)
}
func (r *rng) intn(n int) int      { return int(r.next() % uint64(n)) }
func (r *rng) float() float64      { return float64(r.next()%1_000_000) / 1_000_000 }
func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

var clients = []string{"qBittorrent 4.6.5", "Transmission 4.0.6", "libtorrent 2.0.10", "swarmscope 0.1.0", "Deluge 2.1.1", "aria2 1.37.0", "µTorrent 3.6.0"}

// fixturePeers makes n peers with every origin, transport and discovery.
func fixturePeers(n int) []swarm.PeerInfo {
	r := rng(42)
	ps := make([]swarm.PeerInfo, n)
	origins := []swarm.Origin{swarm.OriginOutbound, swarm.OriginOutbound, swarm.OriginOutbound, swarm.OriginInbound, swarm.OriginInbound, swarm.OriginHolepunched, swarm.OriginUPnP}
	for i := range ps {
		o := pick(&r, origins)
		disc := pick(&r, []swarm.Discovery{swarm.DiscoveryTracker, swarm.DiscoveryDHT, swarm.DiscoveryPEX, swarm.DiscoveryDirect})
		tr := swarm.TransportTCP
		switch o {
		case swarm.OriginInbound, swarm.OriginUPnP:
			disc = swarm.DiscoveryIncoming
		case swarm.OriginHolepunched:
			disc = swarm.DiscoveryHolepunch
			tr = swarm.TransportUTP
		}
		if r.intn(3) == 0 {
			tr = swarm.TransportUTP
		}
		var addr string
		if r.intn(5) == 0 {
			addr = fmt.Sprintf("[2001:db8::%x]:%d", i+1, 6881+r.intn(60000))
		} else {
			addr = fmt.Sprintf("%s.%d:%d", pick(&r, []string{"198.51.100", "203.0.113", "192.0.2"}), 1+i%254, 6881+r.intn(50000))
		}
		down := 0.0
		if r.intn(4) != 0 {
			down = float64(r.intn(900_000))
		}
		ps[i] = swarm.PeerInfo{
			ID:        fmt.Sprintf("p%05d", i),
			Origin:    o,
			Transport: tr,
			Discovery: disc,
			Addr:      addr,
			Client:    pick(&r, clients),
			Encrypted: r.intn(2) == 0,
			Progress:  math.Round(r.float()*100) / 100,
			DownBps:   down,
			UpBps:     float64(r.intn(200_000)),
			DownBytes: int64(r.intn(500_000_000)),
			UpBytes:   int64(r.intn(100_000_000)),
			Since:     fixedNow.Add(-time.Duration(r.intn(7200)) * time.Second),
		}
		if o == swarm.OriginHolepunched {
			ps[i].Relay = "203.0.113.9:6881"
			ps[i].ConnectTook = time.Duration(180+7*i) * time.Millisecond
		}
	}
	return ps
}

func countOrigins(ps []swarm.PeerInfo) swarm.OriginCounts {
	var c swarm.OriginCounts
	for _, p := range ps {
		c.Add(p.Origin, 1)
	}
	return c
}

// fixtureSnapshot is a busy moment of a download with n peers on the first
// torrent.
func fixtureSnapshot(n int) swarm.Snapshot {
	ps := fixturePeers(n)
	counts := countOrigins(ps)
	var down, up float64
	for _, p := range ps {
		down += p.DownBps
		up += p.UpBps
	}
	t1 := swarm.TorrentInfo{
		InfoHash: "5a8ce26e8a19a877d8ccc927fcc18e34e1f5ff67", Name: "ubuntu-24.04.1-desktop-amd64.iso",
		Size: 6_203_355_136, Completed: 3_932_000_000, Progress: 0.6338, DownBps: down, UpBps: up,
		DownBytes: 3_900_000_000, UpBytes: 1_200_000_000, ETA: 754 * time.Second, State: swarm.StateDownloading,
		Peers: counts, Seeds: n / 3, Leechers: n - n/3, Known: 211, PeerList: ps,
		Files: []swarm.FileInfo{
			{Path: "ubuntu-24.04.1-desktop-amd64.iso", Size: 6_203_355_136, Completed: 3_932_000_000, Priority: swarm.PriorityNormal},
		},
		AddedAt: fixedNow.Add(-40 * time.Minute),
	}
	t2 := swarm.TorrentInfo{
		InfoHash: "c9e15763f722f23e98a29decdfae341b98d53056", Name: "debian-12.8.0-amd64-netinst.iso",
		Size: 662_700_032, Completed: 662_700_032, Progress: 1, UpBps: 52_000, DownBytes: 662_700_032, UpBytes: 1_900_000_000,
		ETA: 0, State: swarm.StateSeeding, Peers: countsOf(map[swarm.Origin]int{swarm.OriginInbound: 4, swarm.OriginUPnP: 2}), Seeds: 0, Leechers: 6,
		PeerList: fixturePeers(6), AddedAt: fixedNow.Add(-3 * time.Hour),
		Files: []swarm.FileInfo{{Path: "debian-12.8.0-amd64-netinst.iso", Size: 662_700_032, Completed: 662_700_032, Priority: swarm.PriorityNormal}},
	}
	t3 := swarm.TorrentInfo{
		InfoHash: "8e3a1bbd4e2e8d1d6b4c4f0b2b7d4b6f0c3f5a11", Name: "big-buck-bunny-1080p",
		Size: 929_000_000, Completed: 120_000_000, Progress: 0.129, ETA: -1, State: swarm.StatePaused,
		AddedAt: fixedNow.Add(-20 * time.Minute),
		Files: []swarm.FileInfo{
			{Path: "big-buck-bunny-1080p/bbb_sunflower_1080p_60fps_normal.mp4", Size: 880_000_000, Completed: 120_000_000, Priority: swarm.PriorityHigh},
			{Path: "big-buck-bunny-1080p/poster.jpg", Size: 48_000_000, Priority: swarm.PriorityNormal},
			{Path: "big-buck-bunny-1080p/README.txt", Size: 1_000_000, Priority: swarm.PrioritySkip},
		},
	}
	t4 := swarm.TorrentInfo{
		InfoHash: "dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c", Name: "", ETA: -1, State: swarm.StateMetadata,
		Peers: countsOf(map[swarm.Origin]int{swarm.OriginOutbound: 1}), AddedAt: fixedNow.Add(-time.Minute),
	}
	s := swarm.Snapshot{
		Time:       fixedNow,
		Torrents:   []swarm.TorrentInfo{t1, t2, t3, t4},
		DownBps:    down,
		UpBps:      up + 52_000,
		ListenAddr: "192.168.1.23:42069",
		UPnPActive: true,
	}
	for i, o := range swarm.AllOrigins() {
		p := swarm.PathStats{Origin: o, Peers: counts.Get(o) + t2.Peers.Get(o) + t4.Peers.Get(o)}
		for _, pe := range ps {
			if pe.Origin == o {
				p.DownBps += pe.DownBps
				p.UpBps += pe.UpBps
			}
		}
		// Ten minutes of history with a distinct shape per path.
		for k := 0; k < swarm.HistoryLen; k++ {
			x := float64(k)
			d := p.DownBps * (0.55 + 0.45*math.Sin(x/(23+7*float64(i))+float64(i)))
			if o == swarm.OriginHolepunched && k < 300 {
				d = 0 // the first holepunch succeeded five minutes ago
			}
			u := p.UpBps * (0.5 + 0.5*math.Cos(x/31+float64(i)))
			p.History = append(p.History, swarm.RateSample{DownBps: math.Max(d, 0), UpBps: math.Max(u, 0)})
			p.DownBytes += int64(d)
			p.UpBytes += int64(u)
		}
		s.Paths = append(s.Paths, p)
	}
	return s
}

func fixtureEvents() []swarm.Event {
	at := func(s int) time.Time { return fixedNow.Add(time.Duration(s) * time.Second) }
	ih := "5a8ce26e8a19a877d8ccc927fcc18e34e1f5ff67"
	return []swarm.Event{
		{Time: at(-300), Kind: swarm.EventNAT, Message: "STUN: port-restricted-cone, public 203.0.113.5:42069"},
		{Time: at(-299), Kind: swarm.EventNAT, Message: "UPnP: mapped TCP 42069 → 192.168.1.23:42069 (lease 1h)"},
		{Time: at(-240), Kind: swarm.EventTorrentAdded, InfoHash: ih, Message: "ubuntu-24.04.1-desktop-amd64.iso"},
		{Time: at(-239), Kind: swarm.EventTrackerAnnounce, InfoHash: ih, Message: "http://tracker.example/announce: 48 peers"},
		{Time: at(-120), Kind: swarm.EventPeerConnected, InfoHash: ih, Peer: "198.51.100.7:51413", Origin: swarm.OriginOutbound, Message: "Transmission 4.0.6"},
		{Time: at(-90), Kind: swarm.EventTrackerError, InfoHash: ih, Message: "udp://tracker.invalid:80: no such host"},
		{Time: at(-50), Kind: swarm.EventHolepunchRendezvous, InfoHash: ih, Peer: "192.0.2.44:6881", Via: "203.0.113.9:6881", Message: "asked relay"},
		{Time: at(-49), Kind: swarm.EventHolepunchConnect, InfoHash: ih, Peer: "192.0.2.44:6881", Via: "203.0.113.9:6881"},
		{Time: at(-48), Kind: swarm.EventHolepunchSucceeded, InfoHash: ih, Peer: "192.0.2.44:6881", Origin: swarm.OriginHolepunched, Via: "203.0.113.9:6881", Message: "connected in 412ms"},
		{Time: at(-30), Kind: swarm.EventPeerConnected, InfoHash: ih, Peer: "203.0.113.77:40000", Origin: swarm.OriginUPnP, Message: "qBittorrent 4.6.5"},
		{Time: at(-20), Kind: swarm.EventHolepunchFailed, InfoHash: ih, Peer: "192.0.2.90:51000", Via: "203.0.113.9:6881", Message: "no connection within 10s (peer behind symmetric NAT)"},
		{Time: at(-12), Kind: swarm.EventPeerDisconnected, InfoHash: ih, Peer: "198.51.100.31:6881", Origin: swarm.OriginOutbound, Message: "EOF"},
		{Time: at(-5), Kind: swarm.EventHolepunchSucceeded, InfoHash: ih, Peer: "[2001:db8::44]:6881", Origin: swarm.OriginHolepunched, Via: "203.0.113.9:6881", Message: "connected in 230ms"},
		{Time: at(-2), Kind: swarm.EventPeerConnected, InfoHash: ih, Peer: "192.0.2.120:6881", Origin: swarm.OriginInbound, Message: "libtorrent 2.0.10"},
	}
}

func fixtureNAT() nat.Report {
	yes, no := true, false
	return nat.Report{
		Time:          fixedNow.Add(-5 * time.Minute),
		LocalAddr:     "192.168.1.23:42069",
		PublicAddr:    "203.0.113.5:42069",
		BehindNAT:     &yes,
		Mapping:       nat.BehaviorEndpointIndependent,
		Filtering:     nat.BehaviorAddressAndPortDependent,
		NATType:       nat.TypePortRestrictedCone,
		PortPreserved: &yes,
		Hairpin:       &no,
		Servers: []nat.ServerResult{
			{Address: "stun1.example:3478", RTTms: 21, MappedAddr: "203.0.113.5:42069", RFC5780: true},
			{Address: "stun2.example:3478", RTTms: 34, MappedAddr: "203.0.113.5:42069"},
		},
		UPnP: nat.UPnPReport{
			Found: true, Device: "FRITZ!Box 7590", Service: "WANIPConnection:2", ExternalIP: "203.0.113.5",
			Mappings: []nat.Mapping{{Proto: "TCP", ExternalPort: 42069, Internal: "192.168.1.23:42069", LeaseS: 3312}, {Proto: "UDP", ExternalPort: 42069, Internal: "192.168.1.23:42069", LeaseS: 3312}},
		},
		Reachable:  nat.Reachability{Verdict: nat.VerdictUPnP, Advice: "Peers reach you through the UPnP mapping on your router. Without it, your port-restricted-cone NAT would let only holepunched peers in."},
		DurationMs: 812,
	}
}

// fakeBackend records calls and fails AddSource with a fixed error.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeBackend) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) AddSource(_ context.Context, s string) (string, error) {
	f.record("add " + s)
	if f.err != nil {
		return "", f.err
	}
	return "00000000000000000000000000000000000000aa", nil
}
func (f *fakeBackend) Pause(ih string) error  { f.record("pause " + ih); return nil }
func (f *fakeBackend) Resume(ih string) error { f.record("resume " + ih); return nil }
func (f *fakeBackend) Remove(ih string, del bool) error {
	f.record(fmt.Sprintf("remove %s %v", ih, del))
	return nil
}
func (f *fakeBackend) SetFilePriority(ih string, file int, p swarm.Priority) error {
	f.record(fmt.Sprintf("prio %s %d %s", ih, file, p))
	if file > 100 {
		return errors.New("no such file")
	}
	return nil
}

// countsOf builds per-origin peer counts.
func countsOf(m map[swarm.Origin]int) swarm.OriginCounts {
	var c swarm.OriginCounts
	for o, n := range m {
		c.Add(o, n)
	}
	return c
}
