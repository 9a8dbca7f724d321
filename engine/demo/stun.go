package demo

import (
	"fmt"
	"net"

	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/stunserver"
)

// startSTUN runs an RFC 5780 STUN server on a public host with two
// addresses, so that nat/'s real discovery can measure "you"'s NAT.
func (s *Swarm) startSTUN(h *natlab.Host) error {
	var conns [2][2]net.PacketConn
	addrs := h.Addrs()
	for i := range 2 {
		for j, port := range []int{3478, 3479} {
			pc, err := h.ListenPacket(s.ctx, "udp", fmt.Sprintf("%s:%d", addrs[i], port))
			if err != nil {
				return fmt.Errorf("demo: STUN server: %w", err)
			}
			conns[i][j] = pc
		}
	}
	srv := stunserver.New(conns)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); srv.Serve(s.ctx) }()
	return nil
}
