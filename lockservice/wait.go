package lockservice

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// waiter is one request waiting for a lock on this server.
type waiter struct {
	lock.Waiter
	ticket lock.Ticket
	wake   chan struct{} // capacity 1: a wake-up is never lost, never blocks
	// since is when the request took its place in line; a kept place
	// taken back keeps it (the wait goes on, in parts). For the metrics.
	since time.Time
	// keptUntil, when set, means the request is gone (its wait ran out)
	// and its place is kept for the same key and holder until then: not
	// a live waiter meanwhile. Local queue only.
	keptUntil time.Time
	// deferredTo names the queues whose waiters w let have its lock (or
	// pool member) first (see queues.deferred). q.mu guards it.
	deferredTo []string
}

func (w *waiter) kept() bool { return !w.keptUntil.IsZero() }

// queues holds the requests waiting on this server: it enforces the limits
// and wakes waiters when their lock changes. The order among waiters — who
// comes first — is the shared queue's when the store has one (several
// servers on one database), this server's arrival order otherwise.
type queues struct {
	perLock, total int
	shared         lock.WaitQueue // nil: order is local

	mu     sync.Mutex
	byName map[string][]*waiter
	n      int // live waiters: what the limits count
	kept   int // kept places (local queue), at most total
	next   lock.Ticket
	// deferred are, by queue, the waiters whose lock (or pool member)
	// was theirs to take but went to an earlier waiter of that queue: of
	// a pool it is in, or by name. Whoever they wait behind is not in their own
	// queue, so they look again when that queue changes (a waiter leaves
	// it, or its lock changes) — and only then: woken by every change of
	// every lock, each would make an attempt for each of them.
	deferred map[string]map[*waiter]struct{}
	// swept is when the kept places that ran out were last dropped from
	// every queue (dropAllKept).
	swept time.Time
}

func newQueues(perLock, total int, shared lock.WaitQueue) *queues {
	return &queues{perLock: perLock, total: total, shared: shared, byName: map[string][]*waiter{}, deferred: map[string]map[*waiter]struct{}{}}
}

// join puts a waiter at the end of the lock's queue, or back in the place
// the same key and holder left with keep (see leave). limited says that
// err is a limit's refusal (MaxWaiters, MaxWaitersPerLock), not the shared
// queue's failure.
func (q *queues) join(ctx context.Context, name, key, holder string) (w *waiter, limited bool, err error) {
	q.mu.Lock()
	now := time.Now()
	q.dropAllKept(now, false)
	q.dropKept(name, now)
	if q.shared == nil {
		// Back in a kept place: its turn was taken before those who
		// fill the queue now came, so the limits do not turn it away.
		for _, x := range q.byName[name] {
			if x.kept() && x.Key == key && x.Holder == holder {
				x.keptUntil = time.Time{}
				q.kept--
				q.n++
				select {
				case <-x.wake:
				default:
				}
				q.mu.Unlock()
				return x, false, nil
			}
		}
	}
	// The limits count live waiters: a kept place is not one.
	if q.n >= q.total {
		q.mu.Unlock()
		return nil, true, lock.Errorf(lock.EUNAVAILABLE, "too many waiting requests on this server (limit %d); try again later", q.total)
	}
	if live(q.byName[name]) >= q.perLock {
		q.mu.Unlock()
		what := fmt.Sprintf("lock %q", name)
		if pool, ok := strings.CutPrefix(name, poolQueuePrefix); ok {
			what = fmt.Sprintf("pool %q", pool)
		}
		return nil, true, lock.Errorf(lock.EUNAVAILABLE, "too many requests waiting for %s (limit %d); try again later", what, q.perLock)
	}
	w = &waiter{Waiter: lock.Waiter{Key: key, Holder: holder}, wake: make(chan struct{}, 1), since: time.Now()}
	q.byName[name] = append(q.byName[name], w)
	q.n++
	q.next++
	w.ticket = q.next
	q.mu.Unlock()
	if q.shared != nil {
		t, err := q.shared.Join(ctx, name, w.Waiter)
		if err != nil {
			q.remove(name, w)
			return nil, false, err
		}
		w.ticket = t
	}
	return w, false, nil
}

