package nslab

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// Torrent is a test torrent over generated data.
type Torrent struct {
	// Path is the .torrent file.
	Path string
	// DataDir holds the content: DataDir/Name is the file.
	DataDir string
	Name    string
	Size    int64
	// InfoHash is the hex SHA-1 of the bencoded info dictionary.
	InfoHash string
	// SHA1 is the hex SHA-1 of the content, to verify downloads.
	SHA1 string
}

// MakeTorrent writes size bytes of seeded pseudo-random data to
// dir/data/name and makes dir/name.torrent (engine/maketorrent, 256 KiB
// pieces: several pieces even for small files, so piece exchange between
// peers is real) announcing to the given URLs.
func MakeTorrent(dir, name string, size int64, seed uint64, announce ...string) (*Torrent, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("make torrent: %w", err)
	}
	res, err := maketorrent.Make(dataDir, filepath.Join(dir, name+".torrent"), maketorrent.Spec{
		Name: name, FileSizes: []int64{size}, PieceLength: 256 << 10, Seed: seed, Announce: announce,
	})
	if err != nil {
		return nil, err
	}
	sum, err := FileSHA1(res.ContentPath)
	if err != nil {
		return nil, err
	}
	return &Torrent{Path: res.TorrentPath, DataDir: dataDir, Name: name, Size: size, InfoHash: res.InfoHash, SHA1: sum}, nil
}

// FileSHA1 is the hex SHA-1 of a file's content.
func FileSHA1(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Verify reports whether path holds exactly the torrent's content.
func (tt *Torrent) Verify(path string) error {
	sum, err := FileSHA1(path)
	if err != nil {
		return err
	}
	if sum != tt.SHA1 {
		return fmt.Errorf("%s: content SHA-1 %s, want %s", path, sum, tt.SHA1)
	}
	return nil
}
