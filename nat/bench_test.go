package nat_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/stunserver"
)

// BenchmarkCheckLoopback times a full Check (test I, mapping II/III,
// filtering on two fresh sockets, hairpin) against the in-process RFC 5780
// server on 127.0.0.1/127.0.0.2: every test answers, so this is the
// protocol's own cost.
func BenchmarkCheckLoopback(b *testing.B) {
	srv := loopbackServer(b)
	benchCheck(b, nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second}, nat.TypeOpen)
}

// BenchmarkCheckPortRestricted times Check behind a simulated
// port-restricted cone NAT with 5 ms links: the filtering tests' silence
// costs the bounded negative window. Each run gets a fresh simulated world:
// like a real NAT, natlab keeps mappings for two minutes, and a later run
// whose random port hits an earlier run's mapping would see that mapping's
// open filter.
func BenchmarkCheckPortRestricted(b *testing.B) {
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		in := natlab.New(uint64(len(ds) + 1))
		h, err := in.Public().AddHost("stun", natlab.LinkConfig{Latency: 5 * time.Millisecond}, netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11"))
		if err != nil {
			b.Fatal(err)
		}
		var conns [2][2]net.PacketConn
		for x, ip := range []string{"203.0.113.10", "203.0.113.11"} {
			for y, port := range []string{"3478", "3479"} {
				if conns[x][y], err = h.ListenPacket(context.Background(), "udp4", ip+":"+port); err != nil {
					b.Fatal(err)
				}
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { stunserver.New(conns).Serve(ctx); close(done) }()
		cfg, _ := natlab.Preset(nat.TypePortRestrictedCone)
		r, err := in.Public().AddNAT("router", cfg)
		if err != nil {
			b.Fatal(err)
		}
		client, err := r.AddHost("client", natlab.LinkConfig{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{"203.0.113.10:3478"}, Listener: client, NoUPnP: true, Timeout: 20 * time.Second})
		ds = append(ds, time.Since(start))
		b.StopTimer()
		cancel()
		<-done
		if err != nil {
			b.Fatal(err)
		}
		if rep.NATType != nat.TypePortRestrictedCone {
			b.Fatalf("type %s: %+v", rep.NATType, rep)
		}
		b.StartTimer()
	}
	reportMedian(b, ds)
}

func benchCheck(b *testing.B, opts nat.Options, want nat.Type) {
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		rep, err := nat.Check(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if rep.NATType != want {
			b.Fatalf("iteration %d: type %s, want %s: %+v", len(ds), rep.NATType, want, rep)
		}
		ds = append(ds, time.Since(start))
	}
	reportMedian(b, ds)
}

func reportMedian(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
}
