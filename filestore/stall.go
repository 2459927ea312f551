package filestore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// writeStallAfter is how long the commit loop's disk work (a batch's write
// and fsync of the log, starting a log segment, looking at the store's
// files) may take before the store takes the disk for hung: Ready fails
// (so /readyz answers 503) and one WARN is logged, until it completes.
//
// 5 s: a batch's fsync measured 0.05-0.3 ms at p50 and up to 1.6 ms at
// p99 on the development machines (docs/benchmarks.md); a spinning disk
// or a network volume takes tens of milliseconds, and a busy or throttled
// one (a journal commit queued behind other writers, a cloud volume at its
// baseline) may take a second or two. 5 s is well above all of these, and
// past it no client is served in a useful time either: a load balancer
// should send its requests to another server. It is not an option: a bound set below what a busy
// disk takes would make a healthy server flap in and out of its load
// balancer, and above it nobody gains. A variable for tests.
var writeStallAfter = 5 * time.Second

// stallWatch is the store's record of the commit loop's disk work in
// flight.
type stallWatch struct {
	after time.Duration // writeStallAfter when the store was opened
	// since is when the disk work in flight began (monoTime), 0 while the
	// commit loop waits for work.
	since atomic.Int64
	// mu orders the watch's WARN with the end of the work it is about:
	// warned is set (by watch) once the work in flight has been logged
	// as hung, and cleared by diskEnd, which then logs its completion.
	mu     sync.Mutex
	warned bool
}

// diskBegin notes that the commit loop begins disk work (commit loop only).
func (s *Store) diskBegin() { s.stall.since.Store(monoNow()) }

// monoEpoch and monoNow measure the disk work by the monotonic clock: a
// step of the wall clock (NTP, date -s) during a batch must not look like
// a write that has hung for the step's length, nor hide one. monoNow is
// the time since monoEpoch, never 0 (which means none in flight).
var monoEpoch = time.Now()

func monoNow() int64 { return max(int64(time.Since(monoEpoch)), 1) }

// monoTime is the time a monoNow reading stands for (with its monotonic
// reading, so that time.Since of it is monotonic too).
func monoTime(n int64) time.Time { return monoEpoch.Add(time.Duration(n)) }

// diskEnd notes that it is over, and logs how long it took if the watch
// had logged it as hung.
func (s *Store) diskEnd() {
	w := &s.stall
	w.mu.Lock()
	since := w.since.Swap(0)
	warned := w.warned
	w.warned = false
	w.mu.Unlock()
	if warned {
		took := time.Since(monoTime(since))
		s.opts.Logger.Info("the write to disk that had not returned completed: changes are written again, and /readyz answers ready", "dir", s.dir.Name(), "took", took.Round(time.Millisecond))
	}
}

// WriteInFlight is how long the file store's disk work in flight (a
// batch's write and fsync of the log, starting a log segment, looking at
// the store's files: what every change waits for) has been going on; 0
// when there is none. The metric locker_store_write_in_flight_seconds.
func (s *Store) WriteInFlight() time.Duration {
	since := s.stall.since.Load()
	if since == 0 {
		return 0
	}
	return max(time.Since(monoTime(since)), 0)
}

// stallErr is Ready's error while the disk work in flight has taken longer
// than the bound, or nil. Its Message is the same for as long as that work
// lasts (the health checks log it when it changes); its Summary, what
// /readyz answers, says for how long, and names no file.
func (s *Store) stallErr() error {
	since := s.stall.since.Load()
	if since == 0 {
		return nil
	}
	began := monoTime(since)
	d := time.Since(began)
	if d < s.stall.after {
		return nil
	}
	return &lock.Error{
		Code:    lock.EUNAVAILABLE,
		Message: fmt.Sprintf("the lock store has been writing to disk (in %s) since %s, longer than %v: a write or fsync that has not returned (a hung disk, or a network file system whose server does not answer?); changes wait until it completes", s.dir.Name(), began.UTC().Format(time.RFC3339Nano), s.stall.after),
		Summary: fmt.Sprintf("the lock store has been writing to disk for %v, longer than %v: a write or fsync that has not returned (a hung disk?); changes wait until it completes", d.Round(time.Second), s.stall.after),
	}
}

// watchStalls logs one WARN when the commit loop's disk work has been in
// flight longer than the bound (diskEnd logs when it completes). It looks
// ten times a bound, until the commit loop has stopped.
func (s *Store) watchStalls() {
	t := time.NewTicker(max(s.stall.after/10, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stopped:
			return
		}
		w := &s.stall
		w.mu.Lock()
		since := w.since.Load()
		d := time.Since(monoTime(since))
		warn := since != 0 && !w.warned && d >= w.after
		if warn {
			w.warned = true
		}
		w.mu.Unlock()
		if warn {
			s.opts.Logger.Warn("a write to disk has not returned: every change waits for it, and /readyz answers not ready until it completes (a hung disk, or a network file system whose server does not answer?)", "dir", s.dir.Name(), "in_flight", d.Round(time.Millisecond), "bound", w.after)
		}
	}
}
