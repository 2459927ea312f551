package filestore

import (
	"os"

	"golang.org/x/sys/unix"
)

// linkCount returns how many names f has left (0: deleted). It asks statx
// for the link count alone. Since Linux 6.13 a stat that reads a file's
// timestamps makes the next change to the file take a fine-grained one,
// which dirties the inode, so that the fsync after it writes the inode
// too: an fstat after each batch made every write+fsync 40 µs slower here,
// a quarter of the store's throughput (docs/benchmarks.md, eleventh round).
func linkCount(f *os.File, st *unix.Statx_t) (uint64, error) {
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_NLINK, st); err != nil {
		if err == unix.ENOSYS || err == unix.EPERM {
			// No statx (Linux before 4.11, or a sandbox that filters
			// it): fstat, from before multigrain timestamps.
			var fst unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
				return 1, err
			}
			return uint64(fst.Nlink), nil
		}
		return 1, err
	}
	if st.Mask&unix.STATX_NLINK == 0 {
		return 1, nil // the file system cannot tell
	}
	return uint64(st.Nlink), nil
}

type linkStat = unix.Statx_t
