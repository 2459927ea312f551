package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewSegmentFailureBacksOff: when compaction cannot start a new log
// segment (a read-only directory, a full disk; here a directory in its
// place), it tries again a minute later or once the log has doubled, not
// after every batch, each logging an ERROR; and it goes on once it can.
func TestNewSegmentFailureBacksOff(t *testing.T) {
	old := compactRetryEvery
	compactRetryEvery = time.Hour
	t.Cleanup(func() { compactRetryEvery = old })
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	s := openT(t, path, Options{CompactBytes: 4 << 10, Logger: logger})
	blocker := segmentPath(path, 2)
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	const changes = 1000 // records of 200-300 bytes: 4 KiB to under 300 KiB
	churn(t, s, "c", changes)
	failed := strings.Count(logs.String(), "starting a new log segment failed")
	// 4 KiB doubled six times is 256 KiB: at most seven tries.
	if failed == 0 || failed > 7 {
		t.Fatalf("%d ERROR lines for %d changes past the compaction size", failed, changes)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(logs.String(), "started a new log segment; compaction goes on"); i++ {
		if i == 10*changes {
			t.Fatal("no new segment once it could be made")
		}
		churn(t, s, fmt.Sprintf("more%d", i), 20)
	}
	compacted(t, s, path)
	closeT(t, s)
	openT(t, path, Options{})
}
