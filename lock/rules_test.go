package lock_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// t0 is the fixed "now" of every test. It is built with time.Date, so it has
// no monotonic reading and reflect.DeepEqual compares times exactly.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// fenceStart is the last token the fake counter handed out before a test; the
// first NextFence call returns fenceStart+1.
const fenceStart = 100

// fakeEnv is an Env with a fixed Now and a counter-based NextFence that
// records how often it was called.
type fakeEnv struct {
	last  uint64
	calls int
}

func newEnv() *fakeEnv { return &fakeEnv{last: fenceStart} }

func (f *fakeEnv) env(now time.Time) lock.Env {
	return lock.Env{Now: now, NextFence: func() uint64 {
		f.calls++
		f.last++
		return f.last
	}}
}

// held builds a lock held under key.
func held(key string, fence uint64, since time.Time, holds map[string]lock.Hold) lock.Lock {
	return lock.Lock{Name: "db", Key: key, Holds: lock.HoldsOf(holds), Fence: fence, Since: since}
}

func hold(count int, acquired, expires time.Time) lock.Hold {
	return lock.Hold{Count: count, Acquired: acquired, Expires: expires}
}

var never time.Time // zero: a hold without a lease

func at(d time.Duration) time.Time { return t0.Add(d) }

// codeOf returns the *lock.Error code of err, "" for nil, and fails the test
// for an error of another type.
func codeOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *lock.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *lock.Error", err, err)
	}
	return e.Code
}

func checkLock(t *testing.T, got, want lock.Lock) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lock:\n got %+v\nwant %+v", got, want)
	}
}

func checkEvents(t *testing.T, got, want []lock.Event) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %+v\nwant %+v", got, want)
	}
}

func TestAcquire(t *testing.T) {
	const K, X = "K", "X"
	ago := at(-time.Hour)
	tests := []struct {
		name       string
		before     lock.Lock
		req        lock.Request
		want       lock.Lock
		wantEvents []lock.Event
		wantCode   string
		wantFences int // NextFence calls
	}{
		{
			name:   "free lock, no ttl",
			before: lock.Lock{Name: "db"},
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0},
			},
			wantFences: 1,
		},
		{
			name:   "free lock that was held before gets a new, larger fence",
			before: lock.Lock{Name: "db", Fence: 7},
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0},
			},
			wantFences: 1,
		},
		{
			name:   "free lock with an empty (non-nil) holds map",
			before: lock.Lock{Name: "db", Holds: lock.HoldsOf(map[string]lock.Hold{})},
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0},
			},
			wantFences: 1,
		},
		{
			name:   "free lock with ttl sets Expires",
			before: lock.Lock{Name: "db"},
			req:    lock.Request{Key: K, Holder: "h1", TTL: 30 * time.Second},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, at(30*time.Second))}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0, Expires: at(30 * time.Second)},
			},
			wantFences: 1,
		},
		{
			name:   "same key same holder: count 2, fence, Since and Acquired unchanged",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0},
			},
		},
		{
			name:   "same key different holder shares the lock",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, never)}),
			req:    lock.Request{Key: K, Holder: "h2"},
			want: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(2, ago, never),
				"h2": hold(1, t0, never),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h2", Count: 1, Fence: 5, Time: t0},
			},
		},
		{
			name: "same key third holder",
			before: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, never),
				"h2": hold(1, ago, at(time.Hour)),
			}),
			req: lock.Request{Key: K, Holder: "h3", TTL: time.Minute},
			want: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, never),
				"h2": hold(1, ago, at(time.Hour)),
				"h3": hold(1, t0, at(time.Minute)),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h3", Count: 1, Fence: 5, Time: t0, Expires: at(time.Minute)},
			},
		},
		{
			name:     "different key conflicts and changes nothing",
			before:   held(X, 5, ago, map[string]lock.Hold{"o": hold(1, ago, at(time.Hour))}),
			req:      lock.Request{Key: K, Holder: "h1", TTL: time.Hour},
			want:     held(X, 5, ago, map[string]lock.Hold{"o": hold(1, ago, at(time.Hour))}),
			wantCode: lock.ECONFLICT,
		},
		{
			name:     "different key conflicts even for a holder that holds under the lock's key",
			before:   held(X, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			req:      lock.Request{Key: K, Holder: "h1"},
			want:     held(X, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			wantCode: lock.ECONFLICT,
		},
		{
			name:   "lease: an existing longer lease is kept",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(10*time.Minute))}),
			req:    lock.Request{Key: K, Holder: "h1", TTL: time.Minute},
			want:   held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(10*time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0, Expires: at(10 * time.Minute)},
			},
		},
		{
			name:   "lease: a longer ttl extends",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			req:    lock.Request{Key: K, Holder: "h1", TTL: 10 * time.Minute},
			want:   held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(10*time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0, Expires: at(10 * time.Minute)},
			},
		},
		{
			name:   "lease: an equal ttl keeps the same expiry",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			req:    lock.Request{Key: K, Holder: "h1", TTL: time.Minute},
			want:   held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0, Expires: at(time.Minute)},
			},
		},
		{
			name:   "lease: a hold without ttl makes the hold never expire",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0},
			},
		},
		{
			name:   "lease: a never-expiring hold stays never-expiring when re-acquired with ttl",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			req:    lock.Request{Key: K, Holder: "h1", TTL: time.Minute},
			want:   held(K, 5, ago, map[string]lock.Hold{"h1": hold(2, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0},
			},
		},
		{
			name: "lease: only the acquiring holder's lease changes",
			before: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, at(time.Minute)),
				"h2": hold(1, ago, at(time.Minute)),
			}),
			req: lock.Request{Key: K, Holder: "h1", TTL: time.Hour},
			want: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(2, ago, at(time.Hour)),
				"h2": hold(1, ago, at(time.Minute)),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 2, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name:   "stale other-key hold is expired first and no longer blocks",
			before: held(X, 5, ago, map[string]lock.Hold{"o": hold(3, ago, at(-time.Second))}),
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: X, Holder: "o", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0},
			},
			wantFences: 1,
		},
		{
			name:   "a lease ending exactly now has run out",
			before: held(X, 5, ago, map[string]lock.Hold{"o": hold(1, ago, t0)}),
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: X, Holder: "o", Count: 0, Fence: 5, Time: t0, Expires: t0},
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0},
			},
			wantFences: 1,
		},
		{
			name:     "a lease ending a nanosecond from now still blocks",
			before:   held(X, 5, ago, map[string]lock.Hold{"o": hold(1, ago, at(time.Nanosecond))}),
			req:      lock.Request{Key: K, Holder: "h1"},
			want:     held(X, 5, ago, map[string]lock.Hold{"o": hold(1, ago, at(time.Nanosecond))}),
			wantCode: lock.ECONFLICT,
		},
		{
			name: "conflict keeps the expiries it made, returned as events",
			before: held(X, 5, ago, map[string]lock.Hold{
				"dead": hold(1, ago, at(-time.Minute)),
				"live": hold(1, ago, never),
			}),
			req:  lock.Request{Key: K, Holder: "h1"},
			want: held(X, 5, ago, map[string]lock.Hold{"live": hold(1, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: X, Holder: "dead", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Minute)},
			},
			wantCode: lock.ECONFLICT,
		},
		{
			name:   "own stale hold is expired (whole count) and the lock is taken afresh",
			before: held(K, 5, ago, map[string]lock.Hold{"h1": hold(3, ago, at(-time.Second))}),
			req:    lock.Request{Key: K, Holder: "h1"},
			want:   held(K, 101, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: K, Holder: "h1", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 101, Time: t0},
			},
			wantFences: 1,
		},
		{
			name: "own stale hold on a shared lock: new hold, fence unchanged",
			before: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(3, ago, at(-time.Second)),
				"h2": hold(1, ago, never),
			}),
			req: lock.Request{Key: K, Holder: "h1", TTL: time.Minute},
			want: held(K, 5, ago, map[string]lock.Hold{
				"h1": hold(1, t0, at(time.Minute)),
				"h2": hold(1, ago, never),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: K, Holder: "h1", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
				{Type: lock.Acquired, Lock: "db", Key: K, Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Minute)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnv()
			l := tt.before.Clone()
			events, err := lock.Acquire(&l, tt.req, f.env(t0))
			if got := codeOf(t, err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
			if f.calls != tt.wantFences {
				t.Errorf("NextFence called %d times, want %d", f.calls, tt.wantFences)
			}
		})
	}
}

