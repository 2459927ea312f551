//go:build !lockertestclock

package leaseclock

// TestHooks is false: this binary has no test hook (testhook.go, built
// only with -tags lockertestclock).
const TestHooks = false
