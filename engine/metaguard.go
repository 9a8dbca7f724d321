package engine

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// Metadata from peers (BEP 9) is decoded by anacrolix before its hash is
// checked, with the same unbounded recursive decoder: 16 MiB of nested
// lists from any peer would overflow the stack and kill the process, which
// no recover can catch. The guard mirrors the metadata pieces as they
// arrive (the callback runs before anacrolix handles the message) and,
// when a piece would complete metadata that fails the input limits, spoils
// that message's type so anacrolix rejects it and drops the connection
// instead of decoding.

// metaMirror assembles one torrent's metadata as peers send it.
type metaMirror struct {
	buf  []byte
	have []bool
}

// metaGuard holds the mirrors of torrents still fetching metadata.
type metaGuard struct {
	mu      sync.Mutex
	mirrors map[string]*metaMirror
}

// onData takes one ut_metadata message and returns an error if it is a
// data piece completing metadata that must not be decoded.
func (g *metaGuard) onData(ih string, payload []byte) error {
	n, err := scanBencode(payload, benLimits{depth: 2, tokens: 16, weight: 64})
	if err != nil {
		return nil // anacrolix refuses malformed headers itself
	}
	var m pp.ExtendedMetadataRequestMsg
	if bencode.Unmarshal(payload[:n], &m) != nil || m.Type != pp.DataMetadataExtensionMsgType {
		return nil
	}
	if m.TotalSize <= 0 || m.TotalSize > maxInfoSize || m.Piece < 0 {
		return nil // anacrolix refuses sizes over its own 16 MiB limit
	}
	size := m.PieceSize()
	if size <= 0 || len(payload)-n != size {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mirrors == nil {
		g.mirrors = map[string]*metaMirror{}
	}
	mm := g.mirrors[ih]
	if mm == nil || len(mm.buf) != m.TotalSize {
		mm = &metaMirror{buf: make([]byte, m.TotalSize), have: make([]bool, (m.TotalSize+1<<14-1)>>14)}
		g.mirrors[ih] = mm
	}
	if m.Piece >= len(mm.have) {
		return nil
	}
	copy(mm.buf[m.Piece<<14:], payload[n:])
	mm.have[m.Piece] = true
	for _, h := range mm.have {
		if !h {
			return nil
		}
	}
	if err := checkBencode(mm.buf); err != nil {
		// Forget this piece: a good copy from another peer may follow.
		mm.have[m.Piece] = false
		return err
	}
	delete(g.mirrors, ih)
	return nil
}

// spoilMetadataMsg changes a data message's msg_type 1 to 9, which
// anacrolix answers with "unknown msg_type value" and a closed connection.
func spoilMetadataMsg(payload []byte) bool {
	i := bytes.Index(payload, []byte("8:msg_typei1e"))
	if i < 0 {
		return false
	}
	payload[i+len("8:msg_typei")] = '9'
	return true
}

// installMetaGuard hooks the guard into the client's extension messages.
func (e *Engine) installMetaGuard(tc *torrent.ClientConfig) {
	g := &metaGuard{}
	tc.Callbacks.PeerConnReadExtensionMessage = append(tc.Callbacks.PeerConnReadExtensionMessage, func(ev torrent.PeerConnReadExtensionMessageEvent) {
		pc := ev.PeerConn
		m := pc.LocalLtepProtocolMap
		n := int(ev.ExtensionNumber)
		if m == nil || n < 1 || n > len(m.Index) || m.Index[n-1] != pp.ExtensionNameMetadata {
			return
		}
		t := pc.Torrent()
		if t == nil || t.Info() != nil {
			return
		}
		ih := t.InfoHash().HexString()
		err := g.onData(ih, ev.Payload)
		if err == nil {
			return
		}
		spoiled := spoilMetadataMsg(ev.Payload)
		e.emit(swarm.Event{Kind: swarm.EventError, InfoHash: ih, Peer: pc.RemoteAddr.String(),
			Message: fmt.Sprintf("refused metadata from %s before decoding: %v (dropped=%v)", pc.RemoteAddr, err, spoiled)})
	})
}
