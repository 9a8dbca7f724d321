package nat

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Classify derives the classic NAT name from what was measured. It only
// names a type the evidence supports; anything else is TypeUnknown.
func Classify(anyAnswer, behindNAT bool, mapping, filtering Behavior) Type {
	if !anyAnswer {
		return TypeUDPBlocked
	}
	if !behindNAT {
		switch filtering {
		case BehaviorEndpointIndependent:
			return TypeOpen
		case BehaviorAddressDependent, BehaviorAddressAndPortDependent:
			return TypeSymmetricFirewall
		}
		return TypeUnknown
	}
	switch mapping {
	case BehaviorAddressDependent, BehaviorAddressAndPortDependent, BehaviorEndpointDependent:
		return TypeSymmetric
	case BehaviorEndpointIndependent:
		switch filtering {
		case BehaviorEndpointIndependent:
			return TypeFullCone
		case BehaviorAddressDependent:
			return TypeRestrictedCone
		case BehaviorAddressAndPortDependent:
			return TypePortRestrictedCone
		}
	}
	return TypeUnknown
}

var (
	cgnatNet   = mustCIDR("100.64.0.0/10")
	privateNet = []*net.IPNet{mustCIDR("10.0.0.0/8"), mustCIDR("172.16.0.0/12"), mustCIDR("192.168.0.0/16"), mustCIDR("169.254.0.0/16"), mustCIDR("fc00::/7"), mustCIDR("fe80::/10")}
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// IsCGNAT reports whether ip is in the shared address space of RFC 6598.
func IsCGNAT(ip net.IP) bool { return ip != nil && cgnatNet.Contains(ip) }

// IsPrivate reports whether ip cannot be a public internet address: RFC
// 1918, link-local, unique-local, loopback or CGNAT space.
func IsPrivate(ip net.IP) bool {
	if ip == nil {
		return false
	}
	if ip.IsLoopback() || IsCGNAT(ip) {
		return true
	}
	for _, n := range privateNet {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// IsPublic reports whether ip can be a public internet address: not
// private, loopback, CGNAT, link-local, multicast or unspecified.
func IsPublic(ip net.IP) bool {
	return ip != nil && !IsPrivate(ip) && !ip.IsUnspecified() && !ip.IsMulticast() &&
		!ip.IsLinkLocalUnicast() && !ip.IsInterfaceLocalMulticast()
}

// Judge fills the fields derived from the measurements: DoubleNAT, CGNAT,
// NATType and Reachable. The engine calls it again when the UPnP state
// changes. Guards following: every flag stays nil unless something
// measured supports it.
func (r *Report) Judge() {
	anyAnswer := r.anyAnswer()
	public := hostIP(r.PublicAddr)
	gw := net.ParseIP(r.UPnP.ExternalIP)
	local := hostIP(r.LocalAddr)

	switch {
	case IsCGNAT(local) || IsCGNAT(gw) || IsCGNAT(public):
		r.CGNAT = ptr(true)
	case IsPublic(public):
		// The path reached a public address and no address on it was
		// in the shared space.
		r.CGNAT = ptr(false)
	default:
		r.CGNAT = nil
	}
	switch {
	case r.UPnP.Found && gw != nil && !gw.IsUnspecified() && (IsPrivate(gw) || (public != nil && !gw.Equal(public))):
		r.DoubleNAT = ptr(true)
	case No(r.BehindNAT) && IsPublic(public):
		r.DoubleNAT = ptr(false)
	case r.UPnP.Found && gw != nil && IsPublic(gw) && gw.Equal(public):
		// The gateway's own WAN address is what the internet sees.
		r.DoubleNAT = ptr(false)
	default:
		r.DoubleNAT = nil
	}
	r.NATType = Classify(anyAnswer, !No(r.BehindNAT), r.Mapping, r.Filtering)
	if !anyAnswer && !r.udpSilence() {
		// Guards following: "UDP blocked" needs a server that stayed
		// silent for the whole wait; garbage, wrong answers, a cut-short
		// wait, a dead loopback server or nothing sent say nothing.
		r.NATType = TypeUnknown
	}
	r.Reachable = r.reachability()
}

// udpSilence reports whether the servers' silence is evidence that UDP is
// blocked: no server sent anything back, and at least one that is not on
// this machine was waited for in full.
func (r *Report) udpSilence() bool {
	silent := false
	for _, s := range r.Servers {
		if s.Outcome.Heard() {
			return false
		}
		if s.Outcome != OutcomeSilent {
			continue
		}
		if ip := hostIP(s.Resolved); ip != nil && ip.IsLoopback() {
			// Loopback UDP passes no NAT: silence there is a dead server.
			continue
		}
		silent = true
	}
	return silent
}

// reachability answers "can peers reach you?" and says why in the user's
// terms.
func (r *Report) reachability() Reachability {
	port := r.ListenPort
	if port == 0 && len(r.UPnP.Mappings) > 0 {
		port = r.UPnP.Mappings[0].ExternalPort
	}
	// portP names the port to open: a number when we know which port peers
	// are told, else the user's own setting (a random probe port is no use).
	portP := "your torrent client's listen port"
	if port != 0 {
		portP = "port " + strconv.Itoa(port)
	}
	localIP := "this computer"
	if ip := hostIP(r.LocalAddr); ip != nil && !ip.IsUnspecified() {
		localIP = ip.String()
	}
	upnpActive := r.UPnP.Found && len(r.UPnP.Mappings) > 0
	fwd := fmt.Sprintf("forward %s (TCP and UDP) to %s on your router", portP, localIP)
	prefix := ""
	if Yes(r.DoubleNAT) {
		prefix = "You are behind two NATs"
		if Yes(r.CGNAT) {
			prefix = "You are behind your router and your provider's carrier-grade NAT"
		}
		if upnpActive {
			prefix += ", so the UPnP mapping on your router does not reach the internet"
		}
		prefix += ". "
		fwd = "ask your provider for a public IPv4 address (forwarding on your own router is not enough)"
	}
	if r.unresolved() {
		return Reachability{Verdict: VerdictUnknown, Advice: "None of the STUN servers could be resolved, so nothing was measured: check DNS or give servers as IP:port with --stun."}
	}
	if !r.anyAnswer() && r.NATType == TypeUnknown && !upnpActive {
		return Reachability{Verdict: VerdictUnknown, Advice: "No STUN server gave a usable answer (" + r.silenceReason() + "), so nothing about your NAT was measured."}
	}
	if pub := hostIP(r.PublicAddr); pub != nil && !IsPublic(pub) && !upnpActive {
		// The server is inside this machine, the LAN or the provider's
		// network: what it saw is not what the internet sees.
		where := "a private address"
		switch {
		case pub.IsLoopback():
			where = "a loopback address (the server runs on this machine)"
		case IsCGNAT(pub):
			where = "a carrier-grade NAT address (the server is inside your provider's network)"
		}
		adv := fmt.Sprintf("The STUN server saw you as %s, %s, so this measured only the path to it: whether peers on the internet can reach you is unknown; test against a server on the internet.", pub, where)
		if r.NATType == TypeOpen {
			adv += fmt.Sprintf(" No NAT or filter lies between you and that server; if the internet reaches you the same way, peers can connect to %s.", portP)
		}
		return Reachability{Verdict: VerdictUnknown, Advice: adv}
	}
	if upnpActive && !Yes(r.DoubleNAT) && r.NATType != TypeOpen {
		adv := fmt.Sprintf("Your router mapped %s (TCP and UDP) to you via UPnP, so peers can connect to %s while swarmscope runs.", portP, joinPort(r.UPnP.ExternalIP, port, r.PublicAddr))
		if r.NATType == TypeUDPBlocked {
			adv = fmt.Sprintf("No STUN server answered, so UDP looks blocked, but your router mapped %s via UPnP: TCP peers can connect in.", portP)
		}
		return Reachability{Verdict: VerdictUPnP, Advice: adv}
	}
	v := func(verdict Verdict, advice string) Reachability {
		return Reachability{Verdict: verdict, Advice: prefix + advice}
	}
	switch r.NATType {
	case TypeOpen:
		return v(VerdictPublic, fmt.Sprintf("Your address %s is public and unfiltered: peers can connect to %s directly.", hostOr(r.PublicAddr), portP))
	case TypeFullCone:
		adv := "Your full-cone NAT lets anyone reach a port you have sent from"
		switch {
		case r.PortPreserved != nil && *r.PortPreserved:
			adv += fmt.Sprintf(" and keeps port numbers, so peers can connect to %s.", joinPort(hostOr(r.PublicAddr), port, ""))
		case r.PortPreserved != nil:
			adv += fmt.Sprintf(", but it changes port numbers; to be reachable on %s, %s.", portP, fwd)
		default:
			adv += fmt.Sprintf(", so peers can connect once you have contacted the swarm; to be sure, %s.", fwd)
		}
		return v(VerdictFullCone, adv)
	case TypeRestrictedCone, TypePortRestrictedCone:
		return v(VerdictOutboundOnly, fmt.Sprintf("Your %s NAT drops unsolicited connections, but its endpoint-independent mapping lets holepunching (BEP 55) work. To accept incoming peers, %s.", r.NATType, withUPnP(fwd, Yes(r.DoubleNAT))))
	case TypeSymmetric:
		return v(VerdictOutboundOnly, fmt.Sprintf("Your symmetric NAT gives each destination a different port, which defeats holepunching. Only outgoing connections work unless you %s.", withUPnP(fwd, Yes(r.DoubleNAT))))
	case TypeSymmetricFirewall:
		return v(VerdictOutboundOnly, fmt.Sprintf("Your address %s is public but a firewall drops unsolicited packets: allow incoming TCP and UDP on %s.", hostOr(r.PublicAddr), portP))
	case TypeUDPBlocked:
		return Reachability{Verdict: VerdictUnknown, Advice: "No STUN server answered: UDP looks blocked on this network (or every server is down), so uTP, DHT and holepunching cannot work; TCP may still connect out."}
	}
	if No(r.BehindNAT) && r.PublicAddr != "" {
		return v(VerdictUnknown, fmt.Sprintf("Your address %s is public, but the filtering test was inconclusive; if peers cannot reach you, allow incoming TCP and UDP on %s in your firewall.", hostOr(r.PublicAddr), portP))
	}
	return v(VerdictUnknown, fmt.Sprintf("The STUN servers could not test your NAT's behaviour (an RFC 5780 server can); to be reachable for sure, %s.", fwd)+holepunchClause(r.Mapping))
}

// silenceReason words why no server's answer could be used.
func (r *Report) silenceReason() string {
	var parts []string
	seen := map[Outcome]bool{}
	for _, s := range r.Servers {
		if seen[s.Outcome] {
			continue
		}
		seen[s.Outcome] = true
		switch s.Outcome {
		case OutcomeMalformed:
			parts = append(parts, "malformed replies arrived, so UDP works")
		case OutcomeWrongFamily:
			parts = append(parts, "a server answered with an address of the wrong family")
		case OutcomeWrongSource:
			parts = append(parts, "answers came from unexpected addresses")
		case OutcomeRefused:
			parts = append(parts, "a server refused the request")
		case OutcomeCutShort:
			parts = append(parts, "the time limit ended the wait before silence could mean anything")
		case OutcomeSendFailed:
			parts = append(parts, "requests could not be sent: no network?")
		case OutcomeSilent:
			parts = append(parts, "a server on this machine did not answer: it is down")
		case OutcomeUnresolved:
			parts = append(parts, "some names did not resolve")
		}
	}
	if len(parts) == 0 {
		return "no answer"
	}
	return strings.Join(parts, "; ")
}

// unresolved reports whether no server could even be addressed (DNS
// failure, bad names): then no packet was sent.
func (r *Report) unresolved() bool {
	if len(r.Servers) == 0 {
		return false
	}
	for _, s := range r.Servers {
		if s.Outcome == OutcomeUnresolved {
			continue
		}
		if s.Error == "" || !strings.HasPrefix(s.Error, "resolve ") && !strings.HasPrefix(s.Error, "bad ") {
			return false
		}
	}
	return true
}

func withUPnP(fwd string, doubleNAT bool) string {
	if doubleNAT {
		return fwd
	}
	return fwd + " or enable UPnP"
}

func holepunchClause(m Behavior) string {
	switch m {
	case BehaviorEndpointIndependent:
		return " Your mapping is endpoint-independent, so holepunching works."
	case BehaviorAddressDependent, BehaviorAddressAndPortDependent, BehaviorEndpointDependent:
		return " Your mapping depends on the destination (symmetric), which defeats holepunching."
	}
	return ""
}

func hostIP(hostport string) net.IP {
	if hostport == "" {
		return nil
	}
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	return net.ParseIP(h)
}

func hostOr(hostport string) string {
	if ip := hostIP(hostport); ip != nil {
		return ip.String()
	}
	return "your address"
}

func joinPort(ip string, port int, fallback string) string {
	if port == 0 {
		if h := hostIP(fallback); net.ParseIP(ip) == nil && h != nil {
			ip = h.String()
		}
		if net.ParseIP(ip) != nil {
			return ip + " on that port"
		}
		return "your listen port"
	}
	if net.ParseIP(ip) != nil {
		return net.JoinHostPort(ip, strconv.Itoa(port))
	}
	if h := hostIP(fallback); h != nil {
		return net.JoinHostPort(h.String(), strconv.Itoa(port))
	}
	return "port " + strconv.Itoa(port)
}

func ptr[T any](v T) *T { return &v }
