// Package memstore is a lock.Store that keeps everything in memory and
// persists nothing. It exists for the benchmarks' "ceiling" server: the
// same HTTP stack and lock service as Locker, with storage costing (almost)
// nothing, so that a benchmark can say what fraction of the machine's HTTP
// ceiling the real server reaches. Never use it to hold real locks: a
// restart loses them all.
package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/internal/leaseclock"
	"github.com/cloudfoundry-community/locker/lock"
)

// Options tune a Store. The zero value matches the file store's defaults.
type Options struct {
	// HistoryLimit is how many recent events each lock keeps (default 100,
	// as the file store).
	HistoryLimit int
	// Now is the clock that decides leases and times changes (default
	// leaseclock.Now, as the file store's).
	Now func() time.Time
}

// data is what the store keeps; a reopened store (in tests) shares it.
type data struct {
	mu    sync.RWMutex
	locks map[string]*entry
	fence uint64
}

// entry is one lock: committed values, never changed in place, so that
// readers may keep them.
type entry struct {
	lock    *lock.Lock
	history []lock.Event
}

// Store is the in-memory store. It implements lock.Store.
type Store struct {
	opts Options
	d    *data

	watchMu sync.RWMutex
	watch   func(string, []lock.Event)
	closed  bool
}

// New returns an empty store.
func New(opts Options) *Store {
	return open(&data{locks: map[string]*entry{}}, opts)
}

func open(d *data, opts Options) *Store {
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 100
	}
	if opts.Now == nil {
		opts.Now = leaseclock.Now
	}
	return &Store{opts: opts, d: d}
}

var errClosed = lock.Errorf(lock.EUNAVAILABLE, "the store is shutting down")

// Update implements lock.Store. Changes are serialised by one mutex; the
// watcher is told of each change under it, so that it sees every lock's
// changes in order.
func (s *Store) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	s.watchMu.RLock()
	defer s.watchMu.RUnlock()
	if s.closed {
		return lock.Lock{}, nil, errClosed
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.locks[name]
	var next lock.Lock
	if e != nil {
		next = e.lock.Clone()
	} else {
		next = lock.Lock{Name: name}
	}
	now := s.opts.Now().UTC().Round(0)
	events := m(&next, lock.Env{Now: now, NextFence: func() uint64 { d.fence++; return d.fence }, Found: e != nil})
	if len(events) == 0 {
		return next, nil, nil
	}
	committed := next
	switch {
	case lock.Forgets(events):
		delete(d.locks, name) // with its history; the fence counter stays
	case e == nil:
		d.locks[name] = &entry{lock: &committed, history: appendHistory(nil, events, s.opts.HistoryLimit)}
	default:
		d.locks[name] = &entry{lock: &committed, history: appendHistory(e.history, events, s.opts.HistoryLimit)}
	}
	if s.watch != nil {
		s.watch(name, events)
	}
	return next, events, nil
}

// appendHistory returns h with events added, keeping the last limit,
// without ever writing into h's elements (a reader may hold h): the same
// scheme as the file store's, so that the ceiling server does the same
// work for histories.
func appendHistory(h, events []lock.Event, limit int) []lock.Event {
	n := len(h) + len(events)
	if n <= cap(h) {
		h = append(h, events...)
		return h[max(0, len(h)-limit):]
	}
	c := min(limit, n) + min(limit, 32)
	if n < limit {
		c = min(max(n, 2*cap(h)), c)
	}
	out := make([]lock.Event, 0, c)
	if drop := n - limit; drop > len(h) {
		out = append(out, events[drop-len(h):]...)
	} else {
		out = append(out, h[max(drop, 0):]...)
		out = append(out, events...)
	}
	return out
}

// Get implements lock.Store.
func (s *Store) Get(ctx context.Context, name string) (lock.Lock, bool, error) {
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	e := s.d.locks[name]
	if e == nil {
		return lock.Lock{}, false, nil
	}
	return *e.lock, true, nil
}

// List implements lock.Store: the committed values themselves, which are
// replaced on change, never changed.
func (s *Store) List(ctx context.Context) ([]*lock.Lock, error) {
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	out := make([]*lock.Lock, 0, len(s.d.locks))
	for _, e := range s.d.locks {
		out = append(out, e.lock) // committed values are replaced, never changed
	}
	return out, nil
}

// ListPool implements lock.Store by reading every lock: the memory store
// is the ceiling server's and the tests', not one that keeps many locks.
func (s *Store) ListPool(ctx context.Context, pool string) ([]*lock.Lock, error) {
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	var out []*lock.Lock
	for _, e := range s.d.locks {
		if e.lock.InPool(pool) {
			out = append(out, e.lock)
		}
	}
	return out, nil
}

// History implements lock.Store.
func (s *Store) History(ctx context.Context, name string) ([]lock.Event, error) {
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	if e := s.d.locks[name]; e != nil {
		return e.history, nil
	}
	return nil, nil
}

// Watch implements lock.Store.
func (s *Store) Watch(fn func(string, []lock.Event)) {
	s.watchMu.Lock()
	s.watch = fn
	s.watchMu.Unlock()
}

// Ready implements lock.Store.
func (s *Store) Ready(ctx context.Context) error {
	s.watchMu.RLock()
	defer s.watchMu.RUnlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close implements lock.Store: later changes fail. The locks stay in memory
// (a test may open the same data again).
func (s *Store) Close() error {
	s.watchMu.Lock()
	s.closed = true
	s.watchMu.Unlock()
	return nil
}

// Now implements lock.Clock: the store's clock (Options.Now).
func (s *Store) Now(context.Context) (time.Time, error) { return s.opts.Now().UTC(), nil }
