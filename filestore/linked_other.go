//go:build unix && !linux

package filestore

import (
	"os"
	"syscall"
)

// linkCount returns how many names f has left (0: deleted).
func linkCount(f *os.File, _ *linkStat) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 1, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink), nil
	}
	return 1, nil
}

type linkStat struct{}
