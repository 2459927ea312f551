package cli

import (
	"os"
	"syscall"
	"unsafe"
)

// isatty reports whether f is a terminal (not merely a character device
// such as /dev/null).
func isatty(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// atForeground reports whether this process is in the foreground process
// group of its controlling terminal: then a Ctrl-C (or Ctrl-\) typed there
// went to the whole group, the command locker run started included. Not
// whether stdin is a terminal: a run with its input redirected may still
// be at a terminal's foreground, and one in the background (or with no
// terminal) gets its signals from kill, for itself alone.
func atForeground() bool {
	tty, err := os.Open("/dev/tty") // the controlling terminal, if any
	if err != nil {
		return false
	}
	defer tty.Close()
	var pgrp int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp)))
	return errno == 0 && int(pgrp) == syscall.Getpgrp()
}
