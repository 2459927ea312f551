package lockservice_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// TestLeaseExpires: a hold with a ttl is released when it runs out, with
// nobody touching the lock, and the history says it expired.
func TestLeaseExpires(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	l := e.acquire("x", "A", "a", 200*time.Millisecond)
	if got, want := l.Holds.Get("a").Expires, l.Holds.Get("a").Acquired.Add(200*time.Millisecond); !got.Equal(want) {
		t.Fatalf("expires %v, want acquired+200ms = %v", got, want)
	}
	e.acquire("x", "A", "a", 100*time.Millisecond) // re-entry: count 2, lease not shortened
	if l := e.get("x"); l.Holds.Get("a").Count != 2 || l.Holds.Get("a").Expires.Before(l.Holds.Get("a").Acquired.Add(200*time.Millisecond)) {
		t.Fatalf("after re-entry with a shorter ttl: %+v; want count 2 and the lease kept", l)
	}
	e.eventually(func() bool { l := e.get("x"); return l.Free() }, "the lease to expire")
	h := e.history("x")
	last := h[len(h)-1]
	if last.Type != lock.Expired || last.Holder != "a" || last.Count != 0 || last.Key != "A" {
		t.Fatalf("last event %+v, want a's hold expired (history %s)", last, types(h))
	}
	if n := len(h); n != 3 {
		t.Fatalf("history %s, want acquired, acquired, expired (one expiry for all of a's count)", types(h))
	}
}

// TestLeaseExpiryKeepsOtherHolders: expiry releases only the holder whose
// lease ran out.
func TestLeaseExpiryKeepsOtherHolders(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	e.acquire("x", "S", "short", 100*time.Millisecond)
	e.acquire("x", "S", "forever", 0)
	e.eventually(func() bool { return e.get("x").Holds.Get("short").Count == 0 }, "short's lease to expire")
	l := e.get("x")
	if l.Key != "S" || len(l.Holds) != 1 || l.Holds.Get("forever").Count != 1 {
		t.Fatalf("lock %+v, want forever alone under S", l)
	}
}

// TestLeaseExpiryWakesWaiter: a waiter gets the lock when the holder's lease
// runs out, without anyone releasing it.
func TestLeaseExpiryWakesWaiter(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	e.acquire("x", "A", "a", 300*time.Millisecond)
	w := e.startWaiter("x", "B", "b", 0, longWait)
	r := w.wait(t)
	if r.err != nil || r.lock.Key != "B" || r.lock.Holds.Get("b").Count != 1 {
		t.Fatalf("waiter: lock %+v, err %v; want it to get the lock when a's lease ran out", r.lock, r.err)
	}
	h := e.history("x")
	want := "acquired:a expired:a acquired:b"
	if got := types(h); got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
	if h[2].Fence <= h[0].Fence {
		t.Fatalf("b's fence %d not above a's %d", h[2].Fence, h[0].Fence)
	}
}

// TestLeaseRefresh: refresh extends the lease without adding to the count,
// and the old expiry no longer releases the hold.
func TestLeaseRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lockservice.Config{})
	l := e.acquire("x", "A", "a", 500*time.Millisecond)
	oldExp := l.Holds.Get("a").Expires
	l, err := e.svc.Refresh(context.Background(), "x", "A", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Holds.Get("a")
	if h.Count != 1 || !h.Expires.After(oldExp.Add(50*time.Minute)) {
		t.Fatalf("after refresh: %+v; want count 1 and a lease of about an hour", h)
	}
	// Past the old expiry (and the lease watcher's check for it), a still
	// holds the lock.
	time.Sleep(time.Until(oldExp) + 500*time.Millisecond)
	if l := e.get("x"); l.Holds.Get("a").Count != 1 || !l.Holds.Get("a").Expires.Equal(h.Expires) {
		t.Fatalf("after the old expiry: %+v; want a still holding with the refreshed lease", l)
	}
	if got := types(e.history("x")); got != "acquired:a refreshed:a" {
		t.Fatalf("history %s", got)
	}

	_, err = e.svc.Refresh(context.Background(), "x", "B", "a", time.Hour)
	wantCode(t, err, lock.ECONFLICT)
	_, err = e.svc.Refresh(context.Background(), "x", "A", "nobody", time.Hour)
	wantCode(t, err, lock.ENOTFOUND)
	_, err = e.svc.Refresh(context.Background(), "free", "A", "a", time.Hour)
	wantCode(t, err, lock.ENOTFOUND)
}

