package pgstore

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// holdBack is how long a change waits for an earlier change to the same lock
// whose notification has not arrived yet.
const holdBack = time.Second

// forgetAfter is how long a replica remembers a forgotten lock's lifetime
// (so that a late change of it is told from the new lock's) before it
// forgets the lock altogether: far longer than any notification is late.
const forgetAfter = time.Minute

// order passes each lock's changes to the watcher in commit order. This
// replica's changes arrive as they commit, the others' as their
// notifications do (sent after the commit: see Update), so two changes to
// one lock can arrive the wrong way round.
//
// Commit order is lifetime order, then version order. A lock forgotten
// (its row deleted) and made again under its name is a new lifetime of it,
// whose versions start again at 1: by version alone, the new lock's first
// changes would look like late ones of the old lock, and be passed on
// before the old lock's forgotten, which can arrive after them (another
// replica's). Each row is numbered when it is made (its lifetime column,
// from a sequence), and a new row's number is above every row of its name
// before it: the old row was made before it was forgotten, and the new one
// only after that. So every change of an old lifetime, its forgotten last,
// is passed on before the new lifetime's first. (The number is drawn as
// the insert starts, before it finds the name free; inserts of new locks
// take turns by name (writeNewLock), so a row made under the name before
// the new one drew its number before it. Older Lockers' inserts take no
// turn: while they run, a row made and forgotten between another insert's
// draw and its look for the name can number above the lock that insert
// makes, whose changes are then passed on late, as before lifetimes were
// numbered.)
//
// A change that arrives early (a gap in its lifetime's versions before it,
// or of a new lifetime while the lock's forgotten has not been passed on)
// is held until the ones before it arrive, for at most holdBack: a
// notification can be lost (a replica that died after its commit, a LISTEN
// connection being re-made). Nothing tells a lost one from one on its way
// sooner: reading the lock back would not (a new lifetime's row exists
// only once the old row is deleted, whether or not its forgotten is still
// on its way), nor would a LISTEN connection made again (an announcement
// not sent yet comes on the new one). A change whose announcement came but whose events
// could not be read (missed) did arrive: it takes its place, without
// events. The first change seen of a lock is held too
// unless it is its lifetime's first version: changes before it may still
// be on their way. A change that arrives after a later one was passed on
// (of its lifetime, or of a newer one) is passed on late rather than
// dropped. Holding a change back does not delay waiters: the watcher is
// told at once, without events, that the lock changed.
//
// A change with lifetime 0 was announced by an older Locker, which does not
// say: it is taken to be of the lifetime the lock is in, as versions alone
// were before.
type order struct {
	emit func(string, []lock.Event)
	// afterFunc starts a hold-back timer: time.AfterFunc, or a test's clock.
	afterFunc func(time.Duration, func()) stopper

	mu    sync.Mutex
	locks map[string]*track
}

// track is what order knows of one lock.
type track struct {
	lifetime int64 // the lifetime passed on last; 0: not known yet
	last     int64 // its newest version passed on
	ended    bool  // its forgotten was passed on
	held     []held
	timer    *holdTimer // while changes are held
	forget   stopper    // while ended: forgets the lock after forgetAfter
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
	lifetime, version int64
	events            []lock.Event
	forgets           bool // the change forgets the lock (ends its lifetime)
}

func newOrder(emit func(string, []lock.Event)) *order {
	return &order{emit: emit, afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		locks: map[string]*track{}}
}

func (o *order) deliver(name string, lifetime, version int64, events []lock.Event) {
	o.change(name, held{lifetime, version, events, lock.Forgets(events)})
}

// missed takes the place of deliver for a change whose announcement came
// but whose events could not be read (gone from the history, or a forget
// too large for a notification: see Store.announced): the lock changed at
// that version, and, when forgets, its lifetime ended there. It is passed
// on in its place, without events, so that the changes after it are not
// held back for it.
func (o *order) missed(name string, lifetime, version int64, forgets bool) {
	o.change(name, held{lifetime: lifetime, version: version, forgets: forgets})
}

