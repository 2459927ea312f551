package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// places bounds the connections that requests lasting as long as their
// clients like (blocking waits, event streams) may hold, so that the rest
// of the server's connections (LOCKER_MAX_CONNECTIONS) stay for requests
// that answer at once: the release that ends a wait must get through. (A
// review: with LOCKER_MAX_CONNECTIONS=20, 20 open event streams kept every
// PUT and /healthz out.) Over HTTP/2 a connection carries many requests:
// it holds one place, whatever it carries.
type places struct {
	limit int // at most this many connections; <= 0: no limit

	mu     sync.Mutex
	n      int         // connections holding a place
	byConn map[any]int // the long requests of each such connection
}

func newPlaces(limit int) *places {
	return &places{limit: limit, byConn: map[any]int{}}
}

// take takes a place for r's connection, if it holds none already, and
// returns the function that gives it back. It fails with EUNAVAILABLE (503)
// when every place is held.
func (p *places) take(r *http.Request) (release func(), err error) {
	if p.limit <= 0 {
		return func() {}, nil
	}
	var conn any = r // a test's server without ConnContext: each request its own
	if c := r.Context().Value(connKey{}); c != nil {
		conn = c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byConn[conn] == 0 {
		if p.n >= p.limit {
			return nil, lock.Errorf(lock.EUNAVAILABLE, "too many connections are held by waiting requests and event streams (limit %d; the server keeps the rest of LOCKER_MAX_CONNECTIONS for requests that answer at once); try again later", p.limit)
		}
		p.n++
	}
	p.byConn[conn]++
	return sync.OnceFunc(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.byConn[conn]--; p.byConn[conn] == 0 {
			delete(p.byConn, conn)
			p.n--
		}
	}), nil
}

// waitIn returns ctx, under which a request that waits takes a place for
// r's connection first (lockservice.WithWaitPlace); ctx itself for one
// that never waits.
func (p *places) waitIn(ctx context.Context, r *http.Request, wait time.Duration) context.Context {
	if p.limit <= 0 || wait <= 0 {
		return ctx
	}
	return lockservice.WithWaitPlace(ctx, func() (func(), error) { return p.take(r) })
}
