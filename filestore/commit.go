package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/internal/jsonenc"
	"github.com/cloudfoundry-community/locker/lock"
)

var errClosed = lock.Errorf(lock.EUNAVAILABLE, "the store is shutting down")

// Update implements lock.Store. Changes to one lock are serialised: a change
// waits for the previous change to the same lock to be committed, so it never
// builds on state that a failed write could take back. Changes to different
// locks share fsyncs.
func (s *Store) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return lock.Lock{}, nil, errClosed
		}
		e := s.locks[name]
		if e != nil && e.pending != nil {
			done := e.pending.done
			s.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return lock.Lock{}, nil, ctx.Err()
			}
		}
		var next lock.Lock
		if e != nil {
			next = e.lock.Clone()
		} else {
			next = lock.Lock{Name: name}
		}
		events := m(&next, lock.Env{Now: s.now(), NextFence: func() uint64 { s.fence++; return s.fence }, Found: e != nil})
		// A mutation that sets a fence itself (locker migrate copying
		// locks) must not leave the counter below it.
		s.fence = max(s.fence, next.Fence)
		if len(events) == 0 {
			s.mu.Unlock()
			return next, nil, nil
		}
		start := len(s.queued)
		s.queued = appendRecordFrame(s.queued, &logRecord{Lock: toDisk(&next), Events: events, Fence: s.fence, Forget: lock.Forgets(events)})
		size := len(s.queued) - start - frameHeader
		if size > frameLimit {
			// Written, it would be refused by the next start as a damaged
			// frame (or dropped as a torn one at the log's end): refused
			// now instead. Only a lock of thousands of holders or pools
			// with the longest names gets there.
			s.queued = s.queued[:start]
			s.mu.Unlock()
			return lock.Lock{}, nil, lock.Errorf(lock.ETOOLARGE, "the change to lock %.100q was not made: its log record would take %d bytes, and the file store's limit is %d (the lock would have %d holders and be in %d pools)", name, size, frameLimit, len(next.Holds), len(next.Pools))
		}
		var prev *lock.Lock
		if e != nil {
			prev = e.lock
		}
		if grows(prev, &next, events) {
			if bound := releaseBound(size, &next); bound > frameLimit {
				s.queued = s.queued[:start]
				s.mu.Unlock()
				return lock.Lock{}, nil, lock.Errorf(lock.ETOOLARGE, "the change to lock %.100q was not made: the lock would have %d holders and be in %d pools, and releasing them all at once (a force, or their leases running out) could take a log record of %d bytes, over the file store's limit of %d", name, len(next.Holds), len(next.Pools), bound, frameLimit)
			}
		}
		if e == nil {
			e = &entry{}
			s.locks[name] = e
		}
		o := &op{entry: e, next: next, events: events, done: make(chan struct{})}
		e.pending = o
		s.queue = append(s.queue, o)
		wake := int64(len(s.queue)) >= s.gatherWant.Load()
		s.mu.Unlock()
		if wake {
			select {
			case s.queueReady <- struct{}{}:
			default:
			}
		}
		<-o.done // once queued, the outcome is the store's to decide
		if o.err != nil {
			return lock.Lock{}, nil, o.err
		}
		return next, events, nil
	}
}

