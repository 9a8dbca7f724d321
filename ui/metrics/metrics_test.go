package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// script is a settable snapshot source.
type script struct {
	mu sync.Mutex
	s  swarm.Snapshot
}

func (sc *script) set(s swarm.Snapshot) { sc.mu.Lock(); sc.s = s; sc.mu.Unlock() }
func (sc *script) get() swarm.Snapshot  { sc.mu.Lock(); defer sc.mu.Unlock(); return sc.s }

var t0 = time.Unix(1_800_000_000, 0)

const ih = "0123456789abcdef0123456789abcdef01234567"

func paths(bytes map[swarm.Origin][2]int64) []swarm.PathStats {
	var out []swarm.PathStats
	for _, o := range swarm.AllOrigins() {
		b := bytes[o]
		out = append(out, swarm.PathStats{Origin: o, DownBytes: b[0], UpBytes: b[1]})
	}
	return out
}

func compare(t *testing.T, x *Exporter, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(x.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func lint(t *testing.T, x *Exporter) {
	t.Helper()
	problems, err := testutil.GatherAndLint(x.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestNoSnapshotNoEngineSeries(t *testing.T) {
	x := New(Options{Version: "v0.0.1", NoProcessMetrics: true})
	if n, err := testutil.GatherAndCount(x.Registry(), "swarmscope_path_bytes_total", "swarmscope_peers", "swarmscope_nat_type_info", "swarmscope_holepunch_succeeded_total", "swarmscope_tracker_announces_total"); err != nil || n != 0 {
		t.Errorf("series before the first snapshot: %d (%v)", n, err)
	}
	compare(t, x, `
# HELP swarmscope_build_info Always 1; the version label says which swarmscope is running.
# TYPE swarmscope_build_info gauge
swarmscope_build_info{version="v0.0.1"} 1
`, "swarmscope_build_info")
	lint(t, x)
}

// TestScriptedSequence feeds snapshots and events and checks every value.
func TestScriptedSequence(t *testing.T) {
	var sc script
	x := New(Options{Snapshot: sc.get, NoProcessMetrics: true})

	// Tick 1: fetching metadata from one outbound uTP peer; DHT on.
	sc.set(swarm.Snapshot{
		Time:  t0,
		Paths: paths(map[swarm.Origin][2]int64{swarm.OriginOutbound: {1000, 10}}),
		DHT:   swarm.DHTInfo{Enabled: true, State: swarm.DHTReady, Nodes: 120, GoodNodes: 80, Queries: 900, AnnouncesOK: 4},
		Torrents: []swarm.TorrentInfo{{
			InfoHash: ih, Name: "ubuntu\x1b[31m\tiso\u202e", State: swarm.StateMetadata, DownBytes: 1000, UpBytes: 10, Known: 7,
			Peers:    countsOf(swarm.OriginOutbound),
			PeerList: []swarm.PeerInfo{{Origin: swarm.OriginOutbound, Transport: swarm.TransportUTP}},
		}},
	})
	compare(t, x, `
# HELP swarmscope_path_bytes_total Payload bytes carried by connections of each origin this session, including connections that have closed; direction down = to us, up = from us.
# TYPE swarmscope_path_bytes_total counter
swarmscope_path_bytes_total{direction="down",origin="holepunched"} 0
swarmscope_path_bytes_total{direction="down",origin="inbound"} 0
swarmscope_path_bytes_total{direction="down",origin="outbound"} 1000
swarmscope_path_bytes_total{direction="down",origin="upnp"} 0
swarmscope_path_bytes_total{direction="up",origin="holepunched"} 0
swarmscope_path_bytes_total{direction="up",origin="inbound"} 0
swarmscope_path_bytes_total{direction="up",origin="outbound"} 10
swarmscope_path_bytes_total{direction="up",origin="upnp"} 0
# HELP swarmscope_torrent_state 1 for the torrent's current state, 0 for the others.
# TYPE swarmscope_torrent_state gauge
swarmscope_torrent_state{infohash="`+ih+`",name="ubuntu[31m iso",state="downloading"} 0
swarmscope_torrent_state{infohash="`+ih+`",name="ubuntu[31m iso",state="error"} 0
swarmscope_torrent_state{infohash="`+ih+`",name="ubuntu[31m iso",state="fetching metadata"} 1
swarmscope_torrent_state{infohash="`+ih+`",name="ubuntu[31m iso",state="finished"} 0
swarmscope_torrent_state{infohash="`+ih+`",name="ubuntu[31m iso",state="paused"} 0
swarmscope_torrent_state{infohash="`+ih+`",name="ubuntu[31m iso",state="seeding"} 0
# HELP swarmscope_torrent_known_peers Peer addresses one torrent knows but is not connected to.
# TYPE swarmscope_torrent_known_peers gauge
swarmscope_torrent_known_peers{infohash="`+ih+`",name="ubuntu[31m iso"} 7
# HELP swarmscope_dht_nodes Nodes in the DHT routing table (absent when the DHT is off).
# TYPE swarmscope_dht_nodes gauge
swarmscope_dht_nodes 120
# HELP swarmscope_dht_good_nodes DHT routing-table nodes that answered our last query or were not yet asked (absent when the DHT is off).
# TYPE swarmscope_dht_good_nodes gauge
swarmscope_dht_good_nodes 80
# HELP swarmscope_dht_queries_total Outbound DHT queries sent (absent when the DHT is off).
# TYPE swarmscope_dht_queries_total counter
swarmscope_dht_queries_total 900
# HELP swarmscope_dht_announce_peer_accepted_total DHT announce_peer queries that nodes accepted (absent when the DHT is off).
# TYPE swarmscope_dht_announce_peer_accepted_total counter
swarmscope_dht_announce_peer_accepted_total 4
`, "swarmscope_path_bytes_total", "swarmscope_torrent_state", "swarmscope_torrent_known_peers", "swarmscope_dht_nodes",
		"swarmscope_dht_good_nodes", "swarmscope_dht_queries_total", "swarmscope_dht_announce_peer_accepted_total")
	if n, _ := testutil.GatherAndCount(x.Registry(), "swarmscope_torrent_size_bytes", "swarmscope_torrent_progress_ratio", "swarmscope_torrent_verified_bytes"); n != 0 {
		t.Errorf("size/progress exported before the metadata is known (%d series)", n)
	}
	if got := gaugeValue(t, x, "swarmscope_peers", map[string]string{"origin": "outbound", "transport": "utp"}); got != 1 {
		t.Errorf("outbound utp peers = %v, want 1", got)
	}

	// Tick 2: metadata known, half done; a second peer came in over TCP.
	// Then the engine relabels the inbound one holepunched (a late
	// Connect): its 500 bytes move off the inbound path, which must not
	// make the inbound counter fall.
	sc.set(swarm.Snapshot{
		Time:  t0.Add(time.Second),
		Paths: paths(map[swarm.Origin][2]int64{swarm.OriginOutbound: {4000, 10}, swarm.OriginInbound: {500, 0}}),
		Torrents: []swarm.TorrentInfo{{
			InfoHash: ih, Name: "ubuntu iso", State: swarm.StateDownloading, Size: 9000, Completed: 4500, Progress: 0.5,
			DownBytes: 4500, UpBytes: 10,
			Peers: countsOf(swarm.OriginOutbound, swarm.OriginInbound),
			PeerList: []swarm.PeerInfo{
				{Origin: swarm.OriginOutbound, Transport: swarm.TransportUTP},
				{Origin: swarm.OriginInbound, Transport: swarm.TransportTCP},
			},
		}},
	})
	checkGauge(t, x, "swarmscope_torrent_progress_ratio", nil, 0.5)
	checkGauge(t, x, "swarmscope_torrent_size_bytes", nil, 9000)
	checkGauge(t, x, "swarmscope_torrent_verified_bytes", nil, 4500)
	checkGauge(t, x, "swarmscope_path_bytes_total", map[string]string{"origin": "inbound", "direction": "down"}, 500)
	if n, _ := testutil.GatherAndCount(x.Registry(), "swarmscope_dht_nodes", "swarmscope_dht_queries_total"); n != 0 {
		t.Errorf("DHT series exported with the DHT off")
	}
	sc.set(swarm.Snapshot{
		Time:  t0.Add(2 * time.Second),
		Paths: paths(map[swarm.Origin][2]int64{swarm.OriginOutbound: {9000, 10}, swarm.OriginHolepunched: {700, 0}}),
		Torrents: []swarm.TorrentInfo{{
			InfoHash: ih, Name: "ubuntu iso", State: swarm.StateSeeding, Size: 9000, Completed: 9000, Progress: 1,
			DownBytes: 9700, UpBytes: 10,
			Peers: countsOf(swarm.OriginHolepunched),
			PeerList: []swarm.PeerInfo{
				{Origin: swarm.OriginHolepunched, Transport: swarm.TransportTCP},
			},
		}},
	})
	checkGauge(t, x, "swarmscope_path_bytes_total", map[string]string{"origin": "inbound", "direction": "down"}, 500)
	checkGauge(t, x, "swarmscope_path_bytes_total", map[string]string{"origin": "holepunched", "direction": "down"}, 700)
	checkGauge(t, x, "swarmscope_path_bytes_total", map[string]string{"origin": "outbound", "direction": "down"}, 9000)
	checkGauge(t, x, "swarmscope_peers", map[string]string{"origin": "outbound", "transport": "utp"}, 0)
	checkGauge(t, x, "swarmscope_peers", map[string]string{"origin": "holepunched", "transport": "tcp"}, 1)
	checkGauge(t, x, "swarmscope_torrent_state", map[string]string{"state": "seeding"}, 1)
	checkGauge(t, x, "swarmscope_torrent_peers", map[string]string{"origin": "holepunched"}, 1)
	checkGauge(t, x, "swarmscope_torrent_peers", map[string]string{"origin": "outbound"}, 0)

	// Connections and announces, from events. Announces exist only once
	// the engine reported one.
	if n, _ := testutil.GatherAndCount(x.Registry(), "swarmscope_tracker_announces_total"); n != 0 {
		t.Errorf("announce counters before any announce was reported")
	}
	for _, ev := range []swarm.Event{
		{Kind: swarm.EventPeerConnected, Origin: swarm.OriginOutbound},
		{Kind: swarm.EventPeerConnected, Origin: swarm.OriginInbound},
		{Kind: swarm.EventPeerConnected, Origin: "martian"}, // not an origin: not counted
		{Kind: swarm.EventTrackerAnnounce},
		{Kind: swarm.EventTrackerError},
		{Kind: swarm.EventTrackerError},
		{Kind: swarm.EventNAT},
	} {
		x.Observe(ev)
	}
	compare(t, x, `
# HELP swarmscope_tracker_announces_total Tracker announces the engine reported, by result (success or error); absent until the first.
# TYPE swarmscope_tracker_announces_total counter
swarmscope_tracker_announces_total{result="error"} 2
swarmscope_tracker_announces_total{result="success"} 1
# HELP swarmscope_peer_connections_total Peer connections formed, by the origin they were classified with when they formed.
# TYPE swarmscope_peer_connections_total counter
swarmscope_peer_connections_total{origin="holepunched"} 0
swarmscope_peer_connections_total{origin="inbound"} 1
swarmscope_peer_connections_total{origin="outbound"} 1
swarmscope_peer_connections_total{origin="upnp"} 0
`, "swarmscope_tracker_announces_total", "swarmscope_peer_connections_total")

	// A state this exporter does not list still reads as current.
	sc.set(swarm.Snapshot{Time: t0.Add(2 * time.Second), Paths: paths(nil),
		Torrents: []swarm.TorrentInfo{{InfoHash: ih, Name: "ubuntu iso", State: "hibernating"}}})
	checkGauge(t, x, "swarmscope_torrent_state", map[string]string{"state": "hibernating"}, 1)
	checkGauge(t, x, "swarmscope_torrent_state", map[string]string{"state": "seeding"}, 0)

	// The torrent is removed: its series go.
	sc.set(swarm.Snapshot{Time: t0.Add(3 * time.Second), Paths: paths(map[swarm.Origin][2]int64{swarm.OriginOutbound: {9000, 10}, swarm.OriginHolepunched: {700, 0}})})
	if n, _ := testutil.GatherAndCount(x.Registry(), "swarmscope_torrent_state", "swarmscope_torrent_bytes_total"); n != 0 {
		t.Errorf("%d series of a removed torrent", n)
	}
	lint(t, x)
}

func TestNATAbsentUntilMeasured(t *testing.T) {
	x := New(Options{NoProcessMetrics: true})
	names := []string{"swarmscope_nat_type_info", "swarmscope_nat_mapping_behavior_info", "swarmscope_nat_filtering_behavior_info",
		"swarmscope_nat_reachability_info", "swarmscope_nat_flag", "swarmscope_nat_public_address_changes_total",
		"swarmscope_nat_checks_total", "swarmscope_nat_last_measurement_timestamp_seconds"}
	if n, _ := testutil.GatherAndCount(x.Registry(), names...); n != 0 {
		t.Errorf("%d NAT series before any diagnosis", n)
	}
	// Nothing answered: only the failed check is counted.
	x.ObserveNAT(nat.Report{NATType: nat.TypeUDPBlocked}, nil)
	compare(t, x, `
# HELP swarmscope_nat_checks_total NAT diagnoses run, by result: measured (a STUN answer or a port mapping) or failed (nothing measured).
# TYPE swarmscope_nat_checks_total counter
swarmscope_nat_checks_total{result="failed"} 1
swarmscope_nat_checks_total{result="measured"} 0
`, names...)

	yes, no := true, false
	measured := func(public string, mapping nat.Behavior) nat.Report {
		return nat.Report{
			Time: t0, PublicAddr: public, BehindNAT: &yes, Hairpin: &no, Mapping: mapping, Filtering: nat.BehaviorUnknown,
			NATType: nat.TypeUnknown, Reachable: nat.Reachability{Verdict: nat.VerdictOutboundOnly},
			Servers: []nat.ServerResult{{MappedAddr: public}},
		}
	}
	x.ObserveNAT(measured("203.0.113.5:4000", nat.BehaviorEndpointIndependent), nil)
	x.ObserveNAT(measured("203.0.113.5:4001", nat.BehaviorEndpointIndependent), nil) // port only: no change
	x.ObserveNAT(measured("198.51.100.7:4001", nat.BehaviorEndpointIndependent), nil)
	compare(t, x, `
# HELP swarmscope_nat_checks_total NAT diagnoses run, by result: measured (a STUN answer or a port mapping) or failed (nothing measured).
# TYPE swarmscope_nat_checks_total counter
swarmscope_nat_checks_total{result="failed"} 1
swarmscope_nat_checks_total{result="measured"} 3
# HELP swarmscope_nat_public_address_changes_total Times the measured public IP address differed from the one measured before (absent until one was measured).
# TYPE swarmscope_nat_public_address_changes_total counter
swarmscope_nat_public_address_changes_total 1
# HELP swarmscope_nat_mapping_behavior_info The RFC 4787 mapping behaviour the last diagnosis measured (always 1; absent while unmeasured).
# TYPE swarmscope_nat_mapping_behavior_info gauge
swarmscope_nat_mapping_behavior_info{behavior="endpoint-independent"} 1
# HELP swarmscope_nat_reachability_info Whether peers can reach us, as the last diagnosis concluded (always 1; absent while unknown).
# TYPE swarmscope_nat_reachability_info gauge
swarmscope_nat_reachability_info{verdict="no-outbound-only"} 1
# HELP swarmscope_nat_flag Yes/no facts of the last diagnosis, 1 or 0; a fact that was not measured is absent.
# TYPE swarmscope_nat_flag gauge
swarmscope_nat_flag{flag="behind_nat"} 1
swarmscope_nat_flag{flag="hairpin"} 0
# HELP swarmscope_nat_last_measurement_timestamp_seconds When the last NAT diagnosis that measured something ran (Unix time).
# TYPE swarmscope_nat_last_measurement_timestamp_seconds gauge
swarmscope_nat_last_measurement_timestamp_seconds 1.8e+09
`, names...)

	// A later, complete measurement replaces the info series.
	r := measured("198.51.100.7:4001", nat.BehaviorAddressAndPortDependent)
	r.NATType, r.Filtering = nat.TypeSymmetric, nat.BehaviorAddressAndPortDependent
	x.ObserveNAT(r, nil)
	checkGauge(t, x, "swarmscope_nat_type_info", map[string]string{"type": "symmetric"}, 1)
	checkGauge(t, x, "swarmscope_nat_filtering_behavior_info", map[string]string{"behavior": "address-and-port-dependent"}, 1)
	if n, _ := testutil.GatherAndCount(x.Registry(), "swarmscope_nat_mapping_behavior_info"); n != 1 {
		t.Errorf("%d mapping series, want the newest only", n)
	}
	lint(t, x)
}

func TestPortMappings(t *testing.T) {
	x := New(Options{NoProcessMetrics: true})
	var mu sync.Mutex
	held := []PortMapping{{Protocol: "upnp", Transport: "TCP", ExternalPort: 42069, Lease: time.Hour, Remaining: 1800 * time.Second}}
	x.AddPortMapper(PortMapper{Protocols: []string{"upnp"}, Transports: []string{"tcp", "udp"}, CountsEvents: true,
		Mappings: func() []PortMapping { mu.Lock(); defer mu.Unlock(); return held }})
	x.AddPortMapper(PortMapper{Protocols: []string{"pcp"}, Transports: []string{"tcp"},
		Mappings: func() []PortMapping {
			// A protocol this mapper does not name is not exported.
			return []PortMapping{{Protocol: "pcp", Transport: "tcp", ExternalPort: 5000}, {Protocol: "evil", Transport: "tcp"}}
		}})
	x.PortMappingEvent("upnp", MappingRenewed)
	x.PortMappingEvent("upnp", MappingFailed)
	x.PortMappingEvent("upnp", MappingFailed)
	x.PortMappingEvent("upnp", "mapped")
	x.PortMappingEvent("pcp", MappingRenewed) // pcp does not count events here: absent
	compare(t, x, `
# HELP swarmscope_port_mapping_active 1 while a mapping of the listen port is held on the gateway, by mapping protocol and transport; 0 while it is not.
# TYPE swarmscope_port_mapping_active gauge
swarmscope_port_mapping_active{protocol="pcp",transport="tcp"} 1
swarmscope_port_mapping_active{protocol="upnp",transport="tcp"} 1
swarmscope_port_mapping_active{protocol="upnp",transport="udp"} 0
# HELP swarmscope_port_mapping_external_port External port of a held mapping.
# TYPE swarmscope_port_mapping_external_port gauge
swarmscope_port_mapping_external_port{protocol="pcp",transport="tcp"} 5000
swarmscope_port_mapping_external_port{protocol="upnp",transport="tcp"} 42069
# HELP swarmscope_port_mapping_lease_seconds Lease the gateway granted for a held mapping; 0 = permanent.
# TYPE swarmscope_port_mapping_lease_seconds gauge
swarmscope_port_mapping_lease_seconds{protocol="pcp",transport="tcp"} 0
swarmscope_port_mapping_lease_seconds{protocol="upnp",transport="tcp"} 3600
# HELP swarmscope_port_mapping_lease_remaining_seconds Lease left on a held mapping (absent for permanent ones).
# TYPE swarmscope_port_mapping_lease_remaining_seconds gauge
swarmscope_port_mapping_lease_remaining_seconds{protocol="upnp",transport="tcp"} 1800
# HELP swarmscope_port_mapping_renewals_total Mapping renewals the gateway accepted.
# TYPE swarmscope_port_mapping_renewals_total counter
swarmscope_port_mapping_renewals_total{protocol="upnp"} 1
# HELP swarmscope_port_mapping_failures_total Failed port-mapping operations: discovery, mapping, renewal or removal.
# TYPE swarmscope_port_mapping_failures_total counter
swarmscope_port_mapping_failures_total{protocol="upnp"} 2
`, "swarmscope_port_mapping_active", "swarmscope_port_mapping_external_port", "swarmscope_port_mapping_lease_seconds",
		"swarmscope_port_mapping_lease_remaining_seconds", "swarmscope_port_mapping_renewals_total", "swarmscope_port_mapping_failures_total")
	// The mapping is lost.
	mu.Lock()
	held = nil
	mu.Unlock()
	checkGauge(t, x, "swarmscope_port_mapping_active", map[string]string{"protocol": "upnp", "transport": "tcp"}, 0)
	if n, _ := testutil.GatherAndCount(x.Registry(), "swarmscope_port_mapping_lease_remaining_seconds"); n != 0 {
		t.Errorf("lease of a lost mapping still exported")
	}
	lint(t, x)
}

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("é", 100)
	for in, want := range map[string]string{
		"plain name":            "plain name",
		"  lead\t\ttabs\n ":     "lead tabs",
		"esc\x1b]0;title\x07x":  "esc]0;titlex",
		"bidi\u202eevil\u2066":  "bidievil",
		"bad\xffutf8":           "bad\uFFFDutf8",
		long:                    strings.Repeat("é", 63) + "…",
		strings.Repeat("a", 64): strings.Repeat("a", 64),
		"c1\u0085\u009bcontrol": "c1 control",
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTeePassesEveryEventAndCounts(t *testing.T) {
	x := New(Options{NoProcessMetrics: true})
	in := make(chan swarm.Event, 8)
	out := x.Tee(in)
	in <- swarm.Event{Kind: swarm.EventPeerConnected, Origin: swarm.OriginUPnP, Message: "a"}
	in <- swarm.Event{Kind: swarm.EventNAT, Message: "b"}
	close(in)
	var got []string
	for ev := range out {
		got = append(got, ev.Message)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("tee passed %v", got)
	}
	if v := testutil.ToFloat64(x.connections.WithLabelValues("upnp")); v != 1 {
		t.Errorf("upnp connections = %v", v)
	}
	// A nil exporter is a no-op.
	var nx *Exporter
	c := make(chan swarm.Event)
	if nx.Tee(c) != (<-chan swarm.Event)(c) {
		t.Error("nil exporter's Tee is not the identity")
	}
	nx.Observe(swarm.Event{Kind: swarm.EventHolepunchConnect})
	nx.ObserveNAT(nat.Report{}, nil)
	nx.AddPortMapper(PortMapper{})
	nx.PortMappingEvent("upnp", MappingFailed)
}

func countsOf(os ...swarm.Origin) swarm.OriginCounts {
	var c swarm.OriginCounts
	for _, o := range os {
		c.Add(o, 1)
	}
	return c
}

// gaugeValue reads one series (any type) by name and a subset of labels.
func gaugeValue(t *testing.T, x *Exporter, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := x.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metric
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func checkGauge(t *testing.T, x *Exporter, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := gaugeValue(t, x, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestHolepunchFunnel: the funnel counters and the time-to-connect
// histogram follow the snapshot's funnel exactly, and never go back.
func TestHolepunchFunnel(t *testing.T) {
	var sc script
	x := New(Options{Snapshot: sc.get, NoProcessMetrics: true})
	var f swarm.HolepunchFunnel
	f.RendezvousAttempts, f.RendezvousSent, f.ConnectsReceived, f.PunchDials = 4, 6, 3, 3
	f.Handshakes, f.Remapped, f.GaveData, f.Relayed = 2, 1, 2, 5
	f.Errors.NotConnected, f.Errors.Other = 1, 2
	f.Failures.NoAnswer, f.Failures.GaveUp = 1, 3
	f.Skipped.Connected = 7
	for _, ms := range []float64{8, 40, 3000, 45000} {
		f.ConnectTime.Add(ms)
	}
	sc.set(swarm.Snapshot{Time: t0, Paths: paths(nil), Holepunch: f})
	want := `
# HELP swarmscope_holepunch_rendezvous_attempts_total Tries to be introduced to a peer we could not dial (one per target per try, however many relays were asked).
# TYPE swarmscope_holepunch_rendezvous_attempts_total counter
swarmscope_holepunch_rendezvous_attempts_total 4
# HELP swarmscope_holepunch_rendezvous_sent_total BEP 55 rendezvous messages sent, one per relay asked.
# TYPE swarmscope_holepunch_rendezvous_sent_total counter
swarmscope_holepunch_rendezvous_sent_total 6
# HELP swarmscope_holepunch_connects_received_total BEP 55 Connect messages received from relays, on our initiative or the other side's.
# TYPE swarmscope_holepunch_connects_received_total counter
swarmscope_holepunch_connects_received_total 3
# HELP swarmscope_holepunch_dials_total Dials made because of a Connect.
# TYPE swarmscope_holepunch_dials_total counter
swarmscope_holepunch_dials_total 3
# HELP swarmscope_holepunch_succeeded_total Connections that formed (BitTorrent handshake done) because of a Connect, whichever side's packet got through.
# TYPE swarmscope_holepunch_succeeded_total counter
swarmscope_holepunch_succeeded_total 2
# HELP swarmscope_holepunch_remapped_total Punched connections that came from another port than the Connect named: the target's NAT remapped it.
# TYPE swarmscope_holepunch_remapped_total counter
swarmscope_holepunch_remapped_total 1
# HELP swarmscope_holepunch_gave_data_total Holepunched peers that sent us piece data.
# TYPE swarmscope_holepunch_gave_data_total counter
swarmscope_holepunch_gave_data_total 2
# HELP swarmscope_holepunch_failed_total Failed holepunch attempts by measured cause: no-connect (no relay answered the rendezvous), no-answer (a Connect came, no connection formed in the window), gave-up (target left alone after the last try).
# TYPE swarmscope_holepunch_failed_total counter
swarmscope_holepunch_failed_total{reason="gave-up"} 3
swarmscope_holepunch_failed_total{reason="no-answer"} 1
swarmscope_holepunch_failed_total{reason="no-connect"} 0
# HELP swarmscope_holepunch_relay_errors_total BEP 55 Error messages from relays, by error code.
# TYPE swarmscope_holepunch_relay_errors_total counter
swarmscope_holepunch_relay_errors_total{code="no-self"} 0
swarmscope_holepunch_relay_errors_total{code="no-such-peer"} 0
swarmscope_holepunch_relay_errors_total{code="no-support"} 0
swarmscope_holepunch_relay_errors_total{code="not-connected"} 1
swarmscope_holepunch_relay_errors_total{code="other"} 2
# HELP swarmscope_holepunch_dials_skipped_total Dials the engine refused (never followed by a rendezvous), by reason: own (our own address), connected (already connected to that peer), punch-only (retried by rendezvous only).
# TYPE swarmscope_holepunch_dials_skipped_total counter
swarmscope_holepunch_dials_skipped_total{reason="connected"} 7
swarmscope_holepunch_dials_skipped_total{reason="own"} 0
swarmscope_holepunch_dials_skipped_total{reason="punch-only"} 0
# HELP swarmscope_holepunch_rendezvous_relayed_total BEP 55 rendezvous requests other peers sent us as their relay.
# TYPE swarmscope_holepunch_rendezvous_relayed_total counter
swarmscope_holepunch_rendezvous_relayed_total 5
# HELP swarmscope_holepunch_connect_duration_seconds Time from a relay's Connect to the punched connection.
# TYPE swarmscope_holepunch_connect_duration_seconds histogram
swarmscope_holepunch_connect_duration_seconds_bucket{le="0.01"} 1
swarmscope_holepunch_connect_duration_seconds_bucket{le="0.025"} 1
swarmscope_holepunch_connect_duration_seconds_bucket{le="0.05"} 2
swarmscope_holepunch_connect_duration_seconds_bucket{le="0.1"} 2
swarmscope_holepunch_connect_duration_seconds_bucket{le="0.25"} 2
swarmscope_holepunch_connect_duration_seconds_bucket{le="0.5"} 2
swarmscope_holepunch_connect_duration_seconds_bucket{le="1"} 2
swarmscope_holepunch_connect_duration_seconds_bucket{le="2.5"} 2
swarmscope_holepunch_connect_duration_seconds_bucket{le="5"} 3
swarmscope_holepunch_connect_duration_seconds_bucket{le="10"} 3
swarmscope_holepunch_connect_duration_seconds_bucket{le="30"} 3
swarmscope_holepunch_connect_duration_seconds_bucket{le="+Inf"} 4
swarmscope_holepunch_connect_duration_seconds_sum 48.048
swarmscope_holepunch_connect_duration_seconds_count 4
`
	names := []string{"swarmscope_holepunch_rendezvous_attempts_total", "swarmscope_holepunch_rendezvous_sent_total",
		"swarmscope_holepunch_connects_received_total", "swarmscope_holepunch_dials_total", "swarmscope_holepunch_succeeded_total",
		"swarmscope_holepunch_remapped_total", "swarmscope_holepunch_gave_data_total", "swarmscope_holepunch_failed_total",
		"swarmscope_holepunch_relay_errors_total", "swarmscope_holepunch_dials_skipped_total", "swarmscope_holepunch_rendezvous_relayed_total",
		"swarmscope_holepunch_connect_duration_seconds"}
	compare(t, x, want, names...)

	// A torrent removed with its funnel makes the engine's total shrink:
	// nothing exported goes back.
	sc.set(swarm.Snapshot{Time: t0.Add(time.Second), Paths: paths(nil)})
	compare(t, x, want, names...)

	// Then one more punch, 120 ms: counted on top.
	f.Handshakes++
	f.ConnectTime.Add(120)
	sc.set(swarm.Snapshot{Time: t0.Add(2 * time.Second), Paths: paths(nil), Holepunch: f})
	checkGauge(t, x, "swarmscope_holepunch_succeeded_total", nil, 3)
	if c := histCount(t, x, "swarmscope_holepunch_connect_duration_seconds", 0.25); c != 3 {
		t.Errorf("le=0.25 bucket = %d, want 3", c)
	}
	lint(t, x)
}

func histCount(t *testing.T, x *Exporter, name string, le float64) uint64 {
	t.Helper()
	mfs, err := x.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				if b.GetUpperBound() == le {
					return b.GetCumulativeCount()
				}
			}
		}
	}
	t.Fatalf("no %s bucket le=%v", name, le)
	return 0
}

// TestConcurrentScrapes: scrapes, new snapshots, events and NAT reports at
// once (run with -race); counters stay monotonic throughout.
func TestConcurrentScrapes(t *testing.T) {
	var sc script
	x := New(Options{Snapshot: sc.get, NoProcessMetrics: true})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// The outbound count wobbles down every other tick.
			sc.set(swarm.Snapshot{Time: t0.Add(time.Duration(i)), Paths: paths(map[swarm.Origin][2]int64{swarm.OriginOutbound: {i - i%2*3, 0}})})
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			x.Observe(swarm.Event{Kind: swarm.EventPeerConnected, Origin: swarm.OriginInbound})
			x.ObserveNAT(nat.Report{PublicAddr: "203.0.113.1:1", Servers: []nat.ServerResult{{MappedAddr: "x"}}}, nil)
		}
	}()
	go func() {
		defer wg.Done()
		last := -1.0
		for i := 0; i < 200; i++ {
			if _, err := x.Registry().Gather(); err != nil {
				t.Error(err)
				return
			}
			if sc.get().Time.IsZero() {
				continue
			}
			v := gaugeValue(t, x, "swarmscope_path_bytes_total", map[string]string{"origin": "outbound", "direction": "down"})
			if v < last {
				t.Errorf("outbound bytes went back: %v after %v", v, last)
			}
			last = v
		}
	}()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
}
