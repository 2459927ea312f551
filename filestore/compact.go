package filestore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// snapshotOf lists every committed lock with its history (both shared:
// committed values are replaced, never changed in place).
func snapshotOf(locks map[string]*entry) []entry {
	out := make([]entry, 0, len(locks))
	for _, e := range locks {
		if e.lock != nil {
			out = append(out, entry{lock: e.lock, history: e.history})
		}
	}
	return out
}

// compactRetryEvery is how long compaction waits to try again after a new
// log segment could not be started (a variable for tests).
var compactRetryEvery = time.Minute

// segmentBackoff keeps compaction from trying to start a new log segment
// after every batch once that has failed: a read-only directory or a full
// disk fails each try alike, and each logged an ERROR (330 lines in 1,500
// requests). It is the commit loop's own.
type segmentBackoff struct {
	failures int       // tries failed in a row
	lastTry  time.Time // when the last one failed
	atSize   int64     // the log's size then
	// roomChunk is the preallocation chunk of the log at which the free
	// space was last looked at (see lowRoom).
	roomChunk int64
	// retried: a snapshot that had failed was tried again (retrySnapshot);
	// once it is written, the segment the store went on in is compacted
	// too (catchUp).
	retried bool
	// lowFree is the least free space on the disk seen since the failure
	// of failed (retrySnapshot); fullAt is when a write last found the
	// disk full (the commit loop's).
	failed  *unwrittenSnapshot
	lowFree int64
	fullAt  time.Time
}

// lowRoomMin is the least log that compacts early for want of room: below
// it, compaction gives back too little to matter.
const lowRoomMin = 1 << 20

// lowRoom reports whether the log — every segment since the snapshot, at
// least lowRoomMin and twice the snapshot — should be compacted before it
// reaches its limit because the disk has less room left than the log
// takes. On a file system smaller than CompactBytes (64 MiB by default)
// the log would otherwise fill the disk itself, every change would be
// refused from then on, and a restart would not help, although a snapshot
// of the locks takes a small part of it. It looks (one statfs, one glob)
// once per preallocation chunk of log. An early compaction whose snapshot
// could not be written (the disk full of something else) is tried again
// as any other failed snapshot is (retrySnapshot): sooner once the disk
// has more room.
func (s *Store) lowRoom(b *segmentBackoff) (free, logBytes int64, low bool) {
	chunk := s.logSize / preallocChunk
	if chunk == b.roomChunk {
		return 0, 0, false
	}
	b.roomChunk = chunk
	logBytes = s.logSize
	if segs, err := listSegments(s.path); err == nil {
		for _, seg := range segs {
			if info, err := os.Stat(seg.path); err == nil && seg.gen < s.logGen {
				logBytes += info.Size()
			}
		}
	}
	if logBytes < max(lowRoomMin, 2*s.snapSize) {
		return 0, logBytes, false
	}
	free, ok := freeBytes(filepath.Dir(s.path))
	if !ok || free >= logBytes {
		return free, logBytes, false
	}
	return free, logBytes, true
}

// due reports whether the commit loop may try again with the log at size:
// a minute after the last failure, or sooner once the log has doubled
// since (a log growing fast makes the next start's replay longer, and a
// try costs one file creation).
func (b *segmentBackoff) due(size int64, now time.Time) bool {
	return b.failures == 0 || now.Sub(b.lastTry) >= compactRetryEvery || size >= 2*b.atSize
}

