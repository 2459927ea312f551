package resource_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/cutproxy"
)

// waitUntil polls cond for up to 30 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWaitThroughAProxyWithAShortTimeout: a put's wait through a proxy
// whose read timeout (1.5s here, 60s for nginx and an AWS ALB by default)
// is shorter than the 5 minutes the resource asks in one request is cut
// short each time, and the step loses its place in the server's queue:
// the step says so, naming source.wait_chunk (not the CLI's --wait-chunk,
// nor the Go client's Options.WaitChunk). With wait_chunk below the
// proxy's timeout, it waits through the proxy and keeps its place: a
// client that came after it waits after it.
func TestWaitThroughAProxyWithAShortTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	p := cutproxy.New(t, s.URL, 1500*time.Millisecond)
	if _, err := c.Lock(ctx, "slow", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	waiters := func(n int) func() bool {
		return func() bool { return get(t, c, "slow").Waiters == n }
	}
	// other waits for the lock directly (no proxy), after the step.
	other := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := c.Acquire(ctx, "slow", client.LockOptions{Key: "b", Wait: time.Minute})
			done <- err
		}()
		return done
	}

	// Without wait_chunk: cut after 1.5s, the place in the queue lost;
	// the step says why and what to set, and asks again.
	source := obj{"locker_uri": p.URL, "lock_name": "slow", "retry_delay": "100ms"}
	step := start(t, binary, request(source, lockParams("me", ""), nil), "out", t.TempDir())
	step.waitStderr("waiting for it")
	waitUntil(t, "the step waits in the server's queue", waiters(1))
	otherDone := other()
	waitUntil(t, "the other client waits after the step", waiters(2))
	step.waitStderr("source.wait_chunk")
	log := step.stderrSoFar()
	for _, want := range []string{"HTTP 504", "proxy or load balancer whose read (or idle) timeout", "raise the proxy's read timeout above 5m0s", "set source.wait_chunk below it, e.g. wait_chunk: 1s", "lost its place in the server's queue"} {
		if !strings.Contains(log, want) {
			t.Errorf("the step's output does not say %q:\n%s", want, log)
		}
	}
	for _, not := range []string{"--wait-chunk", "LOCKER_WAIT_CHUNK", "Options.WaitChunk"} {
		if strings.Contains(log, not) {
			t.Errorf("the step's output names %q, which a pipeline cannot set:\n%s", not, log)
		}
	}
	// The other client, which came later, gets the lock first.
	if _, err := c.Unlock(ctx, "slow", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-otherDone; err != nil {
		t.Fatalf("the other client's wait: %v", err)
	}
	if l := get(t, c, "slow"); l.Key != "b" || !step.running() {
		t.Fatalf("the lock went to %+v (step running: %v); want the other client's, the step having lost its place", l, step.running())
	}
	// The step goes on asking, and gets the lock once it is free.
	if _, err := c.Unlock(ctx, "slow", "b", ""); err != nil {
		t.Fatal(err)
	}
	if r := step.wait(); r.code != 0 {
		t.Fatalf("the step failed (exit %d):\n%s", r.code, r.stderr)
	}
	if _, err := c.Unlock(ctx, "slow", "me", ""); err != nil {
		t.Fatal(err)
	}

	// With wait_chunk: 1s, below the proxy's 1.5s: each request ends with
	// the server's answer, the step keeps its place, and gets the lock
	// before the client that came after it.
	if _, err := c.Lock(ctx, "slow", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	source["wait_chunk"] = "1s"
	p.Puts.Store(0)
	step = start(t, binary, request(source, lockParams("me", ""), nil), "out", t.TempDir())
	waitUntil(t, "the step waits in the server's queue", waiters(1))
	otherDone = other()
	waitUntil(t, "the other client waits after the step", waiters(2))
	// Three requests of 1s each: the step has waited past the proxy's
	// timeout.
	waitUntil(t, "the step asks a third time", func() bool { return p.Puts.Load() >= 3 })
	// Released while the step is in the server's queue, not between two
	// of its requests: a kept place is not a waiter, and a release in
	// that gap goes to the next in line (docs/api.md). The proxy counts a
	// request before the server has it; the server keeps the place before
	// it answers, so the third request alone makes two waiters again.
	waitUntil(t, "the step's third request waits in the server's queue", waiters(2))
	if _, err := c.Unlock(ctx, "slow", "a", ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the lock is taken again", func() bool { return !get(t, c, "slow").Free() })
	if l := get(t, c, "slow"); l.Key != "me" {
		t.Fatalf("with wait_chunk 1s, the lock went to %+v; want the step's, first in the queue; its output:\n%s", l, step.stderrSoFar())
	}
	r := step.wait()
	if r.code != 0 {
		t.Fatalf("the step with wait_chunk 1s failed (exit %d):\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "504") || strings.Contains(r.stderr, "warning") {
		t.Errorf("the step with wait_chunk 1s met the proxy's timeout, or warned:\n%s", r.stderr)
	}
	if _, err := c.Unlock(ctx, "slow", "me", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-otherDone; err != nil {
		t.Fatalf("the other client's wait: %v", err)
	}
}

// TestPoolWaitThroughAProxyWithAShortTimeout: the same for a pool: an
// acquire cut short by the proxy names source.wait_chunk; with wait_chunk
// below the proxy's timeout, it waits through it.
func TestPoolWaitThroughAProxyWithAShortTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	p := cutproxy.New(t, s.URL, 1500*time.Millisecond)
	if _, err := c.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "env-1", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	source := obj{"locker_uri": p.URL, "pool": "envs", "retry_delay": "100ms"}
	acquire := obj{"acquire": true, "key": "me"}

	step := start(t, binary, request(source, acquire, nil), "out", t.TempDir())
	step.waitStderr("source.wait_chunk")
	if log := step.stderrSoFar(); !strings.Contains(log, "set source.wait_chunk below it, e.g. wait_chunk: 1s") || strings.Contains(log, "Options.WaitChunk") {
		t.Errorf("the pool step's output:\n%s", log)
	}
	step.cmd.Process.Kill()
	step.wait()

	source["wait_chunk"] = 1 // a number of seconds
	p.Puts.Store(0)
	step = start(t, binary, request(source, acquire, nil), "out", t.TempDir())
	waitUntil(t, "the step asks a third time", func() bool { return p.Puts.Load() >= 3 })
	if _, err := c.Unlock(ctx, "env-1", "a", ""); err != nil {
		t.Fatal(err)
	}
	r := step.wait()
	if r.code != 0 || strings.Contains(r.stderr, "504") {
		t.Fatalf("the pool step with wait_chunk 1 (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "env-1"); l.Key != "me" {
		t.Fatalf("env-1 is %+v; want held by the step", l)
	}
}

// TestTimeoutThroughAProxyNamesWaitChunk: a put whose source.timeout runs
// out while a proxy keeps cutting its waits short gives up saying what cut
// them and naming source.wait_chunk, not the last request's "context
// deadline exceeded" (the timeout usually ends a request in flight).
func TestTimeoutThroughAProxyNamesWaitChunk(t *testing.T) {
	t.Parallel()
	gaveUpNamingWaitChunk(t, func(ctx context.Context, c *client.Client) error {
		_, err := c.Lock(ctx, "slow", client.LockOptions{Key: "a"})
		return err
	}, obj{"lock_name": "slow"}, lockParams("me", ""))
}

// TestPoolTimeoutThroughAProxyNamesWaitChunk: the same for a pool acquire.
func TestPoolTimeoutThroughAProxyNamesWaitChunk(t *testing.T) {
	t.Parallel()
	gaveUpNamingWaitChunk(t, func(ctx context.Context, c *client.Client) error {
		if _, err := c.AddMember(ctx, "envs", "env-1", nil); err != nil {
			return err
		}
		_, err := c.Lock(ctx, "env-1", client.LockOptions{Key: "a"})
		return err
	}, obj{"pool": "envs"}, obj{"key": "me", "acquire": true})
}

// gaveUpNamingWaitChunk runs a put with params through a proxy that cuts
// waits after 1.5s, with source (plus the proxy's URL, a 4s timeout)
// after hold has made what it waits for held, and checks that it fails at
// the timeout naming the cut and source.wait_chunk on its last line.
func gaveUpNamingWaitChunk(t *testing.T, hold func(context.Context, *client.Client) error, source, params obj) {
	t.Helper()
	s := startServer(t, serverOpts{})
	if err := hold(context.Background(), s.client(t, "", "")); err != nil {
		t.Fatal(err)
	}
	source["locker_uri"] = cutproxy.New(t, s.URL, 1500*time.Millisecond).URL
	source["retry_delay"], source["timeout"] = "100ms", "4s"
	r := start(t, binary, request(source, params, nil), "out", t.TempDir()).wait()
	if r.code == 0 {
		t.Fatalf("the step took what is held:\n%s", r.stderr)
	}
	last := r.stderr[strings.LastIndex(strings.TrimRight(r.stderr, "\n"), "\n")+1:]
	for _, want := range []string{"gave up", "source.timeout", "HTTP 504", "set source.wait_chunk below it"} {
		if !strings.Contains(last, want) {
			t.Errorf("the step's last line does not say %q: %s", want, last)
		}
	}
}

// TestWaitCutShortPausesBriefly: a wait a proxy cut short (the server was
// there all along, waiting) is asked again after the short first pause
// each time, not after a pause that doubles with every cut up to
// retry_delay: behind nginx's 60s timeout with the default 10s, the step
// was out of the server's queue for 10 of every 70 seconds after the
// fourth cut, and any release in that time went to someone else.
func TestWaitCutShortPausesBriefly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	p := cutproxy.New(t, s.URL, 1200*time.Millisecond)
	if _, err := c.Lock(ctx, "cut", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	source := obj{"locker_uri": p.URL, "lock_name": "cut", "retry_delay": "8s"}
	step := start(t, binary, request(source, lockParams("me", ""), nil), "out", t.TempDir())
	waitUntil(t, "three waits cut short", func() bool { return strings.Count(step.stderrSoFar(), "lost its place") >= 3 })
	log := step.stderrSoFar()
	if n := strings.Count(log, "lost its place in the server's queue; trying again in 1s"); n < 3 {
		t.Errorf("%d of the pauses after a cut are 1s; want all:\n%s", n, log)
	}
	step.cmd.Process.Kill()
	step.wait()
}
