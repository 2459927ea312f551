package pgstore

import (
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// holdBack is how long a change waits for an earlier change to the same lock
// whose notification has not arrived yet.
const holdBack = time.Second

// order passes each lock's changes to the watcher in version order, which
// is commit order. This replica's changes arrive as they commit, the
// others' as their notifications do (sent after the commit: see Update), so
// two changes to one lock can arrive the wrong way round.
//
// A change that arrives early is held until the ones before it arrive, for
// at most holdBack: a notification can be lost (a replica that died after
// its commit, a LISTEN connection being re-made). The first change seen of
// a lock is held too unless it is the lock's first version: changes before
// it may still be on their way. A change that arrives after a later one was
// passed on is passed on late rather than dropped. Holding a change back
// does not delay waiters: the watcher is told at once, without events, that
// the lock changed.
type order struct {
	emit func(string, []lock.Event)
	// afterFunc starts a hold-back timer: time.AfterFunc, or a test's clock.
	afterFunc func(time.Duration, func()) stopper

	mu     sync.Mutex
	last   map[string]int64 // the newest version passed on, per lock
	held   map[string][]held
	timers map[string]*holdTimer // one per lock with held changes
}

// stopper is the part of *time.Timer a hold-back timer uses.
type stopper interface{ Stop() bool }

// holdTimer gives up on a lock's gap when it fires, unless drain stopped
// it first.
type holdTimer struct {
	t       stopper
	stopped bool // under order.mu
}

type held struct {
	version int64
	events  []lock.Event
}

func newOrder(emit func(string, []lock.Event)) *order {
	return &order{emit: emit, afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		last: map[string]int64{}, held: map[string][]held{}, timers: map[string]*holdTimer{}}
}

func (o *order) deliver(name string, version int64, events []lock.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	last, seen := o.last[name]
	switch {
	case version == last+1: // last is 0 for a lock not seen yet
		o.emit(name, events)
		o.last[name] = version
		o.drain(name)
		if lock.Forgets(events) {
			// The row is gone: the lock made again under the name
			// starts at version 1.
			delete(o.last, name)
		}
	case seen && version <= last:
		o.emit(name, events)
	default:
		hs := o.held[name]
		if o.timers[name] == nil {
			ht := &holdTimer{}
			ht.t = o.afterFunc(holdBack, func() { o.giveUp(name, ht) })
			o.timers[name] = ht
		}
		i := len(hs)
		for i > 0 && hs[i-1].version > version {
			i--
		}
		o.held[name] = append(hs[:i], append([]held{{version, events}}, hs[i:]...)...)
		o.emit(name, nil)
	}
}

// drain passes on the held changes that follow the last one passed on.
func (o *order) drain(name string) {
	hs := o.held[name]
	for len(hs) > 0 && hs[0].version == o.last[name]+1 {
		o.emit(name, hs[0].events)
		o.last[name] = hs[0].version
		hs = hs[1:]
	}
	if len(hs) == 0 {
		delete(o.held, name)
		if ht := o.timers[name]; ht != nil {
			ht.t.Stop()
			ht.stopped = true
			delete(o.timers, name)
		}
	} else {
		o.held[name] = hs
	}
}

// giveUp passes on the lock's held changes when their timer ht runs out:
// the ones before them are not coming.
func (o *order) giveUp(name string, ht *holdTimer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ht.stopped {
		return // its gap was filled as it fired; a newer gap has its own timer
	}
	delete(o.timers, name)
	for _, h := range o.held[name] {
		o.emit(name, h.events)
		o.last[name] = max(o.last[name], h.version)
	}
	delete(o.held, name)
}
