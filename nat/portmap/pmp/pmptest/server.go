// Package pmptest is an in-process NAT-PMP (RFC 6886) and PCP (RFC 6887)
// server on a loopback UDP port, with knobs for what real gateways do
// (speak only one of the two, refuse, assign another port, restart, change
// their external address). Tests of nat/portmap use it next to the lab's
// real miniupnpd.
package pmptest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Server is a running gateway.
type Server struct {
	pc    *net.UDPConn
	start time.Time

	mu       sync.Mutex
	k        Knobs
	mappings map[string]Entry // "TCP 6881"
	requests []string
	done     chan struct{}
}

// Knobs are the server's behaviours.
type Knobs struct {
	NoPCP, NoPMP bool
	ExternalIP   netip.Addr // default 198.51.100.9
	Result       int        // result code for every MAP (0 = success)
	AssignPort   int        // external port given instead of the asked one
	MaxLifetime  uint32     // cap on granted lifetimes (0 = none)
	Silent       bool       // drop everything
}

// Entry is one mapping the server holds.
type Entry struct {
	Client   netip.Addr
	Internal uint16
	External uint16
	Lifetime uint32
	Via      string // "pcp" or "nat-pmp"
	Nonce    [12]byte
}

// New starts a server on 127.0.0.1 on a random port.
func New() (*Server, error) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &Server{pc: pc, start: time.Now(), k: Knobs{ExternalIP: netip.MustParseAddr("198.51.100.9")}, mappings: map[string]Entry{}, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

// Port is the server's UDP port.
func (s *Server) Port() int { return s.pc.LocalAddr().(*net.UDPAddr).Port }

// Close stops the server.
func (s *Server) Close() { s.pc.Close(); <-s.done }

// Set replaces the knobs (ExternalIP kept when unset).
func (s *Server) Set(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !k.ExternalIP.IsValid() {
		k.ExternalIP = s.k.ExternalIP
	}
	s.k = k
}

// Mappings returns the table.
func (s *Server) Mappings() map[string]Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Entry{}
	for k, v := range s.mappings {
		out[k] = v
	}
	return out
}

// Requests lists what was asked, e.g. "pcp announce", "nat-pmp map TCP 6881 3600".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Restart forgets every mapping and restarts the epoch, as a rebooted
// router does.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mappings = map[string]Entry{}
	s.start = time.Now()
}

func (s *Server) epoch() uint32 { return uint32(time.Since(s.start) / time.Second) }

// AnnouncePMP sends a NAT-PMP external address notification to to (a
// client's announcement socket) from the server's port.
func (s *Server) AnnouncePMP(to *net.UDPAddr) error {
	s.mu.Lock()
	b := s.pmpAddr()
	s.mu.Unlock()
	_, err := s.pc.WriteToUDP(b, to)
	return err
}

// AnnouncePCP sends an unsolicited PCP ANNOUNCE response to to.
func (s *Server) AnnouncePCP(to *net.UDPAddr) error {
	b := make([]byte, 24)
	b[0], b[1] = 2, 0x80
	s.mu.Lock()
	binary.BigEndian.PutUint32(b[8:], s.epoch())
	s.mu.Unlock()
	_, err := s.pc.WriteToUDP(b, to)
	return err
}

func (s *Server) pmpAddr() []byte {
	b := make([]byte, 12)
	b[0], b[1] = 0, 128
	binary.BigEndian.PutUint32(b[4:], s.epoch())
	a := s.k.ExternalIP.As4()
	copy(b[8:], a[:])
	return b
}

func (s *Server) serve() {
	defer close(s.done)
	buf := make([]byte, 1100)
	for {
		n, from, err := s.pc.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		out := s.handle(buf[:n], from)
		s.mu.Unlock()
		if out != nil {
			_, _ = s.pc.WriteToUDP(out, from)
		}
	}
}

func (s *Server) handle(b []byte, from *net.UDPAddr) []byte {
	if s.k.Silent || len(b) < 2 {
		return nil
	}
	client, _ := netip.AddrFromSlice(from.IP)
	client = client.Unmap()
	switch b[0] {
	case 0:
		if s.k.NoPMP {
			return nil
		}
		return s.handlePMP(b, client)
	case 2:
		if s.k.NoPCP {
			if s.k.NoPMP {
				return nil
			}
			// A NAT-PMP-only server: "unsupported version" (RFC 6887 §9).
			r := make([]byte, 8)
			r[0], r[1] = 0, b[1]|0x80
			binary.BigEndian.PutUint16(r[2:], 1)
			binary.BigEndian.PutUint32(r[4:], s.epoch())
			return r
		}
		return s.handlePCP(b, client)
	}
	return nil
}

