package cli

// StopMigrateAfter makes locker migrate stop with err once n locks are
// written, until the returned function is called.
func StopMigrateAfter(n int, err error) (restore func()) {
	old := migrateProgress
	migrateProgress = func(copied int) error {
		if copied >= n {
			return err
		}
		return nil
	}
	return func() { migrateProgress = old }
}

// RedactStore and IsDatabase are redactStore and isDatabase, for tests.
var RedactStore, IsDatabase = redactStore, isDatabase
