package natlab_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/stunserver"
)

// world is a simulated internet with an RFC 5780 STUN server on two
// public addresses.
func world(t *testing.T, seed uint64) (*natlab.Internet, string) {
	t.Helper()
	in := natlab.New(seed)
	h, err := in.Public().AddHost("stun", natlab.LinkConfig{Latency: 5 * time.Millisecond},
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"))
	if err != nil {
		t.Fatal(err)
	}
	var conns [2][2]net.PacketConn
	for i, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		for j, port := range []int{3478, 3479} {
			pc, err := h.ListenPacket(context.Background(), "udp", fmt.Sprintf("%s:%d", ip, port))
			if err != nil {
				t.Fatal(err)
			}
			conns[i][j] = pc
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); stunserver.New(conns).Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return in, "198.51.100.1:3478"
}

func check(t *testing.T, h *natlab.Host, server string) nat.Report {
	t.Helper()
	rep, err := nat.Check(context.Background(), nat.Options{
		Servers:  []string{server},
		Listener: h,
		NoUPnP:   true,
		Timeout:  20 * time.Second,
	})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return rep
}

func boolp(p *bool) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprint(*p)
}

// TestDiscoveryMatchesConfiguredBehaviour runs nat's real STUN discovery
// against every RFC 4787 mapping/filtering combination, with port
// preservation and hairpinning both on and off.
func TestDiscoveryMatchesConfiguredBehaviour(t *testing.T) {
	behaviours := []nat.Behavior{nat.BehaviorEndpointIndependent, nat.BehaviorAddressDependent, nat.BehaviorAddressAndPortDependent}
	seed := uint64(0)
	for _, mb := range behaviours {
		for _, fb := range behaviours {
			for _, extras := range []bool{false, true} {
				seed++
				name := fmt.Sprintf("%s/%s/preserve+hairpin=%v", mb, fb, extras)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					in, server := world(t, seed)
					r, err := in.Public().AddNAT("home", natlab.NATConfig{Mapping: mb, Filtering: fb, PortPreservation: extras, Hairpinning: extras})
					if err != nil {
						t.Fatal(err)
					}
					h, _ := r.AddHost("pc", natlab.LinkConfig{Latency: time.Millisecond})
					rep := check(t, h, server)
					wantF := fb
					if mb == nat.BehaviorAddressAndPortDependent && fb == nat.BehaviorAddressAndPortDependent {
						// Silence cannot be confirmed as filtering when no
						// changed-source answer can pass (see nat's
						// filteringTest): it is reported as unknown.
						wantF = nat.BehaviorUnknown
					}
					if rep.Mapping != mb || rep.Filtering != wantF {
						t.Errorf("measured mapping %s filtering %s, configured %s %s", rep.Mapping, rep.Filtering, mb, fb)
					}
					if !nat.Yes(rep.BehindNAT) {
						t.Errorf("not behind NAT")
					}
					if rep.PortPreserved == nil || *rep.PortPreserved != extras {
						t.Errorf("port preserved %s, configured %v", boolp(rep.PortPreserved), extras)
					}
					// A hairpinned probe leaves through a new mapping when
					// mapping is not endpoint-independent, and the old
					// mapping's filter then drops it unless filtering is
					// endpoint-independent: no answer either way, so
					// discovery must say "unknown" rather than guess.
					decidable := mb == nat.BehaviorEndpointIndependent || fb == nat.BehaviorEndpointIndependent
					switch {
					case decidable && (rep.Hairpin == nil || *rep.Hairpin != extras):
						t.Errorf("hairpin %s, configured %v", boolp(rep.Hairpin), extras)
					case !decidable && rep.Hairpin != nil && *rep.Hairpin != extras:
						t.Errorf("hairpin %s, configured %v (undecidable, should be unknown)", boolp(rep.Hairpin), extras)
					}
					if want, _ := r.PublicIP(), 0; rep.PublicAddr == "" || netip.MustParseAddrPort(rep.PublicAddr).Addr() != want {
						t.Errorf("public address %q, router is %s", rep.PublicAddr, want)
					}
				})
			}
		}
	}
}

// TestDiscoveryClassicTypes checks the classic names, including the cases
// without a translating NAT.
func TestDiscoveryClassicTypes(t *testing.T) {
	for i, typ := range []nat.Type{nat.TypeOpen, nat.TypeFullCone, nat.TypeRestrictedCone, nat.TypePortRestrictedCone,
		nat.TypeSymmetric, nat.TypeSymmetricFirewall, nat.TypeUDPBlocked} {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			in, server := world(t, uint64(100+i))
			var h *natlab.Host
			var err error
			if typ == nat.TypeOpen {
				h, err = in.Public().AddHost("pc", natlab.LinkConfig{}, netip.MustParseAddr("203.0.113.50"))
			} else {
				cfg, _ := natlab.Preset(typ)
				var r *natlab.NAT
				r, err = in.Public().AddNAT("home", cfg)
				if err == nil {
					h, err = r.AddHost("pc", natlab.LinkConfig{})
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			rep := check(t, h, server)
			if rep.NATType != typ {
				t.Errorf("measured %s (mapping %s, filtering %s), configured %s", rep.NATType, rep.Mapping, rep.Filtering, typ)
			}
		})
	}
}
