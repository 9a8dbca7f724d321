package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

func TestScanBencode(t *testing.T) {
	good := []string{"i0e", "i-12e", "0:", "3:abc", "le", "de", "l1:ai1ee", "d1:ai1e1:bl2:xyee", "d1:ad1:bd1:cleeee"}
	for _, g := range good {
		if err := checkBencode([]byte(g)); err != nil {
			t.Errorf("checkBencode(%q): %v", g, err)
		}
	}
	bad := []string{"", "i", "ie", "i-e", "i12", "3:ab", "l", "d1:ae", "di1ei2ee", "x", "lee", "1:ax", "99999999999:a",
		"i" + strings.Repeat("1", 30) + "e"}
	for _, b := range bad {
		if err := checkBencode([]byte(b)); err == nil {
			t.Errorf("checkBencode(%q) accepted", b)
		}
	}
	lim := benLimits{depth: 3, tokens: 10, weight: 8}
	if _, err := scanBencode([]byte("llleee"), lim); err != nil {
		t.Errorf("depth 3 refused: %v", err)
	}
	if _, err := scanBencode([]byte("lllleeee"), lim); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("depth 4: %v", err)
	}
	if _, err := scanBencode([]byte("l"+strings.Repeat("i1e", 10)+"e"), lim); err == nil || !strings.Contains(err.Error(), "values") {
		t.Errorf("11 tokens: %v", err)
	}
	if _, err := scanBencode([]byte("lll"+strings.Repeat("i1e", 3)+"eee"), lim); err == nil || !strings.Contains(err.Error(), "heavy") {
		t.Errorf("weight: %v", err)
	}
}

// The scan agrees with anacrolix's decoder on real torrents: everything
// maketorrent-like input and a hybrid pass.
func TestValidTorrentsPassLimits(t *testing.T) {
	dir := t.TempDir()
	hybrid := map[string]any{"announce": "http://127.0.0.1:1/a", "info": map[string]any{
		"name": "h", "piece length": 16384, "meta version": 2, "pieces": strings.Repeat("p", 20),
		"files":     []any{map[string]any{"length": 10, "path": []any{"a.bin"}}},
		"file tree": map[string]any{"a.bin": map[string]any{"": map[string]any{"length": 10, "pieces root": strings.Repeat("r", 32)}}},
	}}
	b, err := bencode.Marshal(hybrid)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hybrid.torrent")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := ParseSource(p)
	if err != nil {
		t.Fatalf("hybrid refused: %v", err)
	}
	if src.InfoHash == strings.Repeat("0", 40) || len(src.InfoHash) != 40 {
		t.Errorf("hybrid info hash %q", src.InfoHash)
	}
}

// Names and paths the download directory's filesystem cannot hold are
// refused when the torrent is added, naming the file.
func TestAddRefusesPathsTooLong(t *testing.T) {
	dir := t.TempDir()
	var path []string
	for range 20 {
		path = append(path, strings.Repeat("d", 250))
	}
	info := metainfo.Info{Name: "deep", PieceLength: 16384, Pieces: make([]byte, 20),
		Files: []metainfo.FileInfo{{Length: 10, Path: append(path, "file.bin")}}}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "deep.torrent")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&metainfo.MetaInfo{InfoBytes: ib}).Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := ParseSource(p)
	if err != nil {
		t.Fatalf("parse: %v", err) // each name fits; only the whole path does not
	}
	e, err := New(context.Background(), Config{DataDir: filepath.Join(dir, "dl"), ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Add(src)
	if !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), "file.bin") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Add: %v; want a one-line bad-source error naming file.bin", err)
	}
}