func (s *Server) grant(life uint32) uint32 {
	if s.k.MaxLifetime != 0 && life > s.k.MaxLifetime {
		return s.k.MaxLifetime
	}
	return life
}

func (s *Server) handlePMP(b []byte, client netip.Addr) []byte {
	switch {
	case b[1] == 0:
		s.requests = append(s.requests, "nat-pmp address")
		return s.pmpAddr()
	case (b[1] == 1 || b[1] == 2) && len(b) >= 12:
		proto := map[byte]string{1: "UDP", 2: "TCP"}[b[1]]
		in, ext, life := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint32(b[8:])
		s.requests = append(s.requests, fmt.Sprintf("nat-pmp map %s %d %d", proto, in, life))
		r := make([]byte, 16)
		r[0], r[1] = 0, b[1]|0x80
		binary.BigEndian.PutUint32(r[4:], s.epoch())
		binary.BigEndian.PutUint16(r[8:], in)
		if s.k.Result != 0 {
			binary.BigEndian.PutUint16(r[2:], uint16(s.k.Result))
			return r
		}
		key := fmt.Sprintf("%s %d", proto, in)
		if life == 0 {
			delete(s.mappings, key)
			return r
		}
		if s.k.AssignPort != 0 {
			ext = uint16(s.k.AssignPort)
		}
		life = s.grant(life)
		s.mappings[key] = Entry{Client: client, Internal: in, External: ext, Lifetime: life, Via: "nat-pmp"}
		binary.BigEndian.PutUint16(r[10:], ext)
		binary.BigEndian.PutUint32(r[12:], life)
		return r
	}
	r := make([]byte, 8)
	r[0], r[1] = 0, b[1]|0x80
	binary.BigEndian.PutUint16(r[2:], 5)
	return r
}

func (s *Server) handlePCP(b []byte, client netip.Addr) []byte {
	if len(b) < 24 {
		return nil
	}
	op, life := b[1], binary.BigEndian.Uint32(b[4:])
	r := make([]byte, 24, 60)
	r[0], r[1] = 2, op|0x80
	binary.BigEndian.PutUint32(r[8:], s.epoch())
	if netip.AddrFrom16([16]byte(b[8:24])).Unmap() != client {
		r[3] = 12 // ADDRESS_MISMATCH
		return r
	}
	switch op {
	case 0:
		s.requests = append(s.requests, "pcp announce")
		return r
	case 1:
		if len(b) < 60 {
			r[3] = 3
			return r
		}
		m := b[24:60]
		var nonce [12]byte
		copy(nonce[:], m[:12])
		proto := map[byte]string{6: "TCP", 17: "UDP"}[m[12]]
		in, ext := binary.BigEndian.Uint16(m[16:]), binary.BigEndian.Uint16(m[18:])
		s.requests = append(s.requests, fmt.Sprintf("pcp map %s %d %d", proto, in, life))
		r = append(r, m...)
		if s.k.Result != 0 {
			r[3] = byte(s.k.Result)
			return r
		}
		key := fmt.Sprintf("%s %d", proto, in)
		if old, ok := s.mappings[key]; ok && old.Nonce != nonce {
			r[3] = 2 // NOT_AUTHORIZED: someone else's mapping
			return r
		}
		if life == 0 {
			delete(s.mappings, key)
			return r
		}
		if s.k.AssignPort != 0 {
			ext = uint16(s.k.AssignPort)
		}
		life = s.grant(life)
		binary.BigEndian.PutUint32(r[4:], life)
		s.mappings[key] = Entry{Client: client, Internal: in, External: ext, Lifetime: life, Via: "pcp", Nonce: nonce}
		binary.BigEndian.PutUint16(r[24+18:], ext)
		a := s.k.ExternalIP.As16()
		copy(r[24+20:], a[:])
		return r
	}
	r[3] = 4
	return r
}
