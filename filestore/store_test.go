package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

var _ lock.Store = (*Store)(nil)

func TestOpenCreatesMissingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	s := openT(t, path, Options{})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the data file was not created: %v", err)
	}
	if !strings.HasPrefix(string(b), snapshotMagic) {
		t.Fatalf("the data file does not start with the snapshot magic: %q", b)
	}
	if got := segmentGens(t, path); len(got) != 1 {
		t.Fatalf("log segments after creation: %v, want one", got)
	}
	if locks, _ := s.List(context.Background()); len(locks) != 0 {
		t.Fatalf("a new store lists %d locks", len(locks))
	}
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	closeT(t, s)

	s = openT(t, path, Options{})
	if locks, _ := s.List(context.Background()); len(locks) != 0 {
		t.Fatalf("reopened new store lists %d locks", len(locks))
	}
	if l := acquire(t, s, "x", "k", "h", 0); l.Key != "k" || l.Fence != 1 {
		t.Fatalf("first acquire: %+v", l)
	}
}

func TestOpenMissingDirectoryFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "locks.yml")
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
}

func TestReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	opts := Options{Now: clk.Now}
	s := openT(t, path, opts)

	acquire(t, s, "a", "k1", "h1", 0)
	acquire(t, s, "a", "k1", "h1", 0)
	acquire(t, s, "a", "k1", "h2", time.Hour)
	acquire(t, s, "b", "k2", "h1", 0)
	release(t, s, "b", "k2", "h1")
	acquire(t, s, "c", "k3", "hx", 30*time.Minute)
	acquire(t, s, "prod deploy/ünïcode", "key with space", "holder/1", 0)
	// A release of an unknown lock records nothing and creates nothing.
	if _, evs, err := tryRelease(s, "d", "k", "h"); err != nil || len(evs) != 0 {
		t.Fatalf("release of an unknown lock: events %v, err %v", evs, err)
	}
	if _, ok := getT(t, s, "d"); ok {
		t.Fatal("a release of an unknown lock created it")
	}

	a, _ := getT(t, s, "a")
	if a.Holds.Get("h1").Count != 2 || a.Holds.Get("h2").Count != 1 || a.Holds.Get("h2").Expires.IsZero() || !a.Holds.Get("h1").Expires.IsZero() {
		t.Fatalf("lock a: %+v", a)
	}
	if a.Holds.Get("h1").Acquired.IsZero() || a.Since.IsZero() || a.Fence == 0 {
		t.Fatalf("lock a has no acquired time, since or fence: %+v", a)
	}
	b, ok := getT(t, s, "b")
	if !ok || !b.Free() || len(b.Holds) != 0 {
		t.Fatalf("lock b should be listed free: %+v ok=%v", b, ok)
	}
	if h, _ := s.History(context.Background(), "b"); len(h) != 2 || h[0].Type != lock.Acquired || h[1].Type != lock.Released {
		t.Fatalf("history of b: %+v", h)
	}

	want := dump(t, s)
	fence := s.fence
	closeT(t, s)

	s = openT(t, path, opts)
	sameDump(t, "after reopen", want, dump(t, s))
	if s.fence != fence {
		t.Fatalf("fence counter after reopen: %d, want %d", s.fence, fence)
	}
	if l := acquire(t, s, "b", "k9", "h9", 0); l.Fence <= fence {
		t.Fatalf("fence after reopen %d is not above %d", l.Fence, fence)
	}
	want = dump(t, s)
	closeT(t, s)

	// A reopen with no change in between gives the same state again.
	s = openT(t, path, opts)
	sameDump(t, "after second reopen", want, dump(t, s))
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "after third reopen", want, dump(t, s))
}

func TestHistoryLimitSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	opts := Options{Now: clk.Now, HistoryLimit: 3}
	s := openT(t, path, opts)
	for range 5 {
		acquire(t, s, "a", "k", "h", 0)
	}
	h, _ := s.History(context.Background(), "a")
	if len(h) != 3 || h[2].Count != 5 || h[0].Count != 3 {
		t.Fatalf("history with limit 3: %+v", h)
	}
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "after reopen", want, dump(t, s))
}

