//go:build unix

package cli

import "syscall"

// openFilesLimit is the process's limit on open files (its soft limit,
// which Go raises to the hard one at start); 0 when it cannot be read.
func openFilesLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur)
}
