package engine

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
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
	info     *metainfo.Info // nil until known (magnets, info hashes)
}

// ErrBadSource marks errors caused by the user's input rather than the
// environment, so the CLI can exit with the usage code.
var ErrBadSource = errors.New("bad source")

// maxTorrentFileSize bounds what we read from disk: real .torrent files,
// v2 piece layers included, are a few MiB even for terabyte torrents.
const maxTorrentFileSize = 32 << 20

// maxInfoSize bounds the info dictionary: anacrolix accepts at most 16 MiB
// of metadata from peers, so a larger one could never be shared anyway.
const maxInfoSize = 16 << 20

// parseTimeout bounds reading and decoding one source. The input limits
// make decoding linear; this is the backstop for slow storage.
const parseTimeout = 10 * time.Second

// ParseSource recognises a magnet URI, a bare 40-hex info hash or a path to a
// .torrent file, and validates it fully, so that nothing malformed ever reaches
// the client.
func ParseSource(s string) (Source, error) {
	return ParseSourceContext(context.Background(), s)
}

// ParseSourceContext is ParseSource that gives up when ctx ends (a signal):
// reading a file and decoding it happen off the caller's goroutine.
func ParseSourceContext(ctx context.Context, s string) (Source, error) {
	in := strings.TrimSpace(s)
	switch {
	case in == "":
		return Source{}, fmt.Errorf("%w: empty source", ErrBadSource)
	case strings.HasPrefix(strings.ToLower(in), "magnet:"):
		return parseMagnet(in)
	case len(in) == 40 && isHex(in):
		return parseInfoHash(in)
	}
	ctx, cancel := context.WithTimeout(ctx, parseTimeout)
	defer cancel()
	type result struct {
		src Source
		err error
	}
	ch := make(chan result, 1)
	go func() {
		src, err := parseTorrentFile(ctx, in)
		ch <- result{src, err}
	}()
	select {
	case r := <-ch:
		return r.src, r.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Source{}, fmt.Errorf("%w: %s: not read and decoded within %s", ErrBadSource, in, parseTimeout)
		}
		return Source{}, fmt.Errorf("reading %s: %w", in, ctx.Err())
	}
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

func parseTorrentFile(ctx context.Context, path string) (src Source, err error) {
	b, err := readTorrentFile(ctx, path)
	if err != nil {
		return Source{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: corrupt .torrent file (%v)", ErrBadSource, path, r)
		}
	}()
	if err := checkBencode(b); err != nil {
		return Source{}, fmt.Errorf("%w: %s: refused before decoding: %v", ErrBadSource, path, err)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return Source{}, fmt.Errorf("%w: %s: corrupt .torrent file: %v", ErrBadSource, path, oneLine(err))
	}
	b = nil
	if len(mi.InfoBytes) == 0 {
		return Source{}, fmt.Errorf("%w: %s: no info dictionary", ErrBadSource, path)
	}
	if len(mi.InfoBytes) > maxInfoSize {
		return Source{}, fmt.Errorf("%w: %s: info dictionary of %d bytes is larger than the %d peers could send", ErrBadSource, path, len(mi.InfoBytes), maxInfoSize)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return Source{}, fmt.Errorf("%w: %s: corrupt info dictionary: %v", ErrBadSource, path, oneLine(err))
	}
	if err := ctx.Err(); err != nil {
		return Source{}, err
	}
	if err := validateInfo(&info); err != nil {
		return Source{}, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return Source{}, fmt.Errorf("%w: %s: %v", ErrBadSource, path, oneLine(err))
	}
	if spec.InfoHash == (metainfo.Hash{}) {
		return Source{}, fmt.Errorf("%w: %s: no v1 info hash", ErrBadSource, path)
	}
	return Source{Kind: SourceFile, Input: path, InfoHash: spec.InfoHash.HexString(), Name: info.BestName(), spec: spec, info: &info}, nil
}