func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	s2, err := Open(path, Options{})
	if err == nil {
		s2.Close()
		t.Fatal("a second Open of a store in use succeeded")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open error does not say the file is in use: %v", err)
	}
	// The same file through another spelling of its path is refused too.
	rel, err := filepath.Rel(mustGetwd(t), path)
	if err == nil {
		if s3, err := Open(rel, Options{}); err == nil {
			s3.Close()
			t.Fatal("a second Open through a relative path succeeded")
		}
	}
	// The first store still works, and after it is closed the file opens.
	acquire(t, s, "a", "k", "h", 0)
	closeT(t, s)
	s = openT(t, path, Options{})
	if l, _ := getT(t, s, "a"); l.Holds.Get("h").Count != 2 {
		t.Fatalf("after reopen: %+v", l)
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestNoEventsWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	seg := segmentPath(path, 1)
	before, _ := os.Stat(seg)
	l, evs, err := s.Update(context.Background(), "ghost", func(l *lock.Lock, env lock.Env) []lock.Event {
		l.Key = "changed but no events"
		return nil
	})
	if err != nil || evs != nil || l.Name != "ghost" {
		t.Fatalf("Update with no events: %+v %v %v", l, evs, err)
	}
	if _, ok := getT(t, s, "ghost"); ok {
		t.Fatal("an Update with no events created the lock")
	}
	after, _ := os.Stat(seg)
	if before.Size() != after.Size() {
		t.Fatalf("an Update with no events wrote %d bytes", after.Size()-before.Size())
	}
}

func TestConflictLeavesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k1", "h1", 0)
	want := dump(t, s)
	_, evs, err := tryAcquire(s, "a", "k2", "h2", 0)
	if errCode(err) != lock.ECONFLICT || len(evs) != 0 {
		t.Fatalf("acquire under another key: events %v, err %v", evs, err)
	}
	sameDump(t, "after a conflict", want, dump(t, s))
	closeT(t, s)
	s = openT(t, path, Options{})
	sameDump(t, "after a conflict and reopen", want, dump(t, s))
}

func TestUpdateAfterCloseFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	closeT(t, s)
	if _, _, err := tryAcquire(s, "a", "k", "h", 0); errCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("Update after Close: %v, want code %s", err, lock.EUNAVAILABLE)
	}
	if err := s.Ready(context.Background()); errCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("Ready after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestUpdateContextCancelledWhileWaiting(t *testing.T) {
	// A change waiting behind another change to the same lock gives up
	// when its context ends, and changes nothing.
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	started := make(chan struct{})
	unblock := make(chan struct{})
	var once sync.Once
	s.Watch(func(string, []lock.Event) {
		once.Do(func() {
			close(started)
			<-unblock // hold the commit loop after the first commit
		})
	})
	results := make(chan error, 2)
	go func() {
		_, _, err := tryAcquire(s, "z", "k", "h", 0)
		results <- err
	}()
	<-started
	// The commit loop is held, so this change to "a" stays queued.
	go func() {
		_, _, err := tryAcquire(s, "a", "k", "h", 0)
		results <- err
	}()
	eventually(t, "the change to a to be queued", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		e := s.locks["a"]
		return e != nil && e.pending != nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, _, err := s.Update(ctx, "a", acquireM(lock.Request{Key: "k", Holder: "h"}, nil))
		second <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting Update after cancel: %v", err)
	}
	close(unblock)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := getT(t, s, "a"); l.Holds.Get("h").Count != 1 {
		t.Fatalf("after a cancelled change: %+v", l)
	}
}

// model replays events in order and checks that each is consistent with the
// lock's state before it, as a serial execution of the rules would be.
type model struct {
	key    string
	counts map[string]int
}

