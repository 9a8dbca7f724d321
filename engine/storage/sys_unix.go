//go:build unix

package storage

import (
	"os"
	"syscall"
)

// removed reports whether the open file has been unlinked: writes to it
// would succeed and vanish.
func removed(f *os.File) bool {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Nlink == 0
}

// freeSpace is the bytes available to us in dir's file system, -1 unknown.
func freeSpace(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