// TestLeaseRefreshesDoNotPileUpChecks: each refresh (and, with PostgreSQL,
// each one another replica announces) tells the lease watcher of a new
// expiry; it must keep one check per lock, not one per refresh. A review
// counted the watcher's reads of the store growing with every refresh of a
// lock held by a job that kept renewing it: 147 in two seconds after 40
// refreshes, 1108 after 160, without end.
func TestLeaseRefreshesDoNotPileUpChecks(t *testing.T) {
	t.Parallel()
	store, svc, ctx := countedService(t, memstore.Options{})
	// Long beside the 10ms between refreshes, so that a loaded machine's
	// late wake-up does not let the lease run out (seen with 200ms).
	const ttl = 2 * time.Second
	if _, err := svc.Acquire(ctx, "job", lock.Request{Key: "a", Holder: "a", TTL: ttl}, 0); err != nil {
		t.Fatal(err)
	}
	refresh := func(d time.Duration) (refreshes int64) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if _, err := svc.Refresh(ctx, "job", "a", "a", ttl); err != nil {
				t.Fatal(err)
			}
			refreshes++
		}
		return refreshes
	}
	refresh(ttl + time.Second) // a few hundred refreshes
	before := store.updates.Load()
	n := refresh(time.Second)
	// One check of the lock every lease (2s): at most one in the second,
	// and a few more. Piled up: one per refresh made a lease earlier.
	if checks := store.updates.Load() - before - n; checks > 30 {
		t.Errorf("the lease watcher read the store %d times in a second of refreshes (%d refreshes)", checks, n)
	}
}

// TestLeaseRefreshShorter: a refresh sets the lease from now, so a shorter
// one expires the hold on time.
func TestLeaseRefreshShorter(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	e.acquire("x", "A", "a", time.Hour)
	if _, err := e.svc.Refresh(context.Background(), "x", "A", "a", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { l := e.get("x"); return l.Free() }, "the shortened lease to expire")
}

// TestLeaseDefaultTTL: holds that ask for no lease get the server's default;
// those that ask keep theirs.
func TestLeaseDefaultTTL(t *testing.T) {
	e := newEnv(t, lockservice.Config{DefaultTTL: 200 * time.Millisecond})
	l := e.acquire("x", "A", "a", 0)
	if h := l.Holds.Get("a"); !h.Expires.Equal(h.Acquired.Add(200 * time.Millisecond)) {
		t.Fatalf("hold %+v, want the default lease of 200ms", h)
	}
	l = e.acquire("y", "A", "a", time.Hour)
	if h := l.Holds.Get("a"); !h.Expires.Equal(h.Acquired.Add(time.Hour)) {
		t.Fatalf("hold %+v, want its own lease of 1h", h)
	}
	e.eventually(func() bool { l := e.get("x"); return l.Free() }, "the default lease to expire")
	if l := e.get("y"); l.Holds.Get("a").Count != 1 {
		t.Fatalf("y with a 1h lease: %+v, want still held", l)
	}
}

// TestLeaseMaxTTL: every lease is capped by MaxTTL, holds that ask for none
// included, and so is a refresh.
func TestLeaseMaxTTL(t *testing.T) {
	e := newEnv(t, lockservice.Config{MaxTTL: time.Minute})
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"long", time.Hour, time.Minute},
		{"none", 0, time.Minute},
		{"short", time.Second, time.Second},
	} {
		l := e.acquire(tc.name, "A", "a", tc.ttl)
		if h := l.Holds.Get("a"); !h.Expires.Equal(h.Acquired.Add(tc.want)) {
			t.Errorf("%s: ttl %s gave hold %+v, want a lease of %s", tc.name, tc.ttl, h, tc.want)
		}
	}
	before := time.Now()
	l, err := e.svc.Refresh(context.Background(), "long", "A", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if exp := l.Holds.Get("a").Expires; exp.After(time.Now().Add(time.Minute)) || exp.Before(before.Add(time.Minute-time.Second)) {
		t.Fatalf("refresh for 1h with MaxTTL 1m: expires %v, want about now+1m", exp)
	}
}

// TestLeaseExpiryAcrossRestart: a lease that ran out while the service was
// down is expired when it starts again.
func TestLeaseExpiryAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lockservice.Config{})
	l := e.acquire("x", "A", "a", 2*time.Second)
	e.acquire("forever", "A", "a", 0)
	exp := l.Holds.Get("a").Expires
	e.close()
	time.Sleep(time.Until(exp) + 200*time.Millisecond)

	// The store alone does not expire anything: the hold is still recorded.
	store, err := filestore.Open(e.path, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l, _, _ := store.Get(context.Background(), "x"); l.Holds.Get("a").Count != 1 {
		store.Close()
		t.Fatalf("precondition: x is %+v in the store before the restart; the lease expired before the store was closed (a slow machine?)", l)
	}
	store.Close()

	e2 := openEnv(t, e.path, lockservice.Config{}, filestore.Options{})
	e2.eventually(func() bool { l := e2.get("x"); return l.Free() }, "the lease that ran out while down to expire at start")
	h := e2.history("x")
	if last := h[len(h)-1]; last.Type != lock.Expired || last.Holder != "a" {
		t.Fatalf("history %s, want it to end with a's hold expired", types(h))
	}
	if l := e2.get("forever"); l.Holds.Get("a").Count != 1 {
		t.Fatalf("a hold without a lease was released at restart: %+v", l)
	}
}

