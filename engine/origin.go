package engine

import (
	"net/netip"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

// HolepunchWindow is how long after a ut_holepunch Connect an accepted
// connection from the named address still counts as holepunched. Both ends
// dial at once after a Connect, so the connection that wins may be the one
// the other side opened.
const HolepunchWindow = 30 * time.Second

// connInfo is what classification needs to know about a new connection.
type connInfo struct {
	// Discovery is anacrolix's PeerSource: "I" for accepted connections, "C"
	// for ones dialed after a ut_holepunch Connect, and a tracker, DHT, PEX or
	// direct code for other dialed ones.
	Discovery string
	Remote    netip.AddrPort
	At        time.Time
}

// classify applies swarmscope's origin rules. connectSeen reports when a
// ut_holepunch Connect last named addr (zero if never); upnpActive whether a
// UPnP mapping of the listen port was active when the connection arrived.
func classify(c connInfo, connectSeen func(netip.AddrPort) time.Time, upnpActive bool) swarm.Origin {
	const accepted, holepunchDial = "I", "C"
	switch c.Discovery {
	case holepunchDial:
		return swarm.OriginHolepunched
	case accepted:
		if seen := connectSeen(c.Remote); !seen.IsZero() && c.At.Sub(seen) <= HolepunchWindow && !c.At.Before(seen) {
			return swarm.OriginHolepunched
		}
		if upnpActive && !isLocal(c.Remote.Addr()) {
			return swarm.OriginUPnP
		}
		return swarm.OriginInbound
	}
	return swarm.OriginOutbound
}

// isLocal reports addresses that reach us without crossing the home router,
// so a UPnP mapping on it cannot have carried them.
func isLocal(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}

func discoveryOf(peerSource string) swarm.Discovery {
	switch peerSource {
	case "Tr":
		return swarm.DiscoveryTracker
	case "Hg", "Ha":
		return swarm.DiscoveryDHT
	case "X":
		return swarm.DiscoveryPEX
	case "C":
		return swarm.DiscoveryHolepunch
	case "I":
		return swarm.DiscoveryIncoming
	}
	return swarm.DiscoveryDirect
}

func transportOf(network string) swarm.Transport {
	switch network {
	case "udp", "udp4", "udp6", "utp":
		return swarm.TransportUTP
	case "webrtc":
		return swarm.TransportWebRTC
	}
	// anacrolix/utp names accepted connections' network "utp/udp".
	if strings.HasPrefix(network, "utp") {
		return swarm.TransportUTP
	}
	return swarm.TransportTCP
}
