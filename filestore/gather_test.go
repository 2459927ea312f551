package filestore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestConcurrentWritersShareFsyncs runs writers that each wait for their
// change before making the next (as HTTP clients do), and checks that
// their changes share fsyncs. Without gathering, two such writers fall in
// step with the fsyncs — one writes while the other waits, then the other
// way round — and every change takes an fsync of its own.
func TestConcurrentWritersShareFsyncs(t *testing.T) {
	for _, writers := range []int{2, 4} {
		t.Run(fmt.Sprint(writers), func(t *testing.T) {
			var fsyncs, changes atomic.Int64
			s := openT(t, filepath.Join(t.TempDir(), "locks.yml"), Options{OnCommit: func(batch int, _ time.Duration, err error) {
				if err == nil {
					fsyncs.Add(1)
					changes.Add(int64(batch))
				}
			}})
			const each = 100
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprint("w", w)
					for i := range each {
						m := acquireM(lock.Request{Key: "k", Holder: "h"}, nil)
						if i%2 == 1 {
							m = releaseM("k", "h", nil)
						}
						if _, evs, err := s.Update(context.Background(), name, m); err != nil || len(evs) != 1 {
							t.Errorf("%s: %v %v", name, evs, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if changes.Load() != int64(writers*each) {
				t.Fatalf("%d changes committed, want %d", changes.Load(), writers*each)
			}
			// Sharing is not perfect on a busy machine (a writer may come
			// back after the wait), but most fsyncs must be shared.
			if got, limit := fsyncs.Load(), int64(writers*each*3/4); got > limit {
				t.Errorf("%d writers, %d changes took %d fsyncs; want at most %d", writers, writers*each, got, limit)
			}
		})
	}
}

// TestGatherGivesUpWhenNobodyComes checks that a batch does not wait for
// writers that do not come back: after a burst of concurrent changes, a
// lone change is still committed (within the generous limit of a test on a
// shared machine).
func TestGatherGivesUpWhenNobodyComes(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "locks.yml"), Options{})
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Update(context.Background(), fmt.Sprint("burst", w), acquireM(lock.Request{Key: "k", Holder: "h"}, nil)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Update(context.Background(), "alone", acquireM(lock.Request{Key: "k", Holder: "h"}, nil))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone change after a burst was never committed")
	}
}
