package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// benchUpdates runs acquire/release cycles on distinct locks from
// parallelism goroutines per core. One op is one Update (an acquire or a release), each
// acknowledged only once it is written (and, unless noSync, fsynced).
func benchUpdates(b *testing.B, noSync bool, parallelism int) {
	logger, _ := testLogger(b)
	s, err := Open(filepath.Join(b.TempDir(), "locks.yml"), Options{NoSync: noSync, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var ids atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		name := fmt.Sprintf("bench-%d", ids.Add(1))
		acq := acquireM(lock.Request{Key: "k", Holder: "h"}, nil)
		rel := releaseM("k", "h", nil)
		held := false
		for pb.Next() {
			m := acq
			if held {
				m = rel
			}
			if _, evs, err := s.Update(ctx, name, m); err != nil || len(evs) != 1 {
				b.Errorf("Update %s: events %v, err %v", name, evs, err)
				return
			}
			held = !held
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// eightWriters is the parallelism that makes RunParallel run 8 goroutines
// (on a machine with up to 8 cores), like the 8 client connections of the
// issue's figures.
func eightWriters() int { return max(1, 8/runtime.GOMAXPROCS(0)) }

func BenchmarkUpdateParallel(b *testing.B) { benchUpdates(b, false, eightWriters()) }

func BenchmarkUpdateNoSync(b *testing.B) { benchUpdates(b, true, eightWriters()) }

// One writer per core: with no one to share an fsync with, this is about the
// disk's fsync rate, the baseline that group commit multiplies.
func BenchmarkUpdateFewWriters(b *testing.B) { benchUpdates(b, false, 1) }

// buildRecoverFiles writes a snapshot of locks locks and a log of records
// records after it: records alternately take a second hold on a snapshot lock
// and create a new lock.
func buildRecoverFiles(b *testing.B, dir string, locks, records int) string {
	path := filepath.Join(dir, "locks.yml")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	entries := make([]snapshotEntry, locks)
	for i := range entries {
		name := fmt.Sprintf("deploy/lock-%06d", i)
		key := fmt.Sprintf("pipeline-%d", i%97)
		hold := lock.Hold{Count: 1, Acquired: now}
		entries[i] = snapshotEntry{
			Lock:    diskLock{Name: name, Key: key, Holds: lock.HoldsOf(map[string]lock.Hold{"worker-1": hold}), Fence: uint64(i + 1), Since: now},
			History: []lock.Event{{Type: lock.Acquired, Lock: name, Key: key, Holder: "worker-1", Count: 1, Fence: uint64(i + 1), Time: now}},
		}
	}
	fence := uint64(locks)
	st := &Store{path: path, opts: Options{NoSync: true}}
	if err := st.writeSnapshot(1, fence, entries); err != nil {
		b.Fatal(err)
	}
	buf := appendFrame([]byte(logMagic), mustJSON(logHeader{Gen: 1}))
	for i := range records {
		var d diskLock
		var ev lock.Event
		t := now.Add(time.Duration(i) * time.Millisecond)
		if i%2 == 0 {
			e := entries[(i/2)%locks]
			d = e.Lock
			d.Holds = lock.HoldsOf(map[string]lock.Hold{"worker-1": e.Lock.Holds.Get("worker-1"), "worker-2": {Count: 1, Acquired: t}})
			ev = lock.Event{Type: lock.Acquired, Lock: d.Name, Key: d.Key, Holder: "worker-2", Count: 1, Fence: d.Fence, Time: t}
		} else {
			fence++
			name := fmt.Sprintf("new/lock-%06d", i)
			d = diskLock{Name: name, Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: t}}), Fence: fence, Since: t}
			ev = lock.Event{Type: lock.Acquired, Lock: name, Key: "k", Holder: "h", Count: 1, Fence: fence, Time: t}
		}
		buf = appendFrame(buf, mustJSON(logRecord{Lock: d, Events: []lock.Event{ev}, Fence: fence}))
	}
	if err := os.WriteFile(segmentPath(path, 1), buf, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkRecover(b *testing.B) {
	const locks, records = 100_000, 100_000
	path := buildRecoverFiles(b, b.TempDir(), locks, records)
	snap, _ := os.Stat(path)
	seg, _ := os.Stat(segmentPath(path, 1))
	// One untimed open to check the files and warm the page cache.
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	all, _ := s.List(context.Background())
	if want := locks + records/2; len(all) != want {
		b.Fatalf("recovered %d locks, want %d", len(all), want)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(snap.Size()+seg.Size())/(1<<20), "MiB")
}

// BenchmarkAddToManyPools adds one lock to one more pool when it is in
// thousands already: the pool index's work under the store's lock must
// grow with the pools of that lock linearly, not as their square. The
// rules let a lock join lock.MaxPools pools at most; a store still keeps
// what an older Locker let one join, so the lock joins them here as it
// did then, without the rules' bound.
func BenchmarkAddToManyPools(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "locks.yml"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	env := func(l *lock.Lock, pool string) []lock.Event {
		l.Pools = append(l.Pools, pool)
		slices.Sort(l.Pools)
		return []lock.Event{{Type: lock.Added, Lock: l.Name, Pool: pool, Pools: l.Pools, Time: time.Now()}}
	}
	for i := range 5000 {
		if _, _, err := s.Update(ctx, "L", func(l *lock.Lock, _ lock.Env) []lock.Event { return env(l, fmt.Sprintf("pool-%05d", i)) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := s.Update(ctx, "L", func(l *lock.Lock, _ lock.Env) []lock.Event { return env(l, fmt.Sprintf("more-%09d", i)) }); err != nil {
			b.Fatal(err)
		}
	}
}
