package filestore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// withFrameLimit makes the store's frames at most n bytes of payload for
// the test.
func withFrameLimit(t *testing.T, n int) {
	old := frameLimit
	frameLimit = n
	t.Cleanup(func() { frameLimit = old })
}

// frameSizes lists the payload sizes of the frames of a snapshot or log
// segment, as their headers give them.
func frameSizes(t *testing.T, path, magic string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := checkMagic(b, magic)
	if !ok {
		t.Fatalf("%s: no magic", path)
	}
	var sizes []int
	for len(b) >= frameHeader {
		n := int(binary.LittleEndian.Uint32(b))
		if n == 0 {
			break // preallocated zeros
		}
		sizes = append(sizes, n)
		b = b[min(len(b), frameHeader+n):]
	}
	return sizes
}

// TestWorstEventFitsHistoryBound holds MaxHistoryLimit's arithmetic: the
// longest event the API can make (names of 512 bytes that each escape to
// six) encodes in under 16 KiB, and a snapshot entry of MaxHistoryLimit of
// them with the longest metadata fits a frame with room to spare.
func TestWorstEventFitsHistoryBound(t *testing.T) {
	t.Parallel() // sets no package variable (frameLimit, readWindow, hooks): beside the others, after the serial tests that do (CI time)
	if frameLimit != maxFrame {
		t.Fatalf("the store writes frames of up to %d bytes, recovery reads %d", frameLimit, maxFrame)
	}
	name := strings.Repeat("<", lock.MaxNameLen)
	far := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60)))
	ev := lock.Event{Type: lock.Refreshed, Lock: name, Key: name, Holder: name, Count: lock.MaxCount, Fence: math.MaxUint64,
		Time: far, Expires: far, By: name, Pool: name}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 16<<10 {
		t.Fatalf("the worst event takes %d bytes, over the 16 KiB MaxHistoryLimit assumes", len(b))
	}
	if MaxHistoryLimit*(16<<10) > maxFrame/2 {
		t.Fatalf("%d events of 16 KiB take more than half a frame", MaxHistoryLimit)
	}
	history := make([]lock.Event, MaxHistoryLimit)
	for i := range history {
		history[i] = ev
	}
	meta := json.RawMessage(`"` + strings.Repeat("<", lock.MaxMetadata-2) + `"`)
	se := snapshotEntry{Lock: diskLock{Name: name, Key: name, Fence: math.MaxUint64, Since: far, FreeSince: far, Pools: []string{name}, Metadata: meta}, History: history}
	se.Lock.Holds.Set(name, lock.Hold{Count: lock.MaxCount, Acquired: far, Expires: far})
	if n := len(appendSnapshotFrame(nil, &se)) - frameHeader; n > maxFrame*3/4 {
		t.Fatalf("a snapshot entry of the worst events takes %d bytes of a frame's %d", n, maxFrame)
	}
}

// TestSnapshotNeverWritesAFrameTooLong: a lock whose entry would be longer
// than a frame recovery reads keeps in the snapshot only its newest events
// that fit, with a warning, instead of a snapshot the next start refuses
// ("frame checksum or length is wrong") after the log that could have
// replaced it is gone.
func TestSnapshotNeverWritesAFrameTooLong(t *testing.T) {
	const limit = 32 << 10
	withFrameLimit(t, limit)
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	opts := Options{HistoryLimit: 1000, Logger: logger}
	s := openT(t, path, opts)
	holder := strings.Repeat("h", 200)
	for range 150 { // 300 events of about 300 bytes: 90 KB of history
		acquire(t, s, "busy", "k", holder, 0)
		release(t, s, "busy", "k", holder)
	}
	acquire(t, s, "quiet", "k", "h", 0)
	want, _ := s.History(context.Background(), "busy")
	closeT(t, s)

	opts.CompactBytes = 1
	s = openT(t, path, opts)
	acquire(t, s, "quiet", "k", "h", 0) // a change, and a snapshot after it
	compacted(t, s, path)
	closeT(t, s)
	for i, n := range frameSizes(t, path, snapshotMagic) {
		if n > limit {
			t.Fatalf("snapshot frame %d holds %d bytes; recovery reads at most %d", i, n, limit)
		}
	}
	if !strings.Contains(logs.String(), "its oldest events are left out") {
		t.Errorf("no warning in the log")
	}
	s = openT(t, path, opts)
	got, _ := s.History(context.Background(), "busy")
	if len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("history after the snapshot: %d events of %d", len(got), len(want))
	}
	for i := range got { // the newest
		if !sameEvent(got[len(got)-1-i], want[len(want)-1-i]) {
			t.Fatalf("event %d from the end: %+v, want %+v", i, got[len(got)-1-i], want[len(want)-1-i])
		}
	}
	if l, _ := getT(t, s, "quiet"); l.Holds.Get("h").Count != 2 {
		t.Fatalf("the other lock: %+v", l)
	}
}

