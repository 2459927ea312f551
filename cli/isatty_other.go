//go:build !linux

package cli

import "os"

// isatty reports whether f is a character device: a terminal, most likely.
func isatty(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