func TestAcquireConflictError(t *testing.T) {
	since := at(-time.Hour)
	l := held("K", 5, since, map[string]lock.Hold{
		"h2": hold(1, since, never),
		"h1": hold(2, since, at(time.Hour)),
	})
	before := l.Clone()
	f := newEnv()
	events, err := lock.Acquire(&l, lock.Request{Key: "other", Holder: "me"}, f.env(t0))
	if len(events) != 0 {
		t.Errorf("events = %+v, want none", events)
	}
	var e *lock.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *lock.Error", err, err)
	}
	if e.Code != lock.ECONFLICT {
		t.Errorf("code = %q, want %q", e.Code, lock.ECONFLICT)
	}
	wantMsg := `lock "db" is held by key "K" (holders: h1 x2, h2 x1)`
	if e.Message != wantMsg || err.Error() != wantMsg {
		t.Errorf("message = %q / Error() = %q, want %q", e.Message, err.Error(), wantMsg)
	}
	for _, part := range []string{`"db"`, `"K"`, "h1 x2", "h2 x1"} {
		if !strings.Contains(e.Message, part) {
			t.Errorf("message %q does not mention %s", e.Message, part)
		}
	}
	checkLock(t, l, before)
	if e.Lock == nil {
		t.Fatal("error has no Lock")
	}
	checkLock(t, *e.Lock, before)
	if e.Lock == &l {
		t.Error("error's Lock is the caller's lock, not a copy")
	}
	// The copy is deep: changing the caller's lock leaves the error's alone.
	l.Holds.Set("h1", hold(99, t0, never))
	l.Holds.Delete("h2")
	checkLock(t, *e.Lock, before)
	if f.calls != 0 {
		t.Errorf("NextFence called %d times on a conflict", f.calls)
	}
}

// TestFenceOnlyOnFreeToHeld walks a lock through a life and checks that the
// fence changes exactly when the lock goes from free to held, always upward.
func TestFenceOnlyOnFreeToHeld(t *testing.T) {
	f := newEnv()
	env := f.env(t0)
	l := lock.Lock{Name: "db"}
	steps := []struct {
		do        func() error
		wantFence uint64
		wantFree  bool
	}{
		{func() error { _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "a"}, env); return err }, 101, false},
		{func() error { _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "a"}, env); return err }, 101, false},
		{func() error { _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "b"}, env); return err }, 101, false},
		{func() error { _, err := lock.Release(&l, "K", "a", env); return err }, 101, false},
		{func() error { _, err := lock.Release(&l, "K", "b", env); return err }, 101, false},
		{func() error { _, err := lock.Release(&l, "K", "a", env); return err }, 101, true}, // free; fence is kept
		{func() error { _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "a"}, env); return err }, 102, false},
		{func() error { lock.ForceRelease(&l, "op", env); return nil }, 102, true},
		{func() error { _, err := lock.Acquire(&l, lock.Request{Key: "X", Holder: "c"}, env); return err }, 103, false},
	}
	var prev uint64
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if l.Fence != s.wantFence {
			t.Errorf("step %d: fence = %d, want %d", i, l.Fence, s.wantFence)
		}
		if l.Fence < prev {
			t.Errorf("step %d: fence went down from %d to %d", i, prev, l.Fence)
		}
		prev = l.Fence
		if l.Free() != s.wantFree {
			t.Errorf("step %d: Free() = %v, want %v", i, l.Free(), s.wantFree)
		}
	}
	if f.calls != 3 {
		t.Errorf("NextFence called %d times, want 3", f.calls)
	}
}

func TestRelease(t *testing.T) {
	ago := at(-time.Hour)
	tests := []struct {
		name        string
		before      lock.Lock
		key, holder string
		want        lock.Lock
		wantEvents  []lock.Event
		wantCode    string
	}{
		{
			name:   "free lock: nothing to do",
			before: lock.Lock{Name: "db", Fence: 9},
			key:    "K", holder: "h1",
			want: lock.Lock{Name: "db", Fence: 9},
		},
		{
			name:   "unknown holder under the right key: nothing to do",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "stranger",
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
		},
		{
			name:   "wrong key conflicts and changes nothing",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Hour))}),
			key:    "X", holder: "h1",
			want:     held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Hour))}),
			wantCode: lock.ECONFLICT,
		},
		{
			name:   "counted: one of two holds",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Hour))}),
			key:    "K", holder: "h1",
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name:   "last hold frees the lock (Key empty, Holds nil, Since zero, fence kept)",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			key:    "K", holder: "h1",
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				// No expires: the hold, and so its lease, are gone.
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0},
			},
		},
		{
			name: "shared key: one holder leaves, the lock stays held",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, never),
				"h2": hold(3, ago, never),
			}),
			key: "K", holder: "h1",
			want: held("K", 5, ago, map[string]lock.Hold{"h2": hold(3, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0},
			},
		},
		{
			name:   "own hold already expired: only the expiry is reported",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(-time.Second))}),
			key:    "K", holder: "h1",
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
			},
		},
		{
			name:   "wrong key whose holds all expired: lock is free, no conflict",
			before: held("X", 5, ago, map[string]lock.Hold{"o": hold(1, ago, t0)}),
			key:    "K", holder: "h1",
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "X", Holder: "o", Count: 0, Fence: 5, Time: t0, Expires: t0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnv()
			l := tt.before.Clone()
			events, err := lock.Release(&l, tt.key, tt.holder, f.env(t0))
			if got := codeOf(t, err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
			if f.calls != 0 {
				t.Errorf("Release called NextFence %d times", f.calls)
			}
		})
	}
}

func TestReleaseConflictError(t *testing.T) {
	l := held("K", 5, t0, map[string]lock.Hold{"h1": hold(1, t0, never)})
	_, err := lock.Release(&l, "X", "h1", newEnv().env(t0))
	var e *lock.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *lock.Error", err)
	}
	if want := `lock "db" is held by key "K" (holders: h1 x1)`; e.Message != want {
		t.Errorf("message = %q, want %q", e.Message, want)
	}
	if e.Lock == nil || !reflect.DeepEqual(*e.Lock, l) {
		t.Errorf("error Lock = %+v, want %+v", e.Lock, l)
	}
}

