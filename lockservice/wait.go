package lockservice

import (
	"sync"

	"github.com/cloudfoundry-community/locker/lock"
)

// waiter is one request waiting for a lock.
type waiter struct {
	lock.Waiter
	wake chan struct{} // capacity 1: a wake-up is never lost, never blocks
}

// queues holds the waiters of every lock, each lock's in arrival order.
type queues struct {
	perLock, total int

	mu     sync.Mutex
	byName map[string][]*waiter
	n      int
}

func newQueues(perLock, total int) *queues {
	return &queues{perLock: perLock, total: total, byName: map[string][]*waiter{}}
}

// join puts a waiter at the end of the lock's queue.
func (q *queues) join(name, key, holder string) (*waiter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= q.total {
		return nil, lock.Errorf(lock.EUNAVAILABLE, "too many waiting requests on this server (limit %d); try again later", q.total)
	}
	if len(q.byName[name]) >= q.perLock {
		return nil, lock.Errorf(lock.EUNAVAILABLE, "too many requests waiting for lock %q (limit %d); try again later", name, q.perLock)
	}
	w := &waiter{Waiter: lock.Waiter{Key: key, Holder: holder}, wake: make(chan struct{}, 1)}
	q.byName[name] = append(q.byName[name], w)
	q.n++
	return w, nil
}

// leave takes a waiter out of the queue, and wakes the rest: with it gone,
// one of them may be first in line now.
func (q *queues) leave(name string, w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
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
	wakeAll(ws)
}

// ahead returns the waiters before w (all of them when w is nil).
func (q *queues) ahead(name string, w *waiter) []lock.Waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []lock.Waiter
	for _, x := range q.byName[name] {
		if x == w {
			break
		}
		out = append(out, x.Waiter)
	}
	return out
}

// wake tells every waiter of the lock to try again.
func (q *queues) wake(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	wakeAll(q.byName[name])
}

func wakeAll(ws []*waiter) {
	for _, w := range ws {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (q *queues) count(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.byName[name])
}

// counts returns the number of waiters of every lock that has any.
func (q *queues) counts() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := make(map[string]int, len(q.byName))
	for name, ws := range q.byName {
		m[name] = len(ws)
	}
	return m
}