func (m *model) apply(ev lock.Event) error {
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	switch ev.Type {
	case lock.Acquired:
		if m.key != "" && m.key != ev.Key {
			return fmt.Errorf("acquired under key %q while held under %q", ev.Key, m.key)
		}
		if got, want := ev.Count, m.counts[ev.Holder]+1; got != want {
			return fmt.Errorf("acquire by %q gives count %d, want %d", ev.Holder, got, want)
		}
		m.key = ev.Key
		m.counts[ev.Holder]++
	case lock.Released:
		if m.key != ev.Key {
			return fmt.Errorf("released under key %q while held under %q", ev.Key, m.key)
		}
		if got, want := ev.Count, m.counts[ev.Holder]-1; got != want || want < 0 {
			return fmt.Errorf("release by %q gives count %d, want %d", ev.Holder, got, want)
		}
		m.counts[ev.Holder]--
		if m.counts[ev.Holder] == 0 {
			delete(m.counts, ev.Holder)
		}
		if len(m.counts) == 0 {
			m.key = ""
		}
	default:
		return fmt.Errorf("unexpected event %q", ev.Type)
	}
	return nil
}

func TestConcurrentUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{CompactBytes: 16 << 10}) // compactions happen under load too

	var wmu sync.Mutex
	perLock := map[string][]lock.Event{}
	s.Watch(func(_ string, evs []lock.Event) {
		wmu.Lock()
		defer wmu.Unlock()
		for _, ev := range evs {
			perLock[ev.Lock] = append(perLock[ev.Lock], ev)
		}
	})

	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	ownWant := make([]int, workers)
	sharedWant := map[string]int{}
	contendedOK := make([]int, workers)
	for g := range workers {
		own := fmt.Sprintf("own-%d", g)
		sharedHolder := fmt.Sprintf("h-%d", g%3)
		for i := range rounds {
			ownWant[g]++
			if i%3 == 2 {
				ownWant[g]--
			}
			sharedWant[sharedHolder]++
			if i%2 == 1 {
				sharedWant[sharedHolder]--
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			contKey := fmt.Sprintf("key-%d", g)
			for i := range rounds {
				if _, _, err := tryAcquire(s, own, "k", "h", 0); err != nil {
					errs <- fmt.Errorf("acquire %s: %w", own, err)
				}
				if i%3 == 2 {
					if _, _, err := tryRelease(s, own, "k", "h"); err != nil {
						errs <- fmt.Errorf("release %s: %w", own, err)
					}
				}
				if _, _, err := tryAcquire(s, "shared", "shared-key", sharedHolder, 0); err != nil {
					errs <- fmt.Errorf("acquire shared: %w", err)
				}
				if i%2 == 1 {
					if _, _, err := tryRelease(s, "shared", "shared-key", sharedHolder); err != nil {
						errs <- fmt.Errorf("release shared: %w", err)
					}
				}
				// Different keys on one lock: at most one key at a time.
				_, _, err := tryAcquire(s, "contended", contKey, contKey, 0)
				switch lock.ErrorCode(err) {
				case "":
					contendedOK[g]++
					if _, _, err := tryRelease(s, "contended", contKey, contKey); err != nil {
						errs <- fmt.Errorf("release contended: %w", err)
					}
				case lock.ECONFLICT:
				default:
					errs <- fmt.Errorf("acquire contended: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	for g := range workers {
		l, _ := getT(t, s, fmt.Sprintf("own-%d", g))
		if got := l.Holds.Get("h").Count; got != ownWant[g] {
			t.Errorf("own-%d count %d, want %d", g, got, ownWant[g])
		}
	}
	shared, _ := getT(t, s, "shared")
	if got := shared.Counts(); fmt.Sprint(got) != fmt.Sprint(sharedWant) {
		t.Errorf("shared counts %v, want %v", got, sharedWant)
	}
	if c, ok := getT(t, s, "contended"); !ok || !c.Free() {
		t.Errorf("contended should end free: %+v", c)
	}
	total := 0
	for _, n := range contendedOK {
		total += n
	}
	if total == 0 {
		t.Error("no worker ever got the contended lock")
	}

	// Every committed change reached Watch, per lock in an order that a
	// serial execution could have produced, ending in the stored state.
	wmu.Lock()
	for name, evs := range perLock {
		m := &model{}
		for i, ev := range evs {
			if err := m.apply(ev); err != nil {
				t.Errorf("lock %s, event %d: %v", name, i, err)
				break
			}
		}
		l, _ := getT(t, s, name)
		if fmt.Sprint(m.counts) != fmt.Sprint(l.Counts()) || m.key != l.Key {
			t.Errorf("lock %s: events end in key %q counts %v, store has %q %v", name, m.key, m.counts, l.Key, l.Counts())
		}
	}
	if n := len(perLock["contended"]); n != 2*total {
		t.Errorf("contended: %d events, want %d", n, 2*total)
	}
	wmu.Unlock()

	waitCompactionIdle(t, s)
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, Options{})
	sameDump(t, "after reopen", want, dump(t, s))
}

func TestWatchGetsEveryChangeInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	s := openT(t, path, Options{Now: clk.Now})
	var wmu sync.Mutex
	seen := map[string][]lock.Event{}
	calls := 0
	s.Watch(func(name string, evs []lock.Event) {
		wmu.Lock()
		defer wmu.Unlock()
		calls++
		if len(evs) == 0 {
			t.Errorf("watch called for %s with no events", name)
		}
		for _, ev := range evs {
			if ev.Lock != name {
				t.Errorf("watch called for %s with an event of %s", name, ev.Lock)
			}
			seen[ev.Lock] = append(seen[ev.Lock], ev)
		}
	})
	const workers, rounds = 6, 30
	returned := make([][]lock.Event, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w-%d", g)
			for i := range rounds {
				var evs []lock.Event
				var err error
				switch i % 4 {
				case 0, 1:
					_, evs, err = tryAcquire(s, name, "k", fmt.Sprintf("h%d", i%3), 0)
				case 2:
					_, evs, err = tryRelease(s, name, "k", "h0")
				case 3:
					// Releases by a holder with nothing: no change, no event.
					_, evs, err = tryRelease(s, name, "k", "nobody")
				}
				if err != nil {
					t.Error(err)
					return
				}
				returned[g] = append(returned[g], evs...)
			}
		}()
	}
	wg.Wait()
	wmu.Lock()
	defer wmu.Unlock()
	changes := 0
	for g := range workers {
		name := fmt.Sprintf("w-%d", g)
		got, want := seen[name], returned[g]
		changes += len(want)
		if len(got) != len(want) {
			t.Fatalf("%s: watch saw %d events, Update returned %d", name, len(got), len(want))
		}
		for i := range want {
			if !sameEvent(got[i], want[i]) {
				t.Fatalf("%s event %d: watch saw %+v, Update returned %+v", name, i, got[i], want[i])
			}
		}
		h, _ := s.History(context.Background(), name)
		for i := range h {
			if !sameEvent(h[i], want[i]) {
				t.Fatalf("%s history %d: %+v, want %+v", name, i, h[i], want[i])
			}
		}
	}
	if calls != changes {
		t.Fatalf("watch called %d times for %d changes (one event each)", calls, changes)
	}
}

func sameEvent(a, b lock.Event) bool {
	return a.Type == b.Type && a.Lock == b.Lock && a.Key == b.Key && a.Holder == b.Holder &&
		a.Count == b.Count && a.Fence == b.Fence && a.Time.Equal(b.Time) && a.Expires.Equal(b.Expires) && a.By == b.By
}

func TestForceReleaseAndExpireSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	opts := Options{Now: clk.Now}
	s := openT(t, path, opts)
	acquire(t, s, "f", "k", "a", 0)
	acquire(t, s, "f", "k", "b", 0)
	if _, evs, err := s.Update(context.Background(), "f", func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.ForceRelease(l, "operator", env)
	}); err != nil || len(evs) != 2 {
		t.Fatalf("force release: %v %v", evs, err)
	}
	acquire(t, s, "e", "k", "a", time.Millisecond) // the fake clock passes it at once
	if _, evs, err := s.Update(context.Background(), "e", func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.Expire(l, env.Now)
	}); err != nil || len(evs) != 1 || evs[0].Type != lock.Expired {
		t.Fatalf("expire: %v %v", evs, err)
	}
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "after reopen", want, dump(t, s))
	for _, n := range []string{"e", "f"} {
		if l, ok := getT(t, s, n); !ok || !l.Free() {
			t.Fatalf("%s should be free after reopen: %+v", n, l)
		}
	}
}

