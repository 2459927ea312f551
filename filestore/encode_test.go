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

// recordGen makes log records of every shape, from a fixed seed.
type recordGen struct{ rng *rand.Rand }

func newRecordGen() recordGen { return recordGen{rand.New(rand.NewPCG(1, 2))} }

var (
	genStrs  = []string{"", "a", "prod deploy", "a/b", "k-1", "ü", "日本", "<&>", "a&b", "x>y", `"q"`, `back\slash`, "tab\there", "\x01", "\u2028", "\xff", "~}|{", " "}
	genTimes = []time.Time{
		{},
		time.Date(2026, 11, 26, 4, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 4, 30, 1, 123456789, time.UTC),
		time.Date(2026, 11, 26, 4, 30, 1, 120000000, time.UTC),
		time.Date(2026, 11, 26, 5, 30, 1, 5, time.FixedZone("CET", 3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // encoding/json refuses it
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(time.FixedZone("X", 25*3600)), // encoding/json refuses it
	}
	genTypes = []lock.EventType{lock.Acquired, lock.Released, lock.Expired, lock.Forced, lock.Refreshed, lock.Added, lock.Removed}
)

func (g recordGen) str() string { return genStrs[g.rng.IntN(len(genStrs))] }

func (g recordGen) tm() time.Time {
	if g.rng.IntN(4) == 0 {
		return genTimes[g.rng.IntN(len(genTimes))]
	}
	return genTimes[1+g.rng.IntN(4)]
}

func (g recordGen) record() logRecord {
	rng := g.rng
	r := logRecord{Fence: rng.Uint64N(1 << 40)}
	r.Lock.Name = g.str()
	if rng.IntN(3) > 0 {
		r.Lock.Key = g.str()
		r.Lock.Fence = rng.Uint64N(1000)
		r.Lock.Since = g.tm()
		var holds []lock.HeldBy
		for range rng.IntN(4) {
			holds = append(holds, lock.HeldBy{Holder: g.str(), Hold: lock.Hold{Count: rng.IntN(5) - 1, Acquired: g.tm(), Expires: g.tm()}})
		}
		slices.SortFunc(holds, func(a, b lock.HeldBy) int { return strings.Compare(a.Holder, b.Holder) })
		r.Lock.Holds = holds
	}
	if rng.IntN(10) == 0 {
		r.Lock.FreeSince = g.tm()
	}
	if rng.IntN(10) == 0 {
		r.Lock.Pools = []string{g.str()}
	}
	if rng.IntN(10) == 0 {
		r.Lock.Metadata = json.RawMessage(`{"a": [1, 2]}`)
	}
	for range rng.IntN(3) {
		e := lock.Event{Type: genTypes[rng.IntN(len(genTypes))], Lock: g.str(), Key: g.str(), Holder: g.str(), Count: rng.IntN(3), Fence: rng.Uint64(), Time: g.tm(), Expires: g.tm()}
		switch rng.IntN(12) {
		case 0:
			e.By = g.str()
		case 1:
			e.Pools = []string{g.str(), g.str()}
		case 2:
			e.Pool = g.str()
		}
		r.Events = append(r.Events, e)
	}
	return r
}

// appendRecordFrame writes exactly the bytes encoding/json writes, for records of
// every shape: plain ones by hand, the rest through encoding/json.
func TestRecordFrameMatchesEncodingJSON(t *testing.T) {
	t.Parallel() // sets no package variable (frameLimit, readWindow, hooks): beside the others, after the serial tests that do (CI time)
	g := newRecordGen()
	plain := 0
	for i := range 20000 {
		r := g.record()
		want, err := json.Marshal(&r)
		if err != nil {
			// A time encoding/json refuses: appendRecordFrame must refuse it too
			// (mustJSON's panic, as before), never write what recovery
			// could not read back.
			if plainRecord(&r) {
				t.Fatalf("record %d: encoding/json refuses it (%v) but appendRecordFrame would write it", i, err)
			}
			continue
		}
		if plainRecord(&r) {
			plain++
		}
		if got := appendRecordFrame([]byte("before"), &r); !bytes.Equal(got, appendFrame([]byte("before"), want)) {
			t.Fatalf("record %d: appendRecordFrame wrote\n%q\nencoding/json\n%q", i, got, want)
		}
	}
	if plain < 3000 {
		t.Fatalf("only %d of the records took appendRecordFrame's own path", plain)
	}
}

// appendSnapshotFrame writes exactly the frame encoding/json's bytes make,
// for snapshot entries of every shape, after whatever the buffer held.
func TestSnapshotFrameMatchesEncodingJSON(t *testing.T) {
	t.Parallel() // sets no package variable (frameLimit, readWindow, hooks): beside the others, after the serial tests that do (CI time)
	g := newRecordGen()
	plain := 0
	buf := []byte("before")
	for i := range 20000 {
		r := g.record()
		se := snapshotEntry{Lock: r.Lock, History: r.Events}
		want, err := json.Marshal(&se)
		isPlain := plainLock(&se.Lock) && plainEvents(se.History)
		if err != nil {
			if isPlain {
				t.Fatalf("entry %d: encoding/json refuses it (%v) but appendSnapshotFrame would write it", i, err)
			}
			continue
		}
		if isPlain {
			plain++
		}
		got := appendSnapshotFrame(buf, &se)
		if !bytes.Equal(got, appendFrame([]byte("before"), want)) {
			t.Fatalf("entry %d: appendSnapshotFrame wrote\n%q\nencoding/json\n%q", i, got, want)
		}
		buf = got[:len("before")]
	}
	if plain < 3000 {
		t.Fatalf("only %d of the entries took appendSnapshotFrame's own path", plain)
	}
}

// benchLock is the held lock, with the event that took it, that the frame
// benchmarks encode.
func benchLock() (diskLock, []lock.Event) {
	now := time.Date(2026, 11, 26, 4, 30, 1, 123456789, time.UTC)
	return diskLock{Name: "prod-deployments", Key: "pipeline-7", Holds: lock.Holds{{Holder: "pipeline-7", Hold: lock.Hold{Count: 1, Acquired: now}}}, Fence: 123456, Since: now},
		[]lock.Event{{Type: lock.Acquired, Lock: "prod-deployments", Key: "pipeline-7", Holder: "pipeline-7", Count: 1, Fence: 123456, Time: now}}
}

func BenchmarkRecordFrame(b *testing.B) {
	d, events := benchLock()
	r := logRecord{Lock: d, Events: events, Fence: 123456}
	var frame []byte
	b.Run("by-hand", func(b *testing.B) {
		for b.Loop() {
			frame = appendRecordFrame(frame[:0], &r)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			frame = appendFrame(frame[:0], mustJSON(&r))
		}
	})
}

func BenchmarkSnapshotFrame(b *testing.B) {
	d, history := benchLock()
	se := snapshotEntry{Lock: d, History: history}
	var frame []byte
	b.Run("by-hand", func(b *testing.B) {
		for b.Loop() {
			frame = appendSnapshotFrame(frame[:0], &se)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			frame = appendFrame(frame[:0], mustJSON(&se))
		}
	})
}
