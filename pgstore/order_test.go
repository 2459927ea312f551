package pgstore

import (
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// recorder collects what order passes on, as "name:version".
type recorder struct {
	mu    sync.Mutex
	got   []string
	wakes int // calls without events
}

func (r *recorder) emit(name string, events []lock.Event) {
	if events == nil {
		r.mu.Lock()
		r.wakes++
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s:%d", name, events[0].Fence))
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func ev(version int64) []lock.Event { return []lock.Event{{Fence: uint64(version)}} }

func TestOrderPassesChangesOnInVersionOrder(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	o.deliver("a", 1, 1, ev(1)) // a lock's first version goes at once
	o.deliver("a", 1, 3, ev(3)) // early: held for 2
	o.deliver("b", 1, 1, ev(1)) // other locks are not held up
	o.deliver("a", 1, 4, ev(4))
	if got, want := r.seen(), []string{"a:1", "b:1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before 2 arrives: %v, want %v", got, want)
	}
	r.mu.Lock()
	wakes := r.wakes
	r.mu.Unlock()
	if wakes != 2 {
		t.Fatalf("held changes woke the watcher %d times, want 2", wakes)
	}
	o.deliver("a", 1, 2, ev(2))
	if got, want := r.seen(), []string{"a:1", "b:1", "a:2", "a:3", "a:4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after 2 arrives: %v, want %v", got, want)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, tr := range o.locks {
		if len(tr.held) != 0 || tr.timer != nil {
			t.Fatalf("%s: still held: %v", name, tr.held)
		}
	}
}

func TestOrderGivesUpOnALostChange(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	// The first change seen of a lock that existed before (version 7):
	// held, in case 6 is on its way; then 6 comes.
	o.deliver("b", 1, 7, ev(7))
	o.deliver("b", 1, 6, ev(6))
	o.deliver("a", 1, 1, ev(1))
	o.deliver("a", 1, 4, ev(4)) // 2 and 3 never arrive
	o.deliver("a", 1, 3, ev(3))
	deadline := time.Now().Add(10 * time.Second)
	for len(r.seen()) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := r.seen()[:1], []string{"a:1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v first", r.seen(), want)
	}
	if got, want := r.seen()[1:], []string{"a:3", "a:4", "b:6", "b:7"}; !reflect.DeepEqual(sorted(got), want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// 2 turns up after all: passed on late rather than dropped; 5 follows
	// 4 at once.
	o.deliver("a", 1, 2, ev(2))
	o.deliver("a", 1, 5, ev(5))
	if got, want := r.seen()[5:], []string{"a:2", "a:5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// sorted orders "name:version" strings by name, keeping each name's order.
func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.SliceStable(out, func(i, j int) bool { return out[i][:1] < out[j][:1] })
	return out
}

// A hold-back timer belongs to the gap it was started for: once that gap
// is filled, a later gap gets a whole holdBack of its own. The timers run
// on a clock the test moves, so the test does not depend on how fast the
// machine sleeps.
func TestOrderTimerPerGap(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	c := &testClock{}
	o.afterFunc = c.afterFunc
	o.deliver("a", 1, 1, ev(1))
	o.deliver("a", 1, 3, ev(3)) // gap 2: its timer starts
	c.advance(holdBack * 7 / 10)
	o.deliver("a", 1, 2, ev(2))  // gap filled
	o.deliver("a", 1, 5, ev(5))  // gap 4: held a whole holdBack from now
	c.advance(holdBack * 5 / 10) // past the first gap's holdBack
	if got, want := r.seen(), []string{"a:1", "a:2", "a:3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("past the first gap's hold-back: %v, want %v (5 still held for 4)", got, want)
	}
	o.deliver("a", 1, 4, ev(4))
	if got, want := r.seen(), []string{"a:1", "a:2", "a:3", "a:4", "a:5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// The second gap's own timer, had 4 not come, gives up at its holdBack.
	o.deliver("a", 1, 7, ev(7))
	c.advance(holdBack - time.Nanosecond)
	if got := r.seen(); len(got) != 5 {
		t.Fatalf("given up before holdBack: %v", got)
	}
	c.advance(time.Nanosecond)
	if got, want := r.seen()[5:], []string{"a:7"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("at holdBack: %v, want %v", got, want)
	}
}

// testClock runs hold-back timers when the test moves it on.
type testClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*testTimer
}

type testTimer struct {
	c       *testClock
	at      time.Duration
	f       func()
	stopped bool // stopped or fired, under c.mu
}

func (c *testClock) afterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	tt := &testTimer{c: c, at: c.now + d, f: f}
	c.timers = append(c.timers, tt)
	return tt
}

func (tt *testTimer) Stop() bool {
	tt.c.mu.Lock()
	defer tt.c.mu.Unlock()
	was := !tt.stopped
	tt.stopped = true
	return was
}

// advance moves the clock on by d and runs the timers due, in order.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	var due []*testTimer
	for _, tt := range c.timers {
		if !tt.stopped && tt.at <= c.now {
			tt.stopped = true
			due = append(due, tt)
		}
	}
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at < due[j].at })
	for _, tt := range due {
		tt.f() // as time.AfterFunc does, without the clock's lock held
	}
}

// lv is a change of lifetime l at version v, seen as "name:l0v" (l*100+v);
// gone is its lifetime's forgotten.
func lv(l, v int64) []lock.Event { return []lock.Event{{Fence: uint64(l*100 + v)}} }
func gone(l, v int64) []lock.Event {
	return []lock.Event{{Type: lock.Forgotten, Fence: uint64(l*100 + v)}}
}

