// Package nat measures and changes the user's NAT situation: STUN behaviour
// discovery (RFC 5780, RFC 3489 fallback), UPnP IGD port mapping, and the
// reachability verdict that combines them. It returns plain report values;
// drawing them is the UI's job.
package nat

import (
	"context"
	"net"
	"time"

	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

// PacketListener opens UDP sockets. The OS network and the simulated network
// (nat/natlab) both implement it, so discovery runs unchanged on either.
type PacketListener interface {
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
}

// OSNet is the real operating-system network.
type OSNet struct{}

// ListenPacket opens a real UDP socket.
func (OSNet) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

// Behavior is an RFC 4787 mapping or filtering behaviour.
type Behavior string

const (
	BehaviorUnknown                 Behavior = "unknown"
	BehaviorEndpointIndependent     Behavior = "endpoint-independent"
	BehaviorAddressDependent        Behavior = "address-dependent"
	BehaviorAddressAndPortDependent Behavior = "address-and-port-dependent"
	BehaviorNone                    Behavior = "none" // no NAT: the local address is public
	// BehaviorEndpointDependent: the mapping changes with the destination,
	// but the evidence (plain servers on different IPs) cannot say whether
	// the port matters too. Either way the NAT is symmetric.
	BehaviorEndpointDependent Behavior = "endpoint-dependent"
)

// Type is the classic (RFC 3489 era) NAT name derived from the behaviours.
type Type string

const (
	TypeOpen               Type = "open"
	TypeFullCone           Type = "full-cone"
	TypeRestrictedCone     Type = "restricted-cone"
	TypePortRestrictedCone Type = "port-restricted-cone"
	TypeSymmetric          Type = "symmetric"
	TypeSymmetricFirewall  Type = "symmetric-firewall"
	TypeUDPBlocked         Type = "udp-blocked"
	TypeUnknown            Type = "unknown"
)

// Types lists every classic name, most open first.
var Types = [...]Type{TypeOpen, TypeFullCone, TypeRestrictedCone, TypePortRestrictedCone, TypeSymmetric, TypeSymmetricFirewall, TypeUDPBlocked, TypeUnknown}

// Verdict answers "can peers reach you?".
type Verdict string

const (
	VerdictPublic       Verdict = "yes-public"
	VerdictUPnP         Verdict = "yes-upnp"
	VerdictFullCone     Verdict = "yes-full-cone"
	VerdictOutboundOnly Verdict = "no-outbound-only"
	VerdictUnknown      Verdict = "unknown"
)

// ServerResult is what one STUN server said.
type ServerResult struct {
	Address    string  `json:"address"`
	RTTms      float64 `json:"rtt_ms"`
	MappedAddr string  `json:"mapped_addr,omitempty"`
	RFC5780    bool    `json:"rfc5780"`
	Error      string  `json:"error,omitempty"`
	// Protocol is what the server speaks: "rfc5780" (OTHER-ADDRESS),
	// "rfc3489" (MAPPED/CHANGED-ADDRESS, e.g. stund) or "rfc5389" (plain).
	Protocol string `json:"protocol,omitempty"`
	// Outcome says what came back, one of the Outcome constants; only
	// OutcomeSilent is evidence that UDP is blocked.
	Outcome Outcome `json:"outcome,omitempty"`
	// Resolved is the server's IP:port as contacted.
	Resolved string `json:"resolved,omitempty"`
}

// Outcome is what one STUN server's first request ended with.
type Outcome string

const (
	OutcomeAnswered Outcome = "answered"
	// OutcomeSilent: nothing at all came back during the whole wait.
	OutcomeSilent Outcome = "silent"
	// OutcomeCutShort: the time limit ended the wait too early for
	// silence to mean anything.
	OutcomeCutShort Outcome = "cut-short"
	// OutcomeMalformed: only undecodable datagrams came back.
	OutcomeMalformed Outcome = "malformed"
	// OutcomeWrongFamily: the mapped address was of the other family.
	OutcomeWrongFamily Outcome = "wrong-family"
	// OutcomeWrongSource: answers came from an unexpected address.
	OutcomeWrongSource Outcome = "wrong-source"
	// OutcomeRefused: a STUN error response.
	OutcomeRefused Outcome = "refused"
	// OutcomeSendFailed: the request could not be sent (no route…).
	OutcomeSendFailed Outcome = "send-failed"
	// OutcomeUnresolved: no address for the name.
	OutcomeUnresolved Outcome = "unresolved"
)

// Heard reports whether the server sent anything back at all, usable or
// not: then UDP to it works.
func (o Outcome) Heard() bool {
	switch o {
	case OutcomeAnswered, OutcomeMalformed, OutcomeWrongFamily, OutcomeWrongSource, OutcomeRefused:
		return true
	}
	return false
}

// Mapping is one port mapping swarmscope holds.
type Mapping struct {
	// Protocol made it: "upnp", "pcp" or "nat-pmp".
	Protocol     string `json:"protocol"`
	Proto        string `json:"proto"` // "TCP" or "UDP"
	ExternalPort int    `json:"external_port"`
	Internal     string `json:"internal"` // host:port
	LeaseS       int    `json:"lease_s"`  // seconds left; 0 = permanent
}

// UPnPReport is what the port-mapping clients (UPnP IGD, PCP, NAT-PMP)
// found and did. Its JSON key stays "upnp"; Protocol says which protocol
// the gateway used speaks.
type UPnPReport struct {
	Found bool `json:"found"`
	// Protocol of the gateway holding (or refusing) the mappings:
	// "upnp", "pcp", "nat-pmp"; "" when none answered.
	Protocol   string    `json:"protocol,omitempty"`
	Gateway    string    `json:"gateway,omitempty"` // host:port contacted
	Device     string    `json:"device,omitempty"`
	Service    string    `json:"service,omitempty"`
	ExternalIP string    `json:"external_ip,omitempty"`
	Mappings   []Mapping `json:"mappings"`
	Error      string    `json:"error,omitempty"`
	// Probes says what each protocol found, in the order they answered.
	Probes []MapProbe `json:"probes"`
}

// MapProbe is what probing one mapping protocol found.
type MapProbe struct {
	Protocol   string `json:"protocol"`
	Found      bool   `json:"found"`
	Gateway    string `json:"gateway,omitempty"`
	ExternalIP string `json:"external_ip,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ProtocolName is the mapping protocol as users know it ("UPnP", "PCP",
// "NAT-PMP"), "port mapping" when none answered.
func (u *UPnPReport) ProtocolName() string {
	if u.Protocol == "" {
		return "port mapping"
	}
	return portmaptype.Protocol(u.Protocol).Name()
}

// Yes reports whether a tri-state flag is known to be true.
func Yes(b *bool) bool { return b != nil && *b }

// No reports whether a tri-state flag is known to be false.
func No(b *bool) bool { return b != nil && !*b }

// Measured reports whether anything about the NAT was measured: a STUN
// answer or a port mapping. The CLI exits 1 when nothing was.
func (r *Report) Measured() bool {
	return r.anyAnswer() || len(r.UPnP.Mappings) > 0
}

func (r *Report) anyAnswer() bool {
	for _, s := range r.Servers {
		if s.Error == "" && s.MappedAddr != "" {
			return true
		}
	}
	return false
}

// Reachability is the verdict and its advice.
type Reachability struct {
	Verdict Verdict `json:"verdict"`
	Advice  string  `json:"advice"`
}

// Report is one full NAT diagnosis.
type Report struct {
	Time          time.Time      `json:"time"`
	LocalAddr     string         `json:"local_addr"`
	PublicAddr    string         `json:"public_addr"`
	BehindNAT     *bool          `json:"behind_nat"` // nil = unknown
	Mapping       Behavior       `json:"mapping"`
	Filtering     Behavior       `json:"filtering"`
	NATType       Type           `json:"nat_type"`
	PortPreserved *bool          `json:"port_preserved"` // nil = unknown
	Hairpin       *bool          `json:"hairpin"`        // nil = unknown
	Servers       []ServerResult `json:"servers"`
	UPnP          UPnPReport     `json:"upnp"`
	DoubleNAT     *bool          `json:"double_nat"` // nil = unknown
	Reachable     Reachability   `json:"reachable"`
	DurationMs    float64        `json:"duration_ms"`

	// ProbedPort is the local UDP port whose mapping was measured.
	ProbedPort int `json:"probed_port"`
	// ListenPort is the port peers are told, which the advice names; 0 when
	// unknown (a random port was probed and no listen port given).
	ListenPort int `json:"listen_port"`
	// SharedSocket is true when the probe ran on the caller's own socket
	// (the torrent client's), so PublicAddr is exactly what peers see.
	SharedSocket bool `json:"shared_socket"`
	// CGNAT is true when an address on the path is in 100.64.0.0/10,
	// false when the path was seen to reach a public address without one,
	// nil when it is unknown.
	CGNAT *bool `json:"cgnat"`
	// Disagreements lists where servers (or tests) contradicted each
	// other, one sentence each; nothing is averaged away.
	Disagreements []string `json:"disagreements,omitempty"`
	// Notes explain unknown or surprising results, one sentence each.
	Notes []string `json:"notes,omitempty"`
}
