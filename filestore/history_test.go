package filestore

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestAppendHistoryKeepsTheNewestAndNeverRewrites appends random batches
// and checks, after each, that the history is the last limit events in
// order, and that every slice handed out before still holds what it held.
func TestAppendHistoryKeepsTheNewestAndNeverRewrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, limit := range []int{1, 3, 100} {
		var (
			h       []histEvent
			all     []lock.Event
			handed  [][]histEvent
			copies  [][]lock.Event // what each handed-out history said then
			maxCap  int
			counter int
		)
		for range 1000 {
			batch := make([]lock.Event, rng.IntN(4))
			if rng.IntN(20) == 0 {
				batch = make([]lock.Event, rng.IntN(2*limit+3))
			}
			for i := range batch {
				counter++
				batch[i] = testEvent(counter)
			}
			h = appendHistory(h, "l", batch, limit)
			all = append(all, batch...)
			want := all[max(0, len(all)-limit):]
			if !slices.Equal(counts(h), eventCounts(want)) {
				t.Fatalf("limit %d: history %v, want %v", limit, counts(h), eventCounts(want))
			}
			maxCap = max(maxCap, cap(h))
			handed = append(handed, h)
			copies = append(copies, historyEvents("l", h))
		}
		for i := range handed {
			if !reflect.DeepEqual(historyEvents("l", handed[i]), copies[i]) {
				t.Fatalf("limit %d: a history handed out was rewritten: %v, was %v", limit, counts(handed[i]), eventCounts(copies[i]))
			}
		}
		if maxCap > 2*limit+historySlack+2*limit+3 {
			t.Errorf("limit %d: a history array of %d events", limit, maxCap)
		}
	}
}

// TestAppendHistoryShortHistoriesStaySmall: a lock with one event keeps an
// array of one, not room for many (every lock's history is in memory).
func TestAppendHistoryShortHistoriesStaySmall(t *testing.T) {
	h := appendHistory(nil, "l", []lock.Event{testEvent(1)}, 100)
	if len(h) != 1 || cap(h) != 1 {
		t.Fatalf("len %d cap %d, want 1 and 1", len(h), cap(h))
	}
	for i := 2; i <= 100; i++ {
		h = appendHistory(h, "l", []lock.Event{testEvent(i)}, 100)
	}
	if len(h) != 100 || cap(h) > 100+historySlack {
		t.Fatalf("len %d cap %d", len(h), cap(h))
	}
}

// testEvent is an event of lock "l" that counts n; every other one cannot be
// kept compact (a forced release).
func testEvent(n int) lock.Event {
	e := lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Count: n, Fence: uint64(n), Time: time.Unix(1700000000, int64(n)).UTC()}
	if n%2 == 0 {
		e.Type, e.By = lock.Forced, "operator"
	}
	return e
}

func counts(h []histEvent) []int {
	return eventCounts(historyEvents("l", h))
}

func eventCounts(evs []lock.Event) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		out[i] = e.Count
	}
	return out
}

// A history event comes back exactly as it went in, whether kept compact or
// whole, and the common ones are kept compact.
func TestHistoryEventRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 26, 5, 0, 0, 123456789, time.UTC)
	cet := time.FixedZone("CET", 3600)
	cases := []struct {
		e       lock.Event
		compact bool
	}{
		{lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Count: 1, Fence: 7, Time: now}, true},
		{lock.Event{Type: lock.Released, Lock: "l", Key: "k", Holder: "h", Count: 0, Fence: 7, Time: now}, true},
		{lock.Event{Type: lock.Refreshed, Lock: "l", Key: "k", Holder: "h", Count: 2, Fence: 7, Time: now, Expires: now.Add(time.Minute)}, true},
		{lock.Event{Type: lock.Expired, Lock: "l", Key: "", Holder: "h", Count: 0, Fence: 1 << 62, Time: now}, true},
		{lock.Event{Type: lock.Forced, Lock: "l", Key: "k", Holder: "h", Time: now, By: "admin"}, false},
		{lock.Event{Type: lock.Added, Lock: "l", Time: now, Pools: []string{"p"}, Pool: "p"}, false},
		{lock.Event{Type: "future", Lock: "l", Time: now}, false},
		{lock.Event{Type: lock.Acquired, Lock: "other", Key: "k", Holder: "h", Time: now}, false},
		{lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Time: now.In(cet)}, false},
		{lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Time: time.Now()}, false}, // monotonic reading
		{lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		{lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Time: now, Expires: time.Unix(0, 0).UTC()}, false},
		{lock.Event{Type: lock.Acquired, Lock: "l", Key: "k", Holder: "h", Count: 1 << 40, Time: now}, false},
		{lock.Event{Lock: "l"}, false},
	}
	for i, c := range cases {
		h := compactEvent("l", &c.e)
		if got := h.event("l"); !reflect.DeepEqual(got, c.e) {
			t.Errorf("case %d: got back %+v, want %+v", i, got, c.e)
		}
		if (h.whole == nil) != c.compact {
			t.Errorf("case %d: kept compact %v, want %v", i, h.whole == nil, c.compact)
		}
	}
	if size := unsafe.Sizeof(histEvent{}); size > 80 {
		t.Errorf("a history event takes %d bytes", size)
	}
}
