package storage

import (
	"crypto/sha1"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent/metainfo"
	astorage "github.com/anacrolix/torrent/storage"
)

// Piece completion states.
const (
	stateIncomplete uint32 = iota
	stateComplete
	stateUnknown // to be hashed before it counts
)

// piece is one piece's storage. anacrolix asks for a piece's storage on
// every operation, so these live in a slice per torrent and are handed out
// by pointer: no allocation per chunk.
//
// While a piece downloads, its chunks collect in buf; SelfHash hashes the
// buffer and, if the hash is right, writes it with one pwrite. Without a
// buffer (budget spent, or an unaligned write) chunks go straight to disk
// and the piece is hashed from there.
type piece struct {
	t           *Torrent
	index       int
	off, length int64
	hash        [20]byte
	state       atomic.Uint32

	mu      sync.Mutex
	buf     []byte
	filled  []uint64 // one bit per block present in buf
	nfilled int
	direct  bool
}

var (
	_ astorage.PieceImpl   = (*piece)(nil)
	_ astorage.SelfHashing = (*piece)(nil)
	_ astorage.PieceImpl   = (*plainPiece)(nil)
)

func (p *piece) nblocks() int { return int((p.length + blockSize - 1) / blockSize) }

// WriteAt implements storage.PieceImpl.
func (p *piece) WriteAt(b []byte, off int64) (int, error) {
	if p.t.refused != nil {
		return 0, p.t.refused
	}
	if admit := p.t.c.opts.Admit; admit != nil {
		if err := admit(p.t.ih, p.index, off); err != nil {
			return 0, err
		}
	}
	end := off + int64(len(b))
	p.mu.Lock()
	if !p.direct && p.buf == nil {
		if p.buf = p.t.c.pool.get(int(p.length)); p.buf == nil {
			p.direct = true
		} else {
			p.filled = make([]uint64, (p.nblocks()+63)/64)
			p.nfilled = 0
		}
	}
	if !p.direct {
		if off%blockSize == 0 && (end%blockSize == 0 || end == p.length) {
			copy(p.buf[off:end], b)
			for blk := int(off / blockSize); int64(blk)*blockSize < end; blk++ {
				w, bit := blk/64, uint64(1)<<(blk%64)
				if p.filled[w]&bit == 0 {
					p.filled[w] |= bit
					p.nfilled++
				}
			}
			p.mu.Unlock()
			return len(b), nil
		}
		// Not block aligned: give up buffering this piece.
		if err := p.spillLocked(); err != nil {
			p.mu.Unlock()
			return 0, err
		}
	}
	p.mu.Unlock()
	if err := p.t.writeAt(b, p.off+off); err != nil {
		return 0, err
	}
	return len(b), nil
}

// spillLocked writes the buffered blocks to disk and switches the piece to
// direct writes until it is hashed.
func (p *piece) spillLocked() error {
	p.direct = true
	if p.buf == nil {
		return nil
	}
	defer p.releaseLocked()
	for blk := 0; blk < p.nblocks(); {
		if p.filled[blk/64]&(1<<(blk%64)) == 0 {
			blk++
			continue
		}
		start := blk
		for blk < p.nblocks() && p.filled[blk/64]&(1<<(blk%64)) != 0 {
			blk++
		}
		from, to := int64(start)*blockSize, min(int64(blk)*blockSize, p.length)
		if err := p.t.writeAt(p.buf[from:to], p.off+from); err != nil {
			return err
		}
	}
	return nil
}

func (p *piece) releaseLocked() {
	if p.buf != nil {
		p.t.c.pool.put(p.buf)
	}
	p.buf, p.filled, p.nfilled = nil, nil, 0
}

func (p *piece) bufferHas(off, end int64) bool {
	if p.buf == nil {
		return false
	}
	for blk := int(off / blockSize); int64(blk)*blockSize < end; blk++ {
		if p.filled[blk/64]&(1<<(blk%64)) == 0 {
			return false
		}
	}
	return true
}

// ReadAt implements storage.PieceImpl.
func (p *piece) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.length {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.length-off)]
	p.mu.Lock()
	if p.bufferHas(off, off+int64(len(b))) {
		n := copy(b, p.buf[off:])
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	return p.t.readAt(b, p.off+off, false)
}

// SelfHash implements storage.SelfHashing: the SHA-1 of the piece, from the
// buffer when it holds the whole piece. A buffer whose hash is right is
// written to disk before the sum is returned, so a piece is never reported
// good unless its data is stored; a write error is returned as the error.
// Data that does not match the piece's hash is reported as ErrHashMismatch
// with the sum (see there). Options.OnHashed hears every verdict.
func (p *piece) SelfHash() (metainfo.Hash, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.direct = false }()
	if p.buf != nil && p.nfilled == p.nblocks() {
		data := p.buf[:p.length]
		sum := sha1.Sum(data)
		var err error
		if sum == p.hash {
			err = p.t.writeAt(data, p.off)
		}
		if err == nil {
			p.tell(sum == p.hash, func() ([][20]byte, error) { return blockSums(data), nil })
		}
		p.releaseLocked()
		if err != nil {
			return metainfo.Hash{}, err
		}
		return sum, p.verdict(sum)
	}
	if err := p.spillLocked(); err != nil {
		return metainfo.Hash{}, err
	}
	sum, err := p.hashFromDisk()
	if err != nil {
		return metainfo.Hash{}, err
	}
	p.tell(sum == p.hash, p.blockSumsFromDisk)
	return sum, p.verdict(sum)
}