// TestLeaseMaxTTLCapsHoldsAtStart: holds taken before MaxTTL was set (one
// without a lease, one with a longer lease) get a lease of at most MaxTTL
// when the service starts with it, so that setting it guarantees no hold
// lasts forever (docs/api.md, LOCKER_MAX_TTL); one already shorter keeps
// its own. No other test restarted a service with MaxTTL: it went unseen
// when Start stopped capping.
func TestLeaseMaxTTLCapsHoldsAtStart(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	e.acquire("forever", "A", "a", 0)
	e.acquire("long", "A", "a", time.Hour)
	short := e.acquire("short", "A", "a", 30*time.Second).Holds.Get("a").Expires
	e.close()
	before := time.Now()
	e2 := openEnv(t, e.path, lockservice.Config{MaxTTL: time.Minute}, filestore.Options{})
	after := time.Now()
	for _, name := range []string{"forever", "long"} {
		h := e2.get(name).Holds.Get("a")
		if h.Count != 1 || h.Expires.IsZero() || h.Expires.Before(before.Add(time.Minute-time.Second)) || h.Expires.After(after.Add(time.Minute)) {
			t.Errorf("%s after a start with MaxTTL 1m: %+v, want held with a lease ending about a minute from the start", name, h)
		}
	}
	if h := e2.get("short").Holds.Get("a"); h.Count != 1 || !h.Expires.Equal(short) {
		t.Errorf("short after a start with MaxTTL 1m: %+v, want its own lease (%v) kept", h, short)
	}
}

// TestLeasePendingAcrossRestart: a lease still running at restart expires on
// time afterwards, with nobody touching the lock.
func TestLeasePendingAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lockservice.Config{})
	e.acquire("x", "A", "a", 3*time.Second)
	e.close()
	e2 := openEnv(t, e.path, lockservice.Config{}, filestore.Options{})
	if l := e2.get("x"); l.Holds.Get("a").Count != 1 {
		t.Fatalf("precondition: the 3s lease ran out before the restart: %+v", l)
	}
	e2.eventually(func() bool { l := e2.get("x"); return l.Free() }, "the lease to expire after the restart")
}

// TestFenceIncreases: each time a lock goes from free to held it gets a token
// above every earlier one, server-wide; re-entry and sharing keep the token.
func TestFenceIncreases(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	var last uint64
	for i := 0; i < 100; i++ {
		name := []string{"x", "y", "z"}[i%3]
		key := string(rune('A' + i%26))
		l := e.acquire(name, key, "h", 0)
		if l.Fence <= last {
			t.Fatalf("acquisition %d of %q: fence %d, not above the last %d", i, name, l.Fence, last)
		}
		last = l.Fence
		if i%10 == 0 {
			if l := e.acquire(name, key, "h", 0); l.Fence != last {
				t.Fatalf("re-entry changed the fence from %d to %d", last, l.Fence)
			}
			if l := e.acquire(name, key, "other", 0); l.Fence != last {
				t.Fatalf("sharing changed the fence from %d to %d", last, l.Fence)
			}
			e.release(name, key, "h")
			e.release(name, key, "other")
		}
		if l := e.release(name, key, "h"); !l.Free() {
			t.Fatalf("acquisition %d: lock not free after release: %+v", i, l)
		}
	}
}

// TestFenceAcrossRestarts: tokens keep growing across restarts, whether the
// state comes from the log or from a snapshot (compaction), and whether the
// lock was left held or free.
func TestFenceAcrossRestarts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts filestore.Options
	}{
		{"log", filestore.Options{}},
		{"compacted", filestore.Options{CompactBytes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			var last uint64
			for round := 0; round < 4; round++ {
				e := openEnv(t, path, lockservice.Config{}, tc.opts)
				for i := 0; i < 5; i++ {
					l := e.acquire("x", "K", "h", 0)
					if l.Fence <= last {
						t.Fatalf("round %d, acquisition %d: fence %d, not above %d", round, i, l.Fence, last)
					}
					last = l.Fence
					if round%2 == 1 && i == 4 {
						break // leave x held across this restart
					}
					e.release("x", "K", "h")
				}
				// Another lock takes the latest token and is then released
				// and forgotten about: the counter must still remember it.
				l := e.acquire("other", "K", "h", 0)
				if l.Fence <= last {
					t.Fatalf("round %d: other's fence %d, not above %d", round, l.Fence, last)
				}
				last = l.Fence
				e.release("other", "K", "h")
				if round%2 == 1 {
					e.release("x", "K", "h")
				}
				e.close()
			}
			_, err := os.Stat(path + ".log.1")
			if compacted := errors.Is(err, os.ErrNotExist); compacted != (tc.opts.CompactBytes == 1) {
				t.Fatalf("first log segment removed (compacted): %v, want %v", compacted, tc.opts.CompactBytes == 1)
			}
		})
	}
}

// TestFenceHistory: acquisition events carry the lock's token.
func TestFenceHistory(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	var fences []uint64
	for i := 0; i < 3; i++ {
		fences = append(fences, e.acquire("x", "K", "h", 0).Fence)
		e.release("x", "K", "h")
	}
	var got []uint64
	for _, ev := range e.history("x") {
		if ev.Type == lock.Acquired {
			got = append(got, ev.Fence)
		}
	}
	if !slices.Equal(got, fences) {
		t.Fatalf("history fences %v, want %v", got, fences)
	}
}
