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
	// space was last looked at, and lastFree what it was then; earlyAt is
	// when the last early compaction was tried (see lowRoom).
	roomChunk int64
	lastFree  int64
	earlyAt   time.Time
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
// once per preallocation chunk of log. After an early compaction whose
// snapshot could not be written (the disk full of something else), it
// tries again only once the disk has more room than at the last look
// (something was deleted), or a minute later: each try leaves one more
// segment behind, with a chunk of it preallocated.
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
	freed := free > b.lastFree
	b.lastFree = free
	if !ok || free >= logBytes {
		return free, logBytes, false
	}
	if s.snapFailed.Load() && !freed && time.Since(b.earlyAt) < compactRetryEvery {
		return free, logBytes, false
	}
	b.earlyAt = time.Now()
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
// old segments end with, in the background.
func (s *Store) maybeCompact(backoff *segmentBackoff) {
	if s.compactBusy.Load() {
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
// timeout shorter than a snapshot takes): each leaves a segment more, and
// each start replays them all. Waiting for the newest segment alone to
// reach its limit, as maybeCompact does, let them pile up while a server
// killed during every compaction started slower each time. So it compacts
// at once, in the background, as maybeCompact would. When the newest
// segment holds no record (a start killed during this compaction before
// any change was written, or one that started a segment to keep a raised
// fence counter), the snapshot names that segment instead of starting one
// more: otherwise each such start would leave a segment too.
func (s *Store) compactAtStart(backoff *segmentBackoff) {
	if s.startSegments < 2 {
		return
	}
	s.opts.Logger.Info("recovery replayed more than one log segment after the snapshot (compactions cut short by a crash or a kill): compacting at once", "segments", s.startSegments)
	s.startCompaction(backoff, s.logRecords == 0)
}

// startCompaction starts a compaction (compact) from the commit loop and
// logs how it went; reuse is compact's. A new segment that cannot be
// started postpones compaction (backoff).
func (s *Store) startCompaction(backoff *segmentBackoff, reuse bool) {
	size := s.logSize
	gen, err := s.compact(reuse, func(locks int, took time.Duration, err error) {
		if err != nil {
			s.snapFailed.Store(true)
			s.opts.Logger.Error("writing a snapshot failed; the log is kept and compaction will be tried again", "err", err)
			return
		}
		s.snapFailed.Store(false)
		s.opts.Logger.Info("snapshot written", "locks", locks, "took", took)
	})
	if err != nil {
		*backoff = segmentBackoff{failures: backoff.failures + 1, lastTry: time.Now(), atSize: size}
		s.opts.Logger.Error("starting a new log segment failed; compaction postponed: tried again in a minute, or once the log has doubled", "err", err, "log_bytes", size, "tries", backoff.failures)
		return
	}
	if backoff.failures > 0 {
		s.opts.Logger.Info("started a new log segment; compaction goes on", "file", segmentPath(s.path, gen), "failed_tries_before", backoff.failures)
		*backoff = segmentBackoff{}
	}
}

// compact starts log segment logGen+1 and, in the background, writes a
// snapshot of the state the segments before it end with, then removes
// them; done is told how that went. It runs in the commit loop, between
// batches, with no compaction running (compactBusy), and returns the new
// segment's number, or the error that kept it from being started (nothing
// else is done then).
//
// With reuse, which only compactAtStart asks for, and only when segment
// logGen holds no record and the snapshot names an older one, no segment
// is started: the snapshot names logGen itself, whose replay adds nothing
// to the state it holds. Its header and directory entry are synced first,
// as newSegment does for a new one (the start that made it may have been
// killed before it synced them): a snapshot names only a segment that is
// on disk.
func (s *Store) compact(reuse bool, done func(locks int, took time.Duration, err error)) (uint64, error) {
	gen := s.logGen + 1
	s.logMu.Lock()
	var err error
	if reuse && s.logRecords == 0 && s.snapGen < s.logGen {
		gen = s.logGen
		if err = s.log.Sync(); err == nil {
			err = s.dir.Sync()
		}
	} else {
		err = s.newSegment(gen)
	}
	s.logMu.Unlock()
	if err != nil {
		return 0, err
	}
	// Every change written so far is committed and nothing new is written
	// until this returns, so the committed state is exactly what the old
	// segments hold.
	s.mu.RLock()
	entries := snapshotOf(s.locks)
	fence := s.fence
	s.mu.RUnlock()
	s.compactBusy.Store(true)
	s.compacting.Add(1)
	go func() {
		defer s.compacting.Done()
		defer s.compactBusy.Store(false)
		start := time.Now()
		err := s.writeSnapshotOfLocks(gen, fence, entries)
		if err == nil {
			segs, _ := listSegments(s.path)
			for _, seg := range segs {
				if seg.gen < gen {
					os.Remove(seg.path)
				}
			}
		}
		done(len(entries), time.Since(start), err)
	}()
	return gen, nil
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