// leave takes a waiter out of the queue, and wakes the rest: with it gone,
// one of them may be first in line now. With keep > 0 its place is kept
// that long for the same key and holder: a client that waits in parts
// (the CLI and the resource ask again every few minutes) keeps its turn
// instead of going to the back of the line each time.
func (q *queues) leave(ctx context.Context, name string, w *waiter, keep time.Duration) {
	if q.shared != nil {
		q.shared.Leave(context.WithoutCancel(ctx), name, w.ticket, keep)
		q.remove(name, w)
		return
	}
	if keep <= 0 {
		q.remove(name, w)
		return
	}
	q.mu.Lock()
	now := time.Now()
	q.dropAllKept(now, q.kept >= q.total)
	if q.kept >= q.total {
		// As many places kept as there may be waiters: keep no more.
		q.mu.Unlock()
		q.remove(name, w)
		return
	}
	defer q.mu.Unlock()
	w.keptUntil = now.Add(keep)
	q.n--
	q.kept++
	q.undeferLocked(w)
	q.wakeFirst(name)
	q.wakeDeferred(name)
}

// dropKept forgets the lock's kept places that ran out. q.mu is held.
func (q *queues) dropKept(name string, now time.Time) {
	ws := q.byName[name]
	stay := ws[:0:0]
	for _, x := range ws {
		if x.kept() && now.After(x.keptUntil) {
			q.kept--
			continue
		}
		stay = append(stay, x)
	}
	if len(stay) == len(ws) {
		return
	}
	if len(stay) == 0 {
		delete(q.byName, name)
		return
	}
	q.byName[name] = stay
}

// dropAllKept forgets the kept places that ran out, of every queue, at
// most once every keptSweepEvery: otherwise a place is dropped only when
// its own lock is waited for again, and a server whose clients wait for
// many names, each once, kept every name's queue (up to the limit on
// waiters) for good. Linear in the queues, at most once a second, unless
// now (force: as many places are kept as there may be waiters). q.mu is
// held.
func (q *queues) dropAllKept(now time.Time, force bool) {
	if q.kept == 0 || !force && now.Sub(q.swept) < keptSweepEvery {
		return
	}
	q.swept = now
	for n := range q.byName {
		q.dropKept(n, now)
	}
}

// keptSweepEvery is how often, at most, dropAllKept looks at every queue.
const keptSweepEvery = time.Second

func (q *queues) remove(name string, w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.undeferLocked(w)
	q.wakeDeferred(name)
	ws := q.byName[name]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			q.n--
			break
		}
	}
	if len(ws) == 0 {
		delete(q.byName, name)
		return
	}
	q.byName[name] = ws
	q.wakeFirst(name)
}