// grows reports whether a change from prev (nil: a new lock) to next may
// make releasing all of next's holds write more than releasing prev's: it
// takes a hold or adds a pool or metadata (its events say so), or, whatever
// its events (locker migrate writes a lock's whole state with its history),
// next is not prev with holds or pools taken away: a holder, a pool, a key
// or metadata that prev did not have. These are the changes releaseBound
// must allow. The others (releases, expiries, forces, leaving a pool, and
// renewing leases, for which releaseBound leaves room) are never refused
// for their size.
func grows(prev, next *lock.Lock, events []lock.Event) bool {
	for i := range events {
		switch events[i].Type {
		case lock.Acquired, lock.Added:
			return true
		}
	}
	if prev == nil {
		prev = &lock.Lock{}
	}
	if next.Key != "" && next.Key != prev.Key || !bytes.Equal(next.Metadata, prev.Metadata) && len(next.Metadata) > 0 {
		return true
	}
	for _, p := range next.Pools {
		if !prev.InPool(p) {
			return true
		}
	}
	// Every holder of next one of prev's: one pass, both sorted by holder
	// (a release from a lock of 19,000 holders is on the hot path).
	i := 0
	for _, h := range next.Holds {
		for i < len(prev.Holds) && prev.Holds[i].Holder < h.Holder {
			i++
		}
		if i == len(prev.Holds) || prev.Holds[i].Holder != h.Holder {
			return true
		}
	}
	return false
}

// releaseBound is at most how long the log record of any change to l that
// only releases (a release, an expiry, a force of all its holds, a forced
// removal from a pool) can be, given that the record of the change that
// made l took recordSize bytes. Such a record holds l with fewer holds, so
// at most recordSize for the lock, and at most one event for each hold and
// one for a pool. Each event repeats the lock's name and its pools and may
// name an operator (lock.ForceRelease cuts that to lock.MaxNameLen bytes).
// Refusing the change that would make a lock's release too long keeps every
// lock releasable: without it, a lock of thousands of shared holders, or
// one in many pools, could reach a state whose every way out (even a
// force) was refused as too long.
func releaseBound(recordSize int, l *lock.Lock) int {
	// Field names, count, fence, two times and commas take at most 216
	// bytes of an event: the rest is room for what renewing a lease,
	// which is not checked, adds to the lock's own encoding (at most 48
	// bytes a hold, for "expires").
	const fixed = 320
	maxName := 6*lock.MaxNameLen + 2 // every byte escaped, as \u003c
	var buf []byte
	jsonLen := func(s string) int {
		buf = jsonenc.AppendString(buf[:0], s)
		return len(buf)
	}
	pools := 2
	for _, p := range l.Pools {
		pools += jsonLen(p) + 1
	}
	each := fixed + jsonLen(l.Name) + maxName + pools + jsonLen(l.Key) // + the holder
	bound := recordSize + (len(l.Holds)+1)*each
	// The holders' names are in the record already, so recordSize bounds
	// them all: the usual case, without looking at each hold.
	if quick := bound + recordSize; quick <= frameLimit {
		return quick
	}
	for _, h := range l.Holds {
		bound += jsonLen(h.Holder)
	}
	return bound
}

func (s *Store) now() time.Time { return s.opts.Now().UTC().Round(0) }

