// Package filestore is Locker's default store: one process, one data file.
//
// The data file (LOCKER_CONFIG) holds a snapshot of every lock. Changes are
// appended to a log beside it (<file>.log.<N>), each record checksummed, and
// fsynced before the request that made them is answered; concurrent requests
// share an fsync (group commit), so durability does not serialise them, and
// a change costs the same whatever the number of locks. When the log grows,
// the store starts a new segment and writes a fresh snapshot in the
// background (new file, fsync, rename, fsync the directory), then removes
// the old segment. At start the snapshot is read and the log replayed; a
// record cut short by a crash at the very end of the log is dropped (a
// token legible in it is not handed out again), while any other damage,
// or a segment holding fewer records than the next one's header counts,
// makes Open fail with a message and leaves every file as it was; Salvage (locker salvage, offline) is the way past damage inside the
// log; Read loads a store's state through the same recovery without
// changing any file (locker migrate's source). The original locker's JSON
// file is read and converted on first start.
// While the store runs, it looks once a second that the data file and the log
// are still there (a cleaner of old files may take them), and writes the
// store again from the locks in memory if not (checkSnapshot).
package filestore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/internal/leaseclock"
	"github.com/cloudfoundry-community/locker/lock"
)

// Options tune a Store. The zero value is the production default.
type Options struct {
	// HistoryLimit is how many recent events each lock keeps (default 100).
	HistoryLimit int
	// CompactBytes is the log size that starts a new snapshot (default
	// 64 MiB, or twice the last snapshot if that is larger).
	CompactBytes int64
	// Now is the clock that decides leases and times changes (default
	// leaseclock.Now, the process's lease clock, which the lock service
	// uses too: one clock for every lease decision in the process).
	Now func() time.Time
	// Logger receives compaction and recovery messages (default: discard).
	Logger *slog.Logger
	// NoSync skips fsync. Only for benchmarks that measure everything else.
	NoSync bool
	// OnCommit, if set, is told of every batch written: its size, how long
	// the write and fsync took, and the error if it failed.
	OnCommit func(batch int, took time.Duration, err error)
	// OnSnapshot, if set, is told of every snapshot a compaction wrote,
	// or tried to: nil, or why it failed.
	OnSnapshot func(err error)
	// MinFence raises the fence counter to at least this (locker migrate:
	// the source's counter, which can be above every token its locks
	// show). A raise is kept in a new log segment's header before Open
	// returns, so that no token at or below it is ever handed out.
	MinFence uint64
	// Migrating opens a store marked as the target of an unfinished
	// locker migrate (migrating.go), which Open otherwise refuses: the
	// copy itself, finishing it.
	Migrating bool
}

// entry is one lock: its committed state and history (never changed in
// place, so readers may keep them), and the change in flight, if any.
type entry struct {
	lock    *lock.Lock // nil while the lock's first change is in flight
	history []histEvent
	pending *op
}

// op is one change waiting for its fsync.
type op struct {
	entry  *entry
	next   lock.Lock
	events []lock.Event
	done   chan struct{}
	err    error
}

