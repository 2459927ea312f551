package memstore

import (
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/storetest"
)

// TestBehaviour runs the behavioural suite every store must pass; a
// "restart" opens a new Store over the same in-memory data.
func TestBehaviour(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		d := &data{locks: map[string]*entry{}}
		return func(t *testing.T) lock.Store { return open(d, Options{}) }
	})
}

func TestAppendHistoryKeepsTheNewest(t *testing.T) {
	ev := func(n int) lock.Event { return lock.Event{Count: n} }
	var h []lock.Event
	for i := 1; i <= 7; i++ {
		h = appendHistory(h, []lock.Event{ev(i)}, 3)
	}
	if len(h) != 3 || h[0].Count != 5 || h[2].Count != 7 {
		t.Fatalf("history %+v, want counts 5 6 7", h)
	}
	old := h
	h = appendHistory(h, []lock.Event{ev(8), ev(9), ev(10), ev(11)}, 3)
	if len(h) != 3 || h[0].Count != 9 || h[2].Count != 11 {
		t.Fatalf("history %+v, want counts 9 10 11", h)
	}
	if old[0].Count != 5 {
		t.Fatalf("appendHistory wrote into the old slice: %+v", old)
	}
}