// TestSnapshotOfALockTooLargeFails: a lock that does not fit a frame even
// without history (only one converted from the original locker's file can
// be) fails the snapshot, naming it, and leaves the one before in place.
func TestSnapshotOfALockTooLargeFails(t *testing.T) {
	withFrameLimit(t, 8<<10)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	big := diskLock{Name: "big", Key: "k"}
	for i := range 200 {
		big.Holds.Set(fmt.Sprintf("holder-%03d-%s", i, strings.Repeat("x", 40)), lock.Hold{Count: 1, Acquired: clockBase})
	}
	err = s.writeSnapshot(1, 1, []snapshotEntry{{Lock: diskLock{Name: "a"}}, {Lock: big}})
	if err == nil || !strings.Contains(err.Error(), `lock "big" is too large for a snapshot`) {
		t.Fatalf("writing a snapshot with a lock too large: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the failed snapshot replaced the one before")
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Fatal("the failed snapshot left its temporary file")
	}
}

// TestLogRecordTooLongRefused: a change whose log record would be longer
// than a frame recovery reads is refused (413) and nothing is written,
// instead of a record the next start refuses as damage, or drops as a
// torn tail with the change it acknowledged.
func TestLogRecordTooLongRefused(t *testing.T) {
	const limit = 16 << 10
	withFrameLimit(t, limit)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	holder := strings.Repeat("h", 400)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, _, err = tryAcquire(s, "crowded", "k", fmt.Sprintf("%03d%s", i, holder), 0)
	}
	// Refused as its own record would be too long, or before that as
	// releasing all its holders at once would be (TestCrowdedLockStaysReleasable).
	if errCode(err) != lock.ETOOLARGE || !strings.Contains(err.Error(), "log record") {
		t.Fatalf("a change past the record limit: %v", err)
	}
	crowded, _ := getT(t, s, "crowded")
	if _, _, err := tryAcquire(s, "new", "k", strings.Repeat("n", limit), 0); errCode(err) != lock.ETOOLARGE {
		t.Fatalf("a new lock past the record limit: %v", err)
	}
	if _, ok := getT(t, s, "new"); ok {
		t.Fatal("a refused first change left its lock")
	}
	release(t, s, "crowded", "k", "000"+holder) // the store goes on
	closeT(t, s)
	for i, n := range frameSizes(t, segmentPath(path, 1), logMagic) {
		if n > limit {
			t.Fatalf("log frame %d holds %d bytes; recovery reads at most %d", i, n, limit)
		}
	}
	s = openT(t, path, Options{})
	if l, _ := getT(t, s, "crowded"); len(l.Holds) != len(crowded.Holds)-1 {
		t.Fatalf("after a restart: %d holders, want %d", len(l.Holds), len(crowded.Holds)-1)
	}
}