// Store is the file store. It implements lock.Store.
type Store struct {
	path     string
	opts     Options
	owner    owner // who the files the store makes are given to
	dir      *os.File
	lockFile *os.File
	// failing, failLoggedAt and refusedUnlogged keep a failing disk from
	// logging every refused change (commit loop only).
	failing         bool
	failLoggedAt    time.Time
	refusedUnlogged int
	// snapFile is the snapshot file, held open and locked while the store
	// is (see lockSnapshot); snapInfo is its identity, to tell whether the
	// data file's name still leads to it, and snapGen the log segment it
	// names. Set by Open, then by compactions, which the commit loop
	// starts: it reads them only while none runs (see checkSnapshot).
	snapFile *os.File
	snapInfo os.FileInfo
	snapGen  uint64

	mu     sync.RWMutex
	locks  map[string]*entry
	pools  poolIndex // the committed locks by the pools they are members of
	fence  uint64    // last token handed out
	closed bool
	queue  []*op
	// queued is the log records of queue's changes, framed, in its order:
	// encoded straight into the batch the commit loop writes.
	queued     []byte
	queueReady chan struct{} // signalled when queue gets work
	// gatherWant is how many queued changes make the commit loop go on
	// while it gathers a batch (0 otherwise: every change wakes it).
	gatherWant atomic.Int64

	// Owned by the committer goroutine, which holds logMu while it writes
	// or switches segments: Ready takes it to cut a broken log back.
	logMu   sync.Mutex
	log     *os.File
	logGen  uint64
	logSize int64
	// logRecords is how many records the segment holds (the commit loop
	// counts a batch's once its write succeeded): the next segment's
	// header says so (newSegment).
	logRecords int64
	// allocated is the log segment's size: logSize plus the zeros
	// preallocated after it. noPrealloc: the file system cannot.
	allocated  int64
	noPrealloc bool
	snapSize   int64
	brokenErr  error // last write failure, until the log is repaired
	// logFaults, set by tests only, fails the log segment's syncs and
	// truncates as a failing disk would.
	logFaults *logFaults
	// probeHook, set by tests only, runs as a readiness probe starts.
	probeHook func()
	probeMu   sync.Mutex
	probing   *probeRun // the readiness probe in flight, if any

	lastWriteErr atomic.Pointer[error] // set by a failed write, cleared by a good one
	// snapLost is set while the store's files, the data file or a log
	// segment deleted (or the data file replaced) while the server ran,
	// have not been written again: changes are refused until a try works
	// (see checkSnapshot, checkLinked). healLoggedAt (UnixNano) paces the
	// messages of failed tries.
	snapLost     atomic.Bool
	lostWhy      atomic.Pointer[error] // why, while snapLost is set
	lostSince    atomic.Int64          // UnixNano of when snapLost was set last
	healLoggedAt atomic.Int64
	// snapshotFault, set by tests only (under logMu), fails snapshot
	// writes as a failing disk would.
	snapshotFault func() error
	linkStat      linkStat // checkLinked's, kept to spare an allocation a batch

	// stall is the commit loop's disk work in flight, which Ready and the
	// metrics watch for a hung disk (stall.go).
	stall stallWatch

	compacting sync.WaitGroup
	watch      func(string, []lock.Event) // called by the commit loop for each committed change

	compactBusy atomic.Bool // a snapshot is being written
	// startSegments is how many log segments follow the snapshot when
	// Open returns: more than one, and the commit loop compacts at once
	// (compactAtStart).
	startSegments int
	// began is the committed locks as log segment logGen began, kept by
	// recovery when it replayed more than one segment, for the
	// compaction at start (compactAtStart) to write a snapshot naming
	// logGen instead of starting a segment; nil otherwise, and once a
	// compaction has begun. Commit loop only (Open sets it).
	began []entry
	// unwritten is the snapshot of a compaction whose write failed, kept
	// to be tried again (retrySnapshot) until one is written; nil
	// otherwise. Set by the compaction's goroutine before it clears
	// compactBusy.
	unwritten atomic.Pointer[unwrittenSnapshot]

	stop    chan struct{}
	stopped chan struct{}
}

// withDefaults is o with the zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = 100
	}
	if o.CompactBytes <= 0 {
		o.CompactBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = leaseclock.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// existingStore is the real path of the data file at path, which must be
// there, a regular file: a store that Read and Salvage find as it is
// (Open makes one where there is none).
func existingStore(path string) (string, error) {
	path, err := realPath(path)
	if err != nil {
		return "", err
	}
	if err := checkRegular(path); err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}

// Open opens (or creates) the store whose snapshot is at path.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	path, err := realPath(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path); err != nil {
		return nil, err
	}
	s := &Store{path: path, opts: opts, owner: ownerFor(path), queueReady: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	if s.dir, err = os.Open(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("opening the data directory: %w", err)
	}
	if err := s.takeFileLock(); err != nil {
		s.dir.Close()
		return nil, err
	}
	if note, ok := Migrating(path); ok && !opts.Migrating {
		s.lockFile.Close()
		s.dir.Close()
		return nil, unfinishedCopy(path, note)
	}
	if err := s.lockSnapshot(5); err != nil {
		s.lockFile.Close()
		s.dir.Close()
		return nil, err
	}
	if err := s.open(); err != nil {
		if s.snapFile != nil {
			s.snapFile.Close()
		}
		s.lockFile.Close()
		s.dir.Close()
		return nil, err
	}
	s.stall.after = writeStallAfter
	go s.commitLoop()
	go s.watchStalls()
	return s, nil
}