// readTorrentFile reads a regular file of bounded size. Anything else is
// refused before it is read: a FIFO or a device would block or never end.
// The file is opened non-blocking so that opening a FIFO cannot hang.
func readTorrentFile(ctx context.Context, path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %q is not a magnet URI, a 40-hex info hash or an existing .torrent file", ErrBadSource, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	if err := regularFile(path, fi); err != nil {
		return nil, err
	}
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	defer f.Close()
	// Stat the opened file too: the path may have changed since.
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	if err := regularFile(path, fi); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead)
	r := io.LimitReader(ctxReader{ctx, f}, maxTorrentFileSize+1)
	if _, err := buf.ReadFrom(r); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	if buf.Len() > maxTorrentFileSize {
		return nil, fmt.Errorf("%w: %s: larger than %d MiB, too large for a .torrent file", ErrBadSource, path, maxTorrentFileSize>>20)
	}
	return buf.Bytes(), nil
}

func regularFile(path string, fi os.FileInfo) error {
	m := fi.Mode()
	var what string
	switch {
	case m.IsRegular():
		if fi.Size() > maxTorrentFileSize {
			return fmt.Errorf("%w: %s: %d bytes is too large for a .torrent file (limit %d MiB)", ErrBadSource, path, fi.Size(), maxTorrentFileSize>>20)
		}
		return nil
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeDevice != 0:
		what = "a device"
	default:
		what = "not a regular file"
	}
	return fmt.Errorf("%w: %s is %s, not a .torrent file", ErrBadSource, path, what)
}

// ctxReader stops reading once ctx ends, between reads of at most 1 MiB.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) > 1<<20 {
		p = p[:1<<20]
	}
	return c.r.Read(p)
}

// Bounds on info dictionary values, well above any real torrent, that
// keep arithmetic on them from overflowing.
const (
	maxPieceLength = 1 << 30
	maxFileLength  = 1 << 50
	maxFiles       = 1_000_000
	// maxNameBytes is NAME_MAX on the filesystems swarmscope runs on; Add
	// asks the download directory's filesystem for its own limit.
	maxNameBytes = 255
)

var errV2Only = errors.New("BitTorrent v2-only torrent: not supported (anacrolix v1.59.1 gives it no v1 info hash and cannot manage it); use a v1 or hybrid .torrent")

// validateInfo refuses metadata that would make the client misbehave or
// write outside the download directory. It runs for .torrent files here and
// for magnet metadata once it arrives. It mirrors every check anacrolix
// makes when a torrent is added, so that a torrent refused there is refused
// here first, as the user's input.
func validateInfo(info *metainfo.Info) error {
	switch info.MetaVersion {
	case 0, 1, 2:
	default:
		return fmt.Errorf("meta version %d is unknown", info.MetaVersion)
	}
	if info.HasV2() && !info.HasV1() {
		return errV2Only
	}
	pl := info.PieceLength
	if pl <= 0 {
		return fmt.Errorf("piece length %d is not positive", pl)
	}
	if pl > maxPieceLength {
		return fmt.Errorf("piece length %d is larger than %d", pl, maxPieceLength)
	}
	if info.HasV2() && (pl < 16<<10 || pl&(pl-1) != 0) {
		return fmt.Errorf("v2 piece length %d is not a power of two of at least 16 KiB", pl)
	}
	if len(info.Pieces)%20 != 0 {
		return fmt.Errorf("pieces field is %d bytes, not a multiple of 20", len(info.Pieces))
	}
	if err := safeComponent(info.BestName(), true); err != nil {
		return fmt.Errorf("torrent name: %w", err)
	}
	if len(info.Files) > maxFiles {
		return fmt.Errorf("%d files is more than %d", len(info.Files), maxFiles)
	}

	// The v1 file list (a hybrid's includes padding files).
	var v1Total int64
	for f := range info.UpvertedV1Files() {
		if err := checkFile(f, len(info.Files) > 0); err != nil {
			return err
		}
		if v1Total += f.Length; v1Total > maxFileLength {
			return fmt.Errorf("total length is larger than %d", int64(maxFileLength))
		}
	}
	if want := (v1Total + pl - 1) / pl; int64(len(info.Pieces)/20) != want {
		return fmt.Errorf("%d pieces of %d bytes cannot hold exactly %d bytes (want %d pieces)", len(info.Pieces)/20, pl, v1Total, want)
	}
	// The v2 file tree: for a hybrid it, not the v1 list, names the files
	// anacrolix stores, and every path in it is checked the same way.
	if info.HasV2() {
		var v2Total int64
		n := 0
		for f := range info.UpvertedFilesIter() {
			if n++; n > maxFiles {
				return fmt.Errorf("file tree holds more than %d files", maxFiles)
			}
			if len(f.Path) == 0 {
				return errors.New("file tree has a file with an empty path")
			}
			if err := checkFile(f, true); err != nil {
				return err
			}
			if v2Total += f.Length; v2Total > maxFileLength {
				return fmt.Errorf("total length is larger than %d", int64(maxFileLength))
			}
		}
		// anacrolix takes the piece count from the tree and the v1 hashes
		// by that count: fewer v1 hashes would index past their end.
		if v1 := len(info.Pieces) / 20; v1 != info.NumPieces() {
			return fmt.Errorf("hybrid torrent: %d v1 piece hashes for %d v2 pieces", v1, info.NumPieces())
		}
	}
	if info.TotalLength() <= 0 {
		return errors.New("torrent holds no data")
	}
	return checkConflicts(info)
}