// TestReleaseBoundHolds: releaseBound is at least the log record of every
// change that only releases, from locks made of the longest and most
// escaped names, many holds and pools, the longest times and counts, and
// holders longer than the API allows (converted from the original
// locker's file): forcing every hold, their leases all running out, and a
// forced removal from a pool. With a small frame limit the bound looks at
// each hold; with the real one it does not.
func TestReleaseBoundHolds(t *testing.T) {
	far := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60)))
	soon := far.Add(-time.Nanosecond) // the longest time that can run out before far
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	shapes := []struct {
		name, key string
		holders   []string
		pools     []string
	}{
		{"db", "k", []string{"h"}, nil},
		{long("<", lock.MaxNameLen), long(">", lock.MaxNameLen), []string{long("&", lock.MaxNameLen)}, []string{long("<", lock.MaxNameLen)}},
		{"db", "k", nil, []string{"p1", "p2"}},
	}
	many := shapes[1]
	many.holders, many.pools = nil, nil
	for i := range 40 {
		many.holders = append(many.holders, fmt.Sprintf("%03d%s", i, long("&", lock.MaxNameLen-3)))
		many.pools = append(many.pools, fmt.Sprintf("%03d%s", i, long("<", lock.MaxNameLen-3)))
	}
	legacy := shapes[0]
	legacy.holders = []string{long("é", 4000), "h", long("\u2028", 2000)}
	shapes = append(shapes, many, legacy)
	for _, limit := range []int{maxFrame, 1 << 10} {
		withFrameLimit(t, limit)
		for i, sh := range shapes {
			l := lock.Lock{Name: sh.name, Fence: math.MaxUint64, Pools: sh.pools, Metadata: json.RawMessage(`{"a":"<<<"}`)}
			if len(sh.holders) > 0 {
				l.Key, l.Since = sh.key, far
			}
			for _, h := range sh.holders {
				l.Holds.Set(h, lock.Hold{Count: lock.MaxCount, Acquired: far})
			}
			made := len(appendRecordFrame(nil, &logRecord{Lock: toDisk(&l), Events: []lock.Event{{Type: lock.Acquired, Lock: l.Name}}, Fence: math.MaxUint64})) - frameHeader
			bound := releaseBound(made, &l)
			// Leases are renewed without a check: given to every hold
			// (LOCKER_MAX_TTL at the next start), then the releases.
			unleased := l.Clone()
			for i := range l.Holds {
				l.Holds[i].Expires = soon
			}
			changes := map[string]func(*lock.Lock) []lock.Event{
				"leases capped": func(m *lock.Lock) []lock.Event {
					*m = unleased.Clone()
					return lock.CapLeases(m, soon.Sub(far.Add(-time.Hour)), lock.Env{Now: far.Add(-time.Hour)})
				},
				"force": func(l *lock.Lock) []lock.Event {
					return lock.ForceRelease(l, long("<", 2*lock.MaxNameLen), lock.Env{Now: far})
				},
				"expiry": func(l *lock.Lock) []lock.Event { return lock.Expire(l, far) },
			}
			if len(sh.pools) > 0 {
				changes["forced removal"] = func(l *lock.Lock) []lock.Event {
					evs, err := lock.RemoveFromPool(l, sh.pools[0], true, long(">", 2*lock.MaxNameLen), lock.Env{Now: far})
					if err != nil {
						t.Fatal(err)
					}
					return evs
				}
			}
			for what, change := range changes {
				next := l.Clone()
				evs := change(&next)
				n := len(appendRecordFrame(nil, &logRecord{Lock: toDisk(&next), Events: evs, Fence: math.MaxUint64})) - frameHeader
				if n > bound {
					t.Errorf("limit %d, shape %d, %s: a record of %d bytes, over the bound of %d", limit, i, what, n, bound)
				}
			}
		}
	}
}

