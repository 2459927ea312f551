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

// TestGatherWaitAdapts checks how the commit loop's wait for a batch
// follows how the last one ended: doubled when it ran out while the changes
// it waited for were still coming, shortened slowly otherwise; always
// between one write and four, and within gatherWait and gatherMaxWait.
func TestGatherWaitAdapts(t *testing.T) {
	const us = time.Microsecond
	write := 120 * us                             // the last write and fsync
	w := nextGatherWait(gatherWait, write, false) // after the first write
	if w != write {
		t.Errorf("after the first write: wait %v, want one write (%v)", w, write)
	}
	// Late: the clients came back during the write, just after the wait.
	w = nextGatherWait(w, write, true)
	if w != 240*us {
		t.Errorf("late: wait %v, want 240µs", w)
	}
	// Late again: four writes at most.
	w = nextGatherWait(w, write, true)
	w = nextGatherWait(w, write, true)
	if w != 4*write {
		t.Errorf("late three times: wait %v, want %v (four writes)", w, 4*write)
	}
	// Not late (filled, or ran out for nothing): 1/32 shorter, not at once
	// back to one write.
	if got, want := nextGatherWait(w, write, false), w-w/32; got != want {
		t.Errorf("not late: wait %v, want %v", got, want)
	}
	// Not late for a long time: back to one write, and no less.
	f := w
	for range 200 {
		f = nextGatherWait(f, write, false)
	}
	if f != write {
		t.Errorf("after 200 batches not late: wait %v, want one write (%v)", f, write)
	}
	// The bounds: never more than gatherMaxWait, even for a slow disk;
	// never less than gatherWait, even for a fast one, where four writes
	// are less than gatherWait.
	if got := nextGatherWait(gatherMaxWait, 10*time.Millisecond, true); got != gatherMaxWait {
		t.Errorf("slow disk: wait %v, want %v", got, gatherMaxWait)
	}
	if got := nextGatherWait(gatherWait, 10*us, false); got != gatherWait {
		t.Errorf("fast disk: wait %v, want %v", got, gatherWait)
	}
	if got := nextGatherWait(gatherWait, 10*us, true); got != gatherWait {
		t.Errorf("fast disk, late: wait %v, want %v", got, gatherWait)
	}
}
