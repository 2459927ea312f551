package pgstore

import (
	"slices"
	"testing"
	"time"
)

// SetWriteTimeout makes a change's write time out after d for the test.
func SetWriteTimeout(t *testing.T, d time.Duration) {
	old := writeTimeout
	writeTimeout = d
	t.Cleanup(func() { writeTimeout = old })
}

// SetBeforeWrite has fn run as each change's write is about to be sent.
func SetBeforeWrite(t *testing.T, fn func()) {
	beforeWrite = fn
	t.Cleanup(func() { beforeWrite = nil })
}

// SetBeforeNotify has fn run, with the replica's name, as each batch of a
// replica's notifications is about to be sent.
func SetBeforeNotify(t *testing.T, fn func(replica string)) {
	beforeNotify = fn
	t.Cleanup(func() { beforeNotify = nil })
}

// SetListenLogEvery has a replica whose LISTEN connection cannot be made
// log that it still cannot at most every d, for the test.
func SetListenLogEvery(t *testing.T, d time.Duration) {
	old := listenLogEvery
	listenLogEvery = d
	t.Cleanup(func() { listenLogEvery = old })
}

// SchemaVersion is the schema version this Locker migrates to.
var SchemaVersion = len(migrations)

// Sees reports whether s found the replica holding its presence for the
// wait queue (watchReplicas), and whether it passes its waiters over.
func (s *Store) Sees(replica string) (seen, gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[replica], slices.Contains(s.gone, replica)
}

// SetWatchLogEvery has a replica whose look for gone replicas fails log
// that it still fails at most every d, for the test.
func SetWatchLogEvery(t *testing.T, d time.Duration) {
	old := watchLogEvery
	watchLogEvery = d
	t.Cleanup(func() { watchLogEvery = old })
}