// maybeCompact runs in the commit loop after a good write. When the log
// has grown past its limit, or the disk has less room left than the log
// takes, it starts a new segment and writes a snapshot of the state the
// old segments end with, in the background. Not while a snapshot that failed is still unwritten: each
// compaction would start one more segment, and fail as that one did (a
// full disk, a directory the server may not write to): segments piled up
// as long as that lasted, one for each compaction size of log, and every
// start replayed them all. compactOnTick tries that snapshot again.
func (s *Store) maybeCompact(backoff *segmentBackoff) {
	if s.compactBusy.Load() || s.unwritten.Load() != nil {
		return
	}
	var free, logBytes int64
	early := false
	if s.logSize < max(s.opts.CompactBytes, 2*s.snapSize) {
		if free, logBytes, early = s.lowRoom(backoff); !early {
			return
		}
	}
	if !backoff.due(s.logSize, time.Now()) {
		return
	}
	if early {
		s.opts.Logger.Info("the disk has less room left than the log takes: compacting before the log reaches its limit", "log_bytes", logBytes, "free_bytes", free)
	}
	s.startCompaction(backoff, false)
}

// compactAtStart runs first thing in the commit loop, before any change is
// written. When recovery replayed more than one log segment after the
// snapshot, compactions were cut short (a crash, a kill during one, a stop
// timeout shorter than a snapshot takes) or their snapshots failed (a full
// disk): each start replays them all. Waiting for the newest segment alone
// to reach its limit, as maybeCompact does, let them pile up while a server
// killed during every compaction started slower each time. So it compacts
// at once, in the background, and starts no segment for it: the snapshot
// names the newest segment, with the locks as that segment began (kept by
// recovery, or the committed ones when it holds no record), so that its
// records are replayed after it exactly once. A start whose snapshot fails
// too (a crash loop on a full disk) then leaves no segment behind: each
// used to start one, its snapshot failed like the others, and the
// segments, and every start's replay, grew with each restart. The snapshot
// is kept and tried again as any that failed (retrySnapshot); once written,
// the newest segment is compacted too when it holds records (catchUp), so
// that the next start replays none of them.
func (s *Store) compactAtStart(backoff *segmentBackoff) {
	if s.startSegments < 2 {
		return
	}
	s.opts.Logger.Info("recovery replayed more than one log segment after the snapshot (compactions cut short by a crash or a kill, or snapshots that failed): compacting at once", "segments", s.startSegments)
	held := s.logRecords > 0
	if s.startCompaction(backoff, true) && held {
		backoff.retried = true
	}
}

// startCompaction starts a compaction (compact) from the commit loop and
// logs how it went; reuse is compact's. A new segment that cannot be
// started postpones compaction (backoff). It reports whether the
// compaction began.
func (s *Store) startCompaction(backoff *segmentBackoff, reuse bool) bool {
	size := s.logSize
	gen, err := s.compact(reuse, s.snapshotDone)
	if err != nil {
		*backoff = segmentBackoff{failures: backoff.failures + 1, lastTry: time.Now(), atSize: size}
		s.opts.Logger.Error("starting a new log segment failed; compaction postponed: tried again in a minute, or once the log has doubled", "err", err, "log_bytes", size, "tries", backoff.failures)
		return false
	}
	// It covers the segment a catch-up would compact.
	backoff.retried = false
	if backoff.failures > 0 {
		s.opts.Logger.Info("started a new log segment; compaction goes on", "file", segmentPath(s.path, gen), "failed_tries_before", backoff.failures)
		*backoff = segmentBackoff{}
	}
	return true
}

