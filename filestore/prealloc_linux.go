package filestore

import (
	"errors"
	"os"
	"syscall"
)

// allocate makes f's blocks from off to off+n exist (reading as zeros) and
// extends its size to cover them. errors.ErrUnsupported: the file system
// cannot.
func allocate(f *os.File, off, n int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, off, n)
	if err == syscall.EOPNOTSUPP || err == syscall.ENOSYS {
		return errors.ErrUnsupported
	}
	return err
}
