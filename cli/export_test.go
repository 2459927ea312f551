package cli

import (
	"context"
	"time"

	"github.com/cloudfoundry-community/locker/pgstore"
)

// StopMigrateAfter makes locker migrate stop with err once n locks are
// written, until the returned function is called. It writes one lock at a
// time meanwhile, so that exactly n are written (with several at once, the
// writes under way when it stops finish too).
func StopMigrateAfter(n int, err error) (restore func()) {
	old, oldWorkers := migrateProgress, migrateWorkers
	migrateProgress = func(copied int) error {
		if copied >= n {
			return err
		}
		return nil
	}
	migrateWorkers = 1
	return func() { migrateProgress, migrateWorkers = old, oldWorkers }
}

// RedactStore and IsDatabase are redactStore and isDatabase, for tests.
var RedactStore, IsDatabase = redactStore, isDatabase

// SetMigrateProgressEvery makes locker migrate report its progress at most
// every d, until the returned function is called.
func SetMigrateProgressEvery(d time.Duration) (restore func()) {
	old := migrateProgressEvery
	migrateProgressEvery = d
	return func() { migrateProgressEvery = old }
}

// Thousands is thousands, for tests.
var Thousands = thousands

// SetServersOf makes locker migrate find the servers' connections with fn,
// looking once, until the returned function is called.
func SetServersOf(fn func(*pgstore.Store, context.Context) ([]pgstore.Session, error)) (restore func()) {
	old, oldGone := serversOf, serversGone
	serversOf, serversGone = fn, 0
	return func() { serversOf, serversGone = old, oldGone }
}

// DuringMigrate makes locker migrate call fn after each lock it writes,
// going on unless fn returns an error, until the returned function is
// called. It writes one lock at a time meanwhile.
func DuringMigrate(fn func(copied int) error) (restore func()) {
	old, oldWorkers := migrateProgress, migrateWorkers
	migrateProgress, migrateWorkers = fn, 1
	return func() { migrateProgress, migrateWorkers = old, oldWorkers }
}
