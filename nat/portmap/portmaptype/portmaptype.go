// Package portmaptype holds the values shared by the port-mapping protocol
// clients (nat/upnp, nat/portmap/pmp for NAT-PMP and PCP) and the mapper
// that runs them (nat/portmap). It imports nothing of theirs, so each
// protocol package depends only on it (the model is Tailscale's
// net/portmapper/portmappertype).
package portmaptype

import (
	"context"
	"errors"
	"time"
)

// Protocol names a port-mapping protocol.
type Protocol string

const (
	UPnP   Protocol = "upnp"    // UPnP IGD (WANIPConnection/WANPPPConnection)
	PCP    Protocol = "pcp"     // Port Control Protocol, RFC 6887
	NATPMP Protocol = "nat-pmp" // NAT Port Mapping Protocol, RFC 6886
)

// Name is the protocol as users know it: "UPnP", "PCP", "NAT-PMP".
func (p Protocol) Name() string {
	switch p {
	case UPnP:
		return "UPnP"
	case PCP:
		return "PCP"
	case NATPMP:
		return "NAT-PMP"
	}
	return string(p)
}

// Mapping is one port mapping a client made on a gateway.
type Mapping struct {
	Protocol Protocol
	Proto    string // "TCP" or "UDP"
	// ExternalIP is the gateway's external address as it reported it with
	// this mapping ("" when the protocol does not say).
	ExternalIP   string
	ExternalPort int
	InternalIP   string
	InternalPort int
	Lease        time.Duration // granted; 0 = permanent
	Renewed      time.Time     // last time the gateway accepted it
}

// Remaining is the lease left at now; 0 for permanent mappings.
func (m Mapping) Remaining(now time.Time) time.Duration {
	if m.Lease == 0 {
		return 0
	}
	return max(m.Lease-now.Sub(m.Renewed), 0)
}

// RenewAfter is when the mapping should be renewed: at half its lease
// (zero time for a permanent one).
func (m Mapping) RenewAfter() time.Time {
	if m.Lease == 0 {
		return time.Time{}
	}
	return m.Renewed.Add(m.Lease / 2)
}

// Gateway describes the gateway a client talks to, for reports.
type Gateway struct {
	Protocol Protocol
	// Address is the gateway's address as contacted (host:port).
	Address string
	// Device and Service name a UPnP device ("" for NAT-PMP/PCP).
	Device, Service string
	// ExternalIP is the gateway's external address, "" if not known.
	ExternalIP string
	// LocalIP is our address toward the gateway (what mappings point at).
	LocalIP string
}

// Client maps ports on one gateway with one protocol.
type Client interface {
	Gateway() Gateway
	// Map creates or renews the mapping of internalIP:port (internalIP ""
	// = our address toward the gateway) for proto, asking for the same
	// external port and lease; the gateway may grant others.
	Map(ctx context.Context, proto, internalIP string, port int, lease time.Duration) (Mapping, error)
	// Unmap deletes a mapping Map made.
	Unmap(ctx context.Context, m Mapping) error
	// Close releases the client's sockets; mappings stay.
	Close() error
}

// Change is news from a gateway that held mappings may be stale: its
// external address changed, it restarted, or it announced itself.
type Change struct {
	Protocol   Protocol
	ExternalIP string // the new external address, "" if not given
	Reason     string // one sentence
}

// Notifier is a Client that hears the gateway's announcements (PCP
// ANNOUNCE, NAT-PMP address changes, epoch resets).
type Notifier interface {
	Changes() <-chan Change
}

// Prober looks for a gateway speaking one protocol.
type Prober interface {
	// Protocol is what it probes for (the client it returns may say more
	// precisely, e.g. PCP rather than NAT-PMP).
	Protocol() Protocol
	// Probe returns a client when a gateway answered.
	Probe(ctx context.Context) (Client, error)
}

// Error is a refusal by the gateway with the protocol's result code.
type Error struct {
	Protocol Protocol
	Code     int    // UPnP error code, PCP or NAT-PMP result code
	Text     string // e.g. "UPnP error 718 ConflictInMappingEntry"
	Err      error  // the underlying error, if any
}

func (e *Error) Error() string { return e.Text }
func (e *Error) Unwrap() error { return e.Err }

// Code returns the gateway's result code carried by err, 0 if none.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// EventKind names a state change of a mapper.
type EventKind string

const (
	EventDiscovering EventKind = "discovering"
	EventMapped      EventKind = "mapped"
	EventRenewed     EventKind = "renewed"
	EventFailed      EventKind = "failed"
	EventRemoved     EventKind = "removed"
	// EventChanged: the gateway's external address changed or it
	// announced a restart; mappings were re-made.
	EventChanged EventKind = "changed"
	// EventLost: a mapping's lease ran out without a successful renewal.
	EventLost EventKind = "lost"
)

// Event is one state change, with a one-line human message.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Protocol Protocol // "" before any gateway answered
	Mapping  *Mapping // nil for whole-gateway events
	Code     int      // gateway result code, 0 if none
	Err      error
	Message  string
}

// Probe is what one protocol's probe found.
type Probe struct {
	Protocol   Protocol
	Found      bool
	Gateway    string // address
	ExternalIP string
	Error      string
}

// Report is what a mapper found and did.
type Report struct {
	// Found: some gateway answered a mapping protocol.
	Found bool
	// Protocol is the protocol of the gateway used (the one holding the
	// mappings, or the one that was tried).
	Protocol   Protocol
	Gateway    string
	Device     string
	Service    string
	ExternalIP string
	Mappings   []Mapping
	Error      string
	ErrorCode  int
	// Probes lists every protocol probed, in the order they answered.
	Probes []Probe
}