// ErrHashMismatch is SelfHash's error for data that does not match the
// piece's hash. anacrolix v1.59.1 bans the IP address of a failed piece's
// only contributor unless hashing reported an error, and so drops every
// honest peer behind that address (CGNAT, a household) with the culprit;
// the engine judges peers by address, port and peer ID itself
// (engine/smartban.go), so a mismatch is reported as an error to keep
// anacrolix from judging.
var ErrHashMismatch = errors.New("piece data does not match its hash; the engine judges the peers that sent it")

func (p *piece) verdict(sum metainfo.Hash) error {
	if sum != p.hash {
		return ErrHashMismatch
	}
	return nil
}

func (p *piece) tell(ok bool, blocks func() ([][20]byte, error)) {
	if f := p.t.c.opts.OnHashed; f != nil {
		f(p.t.ih, p.index, ok, blocks)
	}
}

// blockSums is the SHA-1 of each block of a piece's data.
func blockSums(data []byte) [][20]byte {
	sums := make([][20]byte, 0, (len(data)+blockSize-1)/blockSize)
	for off := 0; off < len(data); off += blockSize {
		sums = append(sums, sha1.Sum(data[off:min(off+blockSize, len(data))]))
	}
	return sums
}

func (p *piece) blockSumsFromDisk() ([][20]byte, error) {
	data := make([]byte, p.length)
	if _, err := p.t.readAt(data, p.off, true); err != nil {
		return nil, err
	}
	return blockSums(data), nil
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (p *piece) hashFromDisk() (metainfo.Hash, error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	h := sha1.New()
	for off := int64(0); off < p.length; {
		n := min(int64(len(buf)), p.length-off)
		if _, err := p.t.readAt(buf[:n], p.off+off, true); err != nil {
			return metainfo.Hash{}, err
		}
		h.Write(buf[:n])
		off += n
	}
	var sum metainfo.Hash
	h.Sum(sum[:0])
	return sum, nil
}

// MarkComplete implements storage.PieceImpl: the piece's byte in the state
// file, and the current size and mtime of the files it touches, so that a
// later change to them is noticed at start.
func (p *piece) MarkComplete() error {
	p.state.Store(stateComplete)
	p.mu.Lock()
	p.releaseLocked()
	p.mu.Unlock()
	if err := p.t.recordFiles(p.off, p.length); err != nil {
		return err
	}
	if err := p.t.state.setPiece(p.t.shape, p.index, true); err != nil {
		return p.t.ioError("record", p.t.files[0], err)
	}
	return nil
}

// MarkNotComplete implements storage.PieceImpl.
func (p *piece) MarkNotComplete() error {
	p.state.Store(stateIncomplete)
	if err := p.t.state.setPiece(p.t.shape, p.index, false); err != nil {
		return p.t.ioError("record", p.t.files[0], err)
	}
	return nil
}

// Completion implements storage.PieceImpl.
func (p *piece) Completion() astorage.Completion {
	switch p.state.Load() {
	case stateComplete:
		return astorage.Completion{Ok: true, Complete: true}
	case stateIncomplete:
		return astorage.Completion{Ok: true}
	}
	return astorage.Completion{}
}

// Flush implements storage.Flusher; written data is in the page cache.
func (p *piece) Flush() error { return nil }

// plainPiece is a piece that anacrolix hashes itself (v2 and hybrid
// torrents, whose hashes are not a plain SHA-1 of the data): reads serve
// the buffer, and the buffer reaches disk when the piece is marked
// complete.
type plainPiece struct{ p *piece }

func (pp *plainPiece) WriteAt(b []byte, off int64) (int, error) { return pp.p.WriteAt(b, off) }
func (pp *plainPiece) ReadAt(b []byte, off int64) (int, error)  { return pp.p.ReadAt(b, off) }
func (pp *plainPiece) Completion() astorage.Completion          { return pp.p.Completion() }
func (pp *plainPiece) Flush() error                             { return nil }

func (pp *plainPiece) MarkComplete() error {
	p := pp.p
	p.mu.Lock()
	err := p.spillLocked()
	p.direct = false
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.MarkComplete()
}

func (pp *plainPiece) MarkNotComplete() error {
	p := pp.p
	p.mu.Lock()
	p.releaseLocked()
	p.direct = false
	p.mu.Unlock()
	return p.MarkNotComplete()
}

// bufPool hands out piece buffers within a byte budget, reusing freed ones.
type bufPool struct {
	mu        sync.Mutex
	budget    int64
	used      int64 // handed out
	free      [][]byte
	freeBytes int64
}

func (bp *bufPool) get(n int) []byte {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	for i, b := range bp.free {
		if cap(b) >= n && cap(b) <= 2*n {
			bp.free = append(bp.free[:i], bp.free[i+1:]...)
			bp.freeBytes -= int64(cap(b))
			bp.used += int64(cap(b))
			return b[:n]
		}
	}
	for bp.used+bp.freeBytes+int64(n) > bp.budget && len(bp.free) > 0 {
		last := bp.free[len(bp.free)-1]
		bp.free = bp.free[:len(bp.free)-1]
		bp.freeBytes -= int64(cap(last))
	}
	if bp.used+int64(n) > bp.budget {
		return nil
	}
	bp.used += int64(n)
	return make([]byte, n)
}

func (bp *bufPool) put(b []byte) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.used -= int64(cap(b))
	bp.free = append(bp.free, b[:cap(b)])
	bp.freeBytes += int64(cap(b))
}

var (
	errRemoved    = errors.New("file was removed while in use")
	errLarger     = errors.New("existing file is larger than the torrent's")
	errNotRegular = errors.New("not a regular file")
	errEOF        = io.EOF
)
