package lockservice

import (
	"sync"

	"github.com/cloudfoundry-community/locker/lock"
)

// Broker fans committed events out to subscribers (the event stream), one
// change's events at a time. A subscriber that falls behind is dropped —
// its channel closed — so a slow consumer never holds up lock operations.
// How far behind is counted in changes, not events: one change can have
// any number of events (a force release, one per holder), and it must
// reach a subscriber that keeps up whole.
type Broker struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription receives each change's events until it is closed or
// dropped.
type Subscription struct {
	C       <-chan []lock.Event
	c       chan []lock.Event
	dropped bool
	missed  bool // dropped by Missed: changes went by unseen
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{subs: map[*Subscription]struct{}{}} }

// Subscribe starts a subscription with room for buffer changes.
func (b *Broker) Subscribe(buffer int) *Subscription {
	c := make(chan []lock.Event, buffer)
	s := &Subscription{C: c, c: c}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Unsubscribe ends a subscription.
func (b *Broker) Unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// Dropped reports whether the broker ended the subscription because it fell
// behind. Call it after C is closed.
func (b *Broker) Dropped(s *Subscription) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.dropped
}

// Missed ends every subscription as dropped: changes went by that the
// store did not report (a PostgreSQL replica that lost its notifications
// for a while), so each subscriber must read the locks again.
func (b *Broker) Missed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.dropped, s.missed = true, true
		delete(b.subs, s)
		close(s.c)
	}
}

// MissedChanges reports whether the subscription was dropped by Missed
// rather than for falling behind. Call it after C is closed.
func (b *Broker) MissedChanges(s *Subscription) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.missed
}

// Publish sends one change's events to every subscriber without blocking.
// Subscribers share the slice: none may change it.
func (b *Broker) Publish(events []lock.Event) {
	if len(events) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- events:
		default:
			s.dropped = true
			delete(b.subs, s)
			close(s.c)
		}
	}
}
