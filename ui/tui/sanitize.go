package tui

import (
	"strings"
	"unicode"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// Strings that reach the screen from the network (client names from
// handshakes, torrent and file names from metadata, tracker and relay
// messages, router names from UPnP) could carry escape sequences that
// repaint or reprogram the user's terminal. They are cleaned once when the
// data arrives; snapshots are shared and never modified, so cleaning copies
// only what needs it.

// clean replaces control characters, and bidirectional overrides that
// could disguise text, with U+FFFD.
func clean(s string) string {
	if !dirty(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func dirty(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return true
		}
		if c >= 0x80 {
			// Slow path only for non-ASCII text.
			for _, r := range s[i:] {
				if unsafeRune(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == unicode.ReplacementChar:
		return false
	}
	return false
}

func cleanSnapshot(s swarm.Snapshot) swarm.Snapshot {
	var ts []swarm.TorrentInfo
	for i := range s.Torrents {
		t := s.Torrents[i]
		changed := false
		if n := clean(t.Name); n != t.Name {
			t.Name, changed = n, true
		}
		if e := clean(t.Err); e != t.Err {
			t.Err, changed = e, true
		}
		if ps, ok := cleanPeers(t.PeerList); ok {
			t.PeerList, changed = ps, true
		}
		if fs, ok := cleanFiles(t.Files); ok {
			t.Files, changed = fs, true
		}
		if changed {
			if ts == nil {
				ts = append([]swarm.TorrentInfo(nil), s.Torrents...)
			}
			ts[i] = t
		}
	}
	if ts != nil {
		s.Torrents = ts
	}
	s.ListenAddr = clean(s.ListenAddr)
	return s
}

func cleanPeers(ps []swarm.PeerInfo) ([]swarm.PeerInfo, bool) {
	var out []swarm.PeerInfo
	for i := range ps {
		p := &ps[i]
		if !dirty(p.Client) && !dirty(p.Addr) && !dirty(p.ID) {
			continue
		}
		if out == nil {
			out = append([]swarm.PeerInfo(nil), ps...)
		}
		out[i].Client, out[i].Addr, out[i].ID = clean(p.Client), clean(p.Addr), clean(p.ID)
	}
	return out, out != nil
}

func cleanFiles(fs []swarm.FileInfo) ([]swarm.FileInfo, bool) {
	var out []swarm.FileInfo
	for i := range fs {
		if !dirty(fs[i].Path) {
			continue
		}
		if out == nil {
			out = append([]swarm.FileInfo(nil), fs...)
		}
		out[i].Path = clean(fs[i].Path)
	}
	return out, out != nil
}

func cleanEvent(e swarm.Event) swarm.Event {
	e.Message, e.Peer, e.Via, e.InfoHash = clean(e.Message), clean(e.Peer), clean(e.Via), clean(e.InfoHash)
	e.Kind, e.Origin = swarm.EventKind(clean(string(e.Kind))), swarm.Origin(clean(string(e.Origin)))
	return e
}

func cleanReport(r nat.Report) nat.Report {
	r.LocalAddr, r.PublicAddr = clean(r.LocalAddr), clean(r.PublicAddr)
	r.Reachable.Advice = clean(r.Reachable.Advice)
	u := &r.UPnP
	u.Device, u.Service, u.ExternalIP, u.Error = clean(u.Device), clean(u.Service), clean(u.ExternalIP), clean(u.Error)
	if len(u.Mappings) > 0 {
		ms := append([]nat.Mapping(nil), u.Mappings...)
		for i := range ms {
			ms[i].Proto, ms[i].Internal = clean(ms[i].Proto), clean(ms[i].Internal)
		}
		u.Mappings = ms
	}
	if len(r.Servers) > 0 {
		ss := append([]nat.ServerResult(nil), r.Servers...)
		for i := range ss {
			ss[i].Address, ss[i].MappedAddr, ss[i].Error = clean(ss[i].Address), clean(ss[i].MappedAddr), clean(ss[i].Error)
		}
		r.Servers = ss
	}
	return r
}
