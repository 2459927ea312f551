package lockservice_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// BenchmarkHandoff measures hand-off latency: two goroutines pass one lock
// back and forth, each waiting for it while the other holds it. ns/op is the
// time from the holder's Release returning to the waiter's Acquire
// returning (the hand-off as a client sees it: from the releasing DELETE's
// answer to the waiter's). Both calls include the store's fsync, as in
// production. release-start-ns/op measures from the start of the Release
// instead.
func BenchmarkHandoff(b *testing.B) {
	e := newEnv(b, lockservice.Config{})
	ctx := context.Background()
	const name = "handoff"
	e.acquire(name, "key-0", "p0", 0)

	var (
		mu            sync.Mutex
		releaseStart  time.Time
		releaseDone   time.Time
		total, totalS time.Duration
	)
	// turn[i] tells player i it holds the lock; the first player starts.
	turn := [2]chan int{make(chan int, 1), make(chan int, 1)}
	finished := make(chan struct{})
	errc := make(chan error, 2)
	player := func(me int) {
		key, holder := []string{"key-0", "key-1"}[me], []string{"p0", "p1"}[me]
		for {
			select {
			case n := <-turn[me]:
				// I hold the lock. Once the other player waits for it, pass
				// it on; the last hand-off ends the run.
				if n == 0 {
					close(finished)
					return
				}
				for e.svc.Waiters(name) == 0 {
					runtime.Gosched()
				}
				mu.Lock()
				releaseStart = time.Now()
				mu.Unlock()
				if _, _, err := e.svc.Release(ctx, name, key, holder); err != nil {
					errc <- err
					return
				}
				mu.Lock()
				releaseDone = time.Now()
				mu.Unlock()
				turn[1-me] <- n - 1
			default:
				l, err := e.svc.Acquire(ctx, name, lock.Request{Key: key, Holder: holder}, time.Minute)
				got := time.Now()
				if err != nil {
					errc <- err
					return
				}
				if l.Key != key {
					errc <- &lock.Error{Code: lock.EINTERNAL, Message: "acquired under another key"}
					return
				}
				// The releaser records its times before it signals; wait
				// for the signal so both are set.
				n := <-turn[me]
				mu.Lock()
				total += got.Sub(releaseDone)
				totalS += got.Sub(releaseStart)
				mu.Unlock()
				turn[me] <- n
			}
		}
	}
	b.ResetTimer()
	turn[0] <- b.N
	go player(0)
	go player(1)
	select {
	case <-finished:
	case err := <-errc:
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(totalS.Nanoseconds())/float64(b.N), "release-start-ns/op")
}
