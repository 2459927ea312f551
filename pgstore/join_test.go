package pgstore_test

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// holdback is a TCP proxy that, while held, keeps the database's answers
// from the client (its requests still pass): a statement is made, its
// answer delayed.
type holdback struct {
	ln      net.Listener
	mu      sync.Mutex
	held    bool
	release chan struct{}
}

func startHoldback(t *testing.T, target string) *holdback {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &holdback{ln: ln, release: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go pass(c, up, nil)
			go pass(up, c, h.wait)
		}
	}()
	return h
}

// wait blocks while answers are held.
func (h *holdback) wait() {
	h.mu.Lock()
	held, release := h.held, h.release
	h.mu.Unlock()
	if held {
		<-release
	}
}

func (h *holdback) hold() {
	h.mu.Lock()
	h.held, h.release = true, make(chan struct{})
	h.mu.Unlock()
}

func (h *holdback) let() {
	h.mu.Lock()
	h.held = false
	close(h.release)
	h.mu.Unlock()
}

func pass(from, to net.Conn, before func()) {
	defer to.Close()
	defer from.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			if before != nil {
				before()
			}
			if _, err := to.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestJoinByAClientThatLeaves: a waiter whose request ends after its row
// was committed but before the answer came does not leave the row in the
// queue, ahead of everyone after it (a review saw every request refused
// for 10 s behind such rows, until they went stale).
func TestJoinByAClientThatLeaves(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	p, _ := url.Parse(schemaURL)
	h := startHoldback(t, p.Host)
	// One message a statement (no prepare round trip first), so that the
	// statement is made while its answer is held.
	s, err := pgstore.Open(bg, withHost(t, schemaURL, h.ln.Addr().String())+"&default_query_exec_mode=simple_protocol", pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(bg, schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	rows := func() int {
		var n int
		if err := conn.QueryRow(bg, `SELECT count(*) FROM locker_waiters WHERE name = 'gone'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	h.hold()
	ctx, cancel := context.WithCancel(bg)
	joined := make(chan error, 1)
	go func() {
		_, err := s.Join(ctx, "gone", lock.Waiter{Key: "k", Holder: "h"})
		joined <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for rows() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the waiter's row was never made")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // the client leaves, its row made, the answer on its way
	time.Sleep(100 * time.Millisecond)
	h.let()
	if err := <-joined; err == nil {
		t.Fatal("Join of a request that ended succeeded")
	}
	deadline = time.Now().Add(10 * time.Second)
	for rows() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the row of a waiter that left is still in the queue: %d rows", rows())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ahead, err := s.Ahead(bg, "gone", 0); err != nil || len(ahead) != 0 {
		t.Fatalf("Ahead after the waiter left: %v, %v", ahead, err)
	}
}
