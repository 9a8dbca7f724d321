// Package storage is swarmscope's torrent data storage: plain files written
// and read with positional I/O, each piece collected in memory and written
// with one pwrite once its hash has been checked from that buffer, and
// completion kept in a small state file per torrent.
//
// It replaces anacrolix's mmap file storage, which copied every byte through
// page faults, turned a full disk into SIGBUS, truncated existing files and
// trusted its completion database over the files on disk. Here I/O errors
// are values: the torrent they happen in gets a sticky error (Err) and the
// OnError callback, and Retry clears it once the cause is gone.
package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent/metainfo"
	astorage "github.com/anacrolix/torrent/storage"
)

// DefaultBufferBytes bounds the memory of pieces being collected. A piece
// that finds the budget spent is written chunk by chunk instead and hashed
// from disk: slower, never unbounded.
const DefaultBufferBytes = 32 << 20

// blockSize is the unit of buffered writes: anacrolix requests 16 KiB chunks.
const blockSize = 16 << 10

// Options configures a Client.
type Options struct {
	BaseDir  string // data files are below it
	StateDir string // one <infohash>.state file per torrent
	// PathMaker maps a torrent file to a path relative to BaseDir; a result
	// that is not local (absolute, or escaping with ..) is refused.
	PathMaker   func(astorage.FilePathMakerOpts) string
	BufferBytes int64 // piece buffer budget; 0 = DefaultBufferBytes
	// VerifyAll treats every piece as unverified at open, so all data on
	// disk is hashed again before it is seeded (the --verify flag).
	VerifyAll bool
	// OnError is told about a torrent's first error until Retry. It may be
	// called with anacrolix's client lock held: it must not call back into
	// the client synchronously.
	OnError func(infohash metainfo.Hash, err error)
	// OnHashed, when set, hears the result of every hash check of a piece
	// that hashes itself (v1 torrents). blocks returns the SHA-1 of each 16
	// KiB block of the data that was checked; it computes them when called
	// and may only be called during OnHashed. OnHashed runs with
	// anacrolix's storage lock held (not its client lock): it must not wait
	// for the client.
	OnHashed func(infohash metainfo.Hash, piece int, ok bool, blocks func() ([][20]byte, error))
	// Admit, when set, is asked before a block is written at offset off of
	// a piece; an error refuses the write, which anacrolix answers by
	// requesting the block again. It is not a storage failure. The engine
	// uses it to let one peer alone fetch a piece again.
	Admit func(infohash metainfo.Hash, piece int, off int64) error
}

// Client is a storage.ClientImpl for an anacrolix client.
type Client struct {
	opts Options
	pool bufPool

	mu       sync.Mutex
	torrents map[metainfo.Hash]*Torrent
}

var _ astorage.ClientImplCloser = (*Client)(nil)

// New makes a Client; directories are created as needed.
func New(opts Options) (*Client, error) {
	if opts.BaseDir == "" || opts.StateDir == "" {
		return nil, errors.New("storage: base and state directories are required")
	}
	if opts.PathMaker == nil {
		return nil, errors.New("storage: no path maker")
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: state directory: %w", err)
	}
	c := &Client{opts: opts, torrents: map[metainfo.Hash]*Torrent{}}
	c.pool.budget = cmp.Or(opts.BufferBytes, DefaultBufferBytes)
	return c, nil
}

// Close closes every open torrent's files.
func (c *Client) Close() error {
	c.mu.Lock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	var errs []error
	for _, t := range ts {
		errs = append(errs, t.close())
	}
	return errors.Join(errs...)
}

func (c *Client) torrent(ih metainfo.Hash) *Torrent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.torrents[ih]
}

// Err returns a torrent's sticky error: nil when it is fine or not open.
func (c *Client) Err(ih metainfo.Hash) error {
	if t := c.torrent(ih); t != nil {
		return t.Err()
	}
	return nil
}

// Retry clears a torrent's I/O error (a refused file stays refused) and
// looks at its files again: pieces whose data vanished meanwhile (a removed
// or truncated file) become incomplete. It returns those pieces, whose
// cached completion the caller must refresh.
func (c *Client) Retry(ih metainfo.Hash) ([]int, error) {
	t := c.torrent(ih)
	if t == nil {
		return nil, nil
	}
	return t.retry()
}

