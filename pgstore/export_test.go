package pgstore

import (
	"testing"
	"time"
)

// SetWriteTimeout makes a change's write time out after d for the test.
func SetWriteTimeout(t *testing.T, d time.Duration) {
	old := writeTimeout
	writeTimeout = d
	t.Cleanup(func() { writeTimeout = old })
}
