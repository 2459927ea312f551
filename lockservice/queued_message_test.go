package lockservice_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// sharedQueue is a file store with a wait queue of its own, as PostgreSQL
// keeps one for every replica: a waiter joined to it waits on another
// server, as far as this one can tell, for as long as the test likes.
type sharedQueue struct {
	*filestore.Store
	mu     sync.Mutex
	next   lock.Ticket
	queued map[string][]lock.Queued
}

func (s *sharedQueue) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	return s.Store.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		s.mu.Lock()
		env.Queue = append([]lock.Queued(nil), s.queued[name]...)
		s.mu.Unlock()
		return m(l, env)
	})
}

func (s *sharedQueue) Join(_ context.Context, name string, w lock.Waiter) (lock.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.queued[name] = append(s.queued[name], lock.Queued{Ticket: s.next, Waiter: w})
	return s.next, nil
}

func (s *sharedQueue) Leave(_ context.Context, name string, t lock.Ticket, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queued[name]
	for i := range q {
		if q[i].Ticket == t {
			s.queued[name] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	return nil
}

func (s *sharedQueue) Ahead(_ context.Context, name string, t lock.Ticket) ([]lock.Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lock.Waiter
	for _, q := range s.queued[name] {
		if t != 0 && q.Ticket >= t {
			break
		}
		out = append(out, q.Waiter)
	}
	return out, nil
}

func (s *sharedQueue) Counts(context.Context) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for name, q := range s.queued {
		if len(q) > 0 {
			m[name] = len(q)
		}
	}
	return m, nil
}

// TestFreeLockRefusalCountsTheOtherKeys: a request refused a free lock for
// the waiters before it says how many of them have another key, as its
// message claims. A review: it counted every waiter before it, those with
// its own key too, which do not keep it out ("2 earlier waiter(s) with
// another key" with one such waiter). With the queue shared by replicas
// (PostgreSQL) a free lock keeps its waiters until their servers hear of
// it.
func TestFreeLockRefusalCountsTheOtherKeys(t *testing.T) {
	fs, err := filestore.Open(filepath.Join(t.TempDir(), "locks.yml"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &sharedQueue{Store: fs, queued: map[string][]lock.Queued{}}
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { svc.Close(); cancel(); fs.Close() })
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []lock.Waiter{{Key: "B", Holder: "b"}, {Key: "A", Holder: "a2"}, {Key: "A", Holder: "a3"}} {
		store.Join(ctx, "q", w)
	}
	_, err = svc.Acquire(ctx, "q", lock.Request{Key: "A", Holder: "a4"}, 0)
	if lock.ErrorCode(err) != lock.ECONFLICT {
		t.Fatalf("a request behind a waiter with another key: %v, want a conflict", err)
	}
	if msg := lock.ErrorMessage(err); !strings.Contains(msg, "is free but 1 earlier waiter(s) with another key come first") {
		t.Errorf("refused with %q; want it to say 1 earlier waiter with another key (of 3 before it)", msg)
	}
}