// TestSymlinkNamesTheSameStore: the lock file and the log segments are
// named after the snapshot's real path, so a server started on a symlink
// to another's file (or through a symlinked directory) is refused as a
// second server on the same file.
func TestSymlinkNamesTheSameStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "deploy", "A", "A", 0)
	link := filepath.Join(dir, "link.yml")
	if err := os.Symlink("locks.yml", link); err != nil {
		t.Fatal(err)
	}
	linkDir := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(dir, linkDir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, filepath.Join(linkDir, "locks.yml"), filepath.Join(linkDir, "link.yml")} {
		if s2, err := Open(p, Options{}); err == nil {
			s2.Close()
			t.Errorf("Open(%s) beside the open store succeeded", p)
		} else if !strings.Contains(err.Error(), "in use") {
			t.Errorf("Open(%s): %v, want in use", p, err)
		}
	}
	closeT(t, s)
	// Through the link, the same store.
	s = openT(t, link, Options{})
	if l, ok := getT(t, s, "deploy"); !ok || l.Key != "A" {
		t.Fatalf("through the symlink: %+v", l)
	}
	closeT(t, s)
	if _, err := os.Lstat(link + ".lock"); err == nil {
		t.Error("a lock file named after the link")
	}
}

// TestSymlinkToAFileNotMadeYet: a link whose target does not exist yet (a
// first start, with the data file to be made on a volume) names the
// target: the store is made there, the link stays a link, and a server
// started on the target is refused as a second one.
func TestSymlinkToAFileNotMadeYet(t *testing.T) {
	etc, data := t.TempDir(), t.TempDir()
	target := filepath.Join(data, "locks.yml")
	link := filepath.Join(etc, "locks.yml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(etc, "chain.yml") // a relative link to the link
	if err := os.Symlink("locks.yml", chain); err != nil {
		t.Fatal(err)
	}
	s := openT(t, chain, Options{})
	acquire(t, s, "prod", "A", "A", 0)
	if s2, err := Open(target, Options{}); err == nil {
		s2.Close()
		t.Fatal("a second store on the link's target opened beside the first")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Open(target): %v, want in use", err)
	}
	closeT(t, s)
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", info, err)
	}
	s = openT(t, target, Options{})
	if l, ok := getT(t, s, "prod"); !ok || l.Key != "A" {
		t.Fatalf("at the target: %+v", l)
	}
}