// compact starts log segment logGen+1 and, in the background, writes a
// snapshot of the state the segments before it end with, then removes
// them; done is told how that went. It runs in the commit loop, between
// batches, with no compaction running (compactBusy), and returns the new
// segment's number, or the error that kept it from being started (nothing
// else is done then).
//
// With reuse (compactAtStart, and heal after a try that failed), and only
// when the snapshot names an older segment than logGen and the locks as
// logGen began are known — logGen holds no record (they are the committed
// ones), or recovery kept them (began) — no segment is started: the
// snapshot names logGen itself, with those locks, and replaying logGen's
// records after it makes each change once. Its header and directory entry
// are synced first, as newSegment does for a new one (the start that made
// it may have been killed before it synced them): a snapshot names only a
// segment that is on disk.
func (s *Store) compact(reuse bool, done func(locks int, took time.Duration, err error)) (uint64, error) {
	gen := s.logGen + 1
	began := s.began
	s.began = nil // the locks as logGen began: no longer once it is left
	if s.logRecords == 0 {
		began = nil // the committed locks, which are those
	}
	s.logMu.Lock()
	var err error
	if reuse && (s.logRecords == 0 || began != nil) && s.snapGen < s.logGen {
		gen = s.logGen
		if err = s.log.Sync(); err == nil {
			err = s.dir.Sync()
		}
	} else {
		began = nil
		err = s.newSegment(gen)
	}
	s.logMu.Unlock()
	if err != nil {
		return 0, err
	}
	// Every change written so far is committed and nothing new is written
	// until this returns, so the committed state is exactly what the old
	// segments hold (with began, the segments before logGen hold that).
	s.mu.RLock()
	entries := began
	if entries == nil {
		entries = snapshotOf(s.locks)
	}
	fence := s.fence
	s.mu.RUnlock()
	s.snapshotInBackground(&unwrittenSnapshot{gen: gen, fence: fence, entries: entries}, done)
	return gen, nil
}

// unwrittenSnapshot is a snapshot to write: the committed locks (and the
// fence counter) as log segment gen began. When the write fails, the store
// keeps it (Store.unwritten) and goes on appending to segment gen, and
// retrySnapshot writes it later, without starting a segment: the locks in
// memory have moved on since, and a snapshot of them would need a segment
// of its own to name. Its entries, like the locks', are never changed in
// place.
type unwrittenSnapshot struct {
	gen, fence uint64
	entries    []entry
	// Set when a write fails: how many have failed in a row, since when,
	// the last one's time, and the free space on the disk after it (-1:
	// unknown).
	tries int
	since time.Time
	at    time.Time
	free  int64
}

// snapshotInBackground writes snap in the background (compactBusy), then
// removes the log segments before snap.gen; done is told how that went.
// A snapshot that fails is kept to be tried again (Store.unwritten); one
// that is written clears it, whichever it was: it covers at least as
// much. Commit loop only, with no compaction running.
func (s *Store) snapshotInBackground(snap *unwrittenSnapshot, done func(locks int, took time.Duration, err error)) {
	s.compactBusy.Store(true)
	s.compacting.Add(1)
	go func() {
		defer s.compacting.Done()
		defer s.compactBusy.Store(false)
		start := time.Now()
		err := s.writeSnapshotOfLocks(snap.gen, snap.fence, snap.entries)
		if err == nil {
			s.unwritten.Store(nil)
			segs, _ := listSegments(s.path)
			for _, seg := range segs {
				if seg.gen < snap.gen {
					os.Remove(seg.path)
				}
			}
		} else {
			failed := &unwrittenSnapshot{gen: snap.gen, fence: snap.fence, entries: snap.entries, tries: 1, at: time.Now(), free: -1}
			failed.since = failed.at
			if prev := s.unwritten.Load(); prev != nil {
				failed.tries, failed.since = prev.tries+1, prev.since
			}
			if free, ok := freeBytes(filepath.Dir(s.path)); ok {
				failed.free = free
			}
			s.unwritten.Store(failed)
		}
		if s.opts.OnSnapshot != nil {
			s.opts.OnSnapshot(err)
		}
		done(len(snap.entries), time.Since(start), err)
	}()
}

// snapshotDone logs how a compaction's snapshot, or a try again at one,
// went: an ERROR for each failure (the tries are a minute apart).
func (s *Store) snapshotDone(locks int, took time.Duration, err error) {
	u := s.unwritten.Load()
	if err == nil || u == nil {
		s.opts.Logger.Info("snapshot written", "locks", locks, "took", took)
		return
	}
	s.opts.Logger.Error("writing a snapshot failed: the store goes on appending to its current log segment, starting no other, and the log grows (the next start replays all of it) until a snapshot is written; nothing is lost. Tried again every retry_every, or sooner once the disk has more room",
		"err", err, "file", s.path, "segment", segmentPath(s.path, u.gen), "tries", u.tries, "failing_since", u.since.UTC().Format(time.RFC3339), "retry_every", compactRetryEvery)
}