// commitLoop writes queued changes in batches, one fsync a batch.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	var buf []byte
	want, wait := 0, gatherWait
	var backoff segmentBackoff
	timer := newGatherTimer()
	defer timer.close()
	check := time.NewTicker(snapshotCheckEvery)
	defer check.Stop()
	var heal healState
	// Every change waits while the loop is on the disk: the work between
	// diskBegin and diskEnd is what Ready and the metric watch for a
	// hung disk (stall.go).
	s.diskBegin()
	s.compactAtStart(&backoff)
	s.diskEnd()
	for {
		select {
		case <-s.queueReady:
		case <-check.C:
			s.diskBegin()
			s.checkSnapshot(&heal)
			s.compactOnTick(&backoff)
			s.diskEnd()
			continue // a change queued meanwhile left its wake-up
		case <-s.stop:
			s.mu.Lock()
			empty := len(s.queue) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		}
		filled := s.gather(want, wait, timer)
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		// The batch's records are already in one buffer; the last batch's
		// becomes the next one's.
		buf, s.queued = s.queued, buf[:0]
		s.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		s.diskBegin()
		start := time.Now()
		err := s.write(buf)
		took := time.Since(start)
		if err == nil {
			s.logRecords += int64(len(batch)) // a record each: the next segment's header counts them
		}
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(len(batch), took, err)
		}
		s.mu.Lock()
		watch := s.watch
		for _, o := range batch {
			e := o.entry
			e.pending = nil
			if err != nil {
				o.err = err
				if e.lock == nil {
					delete(s.locks, o.next.Name) // its first change failed: it was never there
				}
				continue
			}
			if lock.Forgets(o.events) {
				// Gone with its history (a lock in no pool: lock.Forget);
				// a change waiting for this one finds no entry, and
				// starts from a new lock. The record keeps the counter.
				delete(s.locks, o.next.Name)
				if e.lock != nil {
					s.pools.reindex(o.next.Name, e, e.lock.Pools, nil) // none: lock.Forget refuses members
				}
				continue
			}
			var before []string
			if e.lock != nil {
				before = e.lock.Pools
			}
			next := o.next
			e.lock = &next
			s.pools.reindex(next.Name, e, before, next.Pools)
			e.history = appendHistory(e.history, o.next.Name, o.events, s.opts.HistoryLimit)
		}
		// The next batch: the changes that queued up while this one was
		// written, and as many again as this one answers (its clients'
		// next changes).
		missing := want - len(batch)
		late := want > 1 && !filled && missing > 0 && len(s.queue) >= missing
		wait = nextGatherWait(wait, took, late)
		want = len(s.queue) + len(batch)
		s.mu.Unlock()
		for _, o := range batch {
			if err == nil && watch != nil {
				watch(o.next.Name, o.events)
			}
			close(o.done)
		}
		if err != nil && lock.ErrorCode(err) == lock.ENOSPACE {
			backoff.fullAt = time.Now() // a failed snapshot is tried again once there is room (retrySnapshot)
		}
		if err == nil {
			s.maybeCompact(&backoff)
		} else if s.snapLost.Load() {
			// The write found the log deleted: the store is written
			// again at once, not at the next look (a restart before
			// would find it gone).
			s.checkSnapshot(&heal)
		}
		s.diskEnd()
	}
}

// gatherWait and gatherMaxWait bound how long the commit loop waits for a
// batch to fill; gatherWrites bounds it by the time a write takes: a change
// never waits for company longer than a few writes would have taken.
const (
	gatherWait    = 100 * time.Microsecond
	gatherMaxWait = time.Millisecond
	gatherWrites  = 4
)

// nextGatherWait is how long the commit loop waits for the next batch to
// fill, from how long it waited for the last one (wait), how long that
// batch's write took, and whether the wait ran out while the changes it
// waited for were still coming (all of them queued during the write: late).
//
// After the first write it is one write. A late batch doubles it: the
// clients are in step and come back together, just later than one write,
// and waiting for them saves an fsync. Any other batch shortens it by 1/32,
// back towards one write: one that filled did not need more, and when the
// clients pause between changes or have left, waiting longer would only
// delay the changes that did come. It stays between one write and
// gatherWrites writes, and within gatherWait and gatherMaxWait.
//
// On the 2-core development machine 8 clients in step came back over
// 150–250 µs while a write took 110–130 µs: waiting one write, 40% of
// batches ran out of time, split the clients, and paid more fsyncs for
// them (docs/benchmarks.md).
func nextGatherWait(wait, took time.Duration, late bool) time.Duration {
	if late {
		wait *= 2
	} else {
		wait -= wait / 32
	}
	least := min(max(took, gatherWait), gatherMaxWait)
	most := min(max(gatherWrites*took, gatherWait), gatherMaxWait)
	return min(max(wait, least), most)
}