// TestCrowdedLockStaysReleasable: a lock in many pools with long names
// takes shared holders until releasing them all at once would make a log
// record too long for the store; the hold past that is refused (413), and
// the lock can then still be forced, or have its leases run out, and a
// restart reads what was written.
func TestCrowdedLockStaysReleasable(t *testing.T) {
	const limit = 64 << 10
	withFrameLimit(t, limit)
	path := filepath.Join(t.TempDir(), "locks.yml")
	var now atomic.Int64
	now.Store(clockBase.UnixNano())
	s := openT(t, path, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	for i := range 6 {
		pool := fmt.Sprintf("p%d%s", i, strings.Repeat("<", 100))
		if _, _, err := s.Update(context.Background(), "m", func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.AddToPool(l, pool, nil, env)
			if err != nil {
				t.Error(err)
			}
			return events
		}); err != nil {
			t.Fatal(err)
		}
	}
	fill := func() int {
		t.Helper()
		for n := 0; ; n++ {
			_, _, err := tryAcquire(s, "m", "k", fmt.Sprintf("h%02d", n), time.Minute)
			if err == nil {
				continue
			}
			if errCode(err) != lock.ETOOLARGE || !strings.Contains(err.Error(), "releasing them all at once") {
				t.Fatalf("holder %d: %v", n, err)
			}
			if n == 0 {
				t.Fatal("not even one holder fits")
			}
			return n
		}
	}
	held := fill()
	now.Add(int64(2 * time.Minute)) // every lease runs out
	if _, evs, err := tryAcquire(s, "m", "other", "x", 0); err != nil || len(evs) != held+1 {
		t.Fatalf("an acquire by another key once %d leases ran out: %d events, %v", held, len(evs), err)
	}
	release(t, s, "m", "other", "x")
	held = fill()
	if _, evs, err := s.Update(context.Background(), "m", func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.ForceRelease(l, strings.Repeat("<", 600), env)
	}); err != nil || len(evs) != held {
		t.Fatalf("a force of %d holders: %d events, %v", held, len(evs), err)
	}
	closeT(t, s)
	for i, n := range frameSizes(t, segmentPath(path, 1), logMagic) {
		if n > limit {
			t.Fatalf("log frame %d holds %d bytes; recovery reads at most %d", i, n, limit)
		}
	}
	s = openT(t, path, Options{})
	if l, _ := getT(t, s, "m"); !l.Free() || len(l.Pools) != 6 {
		t.Fatalf("after a restart: %+v", l)
	}
	closeT(t, s)
}

// TestRenewalsAtTheLimitAreNotRefused: a lock with as many holders as it
// may have can still have every lease renewed, each one made longer to
// write (a time with nanoseconds), or given (LOCKER_MAX_TTL at the next
// start): renewing never makes a release longer than releaseBound allows
// for, and is not checked (a review found the renewals of a crowded lock
// refused, and their leases left to run out, and a start with
// LOCKER_MAX_TTL refused).
func TestRenewalsAtTheLimitAreNotRefused(t *testing.T) {
	withFrameLimit(t, 1<<20)
	s := openT(t, filepath.Join(t.TempDir(), "locks.yml"), Options{})
	held := 0
	for ; ; held++ {
		if _, _, err := tryAcquire(s, "r", "k", fmt.Sprintf("h%04d", held), 0); err != nil {
			if errCode(err) != lock.ETOOLARGE {
				t.Fatal(err)
			}
			break
		}
	}
	update := func(what string, m lock.Mutation) {
		t.Helper()
		if _, _, err := s.Update(context.Background(), "r", m); err != nil {
			t.Fatalf("%s, with %d holders: %v", what, held, err)
		}
	}
	update("leases given to every hold", func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.CapLeases(l, time.Hour, env)
	})
	for n := range held {
		update(fmt.Sprintf("renewing holder %d", n), func(l *lock.Lock, env lock.Env) []lock.Event {
			ev, _ := lock.Refresh(l, "k", fmt.Sprintf("h%04d", n), time.Hour+time.Duration(n+1)*time.Nanosecond, lock.HoldRef{}, env)
			return ev
		})
	}
	update("a force", func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.ForceRelease(l, strings.Repeat("<", lock.MaxNameLen), env)
	})
	closeT(t, s)
}

