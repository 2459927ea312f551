package lock_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// Holds behave as the map[string]Hold they replace: the same lookups after
// any sequence of sets and deletes, always sorted by holder, and the same
// JSON both ways.
func TestHoldsActLikeAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "c", "worker-1", "worker-10", "worker-2", "ü", "<&>", ""}
	for round := 0; round < 200; round++ {
		var hs lock.Holds
		m := map[string]lock.Hold{}
		for op := 0; op < 20; op++ {
			h := names[rng.IntN(len(names))]
			if rng.IntN(3) == 0 {
				hs.Delete(h)
				delete(m, h)
			} else {
				hold := lock.Hold{Count: 1 + rng.IntN(5), Acquired: t0.Add(time.Duration(rng.IntN(1000)) * time.Second)}
				hs.Set(h, hold)
				m[h] = hold
			}
			if len(hs) != len(m) {
				t.Fatalf("round %d: %d holds, map has %d", round, len(hs), len(m))
			}
			for i := 1; i < len(hs); i++ {
				if hs[i-1].Holder >= hs[i].Holder {
					t.Fatalf("round %d: not sorted: %v", round, hs)
				}
			}
			for _, h := range names {
				got, ok := hs.Lookup(h)
				want, wantOK := m[h]
				if ok != wantOK || got != want || hs.Get(h) != want {
					t.Fatalf("round %d: Lookup(%q) = %v %v, want %v %v", round, h, got, ok, want, wantOK)
				}
			}
		}
		got, err := json.Marshal(hs)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if len(m) == 0 && hs != nil {
			want = []byte("{}") // emptied, not nil: as an emptied map
		}
		if string(got) != string(want) {
			t.Fatalf("round %d: JSON %s, map's %s", round, got, want)
		}
		var back lock.Holds
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, lock.HoldsOf(m)) {
			t.Fatalf("round %d: round trip %v, want %v", round, back, lock.HoldsOf(m))
		}
		all := map[string]lock.Hold{}
		for h, hold := range hs.All() {
			all[h] = hold
		}
		if !reflect.DeepEqual(all, m) {
			t.Fatalf("round %d: All yields %v, want %v", round, all, m)
		}
	}
}

func TestHoldsJSONEdges(t *testing.T) {
	var hs lock.Holds
	if b, _ := json.Marshal(hs); string(b) != "null" {
		t.Errorf("nil holds: %s, want null (as a nil map)", b)
	}
	if err := json.Unmarshal([]byte(`{"a":{"count":1},"a":{"count":2}}`), &hs); err != nil || hs.Get("a").Count != 2 || len(hs) != 1 {
		t.Errorf("duplicate key: %v %v; want the later one, as a map", hs, err)
	}
	if err := json.Unmarshal([]byte(`[]`), &hs); err == nil {
		t.Errorf("an array decoded as holds")
	}
	if err := json.Unmarshal([]byte(`{}`), &hs); err != nil || hs != nil {
		t.Errorf("{}: %v %v, want no holds", hs, err)
	}
}