// snapshotRetryRoom is how much more free space than the least seen since
// a snapshot failed has the next try come before its minute is up.
const snapshotRetryRoom = 1 << 20

// compactOnTick runs in the commit loop about once a second, between
// batches: it tries a snapshot that failed again (retrySnapshot), and
// compacts the log once that worked (catchUp), so that a store that takes
// no changes catches up too. Not while changes are refused for want of the
// store's files (checkSnapshot writes them again), and no segment is
// started after a write that failed: the next good one compacts.
func (s *Store) compactOnTick(backoff *segmentBackoff) {
	if s.compactBusy.Load() || s.snapLost.Load() || s.retrySnapshot(backoff) {
		return
	}
	if s.lastWriteErr.Load() == nil {
		s.catchUp(backoff)
	}
}

// retrySnapshot writes a snapshot that failed (Store.unwritten) again, in
// the background, once compactRetryEvery has passed since the last try,
// or sooner once the disk has snapshotRetryRoom more room than the least
// it had since (something was deleted; one statfs a second while it
// lasts): the log may have filled the disk after the failure. It names
// the segment the failed compaction started, which the store has gone on
// appending to, so no segment is started for it; once it is written the
// segments before it are removed. It reports whether a snapshot is
// unwritten still (tried now or later).
func (s *Store) retrySnapshot(backoff *segmentBackoff) bool {
	u := s.unwritten.Load()
	if u == nil {
		return false
	}
	if u.gen <= s.snapGen {
		// A later snapshot covers it. None here clears it otherwise,
		// but a snapshot naming an older segment than the data file's
		// would need segments that one had removed.
		s.unwritten.CompareAndSwap(u, nil)
		return false
	}
	if time.Since(u.at) < compactRetryEvery {
		free, ok := freeBytes(filepath.Dir(s.path))
		if !ok {
			return true
		}
		if backoff.failed != u {
			backoff.failed, backoff.lowFree = u, free
			if u.free >= 0 {
				backoff.lowFree = min(free, u.free)
			}
		}
		if backoff.fullAt.After(u.at) {
			// Full since, perhaps between two looks: a change
			// refused for want of space says so.
			backoff.lowFree = 0
		}
		backoff.lowFree = min(backoff.lowFree, free)
		if free < backoff.lowFree+snapshotRetryRoom {
			return true
		}
	}
	if what, _ := s.snapshotTrouble(); what != "" {
		return true // checkSnapshot writes the data file again first
	}
	backoff.retried = true
	s.snapshotInBackground(u, s.snapshotDone)
	return true
}

// catchUp compacts the log segment the store went on appending to while
// snapshots failed, once the failed snapshot was written at last
// (retrySnapshot): it may hold hours of changes, which every start would
// replay, and it may be below the compaction size and yet fill the disk.
func (s *Store) catchUp(backoff *segmentBackoff) {
	if !backoff.retried || s.unwritten.Load() != nil {
		return
	}
	backoff.retried = false
	if s.logRecords == 0 {
		return
	}
	s.opts.Logger.Info("snapshots work again: compacting the log segment written to while they failed", "file", segmentPath(s.path, s.logGen), "log_bytes", s.logSize)
	s.startCompaction(backoff, false)
}

// writeSnapshotOfLocks writes a snapshot of committed locks (snapshotOf)
// with writeSnapshotOf.
func (s *Store) writeSnapshotOfLocks(logGen, fence uint64, locks []entry) error {
	return s.writeSnapshotOf(logGen, fence, len(locks), func(i int) *snapshotEntry {
		e := &locks[i]
		return &snapshotEntry{Lock: toDisk(e.lock), History: historyEvents(e.lock.Name, e.history)}
	})
}