// TestStateCopiedInIsChecked: a change that writes a lock's whole state
// (locker migrate, with the lock's history as its events, which may all be
// releases) is checked against releaseBound by what it adds, not by its
// events: in many pools of long names, a lock copied in could otherwise be
// one whose force is refused (a review of releaseBound).
func TestStateCopiedInIsChecked(t *testing.T) {
	const limit = 64 << 10
	withFrameLimit(t, limit)
	s := openT(t, filepath.Join(t.TempDir(), "locks.yml"), Options{})
	held := 0
	for ; ; held++ {
		if _, _, err := tryAcquire(s, "c", "k", fmt.Sprintf("h%03d", held), 0); err != nil {
			break
		}
	}
	l, _ := getT(t, s, "c")
	copied := l.Clone()
	for i := range 4 {
		copied.Pools = append(copied.Pools, fmt.Sprintf("p%d%s", i, strings.Repeat("<", 300)))
	}
	_, _, err := s.Update(context.Background(), "c", func(cur *lock.Lock, env lock.Env) []lock.Event {
		*cur = copied.Clone()
		return []lock.Event{{Type: lock.Released, Lock: "c", Key: "k", Holder: "h000", Time: env.Now}}
	})
	if errCode(err) != lock.ETOOLARGE || !strings.Contains(err.Error(), "releasing them all at once") {
		t.Fatalf("a state copied in past the bound, with only a release for events: %v", err)
	}
	if _, evs, err := s.Update(context.Background(), "c", func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.ForceRelease(l, "op", env)
	}); err != nil || len(evs) != held {
		t.Fatalf("a force of %d holders: %d events, %v", held, len(evs), err)
	}
	closeT(t, s)
}

// TestGrows: the changes checked against releaseBound are those that add
// to what releasing every hold writes, whatever their events.
func TestGrows(t *testing.T) {
	holds := func(names ...string) lock.Holds {
		var hs lock.Holds
		for _, n := range names {
			hs.Set(n, lock.Hold{Count: 1})
		}
		return hs
	}
	prev := lock.Lock{Name: "x", Key: "k", Holds: holds("a", "c"), Pools: []string{"p"}, Metadata: json.RawMessage(`{"m":1}`)}
	with := func(f func(l *lock.Lock)) lock.Lock {
		l := prev.Clone()
		f(&l)
		return l
	}
	released := []lock.Event{{Type: lock.Released}}
	for _, tt := range []struct {
		name   string
		prev   *lock.Lock
		next   lock.Lock
		events []lock.Event
		want   bool
	}{
		{"a hold taken", &prev, prev, []lock.Event{{Type: lock.Acquired}}, true},
		{"a pool added", &prev, prev, []lock.Event{{Type: lock.Added}}, true},
		{"a release", &prev, with(func(l *lock.Lock) { l.Holds.Delete("a") }), released, false},
		{"a renewal", &prev, prev, []lock.Event{{Type: lock.Refreshed}}, false},
		{"the last release", &prev, with(func(l *lock.Lock) { l.Key, l.Holds = "", nil }), released, false},
		{"left a pool", &prev, with(func(l *lock.Lock) { l.Pools = nil }), []lock.Event{{Type: lock.Removed}}, false},
		{"a holder replaced", &prev, with(func(l *lock.Lock) { l.Holds = holds("a", "b") }), released, true},
		{"a holder added after the last", &prev, with(func(l *lock.Lock) { l.Holds = holds("a", "c", "d") }), released, true},
		{"a pool replaced", &prev, with(func(l *lock.Lock) { l.Pools = []string{"q"} }), released, true},
		{"another key", &prev, with(func(l *lock.Lock) { l.Key = "other" }), released, true},
		{"other metadata", &prev, with(func(l *lock.Lock) { l.Metadata = json.RawMessage(`{"m":2}`) }), released, true},
		{"metadata dropped", &prev, with(func(l *lock.Lock) { l.Metadata = nil }), released, false},
		{"a new lock with a hold", nil, prev, released, true},
		{"a new lock, free", nil, lock.Lock{Name: "x"}, released, false},
	} {
		if got := grows(tt.prev, &tt.next, tt.events); got != tt.want {
			t.Errorf("%s: grows = %v, want %v", tt.name, got, tt.want)
		}
	}
}