// TestReleaseHold: an ordinary release with a fence gives back one hold
// of the holder only while the lock's holding period is the one that
// fence names, and with acquired only while the holder's hold is the one
// that began then. A lock released (or expired) and taken again since,
// even by the same key and holder, is refused as a force with a stale
// fence is (ECONFLICT, the lock's state) and left as it is, and so is a
// hold the holder took again within the period (a shared key); a free
// lock has nothing to release whatever the fence. Fence 0 and no acquired
// is Release as it was.
func TestReleaseHold(t *testing.T) {
	ago := at(-time.Hour)
	tests := []struct {
		name        string
		before      lock.Lock
		key, holder string
		fence       uint64
		acquired    time.Time
		want        lock.Lock
		wantEvents  []lock.Event
		wantCode    string
		wantMessage string
	}{
		{
			name:   "the hold's own fence: one count goes",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Hour))}),
			key:    "K", holder: "h1", fence: 5,
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name:   "the hold's own fence, last count: the lock is free",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", fence: 5,
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0},
			},
		},
		{
			name: "shared key: the period's fence releases this holder only",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, never),
				"h2": hold(1, ago, never),
			}),
			key: "K", holder: "h1", fence: 5,
			want: held("K", 5, ago, map[string]lock.Hold{"h2": hold(1, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0},
			},
		},
		{
			name:   "taken afresh by the same key and holder: refused, nothing changes",
			before: held("K", 7, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", fence: 5,
			want:        held("K", 7, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db" was taken again since fence 5: it is held by key "K" under fence 7 (holders: h1 x1); nothing was released`,
		},
		{
			name:   "taken again by another key: refused as taken again",
			before: held("X", 7, ago, map[string]lock.Hold{"o": hold(1, ago, never)}),
			key:    "K", holder: "h1", fence: 5,
			want:        held("X", 7, ago, map[string]lock.Hold{"o": hold(1, ago, never)}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db" was taken again since fence 5: it is held by key "X" under fence 7 (holders: o x1); nothing was released`,
		},
		{
			name:   "a fence higher than any the lock has had: refused, said so",
			before: held("K", 7, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", fence: 8,
			want:        held("K", 7, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db": fence 8 is higher than any this lock has had: it is held by key "K" under fence 7 (holders: h1 x1); nothing was released`,
		},
		{
			name:   "the right fence, another key: the key conflict, as without a fence",
			before: held("X", 5, ago, map[string]lock.Hold{"o": hold(1, ago, never)}),
			key:    "K", holder: "h1", fence: 5,
			want:        held("X", 5, ago, map[string]lock.Hold{"o": hold(1, ago, never)}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db" is held by key "X" (holders: o x1)`,
		},
		{
			name:   "the right fence, a holder holding nothing: nothing to do",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "stranger", fence: 5,
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
		},
		{
			name:   "free lock, an old fence: nothing to do",
			before: lock.Lock{Name: "db", Fence: 9},
			key:    "K", holder: "h1", fence: 5,
			want: lock.Lock{Name: "db", Fence: 9},
		},
		{
			name:   "own hold expired, the lock free: only the expiry",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(-time.Second))}),
			key:    "K", holder: "h1", fence: 5,
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
			},
		},
		{
			name: "shared key, the hold's own acquired and fence: one count goes",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(2, at(-time.Minute), never),
				"h2": hold(1, ago, never),
			}),
			key: "K", holder: "h1", fence: 5, acquired: at(-time.Minute),
			want: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), never),
				"h2": hold(1, ago, never),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0},
			},
		},
		{
			name: "shared key, the holder's hold taken again within the period: refused, nothing changes",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), never),
				"h2": hold(1, ago, never),
			}),
			key: "K", holder: "h1", fence: 5, acquired: ago,
			want: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), never),
				"h2": hold(1, ago, never),
			}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db": the hold of "h1" under key "K" acquired at 2024-03-01T11:00:00Z is gone: "h1" took the lock again at 2024-03-01T11:59:00Z (holders: h1 x1, h2 x1); nothing was released`,
		},
		{
			name:   "acquired without a fence: refused all the same",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, at(-time.Minute), never)}),
			key:    "K", holder: "h1", acquired: at(-time.Minute - 1),
			want:        held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, at(-time.Minute), never)}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db": the hold of "h1" under key "K" acquired at 2024-03-01T11:58:59.999999999Z is gone: "h1" took the lock again at 2024-03-01T11:59:00Z (holders: h1 x1); nothing was released`,
		},
		{
			name:   "acquired, the same moment in another zone: released",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", acquired: ago.In(time.FixedZone("", -5*60*60)),
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0},
			},
		},
		{
			name:   "acquired, a holder holding nothing: nothing to do",
			before: held("K", 5, ago, map[string]lock.Hold{"h2": hold(1, ago, never)}),
			key:    "K", holder: "h1", acquired: ago,
			want: held("K", 5, ago, map[string]lock.Hold{"h2": hold(1, ago, never)}),
		},
		{
			name:   "acquired, another key: the key conflict",
			before: held("X", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", acquired: at(-time.Minute),
			want:        held("X", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			wantCode:    lock.ECONFLICT,
			wantMessage: `lock "db" is held by key "X" (holders: h1 x1)`,
		},
		{
			name:   "fence 0: any hold, as Release",
			before: held("K", 7, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", fence: 0,
			want: lock.Lock{Name: "db", Fence: 7, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 7, Time: t0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnv()
			l := tt.before.Clone()
			events, err := lock.ReleaseHold(&l, tt.key, tt.holder, lock.HoldRef{Fence: tt.fence, Acquired: tt.acquired}, f.env(t0))
			if got := codeOf(t, err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil {
				var e *lock.Error
				errors.As(err, &e)
				if e.Message != tt.wantMessage {
					t.Errorf("message = %q, want %q", e.Message, tt.wantMessage)
				}
				if e.Lock == nil || !reflect.DeepEqual(*e.Lock, tt.before) {
					t.Errorf("error Lock = %+v, want the lock as it is %+v", e.Lock, tt.before)
				}
			}
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
			if f.calls != 0 {
				t.Errorf("ReleaseHold called NextFence %d times", f.calls)
			}
		})
	}
}

// TestAcquireCountLimit: a hold at MaxCount (only a converted file can
// bring one there) is refused another count rather than wrapping to a
// negative one, which the store would then refuse to read back; releasing
// it still works.
func TestAcquireCountLimit(t *testing.T) {
	env := newEnv().env(t0)
	ago := at(-time.Hour)
	l := held("K", 5, ago, map[string]lock.Hold{"h1": hold(lock.MaxCount, ago, never)})
	before := l.Clone()
	events, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "h1"}, env)
	if codeOf(t, err) != lock.EINVALID || len(events) != 0 {
		t.Fatalf("acquire at MaxCount = %v, %v; want EINVALID and no events", events, err)
	}
	checkLock(t, l, before)
	if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "h2"}, env); err != nil {
		t.Fatalf("another holder of the key: %v", err)
	}
	if _, err := lock.Release(&l, "K", "h1", env); err != nil || l.Holds.Get("h1").Count != lock.MaxCount-1 {
		t.Fatalf("release at MaxCount: %v, count %d", err, l.Holds.Get("h1").Count)
	}
}

