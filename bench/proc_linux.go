package bench

import (
	"os/exec"
	"syscall"
)

// dieWithHarness has the kernel send SIGTERM to the process cmd starts
// when the harness dies, however it dies (SIGKILL included), so that the
// servers it started do not outlive it. (Strictly, when the thread that
// started it ends: Go ends a thread only when a goroutine locked to it
// exits, which the harness's goroutines never are.)
func dieWithHarness(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
