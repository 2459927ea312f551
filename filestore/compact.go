package filestore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// maybeCompact runs in the commit loop after a good write. When the log has
// grown past its limit, it starts a new segment and writes a snapshot of the
// state the old segments end with, in the background.
func (s *Store) maybeCompact() {
	if s.compactBusy.Load() {
		return
	}
	if s.logSize < max(s.opts.CompactBytes, 2*s.snapSize) {
		return
	}
	gen := s.logGen + 1
	if err := s.newSegment(gen); err != nil {
		s.opts.Logger.Error("starting a new log segment failed; compaction postponed", "err", err)
		return
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
		if err := s.writeSnapshotOfLocks(gen, fence, entries); err != nil {
			s.opts.Logger.Error("writing a snapshot failed; the log is kept and compaction will be tried again", "err", err)
			return
		}
		segs, _ := listSegments(s.path)
		for _, seg := range segs {
			if seg.gen < gen {
				os.Remove(seg.path)
			}
		}
		s.opts.Logger.Info("snapshot written", "locks", len(entries), "took", time.Since(start))
	}()
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
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
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
		frame = appendSnapshotFrame(frame[:0], entry(i))
		w.Write(frame)
	}
	put(snapshotEnd{End: true, Count: n})
	err = w.Flush()
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	if info, serr := f.Stat(); serr == nil {
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
	s.snapFile = f
	return syncDir(filepath.Dir(s.path))
}
