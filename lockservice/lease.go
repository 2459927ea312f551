package lockservice

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// leases expires holds when their lease runs out. The rules also expire stale
// holds whenever a lock is touched; this makes expiry happen on time for
// locks nobody touches, so listings, history and events show it.
type leases struct {
	expire func(ctx context.Context, name string) (time.Time, error)
	// now is the clock the expiries are compared with (Config.Now): the
	// store's. Only the pause until the next check is timed by the
	// monotonic clock.
	now func() time.Time

	mu  sync.Mutex
	due dueHeap
	// next is, per lock, the time of its check in due: one check per
	// lock, the earliest asked for. A check finds the lock's next expiry
	// from the store, so a later one would add nothing; items in due for
	// a lock at another time are left over from before, and dropped.
	next map[string]time.Time
	// skew is, per lock whose lease has run out by this server's clock
	// and not by the store's, the pause before looking again.
	skew map[string]time.Duration
	kick chan struct{}
}

func newLeases(expire func(context.Context, string) (time.Time, error), now func() time.Time) *leases {
	return &leases{expire: expire, now: now, next: map[string]time.Time{}, skew: map[string]time.Duration{}, kick: make(chan struct{}, 1)}
}

// watch schedules a check of the lock at t (zero: nothing to do), unless
// one is due no later.
func (ls *leases) watch(name string, t time.Time) {
	ls.mu.Lock()
	first := ls.watchLocked(name, t)
	ls.mu.Unlock()
	if first {
		select {
		case ls.kick <- struct{}{}:
		default:
		}
	}
}

// watchLocked is watch with ls.mu held, without waking the watcher: it
// reports whether the check is now the first due.
func (ls *leases) watchLocked(name string, t time.Time) (first bool) {
	if t.IsZero() {
		return false
	}
	if at, ok := ls.next[name]; ok && !t.Before(at) {
		return false
	}
	ls.next[name] = t
	heap.Push(&ls.due, dueItem{name: name, at: t})
	first = ls.due[0].name == name && ls.due[0].at.Equal(t)
	ls.tidy()
	return first
}

// forget drops the lock's check, if any: the lock is gone (forgotten,
// so free), and a check left until its old lease would have run out would
// keep its name in memory for as long — for good, with the longest ttls.
// Taken again, the lock is watched again.
func (ls *leases) forget(name string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	// A check under way (its lock read before it was forgotten) may
	// set it again; it then watches the lock again, and its next check,
	// finding the lock gone, drops it.
	delete(ls.skew, name)
	if _, ok := ls.next[name]; !ok {
		return
	}
	delete(ls.next, name)
	ls.tidy()
}

// tidy drops the left-over items of due (those next no longer names) once
// they outnumber the checks due: a lock whose lease is shortened again and
// again, or many locks forgotten, would otherwise leave them piling up
// until their times. Linear, and run only once as many items as are live
// (and a few) have been left over since: amortised, constant a change.
// ls.mu is held.
func (ls *leases) tidy() {
	if len(ls.due) <= 2*len(ls.next)+tidySlack {
		return
	}
	// A new array: the old one, grown by the pile, is let go.
	live := make(dueHeap, 0, len(ls.next)+tidySlack)
	for _, item := range ls.due {
		if at, ok := ls.next[item.name]; ok && at.Equal(item.at) {
			live = append(live, item)
		}
	}
	ls.due = live
	heap.Init(&ls.due)
}

// tidySlack is how many left-over items due may hold beyond as many as
// there are checks, before tidy drops them.
const tidySlack = 64

func (ls *leases) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ls.mu.Lock()
		var next time.Duration = time.Hour
		var name string
		for len(ls.due) > 0 {
			if next = ls.due[0].at.Sub(ls.now()); next > 0 {
				break
			}
			item := heap.Pop(&ls.due).(dueItem)
			if at, ok := ls.next[item.name]; ok && at.Equal(item.at) {
				delete(ls.next, item.name)
				name = item.name
				break
			}
			// Left over: an earlier check of the lock replaced it.
			next = time.Hour
		}
		ls.mu.Unlock()
		if name != "" {
			at, err := ls.expire(ctx, name)
			now := ls.now()
			if err != nil {
				// The store is failing: try again shortly.
				at = now.Add(time.Second)
			}
			// Under ls.mu with the check it schedules: a forget comes
			// before both or after both (see forget).
			ls.mu.Lock()
			switch {
			case at.IsZero() || at.After(now):
				delete(ls.skew, name)
			default:
				// Run out by this server's clock, not by the store's
				// (a replica ahead of the database): the clocks
				// disagree. Look again later each time, up to a
				// second, so as not to ask the store a hundred times
				// a second until its clock catches up.
				d := max(ls.skew[name], minSkewWait)
				ls.skew[name] = min(2*d, maxSkewWait)
				at = now.Add(d)
			}
			ls.watchLocked(name, at) // this loop looks at due next
			ls.mu.Unlock()
			continue
		}
		timer.Reset(next)
		select {
		case <-timer.C:
		case <-ls.kick:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// maxSkewWait is the longest pause before the lease watcher looks again
// at a lease that has run out by this server's clock and not by the
// store's.
const maxSkewWait = time.Second

type dueItem struct {
	name string
	at   time.Time
}

type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