// Path is the data file the store keeps: the path it was opened with, made
// absolute, with its symlinks resolved.
func (s *Store) Path() string { return s.path }

// realPath is path made absolute with its symlinks resolved (those of its
// directory when the file does not exist yet): the lock file and the log
// segments are named after the snapshot, so a server started on a symlink
// to another's file would otherwise lock a name of its own, and both would
// hand out the same locks.
//
// Paths are never cleaned by string rules before they are resolved: after
// a linked directory, "sub/.." is where the link points to's parent, not
// the directory holding sub, and the file system is what counts.
func realPath(path string) (string, error) {
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		path = wd + string(filepath.Separator) + path
	}
	for hops := 0; ; hops++ {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return real, nil
		}
		i := strings.LastIndexByte(path, filepath.Separator)
		if dir, base := path[:max(i, 1)], path[i+1:]; base != "" && base != "." && base != ".." {
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				path = filepath.Join(real, base)
			}
		}
		// A link to a file not made yet (a first start) names that file:
		// otherwise the store would replace the link with a file of its
		// own, and a server started on the target would run beside it.
		target, err := os.Readlink(path)
		if err != nil {
			return path, nil // not a link: a new file
		}
		if hops == 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", path)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Dir(path) + string(filepath.Separator) + target
		}
		path = target
	}
}

// afterSnapshotOpen, when set (by tests), runs between lockSnapshot's open
// and its flock.
var afterSnapshotOpen func()

// lockSnapshot locks the snapshot file too, when there is one, and keeps it
// open: the lock file alone can be removed while the server runs (a
// cleaner of old files in /tmp, a mistaken rm), and a second server would
// then make a new one and run beside this one. Each new snapshot is locked
// before it takes the snapshot's name.
func (s *Store) lockSnapshot(tries int) error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new store: its first snapshot is locked as it is made
	}
	if err != nil {
		return err
	}
	if afterSnapshotOpen != nil {
		afterSnapshotOpen()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%s is in use by another Locker (it holds the file locked): %w", s.path, err)
	}
	// Between the open and the flock, a running server's compaction may
	// have put a new snapshot in the file's place and let go of the old
	// one: locked, that proves nothing. Look again.
	opened, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if now, err := os.Stat(s.path); err != nil || !os.SameFile(opened, now) {
		f.Close()
		if tries > 0 {
			return s.lockSnapshot(tries - 1)
		}
		return fmt.Errorf("%s is in use by another Locker (it keeps being replaced)", s.path)
	}
	s.snapFile, s.snapInfo = f, opened
	return nil
}

