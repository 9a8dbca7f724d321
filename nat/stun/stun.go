// Package stun is the client half of STUN that swarmscope needs: Binding
// transactions with RFC 5389 retransmission over any net.PacketConn, strict
// transaction-ID and source matching, and decoding of both the RFC 5389/5780
// attributes and their RFC 3489 ancestors. Message encoding is pion/stun's.
package stun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	pstun "github.com/pion/stun/v3"
)

// TxID is a STUN transaction ID.
type TxID = [pstun.TransactionIDSize]byte

// Class is the STUN message class of a decoded packet.
type Class int

const (
	ClassRequest Class = iota
	ClassSuccess
	ClassError
	ClassOther
)

// Response is what a STUN server said, with the RFC 3489 fallbacks already
// applied.
type Response struct {
	Class Class
	From  *net.UDPAddr // where the datagram came from
	// Mapped is XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from servers that do
	// not send it.
	Mapped *net.UDPAddr
	XOR    bool
	// Other is OTHER-ADDRESS (RFC 5780), or CHANGED-ADDRESS (RFC 3489).
	Other        *net.UDPAddr
	OtherRFC5780 bool
	// Origin is RESPONSE-ORIGIN, or SOURCE-ADDRESS (RFC 3489).
	Origin      *net.UDPAddr
	Software    string
	ErrorCode   int
	ErrorReason string
	RTT         time.Duration
	// Sends is how many transmissions went out before the answer came; more
	// than one means the path lost something.
	Sends int
}

// Errors a transaction can end with.
var (
	ErrTimeout     = errors.New("no response")
	ErrWrongSource = errors.New("response came from an unexpected address")
	// ErrWrongFamily: the server answered with a mapped address of the
	// other family (IPv6 for an IPv4 request), which is no answer.
	ErrWrongFamily = errors.New("answered with a mapped address of the wrong address family")
	// ErrMalformed: only undecodable datagrams came back.
	ErrMalformed = errors.New("answered only with malformed STUN messages")
)

// ServerError is a STUN error response.
type ServerError struct {
	Code   int
	Reason string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("STUN error %d %s", e.Code, e.Reason)
}

// Parse decodes one datagram. It never panics on hostile input; anything
// that is not a well-formed Binding message is an error.
func Parse(b []byte) (TxID, *Response, error) {
	var id TxID
	if !pstun.IsMessage(b) {
		return id, nil, errors.New("not a STUN message")
	}
	m := &pstun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil {
		return id, nil, fmt.Errorf("decode STUN: %w", err)
	}
	id = m.TransactionID
	if m.Type.Method != pstun.MethodBinding {
		return id, nil, fmt.Errorf("unexpected STUN method %v", m.Type.Method)
	}
	if _, err := m.Get(pstun.AttrFingerprint); err == nil {
		if err := pstun.Fingerprint.Check(m); err != nil {
			return id, nil, fmt.Errorf("bad FINGERPRINT: %w", err)
		}
	}
	r := &Response{}
	switch m.Type.Class {
	case pstun.ClassRequest:
		r.Class = ClassRequest
		return id, r, nil
	case pstun.ClassSuccessResponse:
		r.Class = ClassSuccess
	case pstun.ClassErrorResponse:
		r.Class = ClassError
		var ec pstun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			return id, nil, fmt.Errorf("error response without valid ERROR-CODE: %w", err)
		}
		r.ErrorCode, r.ErrorReason = int(ec.Code), string(ec.Reason)
		return id, r, nil
	default:
		r.Class = ClassOther
		return id, r, nil
	}
	var err error
	if v, gerr := m.Get(pstun.AttrXORMappedAddress); gerr == nil {
		if r.Mapped, err = decodeAddr(v, &id); err != nil {
			return id, nil, fmt.Errorf("XOR-MAPPED-ADDRESS: %w", err)
		}
		r.XOR = true
	} else if v, gerr := m.Get(pstun.AttrMappedAddress); gerr == nil {
		if r.Mapped, err = decodeAddr(v, nil); err != nil {
			return id, nil, fmt.Errorf("MAPPED-ADDRESS: %w", err)
		}
	} else {
		return id, nil, errors.New("success response without a mapped address")
	}
	if v, gerr := m.Get(pstun.AttrOtherAddress); gerr == nil {
		if r.Other, err = decodeAddr(v, nil); err != nil {
			return id, nil, fmt.Errorf("OTHER-ADDRESS: %w", err)
		}
		r.OtherRFC5780 = true
	} else if v, gerr := m.Get(pstun.AttrChangedAddress); gerr == nil {
		if r.Other, err = decodeAddr(v, nil); err != nil {
			return id, nil, fmt.Errorf("CHANGED-ADDRESS: %w", err)
		}
	}
	if v, gerr := m.Get(pstun.AttrResponseOrigin); gerr == nil {
		if r.Origin, err = decodeAddr(v, nil); err != nil {
			return id, nil, fmt.Errorf("RESPONSE-ORIGIN: %w", err)
		}
	} else if v, gerr := m.Get(pstun.AttrSourceAddress); gerr == nil {
		if r.Origin, err = decodeAddr(v, nil); err != nil {
			return id, nil, fmt.Errorf("SOURCE-ADDRESS: %w", err)
		}
	}
	if v, gerr := m.Get(pstun.AttrSoftware); gerr == nil && len(v) <= 763 {
		r.Software = string(v)
	}
	return id, r, nil
}