// TestAcquireHoldersLimit: a lock has at most MaxHolders holders (each
// change of a lock writes all of them: a review found 1,000 holders with
// long names made every other change wait 18 ms, and nothing bounded
// them). A new holder past the limit is refused (ETOOLARGE, nothing
// changed, the error naming the lock, the limit and the holder); a holder
// it has already takes it again; a lease that ran out, or a release, makes
// room.
func TestAcquireHoldersLimit(t *testing.T) {
	env := newEnv().env(t0)
	l := lock.Lock{Name: "ci"}
	for i := range lock.MaxHolders {
		ttl := time.Duration(0)
		if i == 0 {
			ttl = time.Minute
		}
		if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: fmt.Sprintf("h%04d", i), TTL: ttl}, env); err != nil {
			t.Fatalf("holder %d of %d: %v", i+1, lock.MaxHolders, err)
		}
	}
	before := l.Clone()
	events, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "one-too-many"}, env)
	if codeOf(t, err) != lock.ETOOLARGE || len(events) != 0 {
		t.Fatalf("a holder past the limit: %v, %v; want ETOOLARGE and no events", events, err)
	}
	checkLock(t, l, before)
	for _, want := range []string{`"ci"`, fmt.Sprint(lock.MaxHolders), `"one-too-many"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not name %s", err, want)
		}
	}
	if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "h0001"}, env); err != nil || l.Holds.Get("h0001").Count != 2 {
		t.Fatalf("a holder it has, again: %v, count %d", err, l.Holds.Get("h0001").Count)
	}
	later := newEnv().env(t0.Add(2 * time.Minute)) // h0000's lease ran out
	if events, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "one-too-many"}, later); err != nil || len(events) != 2 || len(l.Holds) != lock.MaxHolders {
		t.Fatalf("once a lease ran out: %v, %v, %d holders", events, err, len(l.Holds))
	}
	if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "and-another"}, later); codeOf(t, err) != lock.ETOOLARGE {
		t.Fatalf("full again: %v", err)
	}
	if _, err := lock.Release(&l, "K", "h0002", later); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "and-another"}, later); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// TestGiveBack: a grant whose caller went away is undone whole: its count,
// and the lease change a re-entrant grant makes (removing the lease, or
// lengthening it), unless the hold changed since; a lock taken afresh
// since is left alone.
func TestGiveBack(t *testing.T) {
	ago := at(-time.Hour)
	tests := []struct {
		name       string
		before     lock.Lock
		req        lock.Request
		between    func(l *lock.Lock, env lock.Env) // changes made before the give-back
		want       lock.Lock
		wantEvents []lock.Event // of the give-back
	}{
		{
			name:   "a new holder: the hold goes, the lock is free",
			before: lock.Lock{Name: "db", Fence: 5},
			req:    lock.Request{Key: "K", Holder: "h1", TTL: time.Hour},
			want:   lock.Lock{Name: "db", Fence: 101, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 101, Time: t0},
			},
		},
		{
			name:   "taken again without a ttl: the lease it removed comes back",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			req:    lock.Request{Key: "K", Holder: "h1"},
			want:   held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name:   "taken again with a longer ttl: the shorter lease comes back",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			req:    lock.Request{Key: "K", Holder: "h1", TTL: 100 * time.Hour},
			want:   held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Minute)},
			},
		},
		{
			name:   "lease refreshed since: only the count goes back",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			req:    lock.Request{Key: "K", Holder: "h1"},
			between: func(l *lock.Lock, env lock.Env) {
				if _, err := lock.Refresh(l, "K", "h1", 2*time.Hour, lock.HoldRef{}, env); err != nil {
					panic(err)
				}
			},
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(2*time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(2 * time.Hour)},
			},
		},
		{
			name:   "released and taken afresh since: nothing of the grant is left",
			before: lock.Lock{Name: "db", Fence: 5},
			req:    lock.Request{Key: "K", Holder: "h1"},
			between: func(l *lock.Lock, env lock.Env) {
				lock.Release(l, "K", "h1", env)
				lock.Acquire(l, lock.Request{Key: "K", Holder: "h1"}, env)
			},
			want: held("K", 102, t0, map[string]lock.Hold{"h1": hold(1, t0, never)}),
		},
		{
			// Found by a review: before is "no hold", whose lease is
			// none; putting that back gave the other grant's hold none.
			name:   "a new holder, then another grant to the same holder: the lease stays",
			before: lock.Lock{Name: "db", Fence: 5},
			req:    lock.Request{Key: "K", Holder: "h1", TTL: time.Minute},
			between: func(l *lock.Lock, env lock.Env) {
				lock.Acquire(l, lock.Request{Key: "K", Holder: "h1", TTL: 30 * time.Second}, env)
			},
			want: held("K", 101, t0, map[string]lock.Hold{"h1": hold(1, t0, at(time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 101, Time: t0, Expires: at(time.Minute)},
			},
		},
		{
			name:   "a longer lease, then another grant asking as long: the lease stays",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			req:    lock.Request{Key: "K", Holder: "h1", TTL: time.Hour},
			between: func(l *lock.Lock, env lock.Env) {
				lock.Acquire(l, lock.Request{Key: "K", Holder: "h1", TTL: time.Hour}, env)
			},
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 2, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			// Found by a review of the fix above: a release in between
			// is no grant, and must not keep the lease away.
			name:   "taken again without a ttl, then one release: the lease still comes back",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Hour))}),
			req:    lock.Request{Key: "K", Holder: "h1"},
			between: func(l *lock.Lock, env lock.Env) {
				lock.Release(l, "K", "h1", env)
			},
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			// Found by a review: while another holder of the key keeps
			// the lock held, the fence stays; the grant's hold ran out,
			// and the same key and holder took the lock again. A
			// give-back tried again later (giveBackAgain, whose failures
			// changed nothing) took that new hold's count: it was lost,
			// its holder unaware.
			name:   "run out and taken again under the same fence: the new hold stays",
			before: held("K", 5, ago, map[string]lock.Hold{"h2": hold(1, ago, never)}),
			req:    lock.Request{Key: "K", Holder: "h1", TTL: time.Minute},
			between: func(l *lock.Lock, _ lock.Env) {
				later := newEnv().env(at(2 * time.Minute))
				if _, err := lock.Acquire(l, lock.Request{Key: "K", Holder: "h1"}, later); err != nil {
					panic(err)
				}
			},
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, at(2*time.Minute), never), "h2": hold(1, ago, never)}),
		},
		{
			name:   "another holder of the key stays",
			before: held("K", 5, ago, map[string]lock.Hold{"h2": hold(1, ago, never)}),
			req:    lock.Request{Key: "K", Holder: "h1", TTL: time.Hour},
			want:   held("K", 5, ago, map[string]lock.Hold{"h2": hold(1, ago, never)}),
			wantEvents: []lock.Event{
				{Type: lock.Released, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv().env(t0)
			l := tt.before.Clone()
			had := l.Holds.Get(tt.req.Holder)
			if _, err := lock.Acquire(&l, tt.req, env); err != nil {
				t.Fatal(err)
			}
			granted, fence := l.Holds.Get(tt.req.Holder), l.Fence
			if tt.between != nil {
				tt.between(&l, env)
			}
			events, _ := lock.GiveBack(&l, tt.req.Key, tt.req.Holder, fence, had, granted, env)
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
		})
	}
}

// TestGiveBackAgain: a give-back tried again undoes the grant only while
// the hold is exactly as the grant left it: once, never twice.
func TestGiveBackAgain(t *testing.T) {
	env := newEnv().env(t0)
	l := lock.Lock{Name: "db"}
	req := lock.Request{Key: "K", Holder: "h1"}
	if _, err := lock.Acquire(&l, req, env); err != nil {
		t.Fatal(err)
	}
	had := l.Holds.Get("h1")
	if _, err := lock.Acquire(&l, req, env); err != nil {
		t.Fatal(err)
	}
	granted, fence := l.Holds.Get("h1"), l.Fence
	if _, ok := lock.GiveBackAgain(&l, "K", "h1", fence, had, granted, env); !ok || l.Holds.Get("h1").Count != 1 {
		t.Fatalf("first give-back: %v, count %d, want made, 1", ok, l.Holds.Get("h1").Count)
	}
	if events, ok := lock.GiveBackAgain(&l, "K", "h1", fence, had, granted, env); ok || len(events) != 0 || l.Holds.Get("h1").Count != 1 {
		t.Fatalf("the same give-back again: %v, %v, count %d, want nothing done", ok, events, l.Holds.Get("h1").Count)
	}
	if _, ok := lock.GiveBackAgain(&l, "K", "h1", fence+1, had, had, env); ok {
		t.Fatal("a give-back under another fence was made")
	}

	// A fresh hold whose give-back was made (its outcome unknown), then
	// taken afresh by the same key and holder under the same fence (another
	// holder of the key kept the lock): not the grant, and kept.
	l = lock.Lock{Name: "db"}
	if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: "other"}, env); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Acquire(&l, req, env); err != nil {
		t.Fatal(err)
	}
	granted, fence = l.Holds.Get("h1"), l.Fence
	if _, ok := lock.GiveBackAgain(&l, "K", "h1", fence, lock.Hold{}, granted, env); !ok || l.Holds.Get("h1").Count != 0 {
		t.Fatal("the fresh grant was not given back")
	}
	if _, err := lock.Acquire(&l, req, newEnv().env(t0.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if _, ok := lock.GiveBackAgain(&l, "K", "h1", fence, lock.Hold{}, granted, env); ok || l.Holds.Get("h1").Count != 1 {
		t.Fatalf("the same give-back again, after the holder took the lock afresh: %v, count %d, want nothing done", ok, l.Holds.Get("h1").Count)
	}
}

func TestCountedReentrancy(t *testing.T) {
	env := newEnv().env(t0)
	l := lock.Lock{Name: "db"}
	req := lock.Request{Key: "K", Holder: "h1"}
	for range 2 {
		if _, err := lock.Acquire(&l, req, env); err != nil {
			t.Fatal(err)
		}
	}
	if c := l.Holds.Get("h1").Count; c != 2 {
		t.Fatalf("count after two acquires = %d, want 2", c)
	}
	wantCounts := []int{1, 0}
	for i, want := range wantCounts {
		events, err := lock.Release(&l, "K", "h1", env)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Type != lock.Released || events[0].Count != want {
			t.Fatalf("release %d: events = %+v, want one released event with count %d", i+1, events, want)
		}
	}
	if !l.Free() || l.Key != "" || len(l.Holds) != 0 || !l.Since.IsZero() {
		t.Errorf("lock after last release = %+v, want free with no holds and zero Since", l)
	}
	if l.Fence != 101 {
		t.Errorf("fence after release = %d, want 101 (kept)", l.Fence)
	}
	// A third release finds a free lock: no events, no error.
	events, err := lock.Release(&l, "K", "h1", env)
	if err != nil || len(events) != 0 {
		t.Errorf("release of a free lock = %+v, %v; want no events, nil", events, err)
	}
}

func TestSharedKeyHoldersReleasedIndependently(t *testing.T) {
	env := newEnv().env(t0)
	l := lock.Lock{Name: "db"}
	for _, h := range []string{"a", "b", "b", "c"} {
		if _, err := lock.Acquire(&l, lock.Request{Key: "K", Holder: h}, env); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := l.Counts(), map[string]int{"a": 1, "b": 2, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("counts = %v, want %v", got, want)
	}
	steps := []struct {
		holder     string
		wantCount  int
		wantCounts map[string]int
	}{
		{"b", 1, map[string]int{"a": 1, "b": 1, "c": 1}},
		{"a", 0, map[string]int{"b": 1, "c": 1}},
		{"c", 0, map[string]int{"b": 1}},
		{"b", 0, map[string]int{}},
	}
	for _, s := range steps {
		events, err := lock.Release(&l, "K", s.holder, env)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Holder != s.holder || events[0].Count != s.wantCount || events[0].Key != "K" {
			t.Errorf("release %s: events = %+v, want one for %s with count %d", s.holder, events, s.holder, s.wantCount)
		}
		if got := l.Counts(); !reflect.DeepEqual(got, s.wantCounts) {
			t.Errorf("after release %s: counts = %v, want %v", s.holder, got, s.wantCounts)
		}
		if wantFree := len(s.wantCounts) == 0; l.Free() != wantFree {
			t.Errorf("after release %s: Free() = %v, want %v", s.holder, l.Free(), wantFree)
		}
	}
}

func TestRefresh(t *testing.T) {
	ago := at(-time.Hour)
	tests := []struct {
		name        string
		before      lock.Lock
		key, holder string
		ttl         time.Duration
		fence       uint64
		acquired    time.Time
		want        lock.Lock
		wantEvents  []lock.Event
		wantCode    string
		wantMessage string
	}{
		{
			name:   "with the hold's fence token: refreshed",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			key:    "K", holder: "h1", ttl: time.Hour, fence: 5,
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			wantEvents: []lock.Event{
				{Type: lock.Refreshed, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name:   "with an older fence token (the lock taken afresh since, by the same key and holder): not found, unchanged",
			before: held("K", 6, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", ttl: time.Second, fence: 5,
			want:     held("K", 6, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			wantCode: lock.ENOTFOUND,
		},
		{
			name: "shared key, the hold's own acquired and fence: refreshed",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), at(time.Minute)),
				"h2": hold(1, ago, never),
			}),
			key: "K", holder: "h1", ttl: time.Hour, fence: 5, acquired: at(-time.Minute),
			want: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), at(time.Hour)),
				"h2": hold(1, ago, never),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Refreshed, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name: "shared key, the holder's hold taken again within the period: not found, its lease unchanged",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), at(time.Hour)),
				"h2": hold(1, ago, never),
			}),
			key: "K", holder: "h1", ttl: time.Second, fence: 5, acquired: ago,
			want: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, at(-time.Minute), at(time.Hour)),
				"h2": hold(1, ago, never),
			}),
			wantCode:    lock.ENOTFOUND,
			wantMessage: `lock "db": the hold of "h1" under key "K" acquired at 2024-03-01T11:00:00Z is gone: "h1" took the lock again at 2024-03-01T11:59:00Z; nothing was renewed`,
		},
		{
			name:   "extends the lease to now+ttl, count unchanged",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(time.Minute))}),
			key:    "K", holder: "h1", ttl: 10 * time.Minute,
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(2, ago, at(10*time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Refreshed, Lock: "db", Key: "K", Holder: "h1", Count: 2, Fence: 5, Time: t0, Expires: at(10 * time.Minute)},
			},
		},
		{
			// Documented: Refresh *sets* the lease, unlike Acquire, so it may
			// shorten it.
			name:   "sets the lease even when shorter than the current one",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Hour))}),
			key:    "K", holder: "h1", ttl: time.Minute,
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Refreshed, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Minute)},
			},
		},
		{
			name:   "gives a never-expiring hold a lease",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h1", ttl: time.Minute,
			want: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			wantEvents: []lock.Event{
				{Type: lock.Refreshed, Lock: "db", Key: "K", Holder: "h1", Count: 1, Fence: 5, Time: t0, Expires: at(time.Minute)},
			},
		},
		{
			name: "only the named holder's lease changes",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, at(time.Minute)),
				"h2": hold(1, ago, at(time.Minute)),
			}),
			key: "K", holder: "h2", ttl: time.Hour,
			want: held("K", 5, ago, map[string]lock.Hold{
				"h1": hold(1, ago, at(time.Minute)),
				"h2": hold(1, ago, at(time.Hour)),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Refreshed, Lock: "db", Key: "K", Holder: "h2", Count: 1, Fence: 5, Time: t0, Expires: at(time.Hour)},
			},
		},
		{
			name:   "zero ttl is invalid",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			key:    "K", holder: "h1", ttl: 0,
			want:     held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			wantCode: lock.EINVALID,
		},
		{
			name:   "negative ttl is invalid, even with a stale hold (nothing expires)",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(-time.Minute))}),
			key:    "K", holder: "h1", ttl: -time.Second,
			want:     held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(-time.Minute))}),
			wantCode: lock.EINVALID,
		},
		{
			name:   "free lock: not found",
			before: lock.Lock{Name: "db", Fence: 5},
			key:    "K", holder: "h1", ttl: time.Minute,
			want:     lock.Lock{Name: "db", Fence: 5},
			wantCode: lock.ENOTFOUND,
		},
		{
			name:   "holder holds nothing under the right key: not found",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			key:    "K", holder: "h2", ttl: time.Minute,
			want:     held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)}),
			wantCode: lock.ENOTFOUND,
		},
		{
			name:   "wrong key conflicts",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			key:    "X", holder: "h1", ttl: time.Hour,
			want:     held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))}),
			wantCode: lock.ECONFLICT,
		},
		{
			name:   "hold expired before the refresh: expiry reported, not found",
			before: held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, t0)}),
			key:    "K", holder: "h1", ttl: time.Hour,
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0, Expires: t0},
			},
			wantCode: lock.ENOTFOUND,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnv()
			l := tt.before.Clone()
			events, err := lock.Refresh(&l, tt.key, tt.holder, tt.ttl, lock.HoldRef{Fence: tt.fence, Acquired: tt.acquired}, f.env(t0))
			if got := codeOf(t, err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.wantMessage != "" && err.Error() != tt.wantMessage {
				t.Errorf("message = %q, want %q", err.Error(), tt.wantMessage)
			}
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
			if f.calls != 0 {
				t.Errorf("Refresh called NextFence %d times", f.calls)
			}
		})
	}
}

// TestForceReleaseFence: with a fence, only the holds taken under it are
// forced; a lock taken again since is refused and left as it is.
func TestForceReleaseFence(t *testing.T) {
	ago := at(-time.Hour)
	env := newEnv().env(t0)
	l := held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)})
	before := l.Clone()
	events, err := lock.ForceReleaseFence(&l, "op", 4, env)
	if codeOf(t, err) != lock.ECONFLICT || len(events) != 0 || !strings.Contains(err.Error(), "taken again since fence 4") {
		t.Fatalf("force with an old fence = %v, %v; want ECONFLICT, no events", events, err)
	}
	checkLock(t, l, before)
	events, err = lock.ForceReleaseFence(&l, "op", 5, env)
	if err != nil || len(events) != 1 || events[0].Type != lock.Forced || !l.Free() {
		t.Fatalf("force with the lock's fence = %v, %v; lock %+v", events, err, l)
	}
	// Free: nothing to force, whatever the fence.
	if events, err := lock.ForceReleaseFence(&l, "op", 4, env); err != nil || len(events) != 0 {
		t.Fatalf("force of a free lock = %v, %v", events, err)
	}
}

// TestFutureFence: a fence token higher than any the lock has had names
// no holding period; the answer says so, with the status of a token that
// is no longer the lock's (ENOTFOUND on refresh, ECONFLICT on a force),
// rather than that the lock was taken afresh since.
func TestFutureFence(t *testing.T) {
	ago := at(-time.Hour)
	env := newEnv().env(t0)
	const future = 18446744073709551615
	l := held("K", 160, ago, map[string]lock.Hold{"h1": hold(1, ago, at(time.Minute))})
	l.Pools = []string{"p"}
	before := l.Clone()
	for _, c := range []struct {
		what, code, want string
		do               func() ([]lock.Event, error)
	}{
		{"refresh", lock.ENOTFOUND, `lock "db": fence 18446744073709551615 is higher than any this lock has had (its latest is 160): no hold of "h1" under key "K" was taken under it; nothing was renewed`,
			func() ([]lock.Event, error) {
				return lock.Refresh(&l, "K", "h1", time.Hour, lock.HoldRef{Fence: future}, env)
			}},
		{"force", lock.ECONFLICT, `lock "db": fence 161 is higher than any this lock has had: it is held by key "K" under fence 160 (holders: h1 x1); nothing was forced`,
			func() ([]lock.Event, error) { return lock.ForceReleaseFence(&l, "op", 161, env) }},
		{"forced removal", lock.ECONFLICT, `pool "p": member "db": fence 18446744073709551615 is higher than any it has had: it is held by key "K" under fence 160 (holders: h1 x1); nothing was forced or removed`,
			func() ([]lock.Event, error) { return lock.RemoveFromPoolFence(&l, "p", true, "op", future, env) }},
	} {
		events, err := c.do()
		if codeOf(t, err) != c.code || len(events) != 0 || err.Error() != c.want {
			t.Errorf("%s with a future fence = %v, %v; want %s: %s", c.what, events, err, c.code, c.want)
		}
		checkLock(t, l, before)
	}
}

// TestRemoveFromPoolFence: a forced removal with a fence ends only the
// holds taken under it: a member taken again since is refused and stays.
func TestRemoveFromPoolFence(t *testing.T) {
	ago := at(-time.Hour)
	env := newEnv().env(t0)
	l := held("K", 5, ago, map[string]lock.Hold{"h1": hold(1, ago, never)})
	l.Pools = []string{"p"}
	before := l.Clone()
	events, err := lock.RemoveFromPoolFence(&l, "p", true, "op", 4, env)
	if codeOf(t, err) != lock.ECONFLICT || len(events) != 0 || !strings.Contains(err.Error(), "taken again since fence 4") {
		t.Fatalf("forced removal with an old fence = %v, %v", events, err)
	}
	checkLock(t, l, before)
	if _, err := lock.RemoveFromPoolFence(&l, "p", true, "op", 5, env); err != nil || !l.Free() || l.InPool("p") {
		t.Fatalf("forced removal with the member's fence: %v, %+v", err, l)
	}
}

func TestForceRelease(t *testing.T) {
	ago := at(-time.Hour)
	tests := []struct {
		name       string
		before     lock.Lock
		want       lock.Lock
		wantEvents []lock.Event
	}{
		{
			name:   "free lock: no events",
			before: lock.Lock{Name: "db", Fence: 5},
			want:   lock.Lock{Name: "db", Fence: 5},
		},
		{
			name: "every holder goes, one forced event each, sorted by holder",
			before: held("K", 5, ago, map[string]lock.Hold{
				"h2": hold(3, ago, at(time.Hour)),
				"h1": hold(1, ago, never),
			}),
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Forced, Lock: "db", Key: "K", Holder: "h1", Count: 0, Fence: 5, Time: t0, By: "op"},
				{Type: lock.Forced, Lock: "db", Key: "K", Holder: "h2", Count: 0, Fence: 5, Time: t0, By: "op"},
			},
		},
		{
			name: "stale holds are reported as expired, not forced",
			before: held("K", 5, ago, map[string]lock.Hold{
				"a": hold(1, ago, never),
				"b": hold(1, ago, at(-time.Second)),
			}),
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "b", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
				{Type: lock.Forced, Lock: "db", Key: "K", Holder: "a", Count: 0, Fence: 5, Time: t0, By: "op"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnv()
			l := tt.before.Clone()
			events := lock.ForceRelease(&l, "op", f.env(t0))
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
			if !l.Free() {
				t.Error("lock is not free after ForceRelease")
			}
			if f.calls != 0 {
				t.Errorf("ForceRelease called NextFence %d times", f.calls)
			}
		})
	}
}

// TestForceReleaseCutsBy: the operator's name in the events is cut to
// MaxNameLen bytes, at a character boundary, as every other name in an
// event is at most that long (the file store bounds a release's log record
// by it); a shorter one is kept whole.
func TestForceReleaseCutsBy(t *testing.T) {
	for _, tt := range []struct{ by, want string }{
		{"op", "op"},
		{strings.Repeat("o", lock.MaxNameLen), strings.Repeat("o", lock.MaxNameLen)},
		{strings.Repeat("o", lock.MaxNameLen+1), strings.Repeat("o", lock.MaxNameLen)},
		// é is two bytes: the one that would straddle the limit goes.
		{"o" + strings.Repeat("é", lock.MaxNameLen), "o" + strings.Repeat("é", lock.MaxNameLen/2-1)},
	} {
		l := held("K", 5, at(-time.Hour), map[string]lock.Hold{"h": hold(1, at(-time.Hour), never)})
		events := lock.ForceRelease(&l, tt.by, newEnv().env(t0))
		if len(events) != 1 || events[0].By != tt.want {
			t.Errorf("by of %d bytes: events %+v, want by of %d bytes", len(tt.by), events, len(tt.want))
		}
	}
}

func TestExpire(t *testing.T) {
	ago := at(-time.Hour)
	tests := []struct {
		name       string
		before     lock.Lock
		want       lock.Lock
		wantEvents []lock.Event
	}{
		{
			name:   "free lock: nothing",
			before: lock.Lock{Name: "db", Fence: 5},
			want:   lock.Lock{Name: "db", Fence: 5},
		},
		{
			name: "no lease has run out",
			before: held("K", 5, ago, map[string]lock.Hold{
				"a": hold(1, ago, never),
				"b": hold(1, ago, at(time.Nanosecond)),
			}),
			want: held("K", 5, ago, map[string]lock.Hold{
				"a": hold(1, ago, never),
				"b": hold(1, ago, at(time.Nanosecond)),
			}),
		},
		{
			name: "only holds with Expires <= now go, whole count",
			before: held("K", 5, ago, map[string]lock.Hold{
				"a": hold(1, ago, never),
				"b": hold(4, ago, t0),
				"c": hold(1, ago, at(time.Nanosecond)),
				"d": hold(2, ago, at(-time.Minute)),
			}),
			want: held("K", 5, ago, map[string]lock.Hold{
				"a": hold(1, ago, never),
				"c": hold(1, ago, at(time.Nanosecond)),
			}),
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "b", Count: 0, Fence: 5, Time: t0, Expires: t0},
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "d", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Minute)},
			},
		},
		{
			name: "the lock is freed when the last hold goes",
			before: held("K", 5, ago, map[string]lock.Hold{
				"a": hold(1, ago, at(-time.Second)),
				"b": hold(1, ago, t0),
			}),
			want: lock.Lock{Name: "db", Fence: 5, FreeSince: t0},
			wantEvents: []lock.Event{
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "a", Count: 0, Fence: 5, Time: t0, Expires: at(-time.Second)},
				{Type: lock.Expired, Lock: "db", Key: "K", Holder: "b", Count: 0, Fence: 5, Time: t0, Expires: t0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.before.Clone()
			events := lock.Expire(&l, t0)
			checkLock(t, l, tt.want)
			checkEvents(t, events, tt.wantEvents)
		})
	}
}

func TestMustQueue(t *testing.T) {
	free := lock.Lock{Name: "db"}
	heldK := held("K", 5, t0, map[string]lock.Hold{"h1": hold(1, t0, never)})
	tests := []struct {
		name  string
		l     lock.Lock
		r     lock.Request
		ahead []lock.Waiter
		want  bool
	}{
		{"free lock, nobody waiting", free, lock.Request{Key: "K", Holder: "a"}, nil, false},
		{"held lock, nobody waiting", heldK, lock.Request{Key: "X", Holder: "a"}, nil, false},
		{"earlier waiter with a different key blocks", free,
			lock.Request{Key: "K", Holder: "a"}, []lock.Waiter{{Key: "X", Holder: "x"}}, true},
		{"earlier waiters with the same key do not block", free,
			lock.Request{Key: "K", Holder: "a"}, []lock.Waiter{{Key: "K", Holder: "b"}, {Key: "K", Holder: "c"}}, false},
		{"a different key anywhere ahead blocks", free,
			lock.Request{Key: "K", Holder: "a"}, []lock.Waiter{{Key: "K", Holder: "b"}, {Key: "X", Holder: "x"}, {Key: "K", Holder: "c"}}, true},
		{"shared-key newcomer cannot starve an exclusive waiter", heldK,
			lock.Request{Key: "K", Holder: "h2"}, []lock.Waiter{{Key: "X", Holder: "x"}}, true},
		{"re-entry by a current holder never queues", heldK,
			lock.Request{Key: "K", Holder: "h1"}, []lock.Waiter{{Key: "X", Holder: "x"}, {Key: "Y", Holder: "y"}}, false},
		{"a current holder asking under another key is not re-entry", heldK,
			lock.Request{Key: "X", Holder: "h1"}, []lock.Waiter{{Key: "Y", Holder: "y"}}, true},
		{"a current holder asking under another key behind same-key waiters", heldK,
			lock.Request{Key: "X", Holder: "h1"}, []lock.Waiter{{Key: "X", Holder: "x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.l.Clone()
			if got := lock.MustQueue(&l, tt.r, tt.ahead); got != tt.want {
				t.Errorf("MustQueue = %v, want %v", got, tt.want)
			}
			checkLock(t, l, tt.l)
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		wantErr bool
	}{
		{"empty", "", true},
		{"plain", "prod-deployments", false},
		{"spaces and punctuation", "node a/b:c.d", false},
		{"512 bytes", strings.Repeat("a", 512), false},
		{"513 bytes", strings.Repeat("a", 513), true},
		{"512 bytes of 2-byte runes", strings.Repeat("é", 256), false},
		{"513 bytes with multibyte runes", strings.Repeat("é", 256) + "a", true},
		{"unicode", "ロック-🔒-ünïcödé", false},
		{"invalid UTF-8", "bad\xffname", true},
		{"truncated UTF-8", "\xe3\x83", true},
		{"newline", "a\nb", true},
		{"tab", "a\tb", true},
		{"NUL", "a\x00b", true},
		{"DEL", "a\x7fb", true},
		{"C1 control", "a\u0085b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lock.ValidateName("holder", tt.s)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ValidateName(%q) = %v, want error %v", tt.s, err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if code := codeOf(t, err); code != lock.EINVALID {
				t.Errorf("code = %q, want %q", code, lock.EINVALID)
			}
			if !strings.HasPrefix(err.Error(), "holder ") {
				t.Errorf("message %q does not name what was checked", err.Error())
			}
		})
	}
}

func TestRequestValidate(t *testing.T) {
	ok := lock.Request{Key: "K", Holder: "h1", TTL: time.Minute}
	with := func(f func(*lock.Request)) lock.Request {
		r := ok
		f(&r)
		return r
	}
	tests := []struct {
		name     string
		lockName string
		r        lock.Request
		wantIn   string // "" for no error, else a word the message must contain
	}{
		{"valid", "db", ok, ""},
		{"zero ttl is fine (no lease)", "db", with(func(r *lock.Request) { r.TTL = 0 }), ""},
		{"unicode everywhere", "ロック", lock.Request{Key: "鍵", Holder: "ホルダー"}, ""},
		{"empty lock name", "", ok, "lock name"},
		{"lock name too long", strings.Repeat("n", 513), ok, "lock name"},
		{"lock name with newline", "d\nb", ok, "lock name"},
		{"empty key", "db", with(func(r *lock.Request) { r.Key = "" }), "key"},
		{"key with NUL", "db", with(func(r *lock.Request) { r.Key = "K\x00" }), "key"},
		{"key invalid UTF-8", "db", with(func(r *lock.Request) { r.Key = "\xc3" }), "key"},
		{"empty holder", "db", with(func(r *lock.Request) { r.Holder = "" }), "holder"},
		{"holder too long", "db", with(func(r *lock.Request) { r.Holder = strings.Repeat("h", 513) }), "holder"},
		{"holder with DEL", "db", with(func(r *lock.Request) { r.Holder = "h\x7f" }), "holder"},
		{"negative ttl", "db", with(func(r *lock.Request) { r.TTL = -time.Nanosecond }), "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate(tt.lockName)
			if tt.wantIn == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want an error about %s", tt.wantIn)
			}
			if code := codeOf(t, err); code != lock.EINVALID {
				t.Errorf("code = %q, want %q", code, lock.EINVALID)
			}
			if !strings.HasPrefix(err.Error(), tt.wantIn) {
				t.Errorf("message %q does not start with %q", err.Error(), tt.wantIn)
			}
		})
	}
}

func TestClampTTL(t *testing.T) {
	const s, m, h = time.Second, time.Minute, time.Hour
	tests := []struct {
		name          string
		ttl, def, max time.Duration
		want          time.Duration
	}{
		{"nothing set: no lease", 0, 0, 0, 0},
		{"ttl kept", 30 * s, 0, 0, 30 * s},
		{"default applied when no ttl", 0, m, 0, m},
		{"default ignored when ttl given", 30 * s, m, 0, 30 * s},
		{"max clamps a longer ttl", 2 * h, 0, h, h},
		{"ttl equal to max kept", h, 0, h, h},
		{"ttl under max kept", m, 0, h, m},
		{"zero max is no limit", 1000 * h, 0, 0, 1000 * h},
		{"max clamps the default", 0, 2 * h, h, h},
		{"max with no ttl and no default gives max", 0, 0, h, h},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lock.ClampTTL(tt.ttl, tt.def, tt.max); got != tt.want {
				t.Errorf("ClampTTL(%v, %v, %v) = %v, want %v", tt.ttl, tt.def, tt.max, got, tt.want)
			}
		})
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	domain := lock.Errorf(lock.ENOTFOUND, "lock %q not found", "db")
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantMsg  string
	}{
		{"nil", nil, "", "internal error"},
		{"*Error", domain, lock.ENOTFOUND, `lock "db" not found`},
		{"wrapped *Error", fmt.Errorf("store: %w", domain), lock.ENOTFOUND, `lock "db" not found`},
		{"doubly wrapped *Error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", domain)), lock.ENOTFOUND, `lock "db" not found`},
		{"plain error", errors.New("disk on fire at /var/x"), lock.EINTERNAL, "internal error"},
		{"plain error wrapping a plain error", fmt.Errorf("x: %w", errors.New("y")), lock.EINTERNAL, "internal error"},
		{"*Error formatted with %v (not wrapped)", fmt.Errorf("x: %v", domain), lock.EINTERNAL, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lock.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
			if got := lock.ErrorMessage(tt.err); got != tt.wantMsg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.wantMsg)
			}
		})
	}
	if got := domain.Error(); got != `lock "db" not found` {
		t.Errorf("Error() = %q", got)
	}
}

func TestClone(t *testing.T) {
	orig := held("K", 5, t0, map[string]lock.Hold{"h1": hold(1, t0, at(time.Minute))})
	want := held("K", 5, t0, map[string]lock.Hold{"h1": hold(1, t0, at(time.Minute))})

	c := orig.Clone()
	checkLock(t, c, orig)
	c.Holds.Set("h1", hold(7, at(time.Hour), never))
	c.Holds.Set("h2", hold(1, t0, never))
	c.Holds.Delete("h1")
	c.Key = "X"
	c.Fence = 99
	checkLock(t, orig, want)

	// Mutating through the rules on a clone leaves the original alone too.
	c = orig.Clone()
	if _, err := lock.Acquire(&c, lock.Request{Key: "K", Holder: "h1"}, newEnv().env(t0)); err != nil {
		t.Fatal(err)
	}
	lock.ForceRelease(&c, "op", newEnv().env(t0))
	checkLock(t, orig, want)

	// A free lock's nil Holds stays nil.
	if c := (lock.Lock{Name: "db"}).Clone(); c.Holds != nil {
		t.Errorf("Clone of a free lock has Holds %v, want nil", c.Holds)
	}
}

func TestLockHelpers(t *testing.T) {
	l := held("K", 5, t0, map[string]lock.Hold{
		"b": hold(2, t0, at(time.Hour)),
		"a": hold(1, t0, never),
		"c": hold(1, t0, at(time.Minute)),
	})
	if got, want := l.Holders(), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Holders = %v, want %v", got, want)
	}
	if got, want := l.Counts(), map[string]int{"a": 1, "b": 2, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}
	if got := l.NextExpiry(); !got.Equal(at(time.Minute)) {
		t.Errorf("NextExpiry = %v, want %v", got, at(time.Minute))
	}
	if got, want := lock.DescribeHolders(&l), "holders: a x1, b x2, c x1"; got != want {
		t.Errorf("DescribeHolders = %q, want %q", got, want)
	}
	free := lock.Lock{Name: "db"}
	if !free.Free() || l.Free() {
		t.Error("Free() wrong")
	}
	if !free.NextExpiry().IsZero() || len(free.Holders()) != 0 {
		t.Error("free lock has holders or an expiry")
	}
}