// TestRemovedLockFileStillRefusesASecondStore: the lock file can be
// removed while the server runs (a cleaner of old files in /tmp, a
// mistaken rm). A second store on the same file must still be refused:
// the snapshot is locked too, also after compactions replace it.
func TestRemovedLockFileStillRefusesASecondStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{CompactBytes: 1024})
	acquire(t, s, "prod", "A", "A", 0)
	secondRefused := func(when string) {
		t.Helper()
		os.Remove(path + ".lock")
		if s2, err := Open(path, Options{}); err == nil {
			s2.Close()
			t.Fatalf("%s: a second store opened on the file after its lock file was removed", when)
		} else if !strings.Contains(err.Error(), "in use") {
			t.Fatalf("%s: second Open: %v, want in use", when, err)
		}
	}
	secondRefused("a new store")
	for range 3 {
		churn(t, s, "m", 20)
		waitCompactionIdle(t, s)
	}
	if snapshotHeaderOf(t, path).LogGen < 2 {
		t.Fatal("no compaction happened")
	}
	secondRefused("after compactions")
	closeT(t, s)
	s = openT(t, path, Options{})
	if l, ok := getT(t, s, "prod"); !ok || l.Key != "A" {
		t.Fatalf("after a reopen: %+v", l)
	}
	secondRefused("a reopened store")
}