// A lock forgotten and made again (a new lifetime, versions from 1 again)
// is passed on as it happened: every change of the old lifetime, its
// forgotten last, then the new one's, whichever arrives first.
func TestOrderLifetimes(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	c := &testClock{}
	o.afterFunc = c.afterFunc
	o.deliver("a", 1, 1, lv(1, 1))
	o.deliver("a", 1, 2, lv(1, 2))
	// The new lifetime's first changes arrive before the old one's
	// forgotten (another replica's): held, though version 1 follows
	// nothing and 2 is not past what was passed on.
	o.deliver("a", 5, 1, lv(5, 1))
	o.deliver("a", 5, 2, lv(5, 2))
	if got, want := r.seen(), []string{"a:101", "a:102"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before the forgotten arrives: %v, want %v", got, want)
	}
	o.deliver("a", 1, 3, gone(1, 3))
	if got, want := r.seen(), []string{"a:101", "a:102", "a:103", "a:501", "a:502"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the forgotten: %v, want %v", got, want)
	}
	// Forgotten again; the next lifetime's version 2 arrives before its 1.
	o.deliver("a", 5, 3, gone(5, 3))
	o.deliver("a", 9, 2, lv(9, 2))
	o.deliver("a", 9, 1, lv(9, 1))
	if got, want := r.seen()[5:], []string{"a:503", "a:901", "a:902"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the next lifetime: %v, want %v", got, want)
	}
	// A change of an old lifetime that turns up late is passed on late,
	// not held.
	o.deliver("a", 5, 2, lv(5, 2))
	if got, want := r.seen()[8:], []string{"a:502"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("a late change of an old lifetime: %v, want %v", got, want)
	}
	o.mu.Lock()
	if tr := o.locks["a"]; len(tr.held) != 0 || tr.timer != nil {
		t.Errorf("still held: %v", tr.held)
	}
	o.mu.Unlock()
}

// A new lifetime held for an old one's forgotten that never comes (a lost
// notification) is passed on after holdBack, and what follows it at once;
// the forgotten, should it come after all, late.
func TestOrderLifetimeGivesUpOnALostForget(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	c := &testClock{}
	o.afterFunc = c.afterFunc
	o.deliver("a", 1, 1, lv(1, 1))
	o.deliver("a", 4, 1, lv(4, 1))
	c.advance(holdBack - time.Nanosecond)
	if got, want := r.seen(), []string{"a:101"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before holdBack: %v, want %v", got, want)
	}
	c.advance(time.Nanosecond)
	o.deliver("a", 4, 2, lv(4, 2))
	o.deliver("a", 1, 2, gone(1, 2))
	if got, want := r.seen(), []string{"a:101", "a:401", "a:402", "a:102"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A change whose announcement came without its events (missed) takes its
// place: the changes after it are passed on at once, not held back for
// it, and a missed forget ends its lifetime as a forgotten does.
func TestOrderMissedChangeTakesItsPlace(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	c := &testClock{} // never moved on: nothing is given up on
	o.afterFunc = c.afterFunc
	o.deliver("a", 1, 1, lv(1, 1))
	o.deliver("a", 1, 3, lv(1, 3))
	o.missed("a", 1, 2, false)
	o.deliver("a", 4, 1, lv(4, 1))
	o.missed("a", 1, 4, true)
	if got, want := r.seen(), []string{"a:101", "a:103", "a:401"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	o.deliver("a", 4, 2, lv(4, 2))
	if got, want := r.seen(), []string{"a:101", "a:103", "a:401", "a:402"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Changes announced by an older Locker say no lifetime: they are taken as
// of the lifetime the lock is in, and, once it is forgotten, of the next,
// as versions alone were read before.
func TestOrderOlderLockersChanges(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	c := &testClock{}
	o.afterFunc = c.afterFunc
	o.deliver("a", 0, 1, lv(0, 1))
	o.deliver("a", 3, 2, lv(3, 2)) // a newer Locker's change of the same row
	o.deliver("a", 0, 4, lv(0, 4)) // early: held for 3
	o.deliver("a", 3, 3, lv(3, 3))
	o.deliver("a", 0, 5, gone(0, 5))
	o.deliver("a", 0, 1, lv(0, 1)) // the lock made again by an older Locker
	o.deliver("a", 7, 2, lv(7, 2))
	want := []string{"a:1", "a:302", "a:303", "a:4", "a:5", "a:1", "a:702"}
	if got := r.seen(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if c.timers != nil {
		for _, tt := range c.timers {
			if !tt.stopped {
				t.Errorf("a timer still runs: nothing should be held")
			}
		}
	}
}

// A forgotten lock is remembered for forgetAfter (to tell its late changes
// from a new lifetime's), then not at all.
func TestOrderForgetsForgottenLocks(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	c := &testClock{}
	o.afterFunc = c.afterFunc
	o.deliver("a", 1, 1, lv(1, 1))
	o.deliver("a", 1, 2, gone(1, 2))
	o.deliver("b", 1, 1, lv(1, 1))
	c.advance(forgetAfter)
	o.mu.Lock()
	_, a := o.locks["a"]
	_, b := o.locks["b"]
	o.mu.Unlock()
	if a || !b {
		t.Fatalf("after forgetAfter: a remembered %v, b %v; want a forgotten, b kept", a, b)
	}
	// Made again before forgetAfter ran out: kept.
	o.deliver("b", 1, 2, gone(1, 2))
	c.advance(forgetAfter / 2)
	o.deliver("b", 2, 1, lv(2, 1))
	c.advance(forgetAfter)
	o.mu.Lock()
	_, b = o.locks["b"]
	o.mu.Unlock()
	if !b {
		t.Fatalf("b, made again, was forgotten")
	}
}
