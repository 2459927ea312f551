// Package logevery holds back a log message that would repeat: it goes out
// at most once a minute, saying how many times it was held back since. A
// lock server under a limit, or without its disk or database, would
// otherwise write a line for every request or retry.
package logevery

import (
	"sync"
	"time"
)

// Minute lets a message through at most once a minute. The zero value is
// ready, and lets the first one through.
type Minute struct {
	mu   sync.Mutex
	last time.Time // when one was last let through
	held int       // held back since
}

// Allow reports whether the message may be written at now and, when it may,
// how many were held back since the last one written.
func (m *Minute) Allow(now time.Time) (ok bool, heldBack int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.last.IsZero() && now.Sub(m.last) < time.Minute {
		m.held++
		return false, 0
	}
	heldBack = m.held
	m.last, m.held = now, 0
	return true, heldBack
}
