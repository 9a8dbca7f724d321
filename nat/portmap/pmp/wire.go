package pmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Wire formats of NAT-PMP (RFC 6886, version 0) and PCP (RFC 6887,
// version 2). Both run on UDP port 5351 of the gateway; announcements go to
// 224.0.0.1:5350.

const (
	pmpVersion = 0
	pcpVersion = 2

	pmpOpAddr     = 0
	pmpOpMapUDP   = 1
	pmpOpMapTCP   = 2
	pcpOpAnnounce = 0
	pcpOpMap      = 1
	opReply       = 0x80

	pcpHeaderLen = 24
	pcpMapLen    = 36
)

// pmpResults are NAT-PMP result codes (RFC 6886 §3.5).
var pmpResults = map[int]string{
	1: "unsupported version",
	2: "not authorized / refused",
	3: "network failure",
	4: "out of resources",
	5: "unsupported opcode",
}

// pcpResults are PCP result codes (RFC 6887 §7.4).
var pcpResults = map[int]string{
	1:  "UNSUPP_VERSION",
	2:  "NOT_AUTHORIZED",
	3:  "MALFORMED_REQUEST",
	4:  "UNSUPP_OPCODE",
	5:  "UNSUPP_OPTION",
	6:  "MALFORMED_OPTION",
	7:  "NETWORK_FAILURE",
	8:  "NO_RESOURCES",
	9:  "UNSUPP_PROTOCOL",
	10: "USER_EX_QUOTA",
	11: "CANNOT_PROVIDE_EXTERNAL",
	12: "ADDRESS_MISMATCH",
	13: "EXCESSIVE_REMOTE_PEERS",
}

// resultText words a result code: "PCP result 2 NOT_AUTHORIZED".
func resultText(version byte, code int) string {
	if version == pcpVersion {
		return fmt.Sprintf("PCP result %d %s", code, pcpResults[code])
	}
	return fmt.Sprintf("NAT-PMP result %d (%s)", code, pmpResults[code])
}

func ipProto(proto string) (byte, error) {
	switch proto {
	case "TCP":
		return 6, nil
	case "UDP":
		return 17, nil
	}
	return 0, fmt.Errorf("unknown protocol %q", proto)
}

// pmpAddrRequest asks for the external address.
func pmpAddrRequest() []byte { return []byte{pmpVersion, pmpOpAddr} }

// pmpMapRequest maps (lifetime > 0) or deletes (lifetime 0) a port.
func pmpMapRequest(proto string, internal, external uint16, lifetime uint32) ([]byte, error) {
	op := byte(pmpOpMapUDP)
	switch proto {
	case "TCP":
		op = pmpOpMapTCP
	case "UDP":
	default:
		return nil, fmt.Errorf("unknown protocol %q", proto)
	}
	b := make([]byte, 12)
	b[0], b[1] = pmpVersion, op
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], external)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b, nil
}

// pmpReply is a decoded NAT-PMP response.
type pmpReply struct {
	op       byte // request opcode (without the reply bit)
	result   int
	epoch    uint32
	external netip.Addr // address replies
	internal uint16     // mapping replies
	mapped   uint16
	lifetime uint32
}

var errShort = errors.New("short packet")

func parsePMP(b []byte) (pmpReply, error) {
	if len(b) < 8 || b[0] != pmpVersion || b[1]&opReply == 0 {
		return pmpReply{}, errShort
	}
	r := pmpReply{op: b[1] &^ opReply, result: int(binary.BigEndian.Uint16(b[2:])), epoch: binary.BigEndian.Uint32(b[4:])}
	if r.result != 0 {
		return r, nil
	}
	switch r.op {
	case pmpOpAddr:
		if len(b) < 12 {
			return r, errShort
		}
		r.external = netip.AddrFrom4([4]byte(b[8:12]))
	case pmpOpMapUDP, pmpOpMapTCP:
		if len(b) < 16 {
			return r, errShort
		}
		r.internal = binary.BigEndian.Uint16(b[8:])
		r.mapped = binary.BigEndian.Uint16(b[10:])
		r.lifetime = binary.BigEndian.Uint32(b[12:])
	default:
		return r, fmt.Errorf("unknown NAT-PMP opcode %d", r.op)
	}
	return r, nil
}

// pcpHeader writes a PCP request header for client into b.
func pcpHeader(b []byte, op byte, lifetime uint32, client netip.Addr) {
	b[0], b[1] = pcpVersion, op
	binary.BigEndian.PutUint32(b[4:], lifetime)
	a := client.As16() // IPv4 as IPv4-mapped, as RFC 6887 §5 wants
	copy(b[8:24], a[:])
}

func pcpAnnounceRequest(client netip.Addr) []byte {
	b := make([]byte, pcpHeaderLen)
	pcpHeader(b, pcpOpAnnounce, 0, client)
	return b
}

// pcpMapRequest maps (lifetime > 0) or deletes (lifetime 0) a port,
// suggesting the same external port and any external IPv4 address.
func pcpMapRequest(nonce [12]byte, proto string, internal, external uint16, lifetime uint32, client netip.Addr) ([]byte, error) {
	p, err := ipProto(proto)
	if err != nil {
		return nil, err
	}
	b := make([]byte, pcpHeaderLen+pcpMapLen)
	pcpHeader(b, pcpOpMap, lifetime, client)
	m := b[pcpHeaderLen:]
	copy(m[0:12], nonce[:])
	m[12] = p
	binary.BigEndian.PutUint16(m[16:], internal)
	binary.BigEndian.PutUint16(m[18:], external)
	any4 := netip.IPv4Unspecified().As16() // ::ffff:0.0.0.0: "an IPv4 address, any"
	copy(m[20:36], any4[:])
	return b, nil
}

// pcpReply is a decoded PCP response.
type pcpReply struct {
	op       byte
	result   int
	lifetime uint32
	epoch    uint32
	// MAP only:
	nonce    [12]byte
	proto    byte
	internal uint16
	mapped   uint16
	external netip.Addr
}

func parsePCP(b []byte) (pcpReply, error) {
	if len(b) < pcpHeaderLen || b[0] != pcpVersion || b[1]&opReply == 0 {
		return pcpReply{}, errShort
	}
	r := pcpReply{op: b[1] &^ opReply, result: int(b[3]), lifetime: binary.BigEndian.Uint32(b[4:]), epoch: binary.BigEndian.Uint32(b[8:])}
	if r.op != pcpOpMap {
		return r, nil
	}
	if len(b) < pcpHeaderLen+pcpMapLen {
		return r, errShort
	}
	m := b[pcpHeaderLen:]
	copy(r.nonce[:], m[0:12])
	r.proto = m[12]
	r.internal = binary.BigEndian.Uint16(m[16:])
	r.mapped = binary.BigEndian.Uint16(m[18:])
	r.external = netip.AddrFrom16([16]byte(m[20:36])).Unmap()
	return r, nil
}
