package filestore

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// snapshotCheckEvery is how often the commit loop makes sure the data file
// still holds the store's snapshot (a variable for tests).
var snapshotCheckEvery = time.Second

// keepByLink gives a file a second name (a variable for tests).
var keepByLink = os.Link

// healRetryEvery is how long after a failed try to write the data file
// again the next one comes (a variable for tests).
var healRetryEvery = 10 * time.Second

var (
	errSnapshotLost     = errors.New("the data file was deleted while the server ran and could not be written again; changes are refused until it is")
	errSnapshotReplaced = errors.New("the data file was replaced by another file while the server ran and could not be written again; changes are refused until it is")
)

// lostErr is why changes are refused while snapLost is set.
func (s *Store) lostErr() error {
	if err := s.lostWhy.Load(); err != nil {
		return *err
	}
	return errSnapshotLost
}

// refuseChanges has changes refused (snapLost), for why, until the store
// is written again; it reports whether they were accepted until now.
func (s *Store) refuseChanges(why error) bool {
	s.lostWhy.Store(&why)
	if s.snapLost.Swap(true) {
		return false
	}
	s.lostSince.Store(time.Now().UnixNano())
	return true
}

// healState is the commit loop's own: when it last tried to write the data
// file again, and whether a file that took the data file's name is still
// to be kept before it is written over.
type healState struct {
	lastTry  time.Time
	replaced bool
}

// checkSnapshot runs in the commit loop about once a second, between
// batches. The snapshot holds every lock as it was when its log segment
// began, and it is rewritten only by a compaction, every 64 MiB of log: a
// cleaner of old files in /tmp, or a mistaken rm, can take it while the
// server runs, and its log alone is not the locks, so the next start would
// refuse (and after another compaction, every lock in it would be lost).
// So can it lose an older log segment it still needs (one kept after a
// snapshot failed: recovery replays it, and refuses without it). Every
// committed lock is in memory: a compaction writes them all again, and the
// store is whole. When that fails, changes are refused (they would go into
// a log no start reads) and Ready says so, until a later try works.
//
// A few stats a second (the log segment's link count, its name and the open
// file, the data file's name), none a batch (the batch's statx of the log
// cost a measurable part of a write: checkLinked).
func (s *Store) checkSnapshot(h *healState) {
	if s.compactBusy.Load() {
		return // its snapshot takes the name; looked at again after it
	}
	if s.snapLost.Load() {
		// At once when the store has just found out (a write found the
		// log deleted), then every healRetryEvery.
		if h.lastTry.UnixNano() < s.lostSince.Load() || time.Since(h.lastTry) >= healRetryEvery {
			s.heal(h)
		}
		return
	}
	if s.logGone() {
		// Found before a write finds it (checkLinked).
		s.logDeleted()
		s.heal(h)
		return
	}
	what, replaced := s.snapshotTrouble()
	if what == "" {
		return
	}
	s.opts.Logger.Warn(what+" while the server ran: writing the data file again, from the locks in memory (the next start needs it)", "file", s.path)
	h.replaced = replaced
	s.heal(h)
}

// logGone reports whether the log segment written to has no name left, or
// its name now leads elsewhere (moved away): the next start could not find
// it. Commit loop only.
func (s *Store) logGone() bool {
	if n, err := linkCount(s.log, &s.linkStat); err == nil && n == 0 {
		return true
	}
	named, err := os.Stat(segmentPath(s.path, s.logGen))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false // a file system that cannot tell is not taken for a loss
	}
	open, err := s.log.Stat()
	return err == nil && !os.SameFile(named, open)
}

// snapshotTrouble says what happened to the files the next start needs
// beside the log segment written to ("" when nothing did, or the file
// system cannot tell), and whether the data file's name now leads to
// another file. Commit loop only, while no compaction runs.
func (s *Store) snapshotTrouble() (what string, replaced bool) {
	if s.snapInfo == nil {
		return "", false
	}
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "the data file was deleted (or moved away)", false
	case err == nil && !os.SameFile(info, s.snapInfo):
		return "the data file was replaced by another file", true
	}
	for gen := s.snapGen; gen < s.logGen; gen++ {
		if _, err := os.Stat(segmentPath(s.path, gen)); errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("log segment %s, which the data file still needs (it was kept after a snapshot failed), was deleted", segmentPath(s.path, gen)), false
		}
	}
	return "", false
}

// heal writes the data file again: a compaction. A file that took its name
// is kept first, by another name: it is someone's.
func (s *Store) heal(h *healState) {
	h.lastTry = time.Now()
	why := errSnapshotLost // what changes are refused for, should this fail
	switch {
	case s.snapLost.Load():
		why = s.lostErr()
	case h.replaced:
		why = errSnapshotReplaced
	}
	if h.replaced {
		kept := fmt.Sprintf("%s.replaced-%s", s.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
		switch err := keepByLink(s.path, kept); {
		case err == nil:
			s.opts.Logger.Warn("the file that took the data file's name is kept by another name", "file", s.path, "kept", kept)
		case errors.Is(err, os.ErrNotExist):
			// Moved away since (as the refusal says to): nothing is
			// left to keep.
		default:
			s.healFailed(errSnapshotReplaced, fmt.Errorf("keeping the file that took its name, as %s, before writing over it: %w; move it away", kept, err))
			return
		}
		h.replaced = false
	}
	// After a try that failed, changes are refused (snapLost): the
	// segment it started holds none, and the next try names it again
	// (compact's reuse) instead of starting one more each time, unless it
	// is gone too.
	reuse := s.snapLost.Load() && !s.logGone()
	_, err := s.compact(reuse, func(locks int, took time.Duration, err error) {
		if err != nil {
			s.healFailed(why, err)
			return
		}
		if s.snapLost.Swap(false) {
			s.opts.Logger.Info("the data file is written again, with every lock: changes are accepted again", "file", s.path, "locks", locks, "took", took)
		} else {
			s.opts.Logger.Info("the data file is written again, with every lock", "file", s.path, "locks", locks, "took", took)
		}
	})
	if err != nil {
		s.healFailed(why, fmt.Errorf("starting a new log segment: %w", err))
	}
}

// healFailed refuses changes until the data file is written again, and
// says so: at once, then at most once a minute while the tries fail.
func (s *Store) healFailed(why, err error) {
	first := s.refuseChanges(why)
	now := time.Now()
	if !first && now.Sub(time.Unix(0, s.healLoggedAt.Load())) < time.Minute {
		return
	}
	s.healLoggedAt.Store(now.UnixNano())
	s.opts.Logger.Error("writing the data file again failed: changes are refused, since the next start could not read them without it. The locks acknowledged so far are in this process only (GET /locks shows them): do not restart it before this is solved (a full disk, a read-only directory); it is tried again every retry_every, and changes are accepted again once it works", "file", s.path, "err", err, "retry_every", healRetryEvery)
}
