package text

import "github.com/swarmscope/swarmscope/engine/swarm"

// CleanSnapshot returns s with every string that came from the network or
// a .torrent cleaned (torrent, file and client names, errors, addresses).
// Snapshots are shared between consumers and never modified: only what
// needs cleaning is copied.
func CleanSnapshot(s swarm.Snapshot) swarm.Snapshot {
	var ts []swarm.TorrentInfo
	for i := range s.Torrents {
		t := s.Torrents[i]
		changed := false
		if n := Clean(t.Name); n != t.Name {
			t.Name, changed = n, true
		}
		if e := CleanLine(t.Err); e != t.Err {
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
	s.ListenAddr = Clean(s.ListenAddr)
	return s
}

func cleanPeers(ps []swarm.PeerInfo) ([]swarm.PeerInfo, bool) {
	var out []swarm.PeerInfo
	for i := range ps {
		p := &ps[i]
		if !Dirty(p.Client) && !Dirty(p.Addr) && !Dirty(p.ID) && !Dirty(p.Relay) {
			continue
		}
		if out == nil {
			out = append([]swarm.PeerInfo(nil), ps...)
		}
		out[i].Client, out[i].Addr, out[i].ID, out[i].Relay = Clean(p.Client), Clean(p.Addr), Clean(p.ID), Clean(p.Relay)
	}
	return out, out != nil
}

func cleanFiles(fs []swarm.FileInfo) ([]swarm.FileInfo, bool) {
	var out []swarm.FileInfo
	for i := range fs {
		if !Dirty(fs[i].Path) {
			continue
		}
		if out == nil {
			out = append([]swarm.FileInfo(nil), fs...)
		}
		out[i].Path = Clean(fs[i].Path)
	}
	return out, out != nil
}

// CleanEvent returns e with its strings cleaned; a message keeps its words
// on one line.
func CleanEvent(e swarm.Event) swarm.Event {
	e.Message, e.Peer, e.Via, e.InfoHash = CleanLine(e.Message), Clean(e.Peer), Clean(e.Via), Clean(e.InfoHash)
	e.Kind, e.Origin = swarm.EventKind(Clean(string(e.Kind))), swarm.Origin(Clean(string(e.Origin)))
	return e
}
