package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestAJoinGivesUpOnTheLeaveRetryWhenItsContextEnds: a Join waits for the
// heartbeat's retry of failed Leaves (retryingLeaves), which runs just
// after the database failed and may take up to QueryTimeout for each of
// its statements (10s by default). A Join whose request ended meanwhile
// (its client gone, its wait's time up) waited all the same, and
// answered that long after. Nothing is written before that wait: it
// gives up at once, and joins no one.
func TestAJoinGivesUpOnTheLeaveRetryWhenItsContextEnds(t *testing.T) {
	dbURL := pgtest.Schema(t)
	ctx := context.Background()
	a, err := Open(ctx, dbURL, Options{Replica: "a", Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ticket, err := a.Join(ctx, "q", lock.Waiter{Key: "k", Holder: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// The retry is under way until the test lets it go on.
	retrying := make(chan struct{})
	goOn := make(chan struct{})
	var once, letGo sync.Once
	release := func() { letGo.Do(func() { close(goOn) }) }
	defer release() // before a.Close, whose heartbeat would wait for ever
	beforeLeaveRetry = func() {
		once.Do(func() {
			close(retrying)
			<-goOn
		})
	}
	t.Cleanup(func() { beforeLeaveRetry = nil })
	// a's Leave failed: the heartbeat retries it.
	a.mu.Lock()
	delete(a.live, ticket)
	a.left = append(a.left, int64(ticket))
	a.mu.Unlock()
	select {
	case <-retrying:
	case <-time.After(10 * time.Second):
		t.Fatal("a's heartbeat never retried its failed Leave")
	}

	type joined struct {
		ticket lock.Ticket
		err    error
	}
	done := make(chan joined, 1)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := lock.Waiter{Key: "late", Holder: "late"}
	go func() {
		tk, err := a.Join(jctx, "q", w)
		done <- joined{tk, err}
	}()
	time.Sleep(50 * time.Millisecond) // most often waiting by now; either way
	cancel()
	var j joined
	select {
	case j = <-done:
	case <-time.After(10 * time.Second):
		t.Error("the Join whose context ended still waits for the heartbeat's retry")
		release()
		j = <-done
	}
	if j.ticket != 0 || !errors.Is(j.err, context.Canceled) {
		t.Errorf("Join: ticket %d, %v; want none, context.Canceled", j.ticket, j.err)
	}
	release()
	// The retry finishes (its Leave's row deleted); the Join that gave
	// up left nothing behind.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		n := len(a.left)
		a.mu.Unlock()
		var rows int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM locker_waiters`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if n == 0 && rows == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows in the queue, %d Leaves to retry; want none", rows, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And the queue takes Joins again.
	if _, err := a.Join(ctx, "q", w); err != nil {
		t.Fatal(err)
	}
}

// leaveGate is a sync.RWMutex whose readers can give up: the writer waits
// for the readers in it, and keeps new ones out, who give up when their
// context ends.
func TestLeaveGate(t *testing.T) {
	var g leaveGate
	bg := context.Background()
	if err := g.rlock(bg, bg); err != nil {
		t.Fatal(err)
	}
	locked := make(chan struct{})
	go func() {
		g.lock()
		close(locked)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		waiting := g.writer != nil
		g.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never came")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-locked:
		t.Fatal("the writer has the gate while a reader is in it")
	default:
	}
	// A new reader waits for the writer waiting, until its context ends.
	ended, cancel := context.WithCancel(bg)
	cancel()
	if err := g.rlock(bg, ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("a reader whose context ended: %v, want context.Canceled", err)
	}
	g.runlock()
	select {
	case <-locked:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never had the gate once the reader left")
	}
	short, cancel := context.WithTimeout(bg, time.Millisecond)
	defer cancel()
	if err := g.rlock(short, bg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a reader whose context ran out: %v, want context.DeadlineExceeded", err)
	}
	g.unlock()
	if err := g.rlock(bg, bg); err != nil {
		t.Fatal(err)
	}
	g.runlock()
	g.lock() // no reader in it
	g.unlock()
}
