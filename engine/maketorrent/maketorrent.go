// Package maketorrent writes random test content and a .torrent for it. The
// tests, the lab and the benchmark all need real torrents of real data.
package maketorrent

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Spec describes the content to make.
type Spec struct {
	Name        string  // top directory (multi-file) or file name (one file)
	FileSizes   []int64 // one entry = single-file torrent
	PieceLength int64   // default 256 KiB
	Seed        uint64  // randomness of the content
	Announce    []string
	// Private marks the torrent private (no DHT/PEX), as some tests need.
	Private bool
}

// Result says where things were written.
type Result struct {
	TorrentPath string
	InfoHash    string
	ContentPath string // dir/Name
	Size        int64
	MetaInfo    *metainfo.MetaInfo
}

// Make writes the content under dir/Name and the .torrent at torrentPath.
func Make(dir, torrentPath string, s Spec) (Result, error) {
	if s.PieceLength <= 0 {
		s.PieceLength = 256 << 10
	}
	if s.Name == "" || len(s.FileSizes) == 0 {
		return Result{}, fmt.Errorf("maketorrent: name and file sizes are required")
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	root := filepath.Join(dir, s.Name)
	var total int64
	if len(s.FileSizes) == 1 {
		if err := writeRandom(root, s.FileSizes[0], rng); err != nil {
			return Result{}, err
		}
		total = s.FileSizes[0]
	} else {
		for i, size := range s.FileSizes {
			p := filepath.Join(root, fmt.Sprintf("dir%d", i%3), fmt.Sprintf("file%02d.bin", i))
			if err := writeRandom(p, size, rng); err != nil {
				return Result{}, err
			}
			total += size
		}
	}
	info := metainfo.Info{PieceLength: s.PieceLength, Name: s.Name}
	if s.Private {
		t := true
		info.Private = &t
	}
	if err := info.BuildFromFilePath(root); err != nil {
		return Result{}, fmt.Errorf("maketorrent: hashing %s: %w", root, err)
	}
	info.Name = s.Name
	mi := &metainfo.MetaInfo{CreatedBy: "swarmscope test"}
	if len(s.Announce) > 0 {
		mi.Announce = s.Announce[0]
		mi.AnnounceList = [][]string{s.Announce}
	}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		return Result{}, fmt.Errorf("maketorrent: encoding info: %w", err)
	}
	f, err := os.Create(torrentPath)
	if err != nil {
		return Result{}, fmt.Errorf("maketorrent: %w", err)
	}
	if err := mi.Write(f); err != nil {
		f.Close()
		return Result{}, fmt.Errorf("maketorrent: writing %s: %w", torrentPath, err)
	}
	if err := f.Close(); err != nil {
		return Result{}, fmt.Errorf("maketorrent: %w", err)
	}
	return Result{TorrentPath: torrentPath, InfoHash: mi.HashInfoBytes().HexString(), ContentPath: root, Size: total, MetaInfo: mi}, nil
}

func writeRandom(path string, size int64, rng *rand.Rand) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("maketorrent: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("maketorrent: %w", err)
	}
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		for i := 0; i < int(n); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < int(n); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return fmt.Errorf("maketorrent: writing %s: %w", path, err)
		}
		left -= n
	}
	return f.Close()
}

// SameContent compares two trees byte for byte and names the first file that
// differs.
func SameContent(a, b string) error {
	return filepath.Walk(a, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(a, p)
		if err := sameFile(p, filepath.Join(b, rel)); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
}

func sameFile(x, y string) error {
	fx, err := os.Open(x)
	if err != nil {
		return err
	}
	defer fx.Close()
	fy, err := os.Open(y)
	if err != nil {
		return err
	}
	defer fy.Close()
	bx, by := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); ; {
		nx, ex := io.ReadFull(fx, bx)
		ny, ey := io.ReadFull(fy, by)
		if nx != ny || string(bx[:nx]) != string(by[:ny]) {
			return fmt.Errorf("differs near byte %d", off)
		}
		off += int64(nx)
		if ex == io.EOF || ex == io.ErrUnexpectedEOF {
			if ey != ex {
				return fmt.Errorf("lengths differ")
			}
			return nil
		}
		if ex != nil {
			return ex
		}
	}
}