// ahead returns the waiters before w (all of them when w is nil).
func (q *queues) ahead(ctx context.Context, name string, w *waiter) ([]lock.Waiter, error) {
	if q.shared != nil {
		var t lock.Ticket
		if w != nil {
			t = w.ticket
		}
		return q.shared.Ahead(ctx, name, t)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []lock.Waiter
	for _, x := range q.byName[name] {
		if x == w {
			break
		}
		if !x.kept() {
			out = append(out, x.Waiter)
		}
	}
	return out, nil
}

// snapshot returns the lock's waiters, oldest first, as a change sees them:
// read by the store with the lock (env.Queue) when the queue is shared, this
// server's otherwise.
func (q *queues) snapshot(name string, env lock.Env) []lock.Queued {
	if q.shared != nil {
		return env.Queue
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []lock.Queued
	for _, x := range q.byName[name] {
		if !x.kept() {
			out = append(out, lock.Queued{Ticket: x.ticket, Waiter: x.Waiter})
		}
	}
	return out
}

// before returns the waiters of queue ahead of w: all of them when w is nil.
func before(queue []lock.Queued, w *waiter) []lock.Waiter {
	var out []lock.Waiter
	for _, x := range queue {
		if w != nil && x.Ticket >= w.ticket {
			break
		}
		out = append(out, x.Waiter)
	}
	return out
}

// wake tells the waiters of the lock (or pool) on this server that may
// have it now to try again (wakeFirst), and those deferred to its waiters.
// Of events, the changes that woke them: a waiter whose key and holder one
// names is woken too, wherever it waits (its holder may have just taken
// the lock under its key, and a holder may always take its lock again).
func (q *queues) wake(name string, events []lock.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.wakeFirst(name)
	if q.shared == nil {
		for _, x := range q.byName[name] {
			for _, ev := range events {
				if ev.Holder != "" && ev.Key == x.Key && ev.Holder == x.Holder {
					wakeOne(x)
					break
				}
			}
		}
	}
	q.wakeDeferred(name)
}

// wakeFirst wakes the waiters of the named queue that may be able to go
// now. With a shared queue, every waiter on this server: the order is the
// store's, and any of them may be first. With this server's own queue,
// those that no earlier waiter must go before: of a pool, the first live
// waiter (a pool waiter never goes before an earlier one); of a lock, the
// first live waiter and those right behind it with its key (lock.MustQueue:
// a waiter behind one with another key waits for it; the holder exception,
// a waiter whose holder holds the lock under its key, is woken by the change
// that gave it that hold, see wake). The rest would each make an attempt
// that must fail: with hundreds of waiters on a lock, at every hand-off.
// q.mu is held.
func (q *queues) wakeFirst(name string) {
	ws := q.byName[name]
	if q.shared != nil {
		wakeAll(ws)
		return
	}
	first := -1
	for i, x := range ws {
		if x.kept() {
			continue
		}
		if first < 0 {
			first = i
		} else if isPoolQueue(name) || x.Key != ws[first].Key {
			return
		}
		wakeOne(x)
	}
}

// mayGo reports whether w, waiting in the named queue, may be able to go
// now as far as this server can tell (wakeFirst's rule): always with a
// shared queue. A waiter that may not looks again when woken, not at its
// poll or its lock's lease expiry.
func (q *queues) mayGo(name string, w *waiter) bool {
	if q.shared != nil {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, x := range q.byName[name] {
		if x == w {
			return true
		}
		if !x.kept() && (isPoolQueue(name) || x.Key != w.Key) {
			return false
		}
	}
	return true
}

// wakeEveryone tells every waiter on this server to try again.
func (q *queues) wakeEveryone() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ws := range q.byName {
		wakeAll(ws)
	}
	for name := range q.deferred {
		q.wakeDeferred(name)
	}
}

// wakeDeferred wakes the waiters deferred to the named queue's, which are
// deferred no more (to any queue) until an attempt finds them so again.
// q.mu is held.
func (q *queues) wakeDeferred(name string) {
	for w := range q.deferred[name] {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		q.undeferLocked(w)
	}
}

// poolsAhead returns how many live waiters of the queues of pools, but
// except's, came before w (every one of them when w is nil): a free member
// of those pools goes to the earliest waiter for it, whether that waits by
// name or through any of its pools. Tickets order every queue together
// (one counter on this server; one sequence in a shared store), so a
// waiter's place compares with other queues'.
func (q *queues) poolsAhead(ctx context.Context, pools []string, except string, w *waiter) (int, error) {
	n := 0
	for _, p := range pools {
		if p == except {
			continue
		}
		if q.shared != nil {
			var t lock.Ticket
			if w != nil {
				t = w.ticket
			}
			ws, err := q.shared.Ahead(ctx, poolQueue(p), t)
			if err != nil {
				return 0, err
			}
			n += len(ws)
			continue
		}
		q.mu.Lock()
		for _, x := range q.byName[poolQueue(p)] {
			if !x.kept() && (w == nil || x.ticket < w.ticket) {
				n++
			}
		}
		q.mu.Unlock()
	}
	return n, nil
}

// deferTo marks w as deferred to the waiters of the named queues (w nil:
// nothing to do): done before reading them, so that a waiter that leaves
// one after the read, or a change to its lock, wakes w.
func (q *queues) deferTo(w *waiter, names ...string) {
	if w == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, name := range names {
		ws := q.deferred[name]
		if ws == nil {
			ws = map[*waiter]struct{}{}
			q.deferred[name] = ws
		}
		if _, ok := ws[w]; !ok {
			ws[w] = struct{}{}
			w.deferredTo = append(w.deferredTo, name)
		}
	}
}

// undefer marks w as not deferred (nil: nothing to do).
func (q *queues) undefer(w *waiter) {
	if w == nil {
		return
	}
	q.mu.Lock()
	q.undeferLocked(w)
	q.mu.Unlock()
}

// undeferLocked is undefer with q.mu held.
func (q *queues) undeferLocked(w *waiter) {
	for _, name := range w.deferredTo {
		if ws := q.deferred[name]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(q.deferred, name)
			}
		}
	}
	w.deferredTo = nil
}

