package filestore

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// failingLog makes the store's log segment fail its next syncFails syncs,
// and its truncates while truncateFails says so, as a disk going bad does
// (EIO), the data written before the sync staying in the file.
func failingLog(s *Store) (syncFails *atomic.Int32, truncateFails *atomic.Bool) {
	syncFails, truncateFails = new(atomic.Int32), new(atomic.Bool)
	s.logMu.Lock()
	s.logFaults = &logFaults{
		syncErr: func() error {
			if syncFails.Add(-1) >= 0 {
				return syscall.EIO
			}
			return nil
		},
		truncateErr: func() error {
			if truncateFails.Load() {
				return syscall.EIO
			}
			return nil
		},
	}
	s.logMu.Unlock()
	return syncFails, truncateFails
}

// TestFailedSyncNotCutBackIsUnsure: a write whose fsync failed may be on
// disk. When the log can be cut back, the change was not made; when it
// cannot, the answer says the change may have been made (a restart finds
// it; the error is not lock.Unsure all the same: this process never
// makes it), /readyz fails until the log can be cut back (the directory beside
// it still takes writes), and later changes are refused, not made, until
// then.
func TestFailedSyncNotCutBackIsUnsure(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cutBack       bool // the truncate works
		repaired      bool // the truncate works again before the restart
		unsure, found bool
	}{
		{name: "cut back", cutBack: true},
		{name: "not cut back", unsure: true, found: true},
		{name: "cut back later", unsure: true, repaired: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			s := openT(t, path, Options{})
			acquire(t, s, "a", "k", "", 0)
			syncFails, truncateFails := failingLog(s)
			syncFails.Store(1)
			truncateFails.Store(!tc.cutBack)

			_, _, err := tryAcquire(s, "b", "k", "", 0)
			// Never lock.Unsure: in this process the change is not
			// made (every later write cuts it off first, or fails).
			if err == nil || lock.Unsure(err) || errCode(err) != lock.EUNAVAILABLE {
				t.Fatalf("acquire with the fsync failing: %v (unsure %v)", err, lock.Unsure(err))
			}
			if want := "may or may not have been made"; strings.Contains(err.Error(), want) != tc.unsure {
				t.Errorf("message %q: saying %q is %v, want %v", err, want, !tc.unsure, tc.unsure)
			}
			// The API marks it so too ("maybe_made"), for clients
			// that do not read the words.
			if lock.MaybeMade(err) != tc.unsure {
				t.Errorf("message %q: lock.MaybeMade = %v, want %v", err, !tc.unsure, tc.unsure)
			}
			// What the client reads (the API's answer) says so too,
			// and what to do, without the file's path.
			if sum := lock.ErrorSummary(err); tc.unsure && !strings.HasSuffix(sum, "the change may or may not have been made (a restart may find it made); check the lock") || strings.Contains(sum, path) {
				t.Errorf("a client reads %q", sum)
			}
			if _, ok := getT(t, s, "b"); ok {
				t.Error("the failed change is in memory")
			}
			rerr := s.Ready(context.Background())
			if (rerr != nil) != !tc.cutBack {
				t.Errorf("Ready with the log not cut back %v: %v", !tc.cutBack, rerr)
			}
			if !tc.cutBack {
				_, _, err := tryAcquire(s, "c", "k", "", 0)
				if err == nil || lock.Unsure(err) || !strings.Contains(err.Error(), "the change was not made") {
					t.Errorf("a change while the log cannot be cut back: %v, want refused, not made", err)
				}
			}
			if tc.repaired {
				truncateFails.Store(false)
				if err := s.Ready(context.Background()); err != nil {
					t.Errorf("Ready once the log can be cut back: %v", err)
				}
			}
			closeT(t, s)

			s = openT(t, path, Options{})
			if _, ok := getT(t, s, "b"); ok != tc.found {
				t.Errorf("after a restart, the failed change found: %v, want %v", ok, tc.found)
			}
			if _, ok := getT(t, s, "c"); ok {
				t.Error("after a restart, a change refused before writing is found")
			}
			if l, ok := getT(t, s, "a"); !ok || l.Key != "k" {
				t.Errorf("the committed change before: %+v %v", l, ok)
			}
			if !tc.found {
				if _, _, err := tryAcquire(s, "b", "k", "", 0); err != nil {
					t.Errorf("after the restart: %v", err)
				}
			}
		})
	}
}
