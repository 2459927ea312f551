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
