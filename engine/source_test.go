package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	good := []struct {
		in   string
		kind SourceKind
		ih   string
	}{
		{"0123456789abcdef0123456789ABCDEF01234567", SourceInfoHash, "0123456789abcdef0123456789abcdef01234567"},
		{"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x&x.pe=1.2.3.4:5", SourceMagnet, "0123456789abcdef0123456789abcdef01234567"},
		{"  magnet:?xt=urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH  ", SourceMagnet, "0123456789abcdef0123456789abcdef01234567"},
	}
	for _, g := range good {
		src, err := ParseSource(g.in)
		if err != nil {
			t.Errorf("ParseSource(%q): %v", g.in, err)
			continue
		}
		if src.Kind != g.kind || src.InfoHash != g.ih {
			t.Errorf("ParseSource(%q) = %s %s, want %s %s", g.in, src.Kind, src.InfoHash, g.kind, g.ih)
		}
	}
	for _, bad := range []string{"", " ", "magnet:", "magnet:?xt=urn:btih:", "magnet:?xt=urn:btih:xyz", "0123", strings.Repeat("0", 40), "/no/such/file.torrent", "."} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSource(%q) error has several lines: %q", bad, err)
		}
	}
}

// FuzzParseSource feeds arbitrary strings as SOURCE, and arbitrary bytes as
// the content of a .torrent file: neither may panic, and errors are one line.
func FuzzParseSource(f *testing.F) {
	f.Add("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567", []byte(nil))
	f.Add("magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e", []byte(nil))
	f.Add("0123456789abcdef0123456789abcdef01234567", []byte(nil))
	f.Add("", []byte("d4:infod6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Add("", []byte("d4:infod5:filesld6:lengthi1e4:pathl2:..1:xeee4:name1:x12:piece lengthi1e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Add("", []byte("d4:infod6:lengthi-5e12:piece lengthi0eee"))
	// The hostile corpus: every class the input limits refuse.
	corpus, _ := filepath.Glob("testdata/hostile/*.torrent")
	if len(corpus) < 10 {
		f.Fatalf("hostile corpus missing: %d files in testdata/hostile", len(corpus))
	}
	for _, p := range corpus {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("", b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string, torrent []byte) {
		if len(torrent) > 0 {
			p := filepath.Join(dir, "f.torrent")
			if err := os.WriteFile(p, torrent, 0o644); err != nil {
				t.Fatal(err)
			}
			s = p
		}
		src, err := ParseSource(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if len(src.InfoHash) != 40 {
			t.Errorf("accepted %q with info hash %q", s, src.InfoHash)
		}
	})
}
