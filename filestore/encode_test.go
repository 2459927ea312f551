package filestore

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// recordFrame writes exactly the bytes encoding/json writes, for records of
// every shape: plain ones by hand, the rest through encoding/json.
func TestRecordFrameMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "prod deploy", "a/b", "k-1", "ü", "日本", "<&>", "a&b", "x>y", `"q"`, `back\slash`, "tab\there", "\x01", "\u2028", "\xff", "~}|{", " "}
	str := func() string { return strs[rng.IntN(len(strs))] }
	paris := time.FixedZone("CET", 3600)
	times := []time.Time{
		{},
		time.Date(2026, 11, 26, 4, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 4, 30, 1, 123456789, time.UTC),
		time.Date(2026, 11, 26, 4, 30, 1, 120000000, time.UTC),
		time.Date(2026, 11, 26, 5, 30, 1, 5, paris),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // encoding/json refuses it
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(time.FixedZone("X", 25*3600)), // encoding/json refuses it
	}
	tm := func() time.Time {
		if rng.IntN(4) == 0 {
			return times[rng.IntN(len(times))]
		}
		return times[1+rng.IntN(4)]
	}
	types := []lock.EventType{lock.Acquired, lock.Released, lock.Expired, lock.Forced, lock.Refreshed, lock.Added, lock.Removed}
	plain := 0
	for i := range 20000 {
		r := logRecord{Fence: rng.Uint64N(1 << 40)}
		r.Lock.Name = str()
		if rng.IntN(3) > 0 {
			r.Lock.Key = str()
			r.Lock.Fence = rng.Uint64N(1000)
			r.Lock.Since = tm()
			var holds []lock.HeldBy
			for range rng.IntN(4) {
				holds = append(holds, lock.HeldBy{Holder: str(), Hold: lock.Hold{Count: rng.IntN(5) - 1, Acquired: tm(), Expires: tm()}})
			}
			slices.SortFunc(holds, func(a, b lock.HeldBy) int { return strings.Compare(a.Holder, b.Holder) })
			r.Lock.Holds = holds
		}
		if rng.IntN(10) == 0 {
			r.Lock.FreeSince = tm()
		}
		if rng.IntN(10) == 0 {
			r.Lock.Pools = []string{str()}
		}
		if rng.IntN(10) == 0 {
			r.Lock.Metadata = json.RawMessage(`{"a": [1, 2]}`)
		}
		for range rng.IntN(3) {
			e := lock.Event{Type: types[rng.IntN(len(types))], Lock: str(), Key: str(), Holder: str(), Count: rng.IntN(3), Fence: rng.Uint64(), Time: tm(), Expires: tm()}
			switch rng.IntN(12) {
			case 0:
				e.By = str()
			case 1:
				e.Pools = []string{str(), str()}
			case 2:
				e.Pool = str()
			}
			r.Events = append(r.Events, e)
		}
		want, err := json.Marshal(&r)
		if err != nil {
			// A time encoding/json refuses: recordFrame must refuse it too
			// (mustJSON's panic, as before), never write what recovery
			// could not read back.
			if plainRecord(&r) {
				t.Fatalf("record %d: encoding/json refuses it (%v) but recordFrame would write it", i, err)
			}
			continue
		}
		if plainRecord(&r) {
			plain++
		}
		if got := recordFrame(&r); !bytes.Equal(got, appendFrame(nil, want)) {
			t.Fatalf("record %d: recordFrame wrote\n%q\nencoding/json\n%q", i, got[frameHeader:], want)
		}
	}
	if plain < 3000 {
		t.Fatalf("only %d of the records took recordFrame's own path", plain)
	}
}

func BenchmarkRecordFrame(b *testing.B) {
	now := time.Date(2026, 11, 26, 4, 30, 1, 123456789, time.UTC)
	r := logRecord{
		Lock:   diskLock{Name: "prod-deployments", Key: "pipeline-7", Holds: lock.Holds{{Holder: "pipeline-7", Hold: lock.Hold{Count: 1, Acquired: now}}}, Fence: 123456, Since: now},
		Events: []lock.Event{{Type: lock.Acquired, Lock: "prod-deployments", Key: "pipeline-7", Holder: "pipeline-7", Count: 1, Fence: 123456, Time: now}},
		Fence:  123456,
	}
	b.Run("by-hand", func(b *testing.B) {
		for b.Loop() {
			recordFrame(&r)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			appendFrame(nil, mustJSON(&r))
		}
	})
}
