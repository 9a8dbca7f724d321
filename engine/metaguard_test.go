package engine

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
)

func metadataMsg(piece, total int, data []byte) []byte {
	return append([]byte(fmt.Sprintf("d8:msg_typei1e5:piecei%de10:total_sizei%dee", piece, total)), data...)
}

// Metadata that would overflow anacrolix's decoder is caught on the piece
// that completes it, whatever order the pieces come in, and that message is
// spoiled so anacrolix drops it; good metadata passes.
func TestMetaGuard(t *testing.T) {
	bomb := []byte(strings.Repeat("l", 20000) + strings.Repeat("e", 20000))
	var g metaGuard
	// Pieces in reverse order: only the last one (piece 0) completes it.
	for i := 2; i >= 0; i-- {
		end := min((i+1)<<14, len(bomb))
		msg := metadataMsg(i, len(bomb), bomb[i<<14:end])
		err := g.onData("ih", msg)
		if i > 0 && err != nil {
			t.Fatalf("piece %d refused before metadata was complete: %v", i, err)
		}
		if i == 0 {
			if err == nil || !strings.Contains(err.Error(), "deeper") {
				t.Fatalf("complete bomb: %v", err)
			}
			if !spoilMetadataMsg(msg) || !strings.HasPrefix(string(msg), "d8:msg_typei9e") {
				t.Fatalf("message not spoiled: %.40q", msg)
			}
		}
	}
	good := []byte("d6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae")
	if err := g.onData("ih2", metadataMsg(0, len(good), good)); err != nil {
		t.Fatalf("good metadata refused: %v", err)
	}
	if len(g.mirrors) != 1 { // the bomb's mirror waits for another piece 0; the good one is gone
		t.Errorf("%d mirrors kept", len(g.mirrors))
	}
	// Requests and rejects are not data.
	if err := g.onData("ih3", []byte("d8:msg_typei0e5:piecei0ee")); err != nil {
		t.Error(err)
	}
}

// A peer that answers a magnet's metadata requests with 1 MiB of nested
// lists: without the guard anacrolix decodes it before checking its hash
// and the process dies of a stack overflow (nothing can recover that). The
// engine must refuse it, say so, and stay up.
func TestMetadataBombFromPeer(t *testing.T) {
	bomb := []byte(strings.Repeat("l", 1<<19) + strings.Repeat("e", 1<<19))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ih [20]byte
	copy(ih[:], "swarmscope-metabomb!")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveMetadata(c, ih, bomb)
		}
	}()
	e, err := New(context.Background(), Config{DataDir: t.TempDir(), ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src, err := ParseSource(hex.EncodeToString(ih[:]))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Add(src); err != nil {
		t.Fatal(err)
	}
	if err := e.AddPeers(src.InfoHash, []netip.AddrPort{netip.MustParseAddrPort(l.Addr().String())}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Minute)
	for {
		select {
		case ev := <-e.Events():
			if ev.Kind == swarm.EventError && strings.Contains(ev.Message, "refused metadata") {
				t.Logf("event: %s", ev.Message)
				return
			}
		case <-deadline:
			t.Fatal("no refused-metadata event within a minute")
		}
	}
}

// serveMetadata speaks just enough BitTorrent to hand out metadata.
func serveMetadata(c net.Conn, ih [20]byte, meta []byte) {
	defer c.Close()
	hs := make([]byte, 68)
	if _, err := io.ReadFull(c, hs); err != nil || string(hs[:20]) != "\x13BitTorrent protocol" {
		return // an encrypted attempt: anacrolix retries in the clear
	}
	reserved := make([]byte, 8)
	reserved[5] = 0x10 // extension protocol
	out := append([]byte("\x13BitTorrent protocol"), reserved...)
	out = append(out, ih[:]...)
	out = append(out, []byte("-XX0001-hostilepeer1")...)
	writeMsg := func(id byte, payload []byte) error {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)+1))
		b = append(b, id)
		_, err := c.Write(append(b, payload...))
		return err
	}
	if _, err := c.Write(out); err != nil {
		return
	}
	if writeMsg(20, fmt.Appendf([]byte{0}, "d1:md11:ut_metadatai3ee13:metadata_sizei%dee", len(meta))) != nil {
		return
	}
	theirID := byte(0)
	for {
		var n uint32
		if binary.Read(c, binary.BigEndian, &n) != nil || n > 1<<20 {
			return
		}
		if n == 0 {
			continue
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		if msg[0] != 20 || len(msg) < 2 {
			continue
		}
		switch {
		case msg[1] == 0:
			s := string(msg[2:])
			if i := strings.Index(s, "11:ut_metadatai"); i >= 0 {
				fmt.Sscanf(s[i+len("11:ut_metadatai"):], "%d", &theirID)
			}
		case msg[1] == 3 && theirID != 0:
			var piece int
			s := string(msg[2:])
			if i := strings.Index(s, "5:piecei"); i >= 0 {
				fmt.Sscanf(s[i+len("5:piecei"):], "%d", &piece)
			}
			end := min((piece+1)<<14, len(meta))
			if piece<<14 >= len(meta) {
				return
			}
			payload := append([]byte{theirID}, metadataMsg(piece, len(meta), meta[piece<<14:end])...)
			if writeMsg(20, payload) != nil {
				return
			}
		}
	}
}