// writeSnapshotOf writes a complete snapshot of n entries, the i-th given
// by entry(i), covering every change before log segment logGen: to a
// temporary file, fsynced, renamed over the data file, and the directory
// fsynced.
func (s *Store) writeSnapshotOf(logGen, fence uint64, n int, entry func(i int) *snapshotEntry) error {
	if s.snapshotFault != nil {
		if err := s.snapshotFault(); err != nil {
			return err
		}
	}
	tmp := s.path + ".tmp"
	// O_NONBLOCK: a named pipe there fails at once instead of waiting,
	// for ever, for a reader; it changes nothing for a regular file.
	f, err := createFile(tmp, os.O_TRUNC|os.O_WRONLY|syscall.O_NONBLOCK, s.owner)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var frame []byte
	put := func(v any) {
		frame = appendFrame(frame[:0], mustJSON(v))
		w.Write(frame)
	}
	w.WriteString(snapshotMagic)
	put(snapshotHeader{LogGen: logGen, Fence: fence, Count: n, Time: time.Now().UTC()})
	for i := range n {
		se := entry(i)
		frame = appendSnapshotFrame(frame[:0], se)
		if len(frame)-frameHeader > frameLimit {
			if frame, err = s.fitSnapshotFrame(frame[:0], se); err != nil {
				f.Close()
				os.Remove(tmp)
				return err
			}
		}
		w.Write(frame)
	}
	put(snapshotEnd{End: true, Count: n})
	err = w.Flush()
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	info, serr := f.Stat()
	if serr == nil {
		s.snapSize = info.Size()
	}
	if err == nil {
		// Locked before it takes the name: the file at s.path is always
		// locked by this store (see lockSnapshot).
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
		if errors.Is(err, syscall.EBUSY) {
			err = fmt.Errorf("%w: %s looks like a file mounted on its own (docker -v of a file, a Kubernetes subPath); Locker replaces the file and keeps its log and lock files beside it: mount the directory that holds it instead", err, s.path)
		}
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if s.snapFile != nil {
		s.snapFile.Close()
	}
	s.snapFile, s.snapInfo, s.snapGen = f, info, logGen
	return syncDir(filepath.Dir(s.path))
}

// frameLimit is the longest payload the store writes in a frame: what
// recovery reads (maxFrame). A variable for tests.
var frameLimit = maxFrame

// fitSnapshotFrame appends se to b as one frame of at most frameLimit
// bytes of payload, keeping as much of its history as fits: a longer frame
// would be written without complaint and refused by the next start ("frame
// checksum or length is wrong"), after compaction had removed the log that
// could have replaced it. LOCKER_HISTORY is bounded (MaxHistoryLimit) so
// that a lock's history fits, but the events of a lock in many pools carry
// all their names, and holders converted from the original locker's file
// have no length limit. The lock itself always fits: each state of it was
// written to the log, in a frame of at most frameLimit (see Update), that
// held its events too. A lock converted from the original locker's file
// never was: too large, the snapshot fails, naming it.
func (s *Store) fitSnapshotFrame(b []byte, se *snapshotEntry) ([]byte, error) {
	start := len(b)
	fits := func(drop int) bool {
		cut := *se
		cut.History = se.History[drop:]
		b = appendSnapshotFrame(b[:start], &cut)
		return len(b)-start-frameHeader <= frameLimit
	}
	all := len(se.History)
	// The fewest of the oldest events to leave out: sort.Search's
	// binary search, each step an encoding (a lock this large is rare).
	drop := sort.Search(all+1, fits)
	if drop > all {
		fits(all)
		return b[:start], fmt.Errorf("lock %.100q is too large for a snapshot: without its history it takes %d bytes of JSON, and a frame holds at most %d", se.Lock.Name, len(b)-start-frameHeader, frameLimit)
	}
	fits(drop) // the search may have ended on another encoding
	s.opts.Logger.Warn("a lock's history is too long for one frame of the snapshot: its oldest events are left out of it (and of the history after the next start)",
		"lock", se.Lock.Name, "events", all, "kept", all-drop, "frame_limit", frameLimit)
	return b, nil
}