// decodeAddr decodes the common MAPPED-ADDRESS layout, XORed with the magic
// cookie and transaction ID when xor is non-nil. It is stricter than
// pion's decoder: the length must be exactly right.
func decodeAddr(v []byte, xor *TxID) (*net.UDPAddr, error) {
	if len(v) < 4 {
		return nil, errors.New("truncated address")
	}
	family := binary.BigEndian.Uint16(v[0:2])
	var ipLen int
	switch family {
	case 1:
		ipLen = net.IPv4len
	case 2:
		ipLen = net.IPv6len
	default:
		return nil, fmt.Errorf("bad address family %d", family)
	}
	if len(v) != 4+ipLen {
		return nil, fmt.Errorf("address length %d, want %d", len(v), 4+ipLen)
	}
	port := binary.BigEndian.Uint16(v[2:4])
	ip := make(net.IP, ipLen)
	copy(ip, v[4:])
	if xor != nil {
		var key [16]byte
		binary.BigEndian.PutUint32(key[0:4], 0x2112A442)
		copy(key[4:], xor[:])
		port ^= 0x2112
		for i := range ip {
			ip[i] ^= key[i]
		}
	}
	if ipLen == net.IPv4len {
		ip = ip.To16()
	}
	if port == 0 || ip.IsUnspecified() {
		return nil, errors.New("zero address")
	}
	return &net.UDPAddr{IP: ip, Port: int(port)}, nil
}

// NewBindingRequest builds a Binding request, optionally with CHANGE-REQUEST.
func NewBindingRequest(changeIP, changePort bool) (TxID, []byte, error) {
	setters := []pstun.Setter{pstun.TransactionID, pstun.BindingRequest}
	if changeIP || changePort {
		var flags byte
		if changeIP {
			flags |= 0x04
		}
		if changePort {
			flags |= 0x02
		}
		setters = append(setters, pstun.RawAttribute{Type: pstun.AttrChangeRequest, Length: 4, Value: []byte{0, 0, 0, flags}})
	}
	// No FINGERPRINT: classic RFC 3489 servers predate it and gain nothing.
	m, err := pstun.Build(setters...)
	if err != nil {
		return TxID{}, nil, fmt.Errorf("build binding request: %w", err)
	}
	return m.TransactionID, m.Raw, nil
}

// SameAddr reports whether two UDP addresses are equal (IPv4-mapped IPv6
// and plain IPv4 compare equal).
func SameAddr(a, b *net.UDPAddr) bool {
	if a == nil || b == nil {
		return false
	}
	return a.Port == b.Port && a.IP.Equal(b.IP)
}
