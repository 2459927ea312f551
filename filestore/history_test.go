package filestore

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestAppendHistoryKeepsTheNewestAndNeverRewrites appends random batches
// and checks, after each, that the history is the last limit events in
// order, and that every slice handed out before still holds what it held.
func TestAppendHistoryKeepsTheNewestAndNeverRewrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, limit := range []int{1, 3, 100} {
		var (
			h       []lock.Event
			all     []lock.Event
			handed  [][]lock.Event
			copies  [][]lock.Event
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
				batch[i] = lock.Event{Count: counter}
			}
			h = appendHistory(h, batch, limit)
			all = append(all, batch...)
			want := all[max(0, len(all)-limit):]
			if !slices.Equal(counts(h), counts(want)) {
				t.Fatalf("limit %d: history %v, want %v", limit, counts(h), counts(want))
			}
			maxCap = max(maxCap, cap(h))
			handed = append(handed, h)
			copies = append(copies, slices.Clone(h))
		}
		for i := range handed {
			if !slices.Equal(counts(handed[i]), counts(copies[i])) {
				t.Fatalf("limit %d: a history handed out was rewritten: %v, was %v", limit, counts(handed[i]), counts(copies[i]))
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
	h := appendHistory(nil, []lock.Event{{Count: 1}}, 100)
	if len(h) != 1 || cap(h) != 1 {
		t.Fatalf("len %d cap %d, want 1 and 1", len(h), cap(h))
	}
	for i := 2; i <= 100; i++ {
		h = appendHistory(h, []lock.Event{{Count: i}}, 100)
	}
	if len(h) != 100 || cap(h) > 100+historySlack {
		t.Fatalf("len %d cap %d", len(h), cap(h))
	}
}

func counts(evs []lock.Event) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		out[i] = e.Count
	}
	return out
}
