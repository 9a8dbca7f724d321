package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// stateFile is a torrent's persisted completion: a fixed header, one
// (size, mtime) record per file, then one byte per piece. Completing a piece
// is one 1-byte pwrite plus a 16-byte record write per file it touches, no
// fsync (the page cache survives a killed process). That is
// what makes it cheap enough to do for every piece: sqlite paid a cgo
// transaction and anacrolix's MarkComplete re-read earlier pieces, bolt a
// copy-on-write page and an fsync per batch.
//
// Layout (little endian):
//
//	magic [8]byte "SWSTATE1"
//	numPieces uint32, numFiles uint32, pieceLength int64, totalLength int64
//	files   numFiles × {size int64, mtimeNs int64}   (0,0 = never recorded)
//	pieces  numPieces × byte                          (1 = verified)
type stateFile struct {
	mu    sync.Mutex
	f     *os.File
	files []fileRecord
	// pieces as read at open; the live state is in Torrent.state.
	pieces []byte
	fresh  bool // no usable state existed: every file is candidate data
}

type fileRecord struct {
	Size    int64
	MtimeNs int64
}

var stateMagic = [8]byte{'S', 'W', 'S', 'T', 'A', 'T', 'E', '1'}

const stateHeaderLen = 8 + 4 + 4 + 8 + 8

type stateShape struct {
	NumPieces   uint32
	NumFiles    uint32
	PieceLength int64
	TotalLength int64
}

func (s stateShape) filesOff() int64  { return stateHeaderLen }
func (s stateShape) piecesOff() int64 { return stateHeaderLen + 16*int64(s.NumFiles) }
func (s stateShape) size() int64      { return s.piecesOff() + int64(s.NumPieces) }

// openState opens (or creates) the state file at path for a torrent of the
// given shape. A file of another shape, or a damaged one, is replaced: its
// torrent's data then counts as unverified candidate data, never as lost.
func openState(path string, shape stateShape) (*stateFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening state file: %w", err)
	}
	s := &stateFile{f: f, files: make([]fileRecord, shape.NumFiles), pieces: make([]byte, shape.NumPieces)}
	buf := make([]byte, shape.size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	var hdr [stateHeaderLen]byte
	copy(hdr[:], stateMagic[:])
	binary.LittleEndian.PutUint32(hdr[8:], shape.NumPieces)
	binary.LittleEndian.PutUint32(hdr[12:], shape.NumFiles)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(shape.PieceLength))
	binary.LittleEndian.PutUint64(hdr[24:], uint64(shape.TotalLength))
	if int64(n) == shape.size() && bytes.Equal(buf[:stateHeaderLen], hdr[:]) {
		for i := range s.files {
			o := shape.filesOff() + 16*int64(i)
			s.files[i] = fileRecord{int64(binary.LittleEndian.Uint64(buf[o:])), int64(binary.LittleEndian.Uint64(buf[o+8:]))}
		}
		copy(s.pieces, buf[shape.piecesOff():])
		return s, nil
	}
	// New or unusable: start over with an empty state of the right shape.
	s.fresh = true
	clear(buf)
	copy(buf, hdr[:])
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("resetting state file: %w", err)
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing state file: %w", err)
	}
	return s, nil
}

func (s *stateFile) setPiece(shape stateShape, i int, done bool) error {
	b := []byte{0}
	if done {
		b[0] = 1
	}
	_, err := s.f.WriteAt(b, shape.piecesOff()+int64(i))
	return err
}

// recordFile stores a file's size and mtime if they are newer than the
// stored ones: concurrent piece completions may stat in one order and
// record in another, and the last write to a file is what must be recorded.
func (s *stateFile) recordFile(shape stateShape, i int, r fileRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.files[i]
	if r.MtimeNs < old.MtimeNs || (r.MtimeNs == old.MtimeNs && r.Size <= old.Size) {
		return nil
	}
	s.files[i] = r
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(r.Size))
	binary.LittleEndian.PutUint64(b[8:], uint64(r.MtimeNs))
	_, err := s.f.WriteAt(b[:], shape.filesOff()+16*int64(i))
	return err
}

// forgetFile clears a file's record, so that it is re-verified next start.
func (s *stateFile) forgetFile(shape stateShape, i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[i] = fileRecord{}
	var b [16]byte
	_, err := s.f.WriteAt(b[:], shape.filesOff()+16*int64(i))
	return err
}

func (s *stateFile) record(i int) fileRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[i]
}

// close does not sync: the data files are not synced either (that would
// cost seconds at every exit), and a state file ahead of its data after a
// power cut would claim pieces whose data is gone.
func (s *stateFile) close() error { return s.f.Close() }
