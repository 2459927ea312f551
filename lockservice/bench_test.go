package lockservice_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
	"github.com/cloudfoundry-community/locker/storetest"
)

// benchService starts a Service over store for a benchmark.
func benchService(b *testing.B, store lock.Store) *lockservice.Service {
	b.Helper()
	return storetest.Serve(b, store, lockservice.Config{})
}

// benchCycles runs Acquire/Release cycles on a lock of each goroutine's
// own, 8 goroutines in all (like the 8 client connections of the
// performance figures). One op is one Acquire or one Release.
func benchCycles(b *testing.B, svc *lockservice.Service) {
	var ids atomic.Int64
	ctx := context.Background()
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids.Add(1)
		name := fmt.Sprintf("bench-%d", id)
		r := lock.Request{Key: fmt.Sprint("k", id), Holder: fmt.Sprint("h", id)}
		held := false
		for pb.Next() {
			var err error
			if held {
				_, _, err = svc.Release(ctx, name, r.Key, r.Holder)
			} else {
				_, err = svc.Acquire(ctx, name, r, 0)
			}
			if err != nil {
				b.Errorf("%s: %v", name, err)
				return
			}
			held = !held
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkCyclesMemory is the service and the rules alone: an in-memory
// store that persists nothing.
func BenchmarkCyclesMemory(b *testing.B) {
	benchCycles(b, benchService(b, memstore.New(memstore.Options{})))
}

// BenchmarkCyclesFileNoSync adds the file store's work (log records, group
// commit, writes) without the fsync.
func BenchmarkCyclesFileNoSync(b *testing.B) {
	store, err := filestore.Open(filepath.Join(b.TempDir(), "locks.yml"), filestore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	benchCycles(b, benchService(b, store))
}

// BenchmarkCyclesFile is the service over the file store as in production,
// fsync on.
// It reports the changes per fsync (group commit's batch size) and the mean
// time of a write+fsync.
func BenchmarkCyclesFile(b *testing.B) {
	var batches, changes, took atomic.Int64
	store, err := filestore.Open(filepath.Join(b.TempDir(), "locks.yml"), filestore.Options{
		OnCommit: func(batch int, d time.Duration, err error) {
			batches.Add(1)
			changes.Add(int64(batch))
			took.Add(int64(d))
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	benchCycles(b, benchService(b, store))
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(changes.Load())/float64(n), "changes/fsync")
		b.ReportMetric(float64(took.Load())/float64(n)/1e3, "µs/fsync")
	}
}

// BenchmarkPoolAcquire: storetest.BenchPoolAcquire over the file store
// without fsync, so the figure is the service's and the store's own work.
func BenchmarkPoolAcquire(b *testing.B) {
	storetest.BenchPoolAcquire(b, func(b *testing.B) *lockservice.Service {
		store, err := filestore.Open(filepath.Join(b.TempDir(), "locks.yml"), filestore.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		return benchService(b, store)
	}, 0, 100_000)
}
