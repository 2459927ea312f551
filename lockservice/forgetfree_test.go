package lockservice_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// testClock is a store's clock that moves only when the test says.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestForgettable: the sweep's choice, at the store's time, of what to
// hand to lock.Forget: free, in no pool, free for longer than the setting;
// a zero FreeSince (unknown) counts from the server's start.
func TestForgettable(t *testing.T) {
	const after = time.Hour
	started := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := started.Add(90 * time.Minute)
	for _, c := range []struct {
		what string
		l    lock.Lock
		want bool
	}{
		{"free for longer", lock.Lock{FreeSince: now.Add(-after - time.Second)}, true},
		{"free since before the start, known", lock.Lock{FreeSince: started.Add(-time.Hour)}, true},
		{"free for less", lock.Lock{FreeSince: now.Add(-after + time.Second)}, false},
		{"free for exactly the setting", lock.Lock{FreeSince: now.Add(-after)}, false},
		{"held", lock.Lock{Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1}}), FreeSince: started.Add(-time.Hour)}, false},
		{"a pool member", lock.Lock{Pools: []string{"p"}, FreeSince: started.Add(-time.Hour)}, false},
		{"unknown, server up for longer", lock.Lock{}, true},
	} {
		if got := lockservice.Forgettable(&c.l, now, started, after); got != c.want {
			t.Errorf("%s: forgettable %v, want %v", c.what, got, c.want)
		}
	}
	// Unknown, and the server up for less than the setting: kept, however
	// long ago the zero time is.
	if lockservice.Forgettable(&lock.Lock{}, started.Add(after), started, after) {
		t.Error("a lock of unknown FreeSince was forgotten before the server had been up for the setting")
	}
}

// TestForgetInterval: a tenth of the setting, from a second to an hour.
func TestForgetInterval(t *testing.T) {
	for after, want := range map[time.Duration]time.Duration{
		time.Second:         time.Second,
		2 * time.Second:     time.Second,
		time.Minute:         6 * time.Second,
		time.Hour:           6 * time.Minute,
		10 * time.Hour:      time.Hour,
		30 * 24 * time.Hour: time.Hour,
	} {
		if got := lockservice.ForgetInterval(after); got != want {
			t.Errorf("interval for %s: %s, want %s", after, got, want)
		}
	}
}

// queuedStore is a store whose wait queue (lock.WaitQueue, as PostgreSQL's
// shared by replicas) holds what the test puts in it: a request waiting,
// on another replica, for a lock that is free.
type queuedStore struct {
	*memstore.Store
	mu    sync.Mutex
	queue map[string][]lock.Queued
}

func (s *queuedStore) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	return s.Store.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		s.mu.Lock()
		env.Queue = s.queue[name]
		s.mu.Unlock()
		return m(l, env)
	})
}

func (s *queuedStore) Join(ctx context.Context, name string, w lock.Waiter) (lock.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := lock.Ticket(len(s.queue[name]) + 1)
	s.queue[name] = append(s.queue[name], lock.Queued{Ticket: t, Waiter: w})
	return t, nil
}

func (s *queuedStore) Leave(ctx context.Context, name string, t lock.Ticket, keep time.Duration) error {
	return nil
}

func (s *queuedStore) Ahead(ctx context.Context, name string, t lock.Ticket) ([]lock.Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lock.Waiter
	for _, q := range s.queue[name] {
		if t == 0 || q.Ticket < t {
			out = append(out, q.Waiter)
		}
	}
	return out, nil
}

func (s *queuedStore) Counts(ctx context.Context) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for name, q := range s.queue {
		out[name] = len(q)
	}
	return out, nil
}

