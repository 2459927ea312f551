package filestore

import (
	"os"
	"syscall"
)

// allocate makes f's blocks from off to off+n exist (reading as zeros) and
// extends its size to cover them.
func allocate(f *os.File, off, n int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, off, n)
}
