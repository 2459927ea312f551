//go:build !linux

package filestore

// newPreciseTimer: there is none here; the Go timer alone ends the wait.
func newPreciseTimer(fire func()) preciseTimer { return nil }
