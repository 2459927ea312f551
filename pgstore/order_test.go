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
	o.deliver("a", 1, ev(1)) // a lock's first version goes at once
	o.deliver("a", 3, ev(3)) // early: held for 2
	o.deliver("b", 1, ev(1)) // other locks are not held up
	o.deliver("a", 4, ev(4))
	if got, want := r.seen(), []string{"a:1", "b:1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before 2 arrives: %v, want %v", got, want)
	}
	r.mu.Lock()
	wakes := r.wakes
	r.mu.Unlock()
	if wakes != 2 {
		t.Fatalf("held changes woke the watcher %d times, want 2", wakes)
	}
	o.deliver("a", 2, ev(2))
	if got, want := r.seen(), []string{"a:1", "b:1", "a:2", "a:3", "a:4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after 2 arrives: %v, want %v", got, want)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.held) != 0 {
		t.Fatalf("still held: %v", o.held)
	}
}

func TestOrderGivesUpOnALostChange(t *testing.T) {
	r := &recorder{}
	o := newOrder(r.emit)
	// The first change seen of a lock that existed before (version 7):
	// held, in case 6 is on its way; then 6 comes.
	o.deliver("b", 7, ev(7))
	o.deliver("b", 6, ev(6))
	o.deliver("a", 1, ev(1))
	o.deliver("a", 4, ev(4)) // 2 and 3 never arrive
	o.deliver("a", 3, ev(3))
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
	o.deliver("a", 2, ev(2))
	o.deliver("a", 5, ev(5))
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
	o.deliver("a", 1, ev(1))
	o.deliver("a", 3, ev(3)) // gap 2: its timer starts
	c.advance(holdBack * 7 / 10)
	o.deliver("a", 2, ev(2))     // gap filled
	o.deliver("a", 5, ev(5))     // gap 4: held a whole holdBack from now
	c.advance(holdBack * 5 / 10) // past the first gap's holdBack
	if got, want := r.seen(), []string{"a:1", "a:2", "a:3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("past the first gap's hold-back: %v, want %v (5 still held for 4)", got, want)
	}
	o.deliver("a", 4, ev(4))
	if got, want := r.seen(), []string{"a:1", "a:2", "a:3", "a:4", "a:5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// The second gap's own timer, had 4 not come, gives up at its holdBack.
	o.deliver("a", 7, ev(7))
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
