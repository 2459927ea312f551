package filestore

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"syscall"

	"github.com/cloudfoundry-community/locker/lock"
)

// Contents is a store's state as Read finds it.
type Contents struct {
	// Locks are every lock, in name order.
	Locks []*lock.Lock
	// History is each lock's recent events, oldest first, by lock name:
	// the newest Options.HistoryLimit of those the files keep.
	History map[string][]lock.Event
	// Fence is the fence counter: no token above it was ever handed out.
	Fence uint64
	// Original says the data file is in the original locker's format,
	// read as Open converts it (left as it is: Read converts nothing).
	Original bool
	// Skipped names the original locker's free locks left out for their
	// names, which are no longer valid lock names (Open leaves them out).
	Skipped []string
	// The store's locks, held until Close.
	snapFile, lockFile *os.File
}

// Close lets go of the store's locks, which Read took: servers may start
// on it again.
func (c *Contents) Close() error {
	var err error
	for _, f := range []*os.File{c.snapFile, c.lockFile} {
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	c.snapFile, c.lockFile = nil, nil
	return err
}

// Read reads the store whose data file is at path as Open would find it,
// without changing any file: locker migrate's source, which the operator
// goes back to if the move goes wrong. Open, after the same recovery,
// removes segments a compaction left behind, cuts off a record torn at the
// end of the log (keeping its bytes beside it), writes the markers a crash
// left out, starts a segment to keep a raised counter, and compacts at once
// when it finds several segments, with its own history limit (cutting the
// history of the store for good when that is below the servers'); Read
// does none of that. A torn record is not read, as Open drops it, and a
// token legible in it counts in Fence, as Open raises its counter past it;
// damage that Open refuses, Read refuses in the same words (naming locker
// salvage where it helps).
//
// It takes the locks Open takes (the data file's, and its .lock file's when
// there is one: it makes none), so it refuses a store in use by a running
// server, the error wrapping syscall.EWOULDBLOCK; it holds them until
// Contents.Close, so that no server starts on the store meanwhile (locker
// migrate holds them until its copy is done). A store marked as the target of an unfinished
// locker migrate is refused unless opts.Migrating, as Open refuses it. A
// missing data file is an error (Open would make a new store). The original
// locker's file is read as Open converts it (its held locks get fence
// tokens in name order; no history; Contents.Original and Skipped say so),
// under the same locks, and refused, as Open refuses it, with
// a log of this server's beside it.
func Read(path string, opts Options) (*Contents, error) {
	opts = opts.withDefaults()
	path, err := existingStore(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, opts: opts}
	if err := s.lockToRead(); err != nil {
		return nil, err
	}
	c := &Contents{snapFile: s.snapFile, lockFile: s.lockFile}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if note, ok := Migrating(path); ok && !opts.Migrating {
		return nil, unfinishedCopy(path, note)
	}
	segs, err := regularSegments(path)
	if err != nil {
		return nil, err
	}
	st, err := recoverState(path, opts.HistoryLimit)
	if errors.Is(err, errLegacy) {
		if hasLog(segs) {
			return nil, legacyBesideLog(path, segs[0].path)
		}
		err = nil // st holds the locks as Open converts them
		c.Original, c.Skipped = true, st.skipped
	}
	if err != nil {
		return nil, err
	}
	c.History, c.Fence = make(map[string][]lock.Event, len(st.locks)), st.fence
	if n := len(st.segments); n > 0 && st.tailOffset > 0 && !st.zeroTail {
		// What Open would cut off the end of the log: its token, if
		// one is legible, is not handed out again.
		tail, err := readTail(st.segments[n-1].path, st.tailOffset)
		if err != nil {
			return nil, err
		}
		c.Fence = max(c.Fence, legibleFence(tail))
	}
	c.Locks = make([]*lock.Lock, 0, len(st.locks))
	for name, e := range st.locks {
		if e.lock == nil {
			continue
		}
		c.Locks = append(c.Locks, e.lock)
		if len(e.history) > 0 {
			c.History[name] = historyEvents(name, e.history)
		}
	}
	sort.Slice(c.Locks, func(i, j int) bool { return c.Locks[i].Name < c.Locks[j].Name })
	ok = true
	return c, nil
}

// lockToRead takes the locks Open takes, for Read: the .lock file's when
// there is one (it makes none: the directory is left as it is), and the
// data file's (lockSnapshot), which every server holds too while it runs,
// so that either is refused while the other has the store.
func (s *Store) lockToRead() error {
	f, err := os.OpenFile(s.path+".lock", os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Never opened by a server, or removed: the data file's lock is
		// the one that counts.
	case err != nil:
		if info, lerr := os.Lstat(s.path + ".lock"); lerr == nil && info.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s.lock is a symbolic link: the file store makes its own files beside the data file and never writes through a link; remove it", s.path)
		}
		return fmt.Errorf("opening %s.lock: %w", s.path, err)
	default:
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return fmt.Errorf("%s is in use by another Locker (%s.lock is locked): %w", s.path, s.path, err)
		}
		s.lockFile = f
	}
	if err := s.lockSnapshot(5); err != nil {
		if s.lockFile != nil {
			s.lockFile.Close()
			s.lockFile = nil
		}
		return err
	}
	return nil
}

// readTail is what follows off in the log segment at path, up to a
// megabyte, without the zeros it ends in: the bytes Open cuts off as a
// record torn by a crash, and keeps beside the log (keepTail).
func readTail(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() <= off {
		return nil, nil
	}
	return tailBytes(f, off, info.Size())
}
