//go:build !linux

package bench

import "os/exec"

// dieWithHarness does nothing here: only Linux has a parent-death signal.
func dieWithHarness(cmd *exec.Cmd) {}