func checkFile(f metainfo.FileInfo, multi bool) error {
	p := shortPath(strings.Join(f.BestPath(), "/"))
	if f.Length < 0 {
		return fmt.Errorf("file %s has negative length", p)
	}
	if f.Length > maxFileLength {
		return fmt.Errorf("file %s is larger than %d bytes", p, int64(maxFileLength))
	}
	if !multi {
		return nil // single-file torrent: the name is the path
	}
	if len(f.BestPath()) == 0 {
		return errors.New("a file has an empty path")
	}
	for _, c := range f.BestPath() {
		if err := safeComponent(c, false); err != nil {
			return fmt.Errorf("file path %s: %w", p, err)
		}
	}
	return nil
}

// checkConflicts refuses two files at one path, and a file at a path
// another file needs as a directory ("a" beside "a/b"): anacrolix would
// write both into one file, or fail to create the second forever.
func checkConflicts(info *metainfo.Info) error {
	files := map[string]bool{}
	padding := map[string]bool{}
	for f := range info.UpvertedFilesIter() {
		p := filepath.ToSlash(safeFilePath(storage.FilePathMakerOpts{Info: info, File: &f}))
		if files[p] {
			// BEP 47 padding files are all zeros: one file for all is fine.
			if strings.Contains(f.Attr, "p") && padding[p] {
				continue
			}
			return fmt.Errorf("file %s is listed twice", shortPath(p))
		}
		files[p] = true
		padding[p] = strings.Contains(f.Attr, "p")
	}
	for p := range files {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if files[d] {
				return fmt.Errorf("file %s is also needed as the directory of %s", shortPath(d), shortPath(p))
			}
		}
	}
	return nil
}

// maxPathBytes is PATH_MAX on Linux, the terminating NUL included.
const maxPathBytes = 4096

// CheckFits refuses a torrent whose files cannot be created below dataDir:
// a name longer than that filesystem allows, or a path longer than the
// kernel takes. anacrolix would otherwise fail to open the file on every
// write and the download would sit at 0 % with no message.
func checkFits(dataDir string, info *metainfo.Info) error {
	nameMax := nameMaxOf(dataDir)
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	for f := range info.UpvertedFilesIter() {
		rel := safeFilePath(storage.FilePathMakerOpts{Info: info, File: &f})
		for _, c := range strings.Split(rel, string(filepath.Separator)) {
			if len(c) > nameMax {
				return fmt.Errorf("file %s: name %s is %d bytes; the filesystem of %s allows %d", shortPath(rel), short(c), len(c), dataDir, nameMax)
			}
		}
		if n := len(abs) + 1 + len(rel); n >= maxPathBytes {
			return fmt.Errorf("file %s: its path below %s would be %d bytes; the limit is %d", shortPath(rel), dataDir, n, maxPathBytes-1)
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
		return fmt.Errorf("path component %s contains a separator or NUL", short(c))
	case filepath.IsAbs(c) || filepath.VolumeName(c) != "":
		return fmt.Errorf("path component %s is absolute", short(c))
	case len(c) > maxNameBytes:
		return fmt.Errorf("name %s is %d bytes, longer than the %d a file name may have", short(c), len(c), maxNameBytes)
	}
	return nil
}

func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%q…", s[:60])
	}
	return fmt.Sprintf("%q", s)
}

// shortPath quotes a path, keeping its end (the file's own name) if long.
func shortPath(p string) string {
	if len(p) > 80 {
		return fmt.Sprintf("…%q", p[len(p)-80:])
	}
	return fmt.Sprintf("%q", p)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