// gather gives the requests answered by the last batch a moment to come
// back before the next fsync, so that they share it. Without this,
// concurrent clients fall into step with the fsyncs: with two clients, one
// change is written while the other client's waits, then the other way
// round, each alone in its fsync, for ever. It waits until want changes are
// queued (those that queued up during the last write, and as many as it
// answered) or wait passes, blocking rather than spinning: every queued
// change wakes it. It returns whether the batch filled.
func (s *Store) gather(want int, wait time.Duration, timer *gatherTimer) (filled bool) {
	if want <= 1 {
		return true
	}
	deadline := time.Now().Add(wait)
	// Only the change that completes the batch wakes the loop: waking it
	// for each one costs more (a thread wake-up each) than it saves.
	s.gatherWant.Store(int64(want))
	defer s.gatherWant.Store(0)
	timer.reset(wait)
	defer timer.stop()
	for {
		s.mu.RLock()
		n := len(s.queue)
		s.mu.RUnlock()
		if n >= want {
			return true
		}
		select {
		case <-s.queueReady:
		case <-timer.c:
			if !time.Now().Before(deadline) {
				return false
			} // else an earlier wait's firing, come late
		case <-s.stop:
			return false // commit what is there
		}
	}
}

// write appends b to the log and fsyncs it. On failure it cuts the log back
// to the last committed byte, so the file holds exactly what was
// acknowledged, and reports an error for the requests in the batch.
func (s *Store) write(b []byte) error {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.snapLost.Load() {
		return storeError(s.lostErr()) // Ready says so while it lasts
	}
	if s.brokenErr != nil {
		if err := s.cutBack(); err != nil {
			serr := storeError(err)
			s.lastWriteErr.Store(&serr)
			return serr
		}
	}
	if end := s.logSize + int64(len(b)); end > s.allocated {
		s.preallocate(end)
	}
	n, err := s.log.Write(b)
	if err == nil && !s.opts.NoSync {
		err = s.logFaults.sync(s.log)
	}
	if err == nil {
		err = s.checkLinked()
	}
	if err == nil {
		s.logSize += int64(len(b))
		s.allocated = max(s.allocated, s.logSize)
		s.lastWriteErr.Store(nil)
		if s.failing {
			s.opts.Logger.Info("writing the log works again", "file", s.log.Name(), "refused_since_last_message", s.refusedUnlogged)
			s.failing, s.refusedUnlogged = false, 0
		}
		return nil
	}
	// A full disk refuses every change: one message a minute, not one a
	// change.
	if now := time.Now(); !s.failing || now.Sub(s.failLoggedAt) >= time.Minute {
		s.opts.Logger.Error("writing the log failed; the change is refused", "file", s.log.Name(), "err", err, "refused_since_last_message", s.refusedUnlogged)
		s.failing, s.failLoggedAt, s.refusedUnlogged = true, now, 0
	} else {
		s.refusedUnlogged++
	}
	s.brokenErr = err
	serr := storeError(err)
	if terr := s.truncateLog(); terr == nil {
		s.brokenErr = nil
	} else if n > 0 {
		// Some of the batch, or all of it, may be on disk (a failed
		// fsync does not say the data is not there), and it could not
		// be cut off: a restart may find it. Every change is refused
		// until the log is cut back (each write tries first).
		serr = mayBeOnDisk(err, terr)
		s.opts.Logger.Error("the log could not be cut back after a failed write: the changes of that write may or may not be found by the next start; changes are refused until the log can be cut back", "file", s.log.Name(), "err", terr)
	}
	s.lastWriteErr.Store(&serr)
	return serr
}

// mayBeOnDisk is the error for the changes of a write that failed after
// some of it reached the log, which could then not be cut back: the next
// start may find them made. In this process they are not, and never will
// be (every later write cuts them off first, or fails): so not
// lock.Error.Unsure, which would have the lock service take a give-back
// that failed so for one perhaps made, and never give it back again once
// the holder took the lock again.
func mayBeOnDisk(err, terr error) error {
	le := storeError(err).(*lock.Error)
	le.Message = fmt.Sprintf("the lock store could not write (%v) nor take the write back (%v): the change may or may not have been made (a restart may find it made); check the lock", err, terr)
	le.Summary = fmt.Sprintf("the lock store could not write%s nor take the write back%s: the change may or may not have been made (a restart may find it made); check the lock", sysErr(err), sysErr(terr))
	le.MaybeMade = true
	return le
}

