package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/swarmscope/swarmscope/engine/bytesize"
)

// Error is a storage failure, phrased for a person: which file, what
// failed, and for a full disk how much is still to be written.
type Error struct {
	Op   string // "write", "read", "open", "use", "record", "create"
	Path string // relative to the data directory
	Err  error
	// A full disk: bytes of the torrent not yet verified, free bytes, and
	// the data directory.
	Need, Free int64
	Dir        string
	// A file larger than the torrent's: its size and the torrent's.
	Size, Want int64
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	switch {
	case isNoSpace(e.Err):
		return fmt.Sprintf("disk full writing %s: %s of the torrent still to write, %s free in %s", e.Path, bytesize.Format(e.Need), bytesize.Format(e.Free), e.Dir)
	case errors.Is(e.Err, syscall.EROFS):
		return fmt.Sprintf("cannot write %s: the file system is read-only", e.Path)
	case errors.Is(e.Err, syscall.EIO):
		return fmt.Sprintf("I/O error on %s (%s): the disk may be failing", e.Path, e.Op)
	case errors.Is(e.Err, errRemoved):
		return fmt.Sprintf("%s was removed while downloading", e.Path)
	case errors.Is(e.Err, errLarger):
		return fmt.Sprintf("refusing to use %s: an existing file of %s is there and the torrent's is %s; move it away or choose another --dir", e.Path, bytesize.Format(e.Size), bytesize.Format(e.Want))
	case errors.Is(e.Err, errNotRegular):
		return fmt.Sprintf("refusing to use %s: it exists and is not a regular file", e.Path)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("cannot %s %s: permission denied", e.Op, e.Path)
	}
	var pe *fs.PathError
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("%s %s: %v", e.Op, e.Path, pe.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isAbsent: the data is simply not there (yet).
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errEOF)
}