// TestSymlinkDotDotAfterALinkedDirectory: "sub/.." after a linked sub is
// where the link points's parent, as the kernel resolves it, not the
// directory holding sub: the store must be made where a server opening
// the link's target by its real path would look.
func TestSymlinkDotDotAfterALinkedDirectory(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"conf", "deep/a/b"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../deep/a/b", filepath.Join(root, "conf", "sub")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "conf", "data.yml")
	if err := os.Symlink("sub/../target.yml", link); err != nil {
		t.Fatal(err)
	}
	s := openT(t, link, Options{})
	acquire(t, s, "deploy", "alice", "alice", 0)
	target := filepath.Join(root, "deep", "a", "target.yml")
	if _, err := os.Stat(target); err != nil {
		t.Fatalf("the store is not at the link's target %s: %v", target, err)
	}
	if s2, err := Open(target, Options{}); err == nil {
		s2.Close()
		t.Fatal("a second store on the link's target opened beside the first")
	}
}

// TestRelativeDotDotInLockerConfig: LOCKER_CONFIG itself may hold ".."
// after a linked directory; it is resolved by the file system too.
func TestRelativeDotDotInLockerConfig(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deep", "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "deep", "a", "b"), filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	s := openT(t, root+"/sub/../x.yml", Options{})
	closeT(t, s)
	if _, err := os.Stat(filepath.Join(root, "deep", "a", "x.yml")); err != nil {
		t.Fatalf("the store is not where the kernel resolves sub/../x.yml: %v", err)
	}
}

// TestSecondStoreRefusedWhileTheSnapshotIsReplaced: a second store may open
// the snapshot just before the running one's compaction puts a new one in
// its place and lets go of the old: its lock on the old file proves
// nothing, and it must look again and be refused.
func TestSecondStoreRefusedWhileTheSnapshotIsReplaced(t *testing.T) {
	// The store's own check of its snapshot (checkSnapshot) must not run
	// while the test plays its compaction.
	setVar(t, &snapshotCheckEvery, time.Hour)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "deploy", "alice", "alice", 0)
	os.Remove(path + ".lock")
	afterSnapshotOpen = func() {
		// What a compaction does at its end: a new snapshot, locked,
		// renamed into place; the old one let go.
		afterSnapshotOpen = nil
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path+".new", b)
		f, err := os.Open(path + ".new")
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
		old := s.snapFile // only compaction and Close use it: neither runs now
		info, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		s.snapFile, s.snapInfo = f, info
		old.Close()
	}
	defer func() { afterSnapshotOpen = nil }()
	if s2, err := Open(path, Options{}); err == nil {
		s2.Close()
		t.Fatal("a second store opened while the snapshot was replaced")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v, want in use", err)
	}
}

// TestMinFenceIsKept: a counter raised by MinFence (locker migrate: the
// source's counter) is kept without a record carrying it, in a new store
// and in one with locks, so that a restart before the next grant does not
// go back below it.
func TestMinFenceIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{MinFence: 500})
	if got := s.Fence(); got != 500 {
		t.Fatalf("Fence of a new store opened with MinFence 500: %d", got)
	}
	closeT(t, s)
	s = openT(t, path, Options{})
	if got := s.Fence(); got != 500 {
		t.Fatalf("Fence after a reopen: %d, want 500", got)
	}
	if l := acquire(t, s, "x", "k", "h", 0); l.Fence != 501 {
		t.Fatalf("first grant after MinFence 500: fence %d", l.Fence)
	}
	closeT(t, s)
	// A lower MinFence changes nothing; a higher one raises it again.
	s = openT(t, path, Options{MinFence: 10})
	if got := s.Fence(); got != 501 {
		t.Fatalf("Fence after MinFence 10: %d, want 501", got)
	}
	closeT(t, s)
	s = openT(t, path, Options{MinFence: 7000})
	closeT(t, s)
	s = openT(t, path, Options{})
	defer closeT(t, s)
	if got := s.Fence(); got != 7000 {
		t.Fatalf("Fence after MinFence 7000 and a reopen: %d", got)
	}
	if l, _, _ := s.Get(context.Background(), "x"); l.Fence != 501 || l.Free() {
		t.Fatalf("the lock after the raises: %+v", l)
	}
}
