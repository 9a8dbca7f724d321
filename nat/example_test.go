package nat_test

import (
	"context"
	"fmt"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/portmap"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

// A standalone diagnosis, as `swarmscope nat` runs it: a fresh socket on
// the listen port, public STUN servers, UPnP over SSDP, mapping removed
// afterwards.
func ExampleCheck() {
	rep, err := nat.Check(context.Background(), nat.Options{
		Servers:   []string{"stun.l.google.com:19302", "stun.stunprotocol.org:3478"},
		LocalPort: 6881,
		Timeout:   5 * time.Second,
	})
	if err != nil {
		fmt.Println("nat:", err)
		return
	}
	fmt.Println(rep.NATType, rep.Reachable.Verdict, rep.Reachable.Advice)
}

// Inside a long-running client: the mapper lives as long as the client and
// Check only reads its state; the client's own UDP socket is probed while
// its owner keeps reading it and hands STUN answers back.
func ExampleCheck_engine() {
	ctx := context.Background()
	m := portmap.New(portmap.Config{
		Probers: nat.Options{}.MapProbers(), // UPnP, PCP and NAT-PMP at once
		Port:    6881,
		OnEvent: func(e portmaptype.Event) { fmt.Println(e.Protocol.Name(), e.Kind, e.Message) },
	})
	go func() { _ = m.Start(ctx) }()
	defer m.Close() // removes the mappings; safe from a signal handler too

	rep, err := nat.Check(ctx, nat.Options{
		Servers: []string{"stun.l.google.com:19302"},
		Mapper:  m,
		// Conn: utpSocket,
		// ConnReader: func(deliver func([]byte, net.Addr) bool) func() { ... },
	})
	if err == nil {
		fmt.Println(rep.Reachable.Verdict)
	}
}