func (o *order) change(name string, h held) {
	lifetime, version := h.lifetime, h.version
	o.mu.Lock()
	defer o.mu.Unlock()
	tr := o.locks[name]
	if tr == nil {
		tr = &track{}
		o.locks[name] = tr
	}
	if lifetime == 0 {
		// An older Locker's: of the lifetime the lock is in, or, once
		// that was forgotten, of the next (as versions alone were read).
		if tr.ended {
			tr.lifetime, tr.last, tr.ended = 0, 0, false
			tr.stopForget()
		}
		lifetime = tr.lifetime
		h.lifetime = lifetime
	}
	if tr.lifetime == 0 && !tr.ended && lifetime != 0 && (tr.last == 0 || version > tr.last) {
		// The first lifetime this replica hears of by number (the lock
		// not seen before, or only through older Lockers): this one.
		tr.lifetime = lifetime
	}
	switch {
	case lifetime < tr.lifetime, lifetime == tr.lifetime && tr.last > 0 && version <= tr.last:
		o.emit(name, h.events) // late
	case tr.next(h):
		o.pass(name, tr, h)
		o.drain(name, tr)
	default:
		i, _ := slices.BinarySearchFunc(tr.held, h, compareHeld)
		tr.held = slices.Insert(tr.held, i, h)
		if tr.timer == nil {
			ht := &holdTimer{}
			ht.t = o.afterFunc(holdBack, func() { o.giveUp(name, tr, ht) })
			tr.timer = ht
		}
		o.emit(name, nil)
	}
}

func compareHeld(a, b held) int {
	return cmp.Or(cmp.Compare(a.lifetime, b.lifetime), cmp.Compare(a.version, b.version))
}

// pass passes a change on as the lock's newest.
func (o *order) pass(name string, tr *track, h held) {
	o.emit(name, h.events)
	if h.lifetime != tr.lifetime {
		tr.lifetime, tr.ended = h.lifetime, false
	}
	tr.last = h.version
	tr.stopForget()
	if h.forgets {
		// The row is gone: a lock made again under the name is a new
		// lifetime, starting at version 1.
		tr.ended = true
	}
}

// stopForget keeps a lock that changed again after its forgotten.
func (tr *track) stopForget() {
	if tr.forget != nil {
		tr.forget.Stop()
		tr.forget = nil
	}
}

// next reports whether h follows what tr passed on last.
func (tr *track) next(h held) bool {
	return h.lifetime == tr.lifetime && h.version == tr.last+1 || h.lifetime > tr.lifetime && tr.ended && h.version == 1
}

// drain passes on the held changes that follow the last one passed on.
func (o *order) drain(name string, tr *track) {
	for len(tr.held) > 0 && tr.next(tr.held[0]) {
		h := tr.held[0]
		tr.held = tr.held[1:]
		o.pass(name, tr, h)
	}
	if len(tr.held) == 0 {
		tr.held = nil
		if ht := tr.timer; ht != nil {
			ht.t.Stop()
			ht.stopped = true
			tr.timer = nil
		}
		o.settle(name, tr)
	}
}

// settle forgets, after forgetAfter, a lock whose forgotten was passed on
// and that holds nothing back, unless it changes meanwhile.
func (o *order) settle(name string, tr *track) {
	if !tr.ended || tr.forget != nil || len(tr.held) > 0 {
		return
	}
	var t stopper
	t = o.afterFunc(forgetAfter, func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if tr.forget != t {
			return // changed again meanwhile
		}
		tr.forget = nil
		if len(tr.held) == 0 && o.locks[name] == tr {
			delete(o.locks, name)
		} // else settled again once they are passed on

	})
	tr.forget = t
}

// giveUp passes on the lock's held changes when their timer ht runs out:
// the ones before them are not coming.
func (o *order) giveUp(name string, tr *track, ht *holdTimer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ht.stopped {
		return // its gap was filled as it fired; a newer gap has its own timer
	}
	tr.timer = nil
	hs := tr.held
	tr.held = nil
	for _, h := range hs {
		if h.lifetime < tr.lifetime || h.lifetime == tr.lifetime && h.version <= tr.last {
			o.emit(name, h.events) // overtaken meanwhile (cannot be: held in order)
			continue
		}
		o.pass(name, tr, h)
	}
	o.settle(name, tr)
}
