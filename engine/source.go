package engine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// SourceKind says what the user handed us.
type SourceKind string

const (
	SourceMagnet   SourceKind = "magnet"
	SourceFile     SourceKind = "torrent-file"
	SourceInfoHash SourceKind = "infohash"
)

// Source is a validated torrent source, ready to add to an Engine.
type Source struct {
	Kind     SourceKind
	Input    string // what the user typed
	InfoHash string // lower-case hex v1 info hash
	Name     string // display name, possibly empty until metadata arrives
	spec     *torrent.TorrentSpec
}

// ErrBadSource marks errors caused by the user's input rather than the
// environment, so the CLI can exit with the usage code.
var ErrBadSource = errors.New("bad source")

// maxTorrentFileSize bounds what we read from disk: real .torrent files of
// even very large torrents are a few MiB.
const maxTorrentFileSize = 64 << 20

// ParseSource recognises a magnet URI, a bare 40-hex info hash or a path to a
// .torrent file, and validates it fully, so that nothing malformed ever reaches
// the client.
func ParseSource(s string) (Source, error) {
	in := strings.TrimSpace(s)
	switch {
	case in == "":
		return Source{}, fmt.Errorf("%w: empty source", ErrBadSource)
	case strings.HasPrefix(strings.ToLower(in), "magnet:"):
		return parseMagnet(in)
	case len(in) == 40 && isHex(in):
		return parseInfoHash(in)
	}
	return parseTorrentFile(in)
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func parseInfoHash(in string) (Source, error) {
	var h metainfo.Hash
	if _, err := hex.Decode(h[:], []byte(in)); err != nil {
		return Source{}, fmt.Errorf("%w: info hash %q: %v", ErrBadSource, in, err)
	}
	if h == (metainfo.Hash{}) {
		return Source{}, fmt.Errorf("%w: info hash %q is all zeros", ErrBadSource, in)
	}
	spec := &torrent.TorrentSpec{AddTorrentOpts: torrent.AddTorrentOpts{InfoHash: h}}
	return Source{Kind: SourceInfoHash, Input: in, InfoHash: h.HexString(), spec: spec}, nil
}

func parseMagnet(in string) (src Source, err error) {
	// The magnet parsers index into attacker-controlled strings; a panic in
	// them must become an input error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: magnet %s: malformed (%v)", ErrBadSource, short(in), r)
		}
	}()
	spec, err := torrent.TorrentSpecFromMagnetUri(in)
	if err != nil {
		return Source{}, fmt.Errorf("%w: magnet %s: %v", ErrBadSource, short(in), err)
	}
	if spec.InfoHash == (metainfo.Hash{}) {
		return Source{}, fmt.Errorf("%w: magnet %s: no v1 info hash (xt=urn:btih:...)", ErrBadSource, short(in))
	}
	return Source{Kind: SourceMagnet, Input: in, InfoHash: spec.InfoHash.HexString(), Name: spec.DisplayName, spec: spec}, nil
}

func parseTorrentFile(path string) (src Source, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Source{}, fmt.Errorf("%w: %q is not a magnet URI, a 40-hex info hash or an existing .torrent file", ErrBadSource, path)
		}
		return Source{}, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	if fi.IsDir() {
		return Source{}, fmt.Errorf("%w: %s is a directory, not a .torrent file", ErrBadSource, path)
	}
	if fi.Size() > maxTorrentFileSize {
		return Source{}, fmt.Errorf("%w: %s: %d bytes is too large for a .torrent file", ErrBadSource, path, fi.Size())
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: corrupt .torrent file (%v)", ErrBadSource, path, r)
		}
	}()
	mi, err := metainfo.LoadFromFile(path)
	if err != nil {
		return Source{}, fmt.Errorf("%w: %s: corrupt .torrent file: %v", ErrBadSource, path, oneLine(err))
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return Source{}, fmt.Errorf("%w: %s: corrupt info dictionary: %v", ErrBadSource, path, oneLine(err))
	}
	if err := validateInfo(&info); err != nil {
		return Source{}, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return Source{}, fmt.Errorf("%w: %s: %v", ErrBadSource, path, oneLine(err))
	}
	return Source{Kind: SourceFile, Input: path, InfoHash: spec.InfoHash.HexString(), Name: info.BestName(), spec: spec}, nil
}

// validateInfo refuses metadata that would make the client misbehave or
// write outside the download directory. It runs for .torrent files here and
// for magnet metadata once it arrives.
func validateInfo(info *metainfo.Info) error {
	if info.PieceLength <= 0 {
		return fmt.Errorf("piece length %d is not positive", info.PieceLength)
	}
	if info.HasV1() && len(info.Pieces)%20 != 0 {
		return fmt.Errorf("pieces field is %d bytes, not a multiple of 20", len(info.Pieces))
	}
	if info.TotalLength() <= 0 {
		return errors.New("torrent holds no data")
	}
	if info.HasV1() && int64(info.NumPieces())*info.PieceLength < info.TotalLength() {
		return fmt.Errorf("%d pieces of %d bytes cannot hold %d bytes", info.NumPieces(), info.PieceLength, info.TotalLength())
	}
	if err := safeComponent(info.BestName(), true); err != nil {
		return fmt.Errorf("torrent name: %w", err)
	}
	for _, f := range info.UpvertedFiles() {
		if f.Length < 0 {
			return fmt.Errorf("file %q has negative length", strings.Join(f.BestPath(), "/"))
		}
		if len(info.Files) == 0 {
			continue // single-file torrent: the name is the path
		}
		if len(f.BestPath()) == 0 {
			return errors.New("a file has an empty path")
		}
		for _, c := range f.BestPath() {
			if err := safeComponent(c, false); err != nil {
				return fmt.Errorf("file path %q: %w", strings.Join(f.BestPath(), "/"), err)
			}
		}
	}
	return nil
}

// safeComponent accepts one path element that stays inside its parent.
func safeComponent(c string, isName bool) error {
	switch {
	case c == "" && isName:
		return nil // anacrolix substitutes a placeholder
	case c == "":
		return errors.New("empty path component")
	case c == "." || c == "..":
		return fmt.Errorf("path component %q escapes the download directory", c)
	case strings.ContainsAny(c, "/\\\x00"):
		return fmt.Errorf("path component %q contains a separator or NUL", c)
	case filepath.IsAbs(c) || filepath.VolumeName(c) != "":
		return fmt.Errorf("path component %q is absolute", c)
	}
	return nil
}

func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%q…", s[:60])
	}
	return fmt.Sprintf("%q", s)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