// file is one file of a torrent.
type file struct {
	path, rel   string // absolute; relative to BaseDir for messages
	off, length int64  // within the torrent
	padding     bool   // BEP 47 padding: zeros, never stored

	mu       sync.Mutex
	f        *os.File
	writable bool
}

// Torrent is one open torrent's storage.
type Torrent struct {
	c      *Client
	ih     metainfo.Hash
	info   *metainfo.Info
	shape  stateShape
	files  []*file
	pieces []piece
	plain  []plainPiece
	state  *stateFile
	self   bool // v1-only: pieces hash themselves
	closed atomic.Bool

	mu      sync.Mutex
	err     error // sticky until Retry
	refused error // an existing file we must not touch; until restart
}

// OpenTorrent implements storage.ClientImpl.
func (c *Client) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (astorage.TorrentImpl, error) {
	if info.PieceLength <= 0 || info.NumPieces() == 0 {
		return astorage.TorrentImpl{}, errors.New("storage: torrent has no pieces")
	}
	t := &Torrent{c: c, ih: ih, info: info, self: info.HasV1() && !info.HasV2()}
	for _, fi := range info.UpvertedFiles() {
		rel := c.opts.PathMaker(astorage.FilePathMakerOpts{Info: info, File: &fi})
		if !filepath.IsLocal(rel) {
			return astorage.TorrentImpl{}, fmt.Errorf("storage: file path %q is not inside the data directory", rel)
		}
		t.files = append(t.files, &file{
			path: filepath.Join(c.opts.BaseDir, rel), rel: rel,
			off: fi.TorrentOffset, length: fi.Length, padding: strings.Contains(fi.Attr, "p"),
		})
	}
	t.shape = stateShape{NumPieces: uint32(info.NumPieces()), NumFiles: uint32(len(t.files)), PieceLength: info.PieceLength, TotalLength: info.TotalLength()}
	st, err := openState(filepath.Join(c.opts.StateDir, ih.HexString()+".state"), t.shape)
	if err != nil {
		return astorage.TorrentImpl{}, fmt.Errorf("storage: %w", err)
	}
	t.state = st
	t.pieces = make([]piece, info.NumPieces())
	t.plain = make([]plainPiece, info.NumPieces())
	for i := range t.pieces {
		mp := info.Piece(i)
		p := &t.pieces[i]
		p.t, p.index, p.off, p.length = t, i, mp.Offset(), mp.Length()
		if h := mp.V1Hash(); h.Ok {
			p.hash = h.Value
		}
		t.plain[i].p = p
	}
	t.initCompletion()

	c.mu.Lock()
	if old := c.torrents[ih]; old != nil {
		c.mu.Unlock()
		old.close()
		c.mu.Lock()
	}
	c.torrents[ih] = t
	c.mu.Unlock()
	if t.refused != nil {
		t.fail(t.refused)
	}
	impl := astorage.TorrentImpl{Close: t.close}
	if t.self {
		impl.Piece = func(p metainfo.Piece) astorage.PieceImpl { return &t.pieces[p.Index()] }
	} else {
		impl.Piece = func(p metainfo.Piece) astorage.PieceImpl { return &t.plain[p.Index()] }
	}
	return impl, nil
}

// fileStatus is what initCompletion learned about a file on disk.
type fileStatus int

const (
	fileTrusted fileStatus = iota // matches the recorded size and mtime
	fileMissing                   // absent (or empty while we expect data)
	fileSuspect                   // present but unrecorded or changed: hash it
)

