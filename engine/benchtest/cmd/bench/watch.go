package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// seekHole is lseek's SEEK_HOLE: where the next unwritten range starts.
const seekHole = 4

// watcher detects that a download directory holds the content, for clients
// that do not exit when done (the TUI). It compares each 4 MiB block once,
// and only after the block has no holes left, so the whole watch costs
// about one read of the data however long the download takes.
type watcher struct {
	src, dst string // the two roots (dir/name)
	blocks   []block
	files    map[string]*os.File
	a, b     []byte
	// size and matched count the bytes; at10 and at90 are when matched
	// first reached 10 % and 90 % of size (zero: not yet).
	size, matched int64
	at10, at90    time.Time
}

type block struct {
	file string
	off  int64
	n    int64
	ok   bool
}

const watchBlock = 4 << 20

func newWatcher(c *content, dst string) (*watcher, error) {
	w := &watcher{src: filepath.Join(c.dir, c.name), dst: dst, files: map[string]*os.File{},
		a: make([]byte, watchBlock), b: make([]byte, watchBlock)}
	for _, f := range c.files {
		fi, err := os.Stat(filepath.Join(w.src, f))
		if err != nil {
			return nil, err
		}
		w.size += fi.Size()
		for off := int64(0); off < fi.Size(); off += watchBlock {
			w.blocks = append(w.blocks, block{file: f, off: off, n: min(watchBlock, fi.Size()-off)})
		}
	}
	return w, nil
}

func (w *watcher) close() {
	for _, f := range w.files {
		f.Close()
	}
}

// wait polls until every block matches, ctx ends or quit closes (the client
// exited): it returns when the content was complete.
func (w *watcher) wait(ctx context.Context, quit <-chan struct{}) (time.Time, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if w.pass() {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-quit:
			if w.pass() {
				return time.Now(), nil
			}
			return time.Time{}, errors.New("client exited before the download was complete")
		case <-tick.C:
		}
	}
}

// pass checks the blocks not yet matched and reports whether all are.
func (w *watcher) pass() bool {
	all := true
	for i := range w.blocks {
		bl := &w.blocks[i]
		if bl.ok {
			continue
		}
		if !w.check(bl) {
			all = false
			continue
		}
		// The marks are taken as the block that crosses them matches,
		// not at the end of the pass: one pass may compare hundreds of
		// MiB that arrived since the last.
		w.matched += bl.n
		now := time.Now()
		if w.at10.IsZero() && w.matched*10 >= w.size {
			w.at10 = now
		}
		if w.at90.IsZero() && w.matched*10 >= w.size*9 {
			w.at90 = now
		}
	}
	return all
}

// phase returns how long after start the data reached 10 % and 90 % (0
// for a mark not reached). The marks are as fine as the 50 ms polling and
// the 4 MiB blocks.
func (w *watcher) phase(start time.Time) (p10, p90 time.Duration) {
	if !w.at10.IsZero() {
		p10 = w.at10.Sub(start)
	}
	if !w.at90.IsZero() {
		p90 = w.at90.Sub(start)
	}
	return p10, p90
}

func (w *watcher) check(bl *block) bool {
	f := w.files[bl.file]
	if f == nil {
		var err error
		if f, err = os.Open(filepath.Join(w.dst, bl.file)); err != nil {
			return false
		}
		w.files[bl.file] = f
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() < bl.off+bl.n {
		return false
	}
	// A filesystem without SEEK_HOLE reports the end of the file: then we
	// just compare every time.
	if hole, err := f.Seek(bl.off, seekHole); err == nil && hole < bl.off+bl.n {
		return false
	}
	sf, err := os.Open(filepath.Join(w.src, bl.file))
	if err != nil {
		return false
	}
	defer sf.Close()
	// Where SEEK_HOLE cannot tell (preallocated files), the block's ends
	// rule out most unwritten blocks for 8 KiB of reading.
	if bl.n > 16<<10 {
		for _, off := range []int64{bl.off, bl.off + bl.n - 4<<10} {
			if _, err := sf.ReadAt(w.a[:4<<10], off); err != nil && err != io.EOF {
				return false
			}
			if _, err := f.ReadAt(w.b[:4<<10], off); err != nil && err != io.EOF {
				return false
			}
			if !bytes.Equal(w.a[:4<<10], w.b[:4<<10]) {
				return false
			}
		}
	}
	if _, err := sf.ReadAt(w.a[:bl.n], bl.off); err != nil && err != io.EOF {
		return false
	}
	if _, err := f.ReadAt(w.b[:bl.n], bl.off); err != nil && err != io.EOF {
		return false
	}
	bl.ok = bytes.Equal(w.a[:bl.n], w.b[:bl.n])
	return bl.ok
}