// takeFileLock makes sure no other Locker uses the same file.
func (s *Store) takeFileLock() error {
	f, err := createFile(s.path+".lock", os.O_RDWR, s.owner)
	if err != nil {
		return fmt.Errorf("creating %s.lock: %w", s.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%s is in use by another Locker (%s.lock is locked): %w", s.path, s.path, err)
	}
	s.lockFile = f
	return nil
}

// regularSegments lists the log segments of the store at path, refusing
// one that is not a regular file (a named pipe would hang a read of it).
func regularSegments(path string) ([]segment, error) {
	segs, err := listSegments(path)
	if err != nil {
		return nil, err
	}
	for _, seg := range segs {
		if err := checkRegular(seg.path); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

func (s *Store) open() error {
	// Every segment is refused here if it is not a regular file, before
	// noRecords below would wait on a named pipe (recovery checks them
	// too, but reads segment 1 later than that).
	segs, err := regularSegments(s.path)
	if err != nil {
		return err // before a missing snapshot is taken for a new store
	}
	if _, err := os.Stat(s.path); errors.Is(err, os.ErrNotExist) {
		if hasLog(segs) {
			return fmt.Errorf("%s is missing but its log %s is there; refusing to start without the snapshot: the log holds only the changes made since it, and starting would lose held locks and issue fencing tokens again. Restore %s together with every %s.log.* beside it from the same backup (the segments here go with the lost file, not with an older copy of it). A running Locker writes its data file again by itself when it is deleted: this one was stopped before it noticed (it looks once a second), could not write it (its log says why), or is older than that", s.path, segs[0].path, filepath.Base(s.path), filepath.Base(s.path))
		}
		// The first log segment, then the snapshot that names it: a
		// snapshot always names a segment that was made before it, so
		// one that is missing has been lost (recoverState). A crash in
		// between leaves a segment without records, started afresh here.
		if err := s.startSegment(1); err != nil {
			return fmt.Errorf("creating %s: %w", segmentPath(s.path, 1), err)
		}
		st := &state{locks: map[string]*entry{}, logGen: 1}
		if err := s.writeSnapshotOfLocks(st.logGen, st.fence, snapshotOf(st.locks)); err != nil {
			return fmt.Errorf("creating %s: %w", s.path, err)
		}
	}
	st, err := recoverState(s.path, s.opts.HistoryLimit)
	if errors.Is(err, errLegacy) {
		// The original locker's file: keep a copy, then rewrite it in this
		// format (atomically) so the log has a snapshot to follow. Not over
		// a log of this server's: its changes are acknowledged locks that
		// the conversion would start a new log over (a segment left by a
		// conversion that crashed has no records, and is started afresh).
		if segs, _ := listSegments(s.path); hasLog(segs) {
			return legacyBesideLog(s.path, segs[0].path)
		}
		orig, kerr := keepOriginal(s.path, s.owner)
		if kerr != nil {
			return fmt.Errorf("keeping a copy of the original locker's file: %w", kerr)
		}
		if err := s.startSegment(st.logGen); err != nil {
			return fmt.Errorf("converting %s: %w", s.path, err)
		}
		if err := s.writeSnapshotOfLocks(st.logGen, st.fence, snapshotOf(st.locks)); err != nil {
			return fmt.Errorf("converting %s: %w", s.path, err)
		}
		s.opts.Logger.Info("converted the original locker's file; a copy of it is kept", "file", s.path, "copy", orig, "locks", len(st.locks))
		if len(st.skipped) > 0 {
			s.opts.Logger.Warn("left out free locks of the original locker's file whose names are not valid lock names now (too long, or with control characters)", "count", len(st.skipped), "names", st.skipped)
		}
		st, err = recoverState(s.path, s.opts.HistoryLimit)
	}
	if err != nil {
		return err
	}
	s.locks, s.fence, s.snapSize, s.snapGen = st.locks, st.fence, st.snapSize, st.logGen
	minRaised := false
	if s.opts.MinFence > s.fence {
		s.fence, minRaised = s.opts.MinFence, true
	}
	s.pools = indexPools(s.locks)
	// Recovery decoded every record, and replaced most of what it decoded
	// from the log: give that memory back to the operating system now
	// rather than over the next minutes, so the server's resident size is
	// what it keeps (100,000 locks after a 55 MB log: about 70 MiB
	// instead of 125).
	debug.FreeOSMemory()
	// Segments older than the snapshot are left over from a compaction that
	// stopped before removing them.
	if segs, err := listSegments(s.path); err == nil {
		for _, seg := range segs {
			if seg.gen < st.logGen {
				os.Remove(seg.path)
			}
		}
	}
	if n := len(st.segments); n > 0 {
		last := st.segments[n-1]
		f, err := os.OpenFile(last.path, os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		s.log, s.logGen, s.logSize, s.allocated = f, last.gen, st.tailOffset, info.Size()
		s.logRecords = st.records[n-1]
		s.startSegments, s.began = n, st.lastBegan
		raised := minRaised
		if st.tailOffset == 0 {
			// The segment was cut off before its header: write it afresh
			// (saying what the one it cut off said, as recovery found it).
			hdr := logHeader{Gen: last.gen, Fence: s.fence}
			if n > 1 {
				hdr.Records = &st.records[n-2]
			}
			if err := s.writeLogHeader(hdr); err != nil {
				f.Close()
				return err
			}
		} else if info.Size() != st.tailOffset && !st.zeroTail {
			// What a crash leaves there was never acknowledged, but damage
			// to the last record may look the same: its bytes are kept
			// beside the log, for someone to look at, before the cut.
			kept, fence, err := keepTail(f, last.path, st.tailOffset, info.Size(), s.owner)
			switch {
			case err != nil:
				f.Close()
				return keepTailFailed(last.path, info.Size()-st.tailOffset, err)
			case kept == "":
				// Only zeros: a preallocation the disk could not finish.
				s.opts.Logger.Info("cutting off zeros after the last record of the log", "file", last.path, "bytes", info.Size()-st.tailOffset)
			case fence > s.fence:
				// A record's token, legible in the bytes: never
				// acknowledged if a crash tore it, but if they are the
				// last record damaged, it was handed out. Either way, it
				// is not handed out again.
				s.fence, raised = fence, true
				s.opts.Logger.Warn("dropping a record cut short by a crash at the end of the log; its bytes are kept, and the fence counter is raised past the token legible in them", "file", last.path, "bytes", info.Size()-st.tailOffset, "kept", kept, "fence", fence)
			default:
				s.opts.Logger.Warn("dropping a record cut short by a crash at the end of the log; its bytes are kept", "file", last.path, "bytes", info.Size()-st.tailOffset, "kept", kept)
			}
			if err := s.truncateLog(); err != nil {
				f.Close()
				return err
			}
		}
		s.markUnmarked(st.unmarked)
		if _, err := f.Seek(s.logSize, 0); err != nil {
			return err
		}
		if raised {
			// The token is in no record once the bytes are cut off (nor,
			// for MinFence, in any record at all): a new segment's header
			// carries the raised counter, so that a restart before the
			// next grant does not go back below it.
			if err := s.newSegment(last.gen + 1); err == nil {
				// It begins with every lock: compact names it as it is.
				s.startSegments, s.began = s.startSegments+1, nil
			} else {
				if minRaised {
					f.Close()
					return fmt.Errorf("starting a log segment to keep the fence counter raised to %d: %w", s.fence, err)
				}
				s.opts.Logger.Warn("starting a log segment to keep the raised fence counter failed: the next grant's record keeps it, and a restart before that hands the dropped token out again", "file", segmentPath(s.path, last.gen+1), "err", err)
			}
		}
		return nil
	}
	return s.newSegment(st.logGen)
}

// keepTail copies f's bytes from off to size (up to a megabyte: a torn
// write is one batch), without the zeros they end in, to a new file beside
// the log, named after it and the time, and returns its path ("" when they
// are all zeros, which hold nothing to keep) and the highest fence legible
// in them (0: none). The new file is given to o.
//
// The zeros are left out because they are mostly the preallocated rest of
// the segment, never written: a record torn at the start of a chunk was
// kept with 256 KiB of them, which a start on a disk that filled up (where
// a crash is likelier) had to find room for, or refuse.
func keepTail(f *os.File, path string, off, size int64, o owner) (string, uint64, error) {
	b, err := tailBytes(f, off, size)
	if err != nil || len(b) == 0 {
		return "", 0, err
	}
	kept := fmt.Sprintf("%s.dropped-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	return kept, legibleFence(b), writeFileSync(kept, b, o)
}

// tailBytes is f's bytes from off to size, up to a megabyte (a torn write
// is one batch), without the zeros they end in.
func tailBytes(f *os.File, off, size int64) ([]byte, error) {
	b := make([]byte, min(size-off, 1<<20))
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return bytes.TrimRight(b, "\x00"), nil
}

// hasLog reports whether segs, the log segments beside a data file, hold a
// log of this server's: more than the first segment without records that a
// first start (or a conversion of the original locker's file) crashed
// after making.
func hasLog(segs []segment) bool {
	return len(segs) > 0 && !(len(segs) == 1 && segs[0].gen == 1 && noRecords(segs[0].path))
}

// legacyBesideLog refuses the original locker's file at path with a log of
// this server's beside it (seg, its first segment).
func legacyBesideLog(path, seg string) error {
	base := filepath.Base(path)
	return fmt.Errorf("%s is in the original locker's format, but this server's log %s is beside it: the locks acknowledged since are in it, and converting the file would start a new log over them. If %s was put back on purpose (to come back from the original locker), move %s.log.* away first; otherwise restore this server's own %s from the backup its log belongs to", path, seg, base, base, base)
}

// keepTailFailed is the error of a start that could not keep the bad end
// of the log segment at path (n bytes) beside it before cutting it off:
// it says that nothing was changed and what to do. The copy's name (with
// the time in it) is left out, so that each start refuses in the same
// words.
func keepTailFailed(path string, n int64, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	todo := "solve that"
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		todo = "free space on the disk that holds it"
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS):
		todo = "let the server write to its directory"
	}
	return fmt.Errorf("%s ends in %d bytes that are not a whole record (a write cut short by a crash, or its last record damaged); a start keeps them beside the log before it cuts them off (they may hold a fencing token that must not be handed out again), and could not write that copy (%v). The start changed nothing: %s, then start again", path, n, err, todo)
}

// checkRegular refuses a file of the store (the data file, a log segment,
// the original's copy) that exists and is not a regular file (or a symlink
// to one), before it is opened: opening a named pipe waits for a writer,
// for ever, and the server ignored SIGTERM meanwhile; a directory or a
// device is no store either. A missing file is made where the store makes
// it, and any other error is the opener's to report.
func checkRegular(path string) error {
	info, err := os.Stat(path)
	if err != nil || info.Mode().IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch m := info.Mode(); {
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("%s is %s: the file store keeps its locks in a regular file (made if missing) with its log beside it, all regular files", path, what)
}

// keepOriginal copies the original locker's file at path to path.orig,
// or, when that holds something else already (the copy of an earlier
// conversion), to the first free path.orig.N; a copy of the same bytes
// (left by a conversion a crash cut short) is kept as it is. It returns
// the copy's path. A new copy is given to o.
func keepOriginal(path string, o owner) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for n := 0; ; n++ {
		orig := path + ".orig"
		if n > 0 {
			orig = fmt.Sprintf("%s.orig.%d", path, n)
		}
		if err := checkRegular(orig); err != nil {
			return "", err
		}
		switch have, err := os.ReadFile(orig); {
		case errors.Is(err, os.ErrNotExist):
			return orig, writeFileSync(orig, b, o)
		case err != nil:
			return "", err
		case bytes.Equal(have, b):
			return orig, nil
		}
	}
}

// createFile opens, for flag, a file the store makes beside its data file,
// creating it (owner only) if missing. Never through a symbolic link: the
// directory may be writable by others (/tmp), who could otherwise aim a link
// at any file for the store to create, truncate and write, with the
// server's rights.
//
// A file it makes is given to o (see owner); one that was there already is
// opened as it is, never given away: a hard link there may be another
// file's, of root's, that the directory's owner linked in.
func createFile(path string, flag int, o owner) (*os.File, error) {
	if o.set {
		f, err := os.OpenFile(path, flag|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil {
			return f, o.give(f, path)
		}
		// There already (or a link, refused below), or the error again.
	}
	f, err := os.OpenFile(path, flag|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		// ELOOP, or EACCES for another user's link in a sticky directory.
		if info, lerr := os.Lstat(path); lerr == nil && info.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s is a symbolic link: the file store makes its own files beside the data file and never writes through a link; remove it", path)
		}
	}
	return f, err
}

// writeFileSync writes b to path through a temporary file, fsync and rename,
// then fsyncs the directory; a file it makes is given to o.
func writeFileSync(path string, b []byte, o owner) error {
	tmp := path + ".tmp"
	f, err := createFile(tmp, os.O_TRUNC|os.O_WRONLY|syscall.O_NONBLOCK, o) // as in writeSnapshotOf
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// startSegment makes log segment gen, with its header and nothing else,
// before a snapshot names it; open then appends to it.
func (s *Store) startSegment(gen uint64) error {
	if err := s.newSegment(gen); err != nil {
		return err
	}
	err := s.log.Close()
	s.log = nil
	return err
}

// noRecords reports whether the log segment at path (segment 1) holds no
// record: it is empty, or cut off in its header, or its header followed by
// zeros.
func noRecords(path string) bool {
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() || info.Size() > preallocChunk {
		return false
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > preallocChunk {
		return false
	}
	if !bytes.HasPrefix(b, []byte(logMagic)) {
		return bytes.HasPrefix([]byte(logMagic), b) // cut off in the magic
	}
	rest := b[len(logMagic):]
	if _, n, err := readFrame(rest); err == nil {
		return allZero(rest[n:])
	}
	return tornHeader(rest, 1) // cut off in the header's frame
}

// newSegment starts log segment gen and makes it the one appended to.
func (s *Store) newSegment(gen uint64) error {
	f, err := createFile(segmentPath(s.path, gen), os.O_TRUNC|os.O_RDWR, s.owner)
	if err != nil {
		return err
	}
	old, oldGen, oldSize := s.log, s.logGen, s.logSize
	oldAllocated := s.allocated
	// The header keeps the fence counter (s.fence: the tokens of changes
	// still queued are counted too, which only raises it) and how many
	// records the old segment holds, which recovery checks.
	hdr := logHeader{Gen: gen, Fence: s.counter()}
	if old != nil {
		records := s.logRecords
		hdr.Records = &records
	}
	s.log, s.logGen, s.logSize = f, gen, 0
	err = s.writeLogHeader(hdr)
	if err == nil {
		err = s.dir.Sync()
	}
	if err != nil {
		// Go on appending to the old segment, exactly where it ends.
		f.Close()
		os.Remove(segmentPath(s.path, gen))
		s.log, s.logGen, s.logSize, s.allocated = old, oldGen, oldSize, oldAllocated
		return err
	}
	s.logRecords = 0
	if old != nil {
		// The old segment now ends by naming this one, so that recovery
		// misses it if it is ever lost (while the snapshot still names an
		// older one, nothing else would show it existed). Without the
		// marker, recovery only cannot tell.
		marker := markerFrame(gen)
		_, err := old.WriteAt(marker, oldSize)
		if err == nil {
			err = old.Sync()
		}
		if err != nil {
			s.opts.Logger.Warn("marking the end of a log segment failed", "file", old.Name(), "err", err)
		}
		old.Close()
	}
	return nil
}

// markUnmarked writes the markers a crash between making a segment and
// marking the end of the one before left out, so that the later segment's
// loss cannot pass unnoticed from then on. Only once every segment they
// name has its header on disk (the last one's is written afresh above when
// a crash cut it off), and the directory holds them: a marker naming a
// segment without its header would make every later start refuse.
func (s *Store) markUnmarked(unmarked []unmarkedSegment) {
	if len(unmarked) == 0 {
		return
	}
	if err := s.dir.Sync(); err != nil {
		s.opts.Logger.Warn("marking the end of a log segment: syncing the directory failed", "err", err)
		return
	}
	for _, u := range unmarked {
		if err := writeMarker(u.path, u.end, u.gen+1); err != nil {
			s.opts.Logger.Warn("marking the end of a log segment failed", "file", u.path, "err", err)
			return
		}
		s.opts.Logger.Info("marked the end of a log segment that a crash left unmarked", "file", u.path, "next", u.gen+1)
	}
}

// writeMarker writes, at off in the log segment at path, the marker naming
// segment next.
func writeMarker(path string, off int64, next uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(markerFrame(next), off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Fence is the fence counter: no token above it was ever handed out, and
// the next is above it (locker migrate carries it to the target).
func (s *Store) Fence() uint64 { return s.counter() }

// counter is the fence counter: the last token handed out. Lock order:
// logMu (held by compact) before mu.
func (s *Store) counter() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fence
}

// writeLogHeader writes hdr, the header of the segment s.log (s.logGen),
// and nothing after it.
func (s *Store) writeLogHeader(hdr logHeader) error {
	b := appendFrame([]byte(logMagic), mustJSON(hdr))
	if _, err := s.log.WriteAt(b, 0); err != nil {
		return err
	}
	if err := s.log.Truncate(int64(len(b))); err != nil {
		return err
	}
	if err := s.log.Sync(); err != nil {
		return err
	}
	s.logSize = int64(len(b))
	s.allocated = s.logSize
	_, err := s.log.Seek(s.logSize, 0)
	return err
}

// truncateLog cuts the log back to its last committed byte.
func (s *Store) truncateLog() error {
	if err := s.logFaults.truncate(s.log, s.logSize); err != nil {
		return err
	}
	s.allocated = s.logSize
	if err := s.logFaults.sync(s.log); err != nil {
		return err
	}
	_, err := s.log.Seek(s.logSize, 0)
	return err
}

// logFaults stands for a disk that fails the log segment's syncs or
// truncates (set by tests; nil does the real thing).
type logFaults struct {
	syncErr, truncateErr func() error
}

func (f *logFaults) sync(file *os.File) error {
	if f != nil && f.syncErr != nil {
		if err := f.syncErr(); err != nil {
			return err
		}
	}
	return file.Sync()
}

func (f *logFaults) truncate(file *os.File, size int64) error {
	if f != nil && f.truncateErr != nil {
		if err := f.truncateErr(); err != nil {
			return err
		}
	}
	return file.Truncate(size)
}