// poolQueues names the wait queues of pools.
func poolQueues(pools []string, except string) []string {
	out := make([]string, 0, len(pools))
	for _, p := range pools {
		if p != except {
			out = append(out, poolQueue(p))
		}
	}
	return out
}

func wakeAll(ws []*waiter) {
	for _, w := range ws {
		wakeOne(w)
	}
}

func wakeOne(w *waiter) {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// count returns the number of waiters of one lock (on every server, when
// the queue is shared).
func (q *queues) count(ctx context.Context, name string) int {
	if q.shared != nil {
		if ws, err := q.shared.Ahead(ctx, name, 0); err == nil {
			return len(ws)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return live(q.byName[name])
}

// live counts the waiters that are there (not kept places).
func live(ws []*waiter) int {
	n := 0
	for _, x := range ws {
		if !x.kept() {
			n++
		}
	}
	return n
}

// counts returns the number of waiters of every lock that has any (on every
// server, when the queue is shared).
func (q *queues) counts(ctx context.Context) map[string]int {
	if q.shared != nil {
		if m, err := q.shared.Counts(ctx); err == nil {
			return m
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	m := make(map[string]int, len(q.byName))
	for name, ws := range q.byName {
		if n := live(ws); n > 0 {
			m[name] = n
		}
	}
	return m
}

// waiting returns how many requests wait (on every server, when the queue
// is shared, as counts does) and when the one waiting longest took its place
// in line (zero: none waits): of every server too when the shared queue
// knows (lock.WaitAges), else of this server's own waiters.
func (q *queues) waiting(ctx context.Context) (n int, oldest time.Time) {
	if ages, ok := q.shared.(lock.WaitAges); ok {
		if n, longest, err := ages.Waiting(ctx); err == nil {
			if n > 0 {
				oldest = time.Now().Add(-longest)
			}
			return n, oldest
		}
	}
	var shared map[string]int
	if q.shared != nil {
		if m, err := q.shared.Counts(ctx); err == nil {
			shared = m
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ws := range q.byName {
		for _, x := range ws {
			if x.kept() {
				continue
			}
			if shared == nil {
				n++
			}
			if oldest.IsZero() || x.since.Before(oldest) {
				oldest = x.since
			}
		}
	}
	for _, c := range shared {
		n += c
	}
	return n, oldest
}

// LimitReached logs err, a request refused because a limit of the server
// is reached (the queues', or the HTTP server's places for waits and event
// streams), once a minute with the number refused since, not once a
// request: without it an operator saw only 503s in the metrics, as a
// database outage gives.
func (s *Service) LimitReached(err error) {
	if ok, held := s.limitLog.Allow(time.Now()); ok {
		s.log.Warn("a request was refused: a limit of the server is reached", "error", lock.ErrorMessage(err), "refused_since_last_message", held)
	}
}
