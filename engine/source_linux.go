package engine

import "golang.org/x/sys/unix"

// nameMaxOf is the longest file name the filesystem holding dir takes.
func nameMaxOf(dir string) int {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Namelen <= 0 {
		return maxNameBytes
	}
	return int(st.Namelen)
}
