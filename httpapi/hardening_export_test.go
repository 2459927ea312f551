package httpapi

// Seams for the hardening tests (package httpapi_test).

import (
	"crypto/subtle"
	"sync"
	"time"
)

// CompareLog records the credential comparisons a server makes.
type CompareLog struct {
	mu    sync.Mutex
	calls [][2]int // lengths of the two sides of each comparison
}

// Calls returns the comparisons made so far (the lengths compared) and
// forgets them.
func (l *CompareLog) Calls() [][2]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// LogCompares makes s record every credential comparison it makes.
func LogCompares(s *Server) *CompareLog {
	l := &CompareLog{}
	s.guard.compare = func(x, y []byte) int {
		l.mu.Lock()
		l.calls = append(l.calls, [2]int{len(x), len(y)})
		l.mu.Unlock()
		return subtle.ConstantTimeCompare(x, y)
	}
	return l
}

// SetLimiterClock makes s's limit on failed logins read time from now.
func SetLimiterClock(s *Server, now func() time.Time) {
	s.guard.limiter.mu.Lock()
	s.guard.limiter.now = now
	s.guard.limiter.mu.Unlock()
}

// LimiterClients returns how many client addresses s's limiter remembers.
func LimiterClients(s *Server) int { return s.guard.limiter.clients() }

// SetStreamWriteTimeout sets how long a write of an event stream of s may
// take.
func SetStreamWriteTimeout(s *Server, d time.Duration) { s.streamWriteTimeout = d }

// SetResponseWriteTimeout sets how long a part of an answer may wait for
// its client, for the test t.
func SetResponseWriteTimeout(t interface{ Cleanup(func()) }, d time.Duration) {
	old := responseWriteTimeout
	responseWriteTimeout = d
	t.Cleanup(func() { responseWriteTimeout = old })
}

// SetLargeBodies sets how many request bodies over 4 KiB may be received at
// once, for the test t (which must not run in parallel).
func SetLargeBodies(t interface{ Cleanup(func()) }, n int) {
	old := largeBodies
	largeBodies = make(chan struct{}, n)
	t.Cleanup(func() { largeBodies = old })
}

// BlockCompares makes every credential comparison s makes wait until
// release is called; started returns how many have begun.
func BlockCompares(s *Server) (started func() int, release func()) {
	var mu sync.Mutex
	n := 0
	gate := make(chan struct{})
	s.guard.compare = func(x, y []byte) int {
		mu.Lock()
		n++
		mu.Unlock()
		<-gate
		return subtle.ConstantTimeCompare(x, y)
	}
	var once sync.Once
	return func() int { mu.Lock(); defer mu.Unlock(); return n }, func() { once.Do(func() { close(gate) }) }
}

// LimiterWaiting returns how many logins wait for others' checks to end
// before s's limiter can tell whether a token is left for them.
func LimiterWaiting(s *Server) int {
	s.guard.limiter.mu.Lock()
	defer s.guard.limiter.mu.Unlock()
	return s.guard.limiter.waiting
}

// SetHeartbeat sets how often an idle event stream is pinged, for the test
// t (which must not run in parallel).
func SetHeartbeat(t interface{ Cleanup(func()) }, d time.Duration) {
	old := heartbeat
	heartbeat = d
	t.Cleanup(func() { heartbeat = old })
}
