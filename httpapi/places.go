package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// places bounds the requests lasting as long as their clients like
// (blocking waits, event streams), so that the rest of the server's
// connections (LOCKER_MAX_CONNECTIONS) stay for requests that answer at
// once: the release that ends a wait must get through. (A review: with
// LOCKER_MAX_CONNECTIONS=20, 20 open event streams kept every PUT and
// /healthz out.) Over HTTP/1 each holds a connection. Over HTTP/2 a
// connection carries up to 100 requests, and each of them takes a place
// all the same: counted once a connection, they let a client hold 100
// streams, each a buffer and a share of every change's work, for each
// place (a review: 4,000 streams on 40 connections took 330 MB).
type places struct {
	limit int // at most this many long requests; <= 0: no limit

	mu sync.Mutex
	n  int // long requests holding a place
}

func newPlaces(limit int) *places {
	return &places{limit: limit}
}

// take takes a place and returns the function that gives it back.
// It fails with EUNAVAILABLE (503) when every place is held.
func (p *places) take() (release func(), err error) {
	if p.limit <= 0 {
		return func() {}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n >= p.limit {
		return nil, lock.Errorf(lock.EUNAVAILABLE, "too many connections are held by waiting requests and event streams (limit %d; the server keeps the rest of LOCKER_MAX_CONNECTIONS for requests that answer at once); try again later", p.limit)
	}
	p.n++
	return sync.OnceFunc(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.n--
	}), nil
}

// waitIn returns ctx, under which a request that waits takes a place
// first (lockservice.WithWaitPlace); ctx itself for one that never waits.
func (p *places) waitIn(ctx context.Context, wait time.Duration) context.Context {
	if p.limit <= 0 || wait <= 0 {
		return ctx
	}
	return lockservice.WithWaitPlace(ctx, func() (func(), error) { return p.take() })
}
