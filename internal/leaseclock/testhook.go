//go:build lockertestclock

package leaseclock

// TEST ONLY. This file is compiled only into a binary built with
// -tags lockertestclock, which the end-to-end tests build for the test of
// a step of the wall clock (e2e/clockstep_test.go): the machine's clock is
// shared and must never be stepped by a test, and no other way reaches
// the wall clock of a Go process (it reads it through the vDSO, not libc,
// so faketime's LD_PRELOAD does not; a time namespace offsets only the
// monotonic and boot clocks). Release builds (Makefile, Dockerfile) never
// use the tag, and a binary built with it says so when it starts.
//
// With LOCKER_TEST_WALL_STEP_FILE naming a file that holds a duration
// ("1h", "-30m"), the process's lease clock reads the wall clock as that
// much off the machine's: a test writes the file to step it. The file is
// read at every reading (a missing or unreadable file is no step).

import (
	"os"
	"strings"
	"time"
)

// TestHooks is true in a binary built with -tags lockertestclock.
const TestHooks = true

func init() {
	path := os.Getenv("LOCKER_TEST_WALL_STEP_FILE")
	if path == "" {
		return
	}
	std.read = func() (time.Time, time.Duration) {
		wall, mono := realReading()
		if b, err := os.ReadFile(path); err == nil {
			if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
				wall = wall.Add(d)
			}
		}
		return wall, mono
	}
}
