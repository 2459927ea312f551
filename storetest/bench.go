package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// BenchPoolAcquire takes a member of a pool of 8 and gives it back, beside
// each number of other locks (all held) in others, over a service that
// start gives on a new, empty store: a pool's acquire should cost the
// same however many other locks the store keeps. One op is one take and
// one give-back.
func BenchPoolAcquire(b *testing.B, start func(b *testing.B) *lockservice.Service, others ...int) {
	for _, n := range others {
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			svc := start(b)
			holdMany(b, svc, n)
			for i := range 8 {
				if _, err := svc.AddMember(bg, "envs", fmt.Sprintf("env-%d", i), nil); err != nil {
					b.Fatal(err)
				}
			}
			r := req("pipeline", "pipeline")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				l, err := svc.AcquireFromPool(bg, "envs", r, 0)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := svc.Release(bg, l.Name, r.Key, r.Holder); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Serve starts a service with cfg over store for a test or benchmark; the
// service and the store are closed when it ends.
func Serve(tb testing.TB, store lock.Store, cfg lockservice.Config) *lockservice.Service {
	tb.Helper()
	svc := lockservice.New(store, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		store.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		svc.Close()
		cancel()
		store.Close()
	})
	return svc
}

// holdMany takes n locks, other-0 to other-(n-1), 8 at a time.
func holdMany(b *testing.B, svc *lockservice.Service, n int) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := svc.Acquire(context.Background(), fmt.Sprintf("other-%d", i), lock.Request{Key: "k", Holder: "k"}, 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
