package nat_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/natlab/igd"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
	"github.com/swarmscope/swarmscope/nat/stunserver"
	"github.com/swarmscope/swarmscope/nat/upnp"
)

// labSTUN puts an RFC 5780 server on the simulated internet.
func labSTUN(t *testing.T, in *natlab.Internet, opts ...stunserver.Option) {
	t.Helper()
	h, err := in.Public().AddHost("stun", natlab.LinkConfig{Latency: 2 * time.Millisecond}, netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11"))
	if err != nil {
		t.Fatal(err)
	}
	var conns [2][2]net.PacketConn
	for x, ip := range []string{"203.0.113.10", "203.0.113.11"} {
		for y, port := range []string{"3478", "3479"} {
			if conns[x][y], err = h.ListenPacket(context.Background(), "udp4", ip+":"+port); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { stunserver.New(conns, opts...).Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestCheckWithSimulatedGateway(t *testing.T) {
	for _, keep := range []bool{false, true} {
		in := natlab.New(7)
		labSTUN(t, in)
		cfg, _ := natlab.Preset(nat.TypePortRestrictedCone)
		r, err := in.Public().AddNAT("home", cfg)
		if err != nil {
			t.Fatal(err)
		}
		client, err := r.AddHost("laptop", natlab.LinkConfig{})
		if err != nil {
			t.Fatal(err)
		}
		gw, err := igd.Start(r)
		if err != nil {
			t.Fatal(err)
		}
		defer gw.Close()
		var events []portmaptype.EventKind
		rep, err := nat.Check(context.Background(), nat.Options{
			Servers: []string{"203.0.113.10:3478"}, Listener: client, LocalPort: 6881, Timeout: 10 * time.Second, MinRTO: testRTO,
			UPnPSource: upnp.DeviceURL(gw.Location()), UPnPInternalIP: client.Addr().String(), KeepMapping: keep,
			OnMapEvent: func(e portmaptype.Event) { events = append(events, e.Kind) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.NATType != nat.TypePortRestrictedCone || !rep.UPnP.Found || rep.UPnP.ExternalIP != r.PublicIP().String() || len(rep.UPnP.Mappings) != 2 {
			t.Fatalf("keep=%v: %+v", keep, rep)
		}
		if rep.Reachable.Verdict != nat.VerdictUPnP || nat.Yes(rep.DoubleNAT) {
			t.Fatalf("keep=%v: verdict %+v double %v", keep, rep.Reachable, rep.DoubleNAT)
		}
		if keep != (len(r.Forwards()) > 0) {
			t.Fatalf("keep=%v but router holds %v; events %v", keep, r.Forwards(), events)
		}
	}
}

// A gateway whose WAN address is private sits behind another NAT: its
// mapping does not make us reachable.
func TestCheckDoubleNAT(t *testing.T) {
	in := natlab.New(8)
	labSTUN(t, in)
	outerCfg, _ := natlab.Preset(nat.TypePortRestrictedCone)
	outerCfg.LAN = netip.MustParsePrefix("100.64.0.0/24") // the provider's CGNAT
	outer, err := in.Public().AddNAT("isp", outerCfg)
	if err != nil {
		t.Fatal(err)
	}
	innerCfg, _ := natlab.Preset(nat.TypePortRestrictedCone)
	inner, err := outer.Inside().AddNAT("home", innerCfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := inner.AddHost("laptop", natlab.LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := igd.Start(inner)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	rep, err := nat.Check(context.Background(), nat.Options{
		Servers: []string{"203.0.113.10:3478"}, Listener: client, LocalPort: 6881, Timeout: 10 * time.Second, MinRTO: testRTO,
		UPnPSource: upnp.DeviceURL(gw.Location()), UPnPInternalIP: client.Addr().String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !nat.Yes(rep.DoubleNAT) || !nat.Yes(rep.CGNAT) || rep.Reachable.Verdict == nat.VerdictUPnP {
		t.Fatalf("double %v cgnat %v verdict %+v upnp %+v", rep.DoubleNAT, rep.CGNAT, rep.Reachable, rep.UPnP)
	}
	if len(inner.Forwards()) != 0 {
		t.Fatalf("mapping left behind: %v", inner.Forwards())
	}
}
