package coalesce

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// gated is a function whose calls a test counts and lets end one at a time.
type gated struct {
	mu    sync.Mutex
	calls int
	ctxs  []context.Context
	end   chan struct{} // each receive ends one call
}

func newGated() *gated { return &gated{end: make(chan struct{})} }

func (g *gated) fn(ctx context.Context) (int, error) {
	g.mu.Lock()
	g.calls++
	n := g.calls
	g.ctxs = append(g.ctxs, ctx)
	g.mu.Unlock()
	select {
	case <-g.end:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (g *gated) count() int { g.mu.Lock(); defer g.mu.Unlock(); return g.calls }

func (g *gated) ctx(i int) context.Context { g.mu.Lock(); defer g.mu.Unlock(); return g.ctxs[i] }

type result struct {
	v   int
	err error
}

func do(c *Calls[int], ctx context.Context, out chan<- result) {
	v, err := c.Do(ctx)
	out <- result{v, err}
}

// TestCallersShareTheCallAfterTheyCame: one call at a time; the callers
// that come while one is made share the next, never the one that began
// before them.
func TestCallersShareTheCallAfterTheyCame(t *testing.T) {
	g := newGated()
	c := New(g.fn)
	first := make(chan result, 1)
	go do(c, context.Background(), first)
	for g.count() != 1 {
		runtime.Gosched()
	}
	const n = 30
	rest := make(chan result, n)
	for range n {
		go do(c, context.Background(), rest)
	}
	for c.Waiting() != n {
		runtime.Gosched()
	}
	if g.count() != 1 {
		t.Fatalf("%d calls while the first is being made, want 1", g.count())
	}
	g.end <- struct{}{}
	if r := <-first; r.v != 1 || r.err != nil {
		t.Errorf("the first caller got %+v, want call 1", r)
	}
	g.end <- struct{}{}
	for range n {
		if r := <-rest; r.v != 2 || r.err != nil {
			t.Errorf("a caller that came during call 1 got %+v, want call 2", r)
		}
	}
	if g.count() != 2 {
		t.Errorf("%d calls, want 2", g.count())
	}
	// Alone, each caller has a call of its own.
	for i := range 3 {
		one := make(chan result, 1)
		go do(c, context.Background(), one)
		g.end <- struct{}{}
		if r := <-one; r.v != 3+i {
			t.Errorf("caller %d alone got %+v, want call %d", i+1, r, 3+i)
		}
	}
}

// TestCallersGivingUp: a caller whose context ends returns at once with its
// error; the call goes on while another waits for it, is cancelled when
// none does, and one nobody waits for any more never begins.
func TestCallersGivingUp(t *testing.T) {
	g := newGated()
	c := New(g.fn)
	// Two share call 1; one gives up, the other gets the result.
	patient := make(chan result, 1)
	go do(c, context.Background(), patient)
	for g.count() != 1 {
		runtime.Gosched()
	}
	quitCtx, quit := context.WithCancel(context.Background())
	// Waits for call 2, behind call 1, then gives up: call 2 never begins.
	late := make(chan result, 1)
	go do(c, quitCtx, late)
	for c.Waiting() != 1 {
		runtime.Gosched()
	}
	quit()
	if r := <-late; !errors.Is(r.err, context.Canceled) {
		t.Errorf("a caller that gave up got %+v, want its context's error", r)
	}
	if c.Waiting() != 0 {
		t.Errorf("%d wait for the next call after the only one gave up", c.Waiting())
	}
	g.end <- struct{}{}
	if r := <-patient; r.v != 1 || r.err != nil {
		t.Errorf("the patient caller got %+v, want call 1", r)
	}
	// Call 2 is the next caller's: the one given up on was never made.
	alone := make(chan result, 1)
	go do(c, context.Background(), alone)
	g.end <- struct{}{}
	if r := <-alone; r.v != 2 {
		t.Errorf("the next caller got %+v, want call 2 (the call given up on before it began is never made)", r)
	}

	// The only caller of a call being made gives up: the call is cancelled.
	quitCtx, quit = context.WithCancel(context.Background())
	gone := make(chan result, 1)
	go do(c, quitCtx, gone)
	for g.count() != 3 {
		runtime.Gosched()
	}
	callCtx := g.ctx(2)
	if callCtx.Err() != nil {
		t.Fatalf("the call's context ended before its caller gave up")
	}
	quit()
	<-gone
	<-callCtx.Done() // never ends: the test times out
	// And the next caller has a call of its own.
	again := make(chan result, 1)
	go do(c, context.Background(), again)
	for g.count() != 4 {
		runtime.Gosched()
	}
	g.end <- struct{}{}
	if r := <-again; r.v != 4 || r.err != nil {
		t.Errorf("after a cancelled call: %+v, want call 4", r)
	}
}

// TestAPanicIsTheCallsError: the call runs in a goroutine of its own, where
// a panic would end the process.
func TestAPanicIsTheCallsError(t *testing.T) {
	c := New(func(context.Context) (int, error) { panic("boom") })
	if _, err := c.Do(context.Background()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panicking call: %v, want an error that says so", err)
	}
	if _, err := c.Do(context.Background()); err == nil {
		t.Errorf("the next call: no error")
	}
}
