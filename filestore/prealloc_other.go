//go:build !linux

package filestore

import (
	"errors"
	"os"
)

// allocate is Linux's fallocate; elsewhere the log grows with each write.
func allocate(f *os.File, off, n int64) error {
	return errors.ErrUnsupported
}

// freeBytes is not looked at elsewhere: the log compacts at its limit only.
func freeBytes(dir string) (int64, bool) { return 0, false }
