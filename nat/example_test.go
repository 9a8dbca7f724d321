package nat_test

import (
	"context"
	"fmt"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/upnp"
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
	m := upnp.New(upnp.Config{
		Source:  upnp.SSDP(time.Second),
		Port:    6881,
		OnEvent: func(e upnp.Event) { fmt.Println("UPnP", e.Kind, e.Message) },
	})
	go func() { _ = m.Start(ctx) }()
	defer m.Close() // removes the mappings; safe from a signal handler too

	rep, err := nat.Check(ctx, nat.Options{
		Servers: []string{"stun.l.google.com:19302"},
		UPnP:    m,
		// Conn: utpSocket,
		// ConnReader: func(deliver func([]byte, net.Addr) bool) func() { ... },
	})
	if err == nil {
		fmt.Println(rep.Reachable.Verdict)
	}
}