// sysErr is the system's error in err, without the file's path, as " (read-only
// file system)"; "" when err has none.
func sysErr(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf(" (%v)", errno)
	}
	return ""
}

// checkLinked fails once the log segment has no name left: someone deleted
// it, or the data directory, while the server ran. Writes still succeed, into
// a file that the next start cannot find, so the changes acknowledged since
// would be lost: this batch's is refused, and so is every change until the
// store is written again from the locks in memory, which hold every change
// acknowledged, those of the deleted segment too (checkSnapshot does it, at
// its next look; /readyz fails meanwhile). One statx a batch (linkCount).
func (s *Store) checkLinked() error {
	if n, err := linkCount(s.log, &s.linkStat); err != nil || n > 0 {
		return nil // a file system that cannot tell is not taken for a deletion
	}
	s.logDeleted()
	return errLogDeleted
}

// logDeleted refuses changes until the store is written again (commit loop
// only).
func (s *Store) logDeleted() {
	if s.refuseChanges(errLogDeleted) {
		s.healLoggedAt.Store(0)
		s.opts.Logger.Warn("the log segment was deleted while the server ran (it, or its directory): changes are refused until the data file and a new log segment are written again, from the locks in memory (the next start needs them)", "file", s.log.Name())
	}
}

var errLogDeleted = errors.New("the log segment was deleted while the server ran; changes are refused until the store is written again from the locks in memory")

// preallocChunk is how much the log segment is extended by at a time.
const preallocChunk = 256 << 10

// preallocate extends the log segment, zero-filled, to cover at least end
// (in whole chunks), so that appends within it do not change the file's
// size. An fsync after an append that changes the size must also commit the
// size to the file system's journal; here that made each fsync take about
// 50% longer and 20% more CPU (/tmp fsync experiment, docs/benchmarks.md).
// The zeros are written, not only allocated, for the same reason (see
// allocate). Recovery reads zeros after the last record as the end of the
// log. When the space cannot be had (a full disk, a file system without
// fallocate), the log grows with each write as before.
func (s *Store) preallocate(end int64) {
	if s.noPrealloc {
		return
	}
	size := (end + preallocChunk - 1) / preallocChunk * preallocChunk
	switch err := allocate(s.log, s.allocated, size-s.allocated); {
	case err == nil:
		s.allocated = size
	case errors.Is(err, errors.ErrUnsupported):
		s.noPrealloc = true // and stop asking
	}
}

// storeError turns an I/O error into a domain error.
func storeError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &lock.Error{Code: lock.ENOSPACE, Message: "the lock store is out of disk space; the change was not made"}
	}
	e := &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the lock store could not write (%v); the change was not made", err)}
	// The API's answers and the open /readyz say why without the file's
	// path: the system's error alone (read-only file system,
	// input/output error), or the store's own reason, which names no
	// file.
	switch err {
	case errLogDeleted, errSnapshotLost, errSnapshotReplaced:
	default:
		e.Summary = fmt.Sprintf("the lock store could not write%s; the change was not made", sysErr(err))
	}
	return e
}

// Watch implements lock.Store.
func (s *Store) Watch(fn func(string, []lock.Event)) {
	s.mu.Lock()
	s.watch = fn
	s.mu.Unlock()
}

// Get implements lock.Store.
func (s *Store) Get(ctx context.Context, name string) (lock.Lock, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.locks[name]
	if e == nil || e.lock == nil {
		return lock.Lock{}, false, nil
	}
	return *e.lock, true, nil
}

