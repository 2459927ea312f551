package lockservice

import (
	"context"
	"testing"
	"time"
)

// TestWaitingKeepsItsStart: the oldest wait (locker_oldest_wait_seconds)
// counts from when a request took its place in line. A client that waits in
// parts (the CLI, the resource) leaves with its place kept and takes it
// back: its wait goes on, and is not started again each part. While the
// place is only kept, nobody waits.
func TestWaitingKeepsItsStart(t *testing.T) {
	ctx := context.Background()
	q := newQueues(10, 10, nil)
	if n, oldest := q.waiting(ctx); n != 0 || !oldest.IsZero() {
		t.Fatalf("empty queues: %d waiting, oldest %v", n, oldest)
	}
	first, _, err := q.join(ctx, "x", "k", "ci")
	if err != nil {
		t.Fatal(err)
	}
	start := first.since
	other, _, err := q.join(ctx, "y", "k", "other")
	if err != nil {
		t.Fatal(err)
	}
	other.since = start.Add(time.Minute) // later, whatever the clock's resolution
	if n, oldest := q.waiting(ctx); n != 2 || !oldest.Equal(start) {
		t.Fatalf("two waiting: %d, oldest %v, want 2 and %v", n, oldest, start)
	}
	q.leave(ctx, "x", first, time.Minute)
	if n, oldest := q.waiting(ctx); n != 1 || !oldest.Equal(other.since) {
		t.Fatalf("with x's place only kept: %d waiting, oldest %v, want 1 and %v", n, oldest, other.since)
	}
	again, _, err := q.join(ctx, "x", "k", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if n, oldest := q.waiting(ctx); n != 2 || !oldest.Equal(start) {
		t.Fatalf("x back in its place (%v): %d waiting, oldest %v, want 2 and %v", again.since, n, oldest, start)
	}
	q.leave(ctx, "x", again, 0)
	q.leave(ctx, "y", other, 0)
	if n, oldest := q.waiting(ctx); n != 0 || !oldest.IsZero() {
		t.Fatalf("all gone: %d waiting, oldest %v", n, oldest)
	}
}
