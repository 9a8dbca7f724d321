package nslab

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Torrent is a test torrent made by mktorrent over generated data.
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
// dir/data/name and makes dir/name.torrent with mktorrent (package
// mktorrent) announcing to the given URLs, one tier each.
func MakeTorrent(dir, name string, size int64, seed uint64, announce ...string) (*Torrent, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("make torrent: %w", err)
	}
	path := filepath.Join(dataDir, name)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("make torrent: %w", err)
	}
	h := sha1.New()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		for i := 0; i < int(n); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < int(n); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return nil, fmt.Errorf("make torrent: %w", err)
		}
		h.Write(buf[:n])
		left -= n
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("make torrent: %w", err)
	}
	bin, err := LookPath("mktorrent")
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, name+".torrent")
	// 256 KiB pieces: several pieces even for small test files, so piece
	// exchange between peers is real.
	args := []string{"-l", "18", "-n", name, "-o", out}
	for _, a := range announce {
		args = append(args, "-a", a)
	}
	args = append(args, path)
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mktorrent: %w: %s", err, strings.TrimSpace(string(b)))
	}
	ih, err := InfoHashOfFile(out)
	if err != nil {
		return nil, err
	}
	return &Torrent{Path: out, DataDir: dataDir, Name: name, Size: size, InfoHash: ih, SHA1: hex.EncodeToString(h.Sum(nil))}, nil
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

// InfoHashOfFile reads a .torrent file and returns its info hash in hex.
func InfoHashOfFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read torrent: %w", err)
	}
	raw, err := infoDict(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	sum := sha1.Sum(raw)
	return hex.EncodeToString(sum[:]), nil
}

// infoDict returns the raw bytes of the top-level "info" value.
func infoDict(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != 'd' {
		return nil, fmt.Errorf("not a bencoded dictionary")
	}
	i := 1
	for i < len(b) && b[i] != 'e' {
		key, next, err := bString(b, i)
		if err != nil {
			return nil, err
		}
		end, err := bSkip(b, next)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(key, []byte("info")) {
			if b[next] != 'd' {
				return nil, fmt.Errorf("info is not a dictionary")
			}
			return b[next:end], nil
		}
		i = end
	}
	return nil, fmt.Errorf("no info dictionary")
}

func bString(b []byte, i int) ([]byte, int, error) {
	j := bytes.IndexByte(b[i:], ':')
	if j < 0 {
		return nil, 0, fmt.Errorf("bad string at %d", i)
	}
	n, err := strconv.Atoi(string(b[i : i+j]))
	if err != nil || n < 0 || i+j+1+n > len(b) {
		return nil, 0, fmt.Errorf("bad string length at %d", i)
	}
	start := i + j + 1
	return b[start : start+n], start + n, nil
}

// bSkip returns the index just past the value starting at i.
func bSkip(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("truncated at %d", i)
	}
	switch c := b[i]; {
	case c == 'i':
		j := bytes.IndexByte(b[i:], 'e')
		if j < 0 {
			return 0, fmt.Errorf("bad integer at %d", i)
		}
		return i + j + 1, nil
	case c == 'l' || c == 'd':
		i++
		for i < len(b) && b[i] != 'e' {
			var err error
			if i, err = bSkip(b, i); err != nil {
				return 0, err
			}
		}
		if i >= len(b) {
			return 0, fmt.Errorf("unterminated container")
		}
		return i + 1, nil
	case c >= '0' && c <= '9':
		_, next, err := bString(b, i)
		return next, err
	default:
		return 0, fmt.Errorf("bad bencode byte %q at %d", c, i)
	}
}