// List implements lock.Store. It copies pointers under a read lock and
// nothing else, so listing many locks does not hold up changes for long.
func (s *Store) List(ctx context.Context) ([]*lock.Lock, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*lock.Lock, 0, len(s.locks))
	for _, e := range s.locks {
		if e.lock != nil {
			out = append(out, e.lock) // committed values are replaced, never changed
		}
	}
	return out, nil
}

// History implements lock.Store.
func (s *Store) History(ctx context.Context, name string) ([]lock.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.locks[name]; e != nil {
		return historyEvents(name, e.history), nil
	}
	return nil, nil
}

// Ready implements lock.Store: it fails while the commit loop's disk work
// (a write and fsync of the log) has been in flight longer than
// writeStallAfter (a hung disk), after a failed write until a write
// succeeds again, and while the data file or the log segment, deleted,
// have not been written again (checkSnapshot, checkLinked).
func (s *Store) Ready(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	if err := s.stallErr(); err != nil {
		// The commit loop is stuck on the disk (a write or fsync that
		// does not return): no change is made until it is back. Asked
		// first, and without touching the disk, so that the check
		// answers whatever the disk does.
		return err
	}
	if s.snapLost.Load() {
		return storeError(s.lostErr())
	}
	if err := s.lastWriteErr.Load(); err != nil {
		// The last write failed. Nothing may have been written since (a
		// load balancer sends no traffic to a server that is not ready),
		// so find out whether the disk takes writes again: the log
		// itself, when it could not be cut back after the failure (a
		// fault of that file only, read-only or on bad blocks, leaves
		// the directory writable), and a file beside it.
		if rerr := s.repairLog(); rerr != nil {
			return storeError(rerr)
		}
		if s.probe(ctx) != nil {
			return *err
		}
	}
	return nil
}

// probeRun is a readiness probe in flight (probe).
type probeRun struct {
	done chan struct{} // closed when it is over
	err  error
}

// probe runs probeWrite, one at a time: on a disk that hangs in its fsync
// (a dead NFS server, a failing device), the readiness checks that follow
// wait for the probe in flight as long as their own context allows, and
// start no other, so a load balancer's checks do not gather one stuck
// probe each. A check given up on answers with ctx's error.
func (s *Store) probe(ctx context.Context) error {
	s.probeMu.Lock()
	run := s.probing
	if run == nil {
		run = &probeRun{done: make(chan struct{})}
		s.probing = run
		go func() {
			run.err = s.probeWrite()
			s.probeMu.Lock()
			s.probing = nil
			s.probeMu.Unlock()
			close(run.done)
		}()
	}
	s.probeMu.Unlock()
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// repairLog cuts the log back to its last committed byte when a failed
// write could not (as the next write would first). While a write holds
// the log (a slow fsync, perhaps), it does not wait: the write cuts it
// back itself, and reports how that went.
func (s *Store) repairLog() error {
	if !s.logMu.TryLock() {
		return nil
	}
	defer s.logMu.Unlock()
	return s.cutBack()
}

// cutBack is repairLog with logMu held.
func (s *Store) cutBack() error {
	if s.brokenErr == nil {
		return nil
	}
	if err := s.truncateLog(); err != nil {
		return err
	}
	s.brokenErr = nil
	s.opts.Logger.Info("log writable again", "file", s.log.Name())
	return nil
}

// probeWrite writes, fsyncs and removes a small file beside the data file.
func (s *Store) probeWrite() error {
	if s.probeHook != nil {
		s.probeHook()
	}
	probe := s.path + ".probe"
	f, err := createFile(probe, os.O_TRUNC|os.O_WRONLY, s.owner)
	if err != nil {
		return err
	}
	defer os.Remove(probe)
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close waits for queued changes to be written, then closes the files.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.stopped
	s.compacting.Wait()
	err := s.log.Sync()
	if cerr := s.log.Close(); err == nil {
		err = cerr
	}
	s.dir.Close()
	if s.snapFile != nil {
		s.snapFile.Close()
	}
	s.lockFile.Close()
	return err
}
