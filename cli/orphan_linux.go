package cli

import (
	"os/exec"
	"runtime"
	"syscall"
)

// dieWithParent has the kernel kill cmd (SIGKILL) should locker run die
// first (kill -9, the OOM killer): the lease it holds the lock under runs
// out, and the command must not go on under a lock that may be another's.
// The signal comes when the thread that started cmd ends, so the calling
// goroutine keeps its thread until the returned func is called, once cmd
// has exited.
func dieWithParent(cmd *exec.Cmd) (release func()) {
	runtime.LockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return runtime.UnlockOSThread
}