// TestForgetFreeSweep: one sweep forgets, through the service's update
// with lock.Forget, exactly the locks free for longer than the setting
// that nobody waits for and that are in no pool; the forget is an event
// (the stream, the metrics) and takes the history; the name taken again
// gets a higher fence. A held lock, a pool member, a lock waited for and
// a lock free for less are kept.
func TestForgetFreeSweep(t *testing.T) {
	clk := newTestClock()
	store := &queuedStore{Store: memstore.New(memstore.Options{Now: clk.Now}), queue: map[string][]lock.Queued{}}
	var mu sync.Mutex
	var seen []lock.Event
	svc := lockservice.New(store, lockservice.Config{ForgetFreeAfter: time.Hour, OnEvents: func(evs []lock.Event) {
		mu.Lock()
		seen = append(seen, evs...)
		mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	sub := svc.Events().Subscribe(100)
	t.Cleanup(func() { svc.Events().Unsubscribe(sub) })

	take := func(name, key string) lock.Lock {
		t.Helper()
		l, err := svc.Acquire(ctx, name, lock.Request{Key: key, Holder: key}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	give := func(name, key string) {
		t.Helper()
		if _, ok, err := svc.Release(ctx, name, key, key); err != nil || !ok {
			t.Fatalf("releasing %q: %v %v", name, ok, err)
		}
	}
	old := take("old", "a")
	give("old", "a")
	take("held", "a")
	if _, err := svc.AddMember(ctx, "envs", "member", nil); err != nil {
		t.Fatal(err)
	}
	take("member", "a")
	give("member", "a")
	take("waited", "a")
	give("waited", "a")
	store.Join(ctx, "waited", lock.Waiter{Key: "b", Holder: "b"})
	clk.advance(50 * time.Minute)
	take("young", "a")
	give("young", "a")
	clk.advance(11 * time.Minute) // "old" and the others free for 61 minutes, "young" for 11

	if n := svc.ForgetFree(ctx); n != 1 {
		t.Fatalf("the sweep forgot %d locks, want 1 (old)", n)
	}
	if _, err := svc.Get(ctx, "old"); lock.ErrorCode(err) != lock.ENOTFOUND {
		t.Errorf("old, free for longer than the setting, is still there: %v", err)
	}
	if h, _ := store.History(ctx, "old"); len(h) != 0 {
		t.Errorf("old's history is still there: %s", types(h))
	}
	for _, name := range []string{"held", "member", "waited", "young"} {
		if _, err := svc.Get(ctx, name); err != nil {
			t.Errorf("%s was forgotten: %v", name, err)
		}
	}
	mu.Lock()
	if last := seen[len(seen)-1]; last.Type != lock.Forgotten || last.Lock != "old" {
		t.Errorf("the last event given to OnEvents (metrics) is %+v, want old forgotten", last)
	}
	mu.Unlock()
	deadline := time.After(patience)
	for heard := false; !heard; {
		select {
		case evs := <-sub.C:
			for _, ev := range evs {
				heard = heard || ev.Type == lock.Forgotten && ev.Lock == "old"
			}
		case <-deadline:
			t.Fatal("no forgotten event on the service's event stream")
		}
	}

	// Free for more than the setting now: "young" goes, the others stay.
	clk.advance(time.Hour)
	if n := svc.ForgetFree(ctx); n != 1 {
		t.Fatalf("the second sweep forgot %d locks, want 1 (young)", n)
	}
	if _, err := svc.Get(ctx, "young"); lock.ErrorCode(err) != lock.ENOTFOUND {
		t.Errorf("young is still there: %v", err)
	}
	if again := take("old", "c"); again.Fence <= old.Fence {
		t.Errorf("old taken again has fence %d, not above its %d before it was forgotten", again.Fence, old.Fence)
	}
}

// clockedFileStore is the file store with its test clock as lock.Clock:
// in production the file store's clock is the server's own, which the
// service reads when a store has no lock.Clock.
type clockedFileStore struct {
	*filestore.Store
	clk *testClock
}

func (s clockedFileStore) Now(context.Context) (time.Time, error) { return s.clk.Now(), nil }

// TestForgetFreeAfterRestart: the file store keeps FreeSince on disk for
// pool members only, so a free lock read back at start has none. The
// sweep counts it as free from the server's start — later than it became
// free, never sooner: a lock free for two hours before a restart is kept
// for the whole setting after it.
func TestForgetFreeAfterRestart(t *testing.T) {
	clk := newTestClock()
	path := filepath.Join(t.TempDir(), "locks.yml")
	open := func(after time.Duration) (*lockservice.Service, func()) {
		t.Helper()
		fs, err := filestore.Open(path, filestore.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		svc := lockservice.New(clockedFileStore{fs, clk}, lockservice.Config{ForgetFreeAfter: after})
		ctx, cancel := context.WithCancel(context.Background())
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		stop := func() {
			once.Do(func() {
				svc.Close()
				cancel()
				if err := fs.Close(); err != nil {
					t.Error(err)
				}
			})
		}
		t.Cleanup(stop)
		return svc, stop
	}
	ctx := context.Background()
	svc, stop := open(0)
	if _, err := svc.Acquire(ctx, "old", lock.Request{Key: "a", Holder: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Release(ctx, "old", "a", "a"); err != nil {
		t.Fatal(err)
	}
	stop()
	clk.advance(2 * time.Hour)

	svc, _ = open(time.Hour)
	if l, err := svc.Get(ctx, "old"); err != nil || !l.FreeSince.IsZero() {
		t.Fatalf("after the restart old is %+v, %v: want it free with no FreeSince (the file store keeps it for pool members only)", l, err)
	}
	if n := svc.ForgetFree(ctx); n != 0 {
		t.Fatalf("just after the restart the sweep forgot %d locks: a lock of unknown FreeSince counts from the start", n)
	}
	clk.advance(time.Hour)
	if n := svc.ForgetFree(ctx); n != 0 {
		t.Fatalf("the sweep forgot %d locks after the server had been up for exactly the setting", n)
	}
	clk.advance(time.Second)
	if n := svc.ForgetFree(ctx); n != 1 {
		t.Fatalf("the sweep forgot %d locks once the server had been up for longer than the setting, want 1", n)
	}
	if _, err := svc.Get(ctx, "old"); lock.ErrorCode(err) != lock.ENOTFOUND {
		t.Errorf("old is still there: %v", err)
	}
}

// TestForgetFreeLoop: with the setting on, Start sweeps on its own (every
// second for a setting of one): a released lock goes, a held one stays,
// one INFO line says how many went; Close waits for the loop to end.
func TestForgetFreeLoop(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var bufMu sync.Mutex
	logged := func() string {
		bufMu.Lock()
		defer bufMu.Unlock()
		return buf.String()
	}
	log := slog.New(slog.NewTextHandler(&lockedBuffer{w: &buf, mu: &bufMu}, nil))
	e := openEnvWith(t, lockservice.Config{ForgetFreeAfter: time.Second, Logger: log})
	e.acquire("done", "a", "a", 0)
	e.release("done", "a", "a")
	e.acquire("busy", "b", "b", 0)
	e.eventually(func() bool {
		_, err := e.svc.Get(context.Background(), "done")
		return lock.ErrorCode(err) == lock.ENOTFOUND
	}, "the sweep to forget the released lock")
	if l := e.get("busy"); l.Key != "b" {
		t.Errorf("the held lock changed: %+v", l)
	}
	e.eventually(func() bool { return strings.Contains(logged(), "count=1") }, "the sweep's INFO line, count=1:\n%s", logged())
	if n := strings.Count(logged(), "forgot locks"); n != 1 {
		t.Errorf("%d sweep lines, want 1 (none when nothing is forgotten):\n%s", n, logged())
	}
	e.close() // returns once the loop has stopped: the store closes after it
}

type lockedBuffer struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// openEnvWith is newEnv (a file store in a temporary directory) with cfg.
func openEnvWith(t *testing.T, cfg lockservice.Config) *env {
	t.Helper()
	return openEnv(t, filepath.Join(t.TempDir(), "locks.yml"), cfg, filestore.Options{})
}

// TestForgetFreeReplicas: two PostgreSQL replicas sweep at once, again and
// again, until the released lock is gone. It is forgotten once (the
// other replica's forget reads it gone, 404, and skips it), neither logs a
// failure, and the held lock stays.
func TestForgetFreeReplicas(t *testing.T) {
	url := pgtest.Schema(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var buf bytes.Buffer
	var bufMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedBuffer{w: &buf, mu: &bufMu}, nil))
	var svcs []*lockservice.Service
	for range 2 {
		store, err := pgstore.Open(ctx, url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		svc := lockservice.New(store, lockservice.Config{ForgetFreeAfter: time.Second, Logger: log})
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			svc.Close()
			store.Close()
		})
		svcs = append(svcs, svc)
	}
	a, b := svcs[0], svcs[1]
	if _, err := a.Acquire(ctx, "done", lock.Request{Key: "k", Holder: "h"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Release(ctx, "done", "k", "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, "busy", lock.Request{Key: "k", Holder: "h"}, 0); err != nil {
		t.Fatal(err)
	}
	var forgot atomic.Int64
	eventually(t, func() bool {
		var wg sync.WaitGroup
		for _, svc := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				forgot.Add(int64(svc.ForgetFree(ctx)))
			}()
		}
		wg.Wait()
		_, err := a.Get(ctx, "done")
		return lock.ErrorCode(err) == lock.ENOTFOUND
	}, "the released lock to be forgotten")
	// The loops of both (every second) may have forgotten it too: count
	// the lines of every sweep, by hand or not.
	bufMu.Lock()
	out := buf.String()
	bufMu.Unlock()
	if n := strings.Count(out, "count=1"); n != 1 || forgot.Load() > 1 || strings.Contains(out, "failed") {
		t.Errorf("want one sweep line with count=1 and no failure, got:\n%s", out)
	}
	if l, err := b.Get(ctx, "busy"); err != nil || l.Key != "k" {
		t.Errorf("the held lock: %+v, %v", l, err)
	}
}
