//go:build !linux

package cli

import "os"

// isatty reports whether f is a character device: a terminal, most likely.
func isatty(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// atForeground guesses whether a Ctrl-C typed at a terminal reached the
// command locker run started too: where the foreground process group is
// not asked for, when stdin is a terminal.
func atForeground() bool { return isatty(os.Stdin) }
