// Package coalesce makes one call of a function serve the callers that ask
// for it at the same time, without handing any of them a result from
// before it asked.
//
// Reads that anyone may ask for (a public /metrics scrape reads every lock;
// an open /readyz checks the store) must not let many clients at once make
// the store work once each. A Calls makes its calls one at a time, and the
// callers that come while one is being made share the next, which begins
// after they came: no caller gets a result older than its request, and
// however many ask at once, one call is made at a time.
package coalesce

import (
	"context"
	"fmt"
	"sync"
)

// Calls shares the calls of fn between the callers of Do.
type Calls[T any] struct {
	fn func(context.Context) (T, error)

	mu      sync.Mutex
	running bool     // a call of fn is being made
	next    *call[T] // the call the callers coming now will share; nil: none waits
}

// call is one call of fn, shared by the callers that wait for it.
type call[T any] struct {
	ctx     context.Context // fn's: cancelled once no caller waits for it
	cancel  context.CancelFunc
	done    chan struct{} // closed once v and err are set
	v       T
	err     error
	waiters int // the callers still waiting for it
}

// New returns Calls of fn. fn's context is its own, not a caller's: it is
// cancelled when every caller that waits for the call has given up.
func New[T any](fn func(context.Context) (T, error)) *Calls[T] {
	return &Calls[T]{fn: fn}
}

// Do returns the result of a call of fn that began after Do was called:
// at once when none is being made, else the next, shared with the callers
// that came meanwhile. A caller whose ctx ends first returns ctx's error
// (the call goes on for the others).
func (c *Calls[T]) Do(ctx context.Context) (T, error) {
	c.mu.Lock()
	r := c.next
	if r == nil {
		r = &call[T]{done: make(chan struct{})}
		r.ctx, r.cancel = context.WithCancel(context.Background())
		c.next = r
	}
	r.waiters++
	if !c.running {
		c.start()
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	r.waiters--
	if r.waiters == 0 {
		// Nobody wants it any more: a call being made is told to stop,
		// one not begun never begins.
		r.cancel()
		if c.next == r {
			c.next = nil
		}
	}
	c.mu.Unlock()
	var zero T
	return zero, ctx.Err()
}

// start makes the call c.next, with c.mu held; when it ends, the next one
// begins if any caller waits for it.
func (c *Calls[T]) start() {
	r := c.next
	c.next, c.running = nil, true
	go func() {
		r.v, r.err = c.call(r.ctx)
		r.cancel()
		close(r.done)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.running = false
		if c.next != nil {
			c.start()
		}
	}()
}

// call calls fn. It runs in a goroutine of its own, where a panic would
// end the process: it is the call's error instead, as net/http makes it
// the failure of the one request that met it.
func (c *Calls[T]) call(ctx context.Context) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.fn(ctx)
}

// Waiting returns how many callers wait for a call that has not begun.
func (c *Calls[T]) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		return 0
	}
	return c.next.waiters
}