// initCompletion decides each piece's completion from the state file and
// the files as they are now. Pieces are trusted only where the file's size
// and mtime are what we recorded when we last completed a piece in it;
// otherwise whatever is on disk is hashed (candidate data, changed data).
func (t *Torrent) initCompletion() {
	status := make([]fileStatus, len(t.files))
	present := make([]int64, len(t.files))
	for i, f := range t.files {
		if f.padding {
			status[i] = fileTrusted
			present[i] = f.length
			continue
		}
		fi, err := os.Stat(f.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			status[i] = fileMissing
			if f.length == 0 {
				if err := createEmpty(f.path); err != nil {
					t.refused = &Error{Op: "create", Path: f.rel, Err: err}
				}
				status[i] = fileTrusted
			}
			continue
		case err != nil:
			t.refused = &Error{Op: "open", Path: f.rel, Err: err}
			continue
		case !fi.Mode().IsRegular():
			t.refused = &Error{Op: "use", Path: f.rel, Err: errNotRegular}
			continue
		case fi.Size() > f.length:
			// Never shrink what the user has: it is not ours.
			t.refused = &Error{Op: "use", Path: f.rel, Err: errLarger, Size: fi.Size(), Want: f.length}
			continue
		}
		present[i] = fi.Size()
		rec := t.state.files[i]
		switch {
		case fi.Size() == 0 && f.length > 0:
			status[i] = fileMissing
		case !t.state.fresh && !t.c.opts.VerifyAll && rec == (fileRecord{fi.Size(), fi.ModTime().UnixNano()}):
			status[i] = fileTrusted
		default:
			status[i] = fileSuspect
		}
	}
	for i := range t.pieces {
		p := &t.pieces[i]
		if t.refused != nil {
			p.state.Store(stateIncomplete)
			continue
		}
		done := !t.state.fresh && t.state.pieces[i] == 1
		st := stateIncomplete
		if done {
			st = stateComplete
		}
		t.segments(p.off, p.length, func(fi int, foff, n int64) bool {
			switch status[fi] {
			case fileMissing:
				st = stateIncomplete
				return false
			case fileSuspect:
				if foff+n > present[fi] {
					st = stateIncomplete // not all there: nothing to check
					return false
				}
				st = stateUnknown
			}
			return true
		})
		p.state.Store(st)
	}
}

func createEmpty(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// segments calls fn for each file span of the torrent range [off, off+n):
// file index, offset within the file, length. fn returns false to stop.
func (t *Torrent) segments(off, n int64, fn func(fi int, foff, n int64) bool) {
	i := sort.Search(len(t.files), func(i int) bool { return t.files[i].off+t.files[i].length > off })
	for ; i < len(t.files) && n > 0; i++ {
		f := t.files[i]
		if f.length == 0 {
			continue
		}
		if f.off >= off+n {
			return
		}
		start := max(off, f.off)
		end := min(off+n, f.off+f.length)
		if start >= end {
			continue
		}
		if !fn(i, start-f.off, end-start) {
			return
		}
	}
}

// Err is the torrent's sticky error.
func (t *Torrent) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// fail records the torrent's first error and tells OnError.
func (t *Torrent) fail(err error) {
	if t.closed.Load() {
		return
	}
	t.mu.Lock()
	first := t.err == nil
	if first {
		t.err = err
	}
	t.mu.Unlock()
	if first && t.c.opts.OnError != nil {
		t.c.opts.OnError(t.ih, err)
	}
}

func (t *Torrent) retry() ([]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refused != nil {
		t.err = t.refused
		return nil, t.refused
	}
	t.err = nil
	// Reopen on next use: a removed file is created anew.
	for _, f := range t.files {
		f.closeHandle()
	}
	var lost []int
	sizes := make([]int64, len(t.files))
	for i, f := range t.files {
		if fi, err := os.Stat(f.path); err == nil {
			sizes[i] = fi.Size()
		} else if f.padding {
			sizes[i] = f.length
		}
	}
	for i := range t.pieces {
		p := &t.pieces[i]
		if p.state.Load() != stateComplete {
			continue
		}
		ok := true
		t.segments(p.off, p.length, func(fi int, foff, n int64) bool {
			ok = foff+n <= sizes[fi]
			return ok
		})
		if !ok {
			p.state.Store(stateIncomplete)
			t.state.setPiece(t.shape, i, false)
			lost = append(lost, i)
		}
	}
	return lost, nil
}

func (t *Torrent) close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.c.mu.Lock()
	if t.c.torrents[t.ih] == t {
		delete(t.c.torrents, t.ih)
	}
	t.c.mu.Unlock()
	for i := range t.pieces {
		p := &t.pieces[i]
		p.mu.Lock()
		p.releaseLocked()
		p.mu.Unlock()
	}
	var errs []error
	for _, f := range t.files {
		errs = append(errs, f.closeHandle())
	}
	errs = append(errs, t.state.close())
	return errors.Join(errs...)
}

func (f *file) closeHandle() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// handle returns the open file, opening it first: for writing it is
// created (never truncated); for reading a missing file is os.ErrNotExist.
func (f *file) handle(write bool) (*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f != nil && (f.writable || !write) {
		return f.f, nil
	}
	if write {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return nil, err
		}
		h, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if f.f != nil {
			f.f.Close()
		}
		f.f, f.writable = h, true
		return h, nil
	}
	h, err := os.OpenFile(f.path, os.O_RDWR, 0)
	if err == nil {
		f.f, f.writable = h, true
		return h, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Seeding from a read-only place is fine.
	h, err = os.Open(f.path)
	if err != nil {
		return nil, err
	}
	f.f, f.writable = h, false
	return h, nil
}

// writeAt writes torrent bytes at torrent offset off.
func (t *Torrent) writeAt(b []byte, off int64) error {
	if t.refused != nil {
		return t.refused
	}
	var err error
	t.segments(off, int64(len(b)), func(fi int, foff, n int64) bool {
		f := t.files[fi]
		chunk := b[:n]
		b = b[n:]
		if f.padding {
			return true
		}
		var h *os.File
		h, err = f.handle(true)
		if err == nil {
			_, err = h.WriteAt(chunk, foff)
		}
		if err == nil && removed(h) {
			err = errRemoved
		}
		if err != nil {
			err = t.ioError("write", f, err)
			return false
		}
		return true
	})
	return err
}

// readAt reads torrent bytes at off. With zeros, absent data (a missing or
// short file) reads as zeros, for hashing; without, it ends the read with
// io.EOF, which tells anacrolix the piece is not there.
func (t *Torrent) readAt(b []byte, off int64, zeros bool) (int, error) {
	total := 0
	var err error
	t.segments(off, int64(len(b)), func(fi int, foff, n int64) bool {
		f := t.files[fi]
		chunk := b[total : total+int(n)]
		if f.padding {
			clear(chunk)
			total += int(n)
			return true
		}
		var h *os.File
		var m int
		h, err = f.handle(false)
		if err == nil {
			m, err = h.ReadAt(chunk, foff)
		}
		if err != nil && !isAbsent(err) {
			err = t.ioError("read", f, err)
			total += m
			return false
		}
		if m < len(chunk) {
			if !zeros {
				total += m
				err = errEOF
				return false
			}
			clear(chunk[m:])
		}
		err = nil
		total += int(n)
		return true
	})
	return total, err
}

// stat records the current size and mtime of every file a piece touches.
func (t *Torrent) recordFiles(off, n int64) error {
	var err error
	t.segments(off, n, func(fi int, _, _ int64) bool {
		f := t.files[fi]
		if f.padding {
			return true
		}
		var st os.FileInfo
		f.mu.Lock()
		if f.f != nil {
			st, err = f.f.Stat()
		} else {
			st, err = os.Stat(f.path)
		}
		f.mu.Unlock()
		if err == nil {
			err = t.state.recordFile(t.shape, fi, fileRecord{st.Size(), st.ModTime().UnixNano()})
		}
		if err != nil {
			err = t.ioError("record", f, err)
			return false
		}
		return true
	})
	return err
}

// ioError wraps err with the file and, for a full disk, what is left to
// write and what is free, and makes it the torrent's error.
func (t *Torrent) ioError(op string, f *file, err error) error {
	e := &Error{Op: op, Path: f.rel, Err: err}
	if isNoSpace(err) {
		for i := range t.pieces {
			if t.pieces[i].state.Load() != stateComplete {
				e.Need += t.pieces[i].length
			}
		}
		e.Free, e.Dir = freeSpace(filepath.Dir(f.path)), t.c.opts.BaseDir
		e.Free = max(e.Free, 0)
	}
	t.fail(e)
	return e
}

// VerifiedBytes is the size of the torrent's pieces that are verified and
// stored: what a restart keeps. (anacrolix's BytesCompleted also counts
// chunks of pieces still being collected.) ok is false when the torrent is
// not open here.
func (c *Client) VerifiedBytes(ih metainfo.Hash) (n int64, ok bool) {
	t := c.torrent(ih)
	if t == nil {
		return 0, false
	}
	for i := range t.pieces {
		if t.pieces[i].state.Load() == stateComplete {
			n += t.pieces[i].length
		}
	}
	return n, true
}
