// Package lock holds Locker's domain: what a lock is, the rules that change
// one, the errors those rules report, and the interface a store implements.
// It does no I/O; stores (filestore, pgstore) and transports (httpapi) build
// on it and never re-implement its rules.
package lock

import (
	"encoding/json"
	"slices"
	"time"
)

// Hold is one holder's share of a lock.
type Hold struct {
	// Count is how many times the holder took the lock and has not yet
	// released it (counted re-entrancy).
	Count int `json:"count"`
	// Acquired is when the holder's count went from zero to one.
	Acquired time.Time `json:"acquired"`
	// Expires is when the hold's lease runs out; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// Lock is the state of one named lock. A free lock has an empty Key and no
// Holds. Values are copied with Clone before they are changed: stores hand
// out committed values that readers may hold on to.
type Lock struct {
	Name string
	// Key is the key the lock is held under; "" when free.
	Key string
	// Holds are the holders' holds, sorted by holder. Never a zero count.
	Holds Holds
	// Fence is the token issued when the lock last went from free to held.
	// Tokens come from one server-wide counter that only grows.
	Fence uint64
	// Since is when the lock last went from free to held; zero when free.
	Since time.Time
	// FreeSince is when the lock last became free (or joined its first
	// pool): a pool hands out the member free longest. Zero when held.
	FreeSince time.Time
	// Pools are the pools the lock belongs to, sorted; nil for none.
	// Changed by replacing the slice, never in place.
	Pools []string
	// Metadata is any JSON value attached to the lock (a pool member's
	// settings, say); nil for none. Replaced, never changed in place.
	Metadata json.RawMessage
	// Waiters is how many requests were waiting for the lock when this
	// state was read. The service fills it in; stores do not keep it.
	Waiters int
}

// Free reports whether nobody holds the lock.
func (l *Lock) Free() bool { return l.Key == "" }

// Clone returns a deep copy of l.
func (l Lock) Clone() Lock {
	l.Holds = slices.Clone(l.Holds)
	return l
}

// Holders returns the names of the holders, sorted.
func (l *Lock) Holders() []string {
	hs := make([]string, len(l.Holds))
	for i, h := range l.Holds {
		hs[i] = h.Holder
	}
	return hs
}

// Counts returns each holder's count: the seed API's "locked_by".
func (l *Lock) Counts() map[string]int {
	m := make(map[string]int, len(l.Holds))
	for _, h := range l.Holds {
		m[h.Holder] = h.Count
	}
	return m
}

// NextExpiry returns the earliest lease expiry of any hold, zero if none.
func (l *Lock) NextExpiry() time.Time {
	var t time.Time
	for _, h := range l.Holds {
		if !h.Expires.IsZero() && (t.IsZero() || h.Expires.Before(t)) {
			t = h.Expires
		}
	}
	return t
}

// EventType names a change to a lock.
type EventType string

const (
	Acquired  EventType = "acquired"  // a holder's count went up
	Released  EventType = "released"  // a holder's count went down
	Expired   EventType = "expired"   // a holder's lease ran out: all its count is gone
	Forced    EventType = "forced"    // an operator released a holder's hold
	Refreshed EventType = "refreshed" // a holder's lease was extended
	Added     EventType = "added"     // the lock joined a pool, or its metadata changed
	Removed   EventType = "removed"   // the lock left a pool
	// Forgotten: the lock, free, was removed from the store with its
	// history (Forget). Last in a change's events: a store that finds it
	// there deletes the lock instead of writing its state.
	Forgotten EventType = "forgotten"
)

// EventTypes are every type of event, in the order above (stores may
// number them by it, in memory only).
var EventTypes = [...]EventType{Acquired, Released, Expired, Forced, Refreshed, Added, Removed, Forgotten}

// Forgets reports whether a change's events remove the lock from the store
// (their last is Forgotten): the store then deletes the lock and its
// history rather than keep its state.
func Forgets(events []Event) bool {
	return len(events) > 0 && events[len(events)-1].Type == Forgotten
}

// Event records one change to a lock, for its history and the event stream.
type Event struct {
	Type   EventType `json:"type"`
	Lock   string    `json:"lock"`
	Key    string    `json:"key"`
	Holder string    `json:"holder"`
	// Count is the holder's count after the change.
	Count int       `json:"count"`
	Fence uint64    `json:"fence"`
	Time  time.Time `json:"time"`
	// Expires is the hold's lease expiry after the change, if it has one.
	Expires time.Time `json:"expires,omitzero"`
	// By is who forced a release.
	By string `json:"by,omitempty"`
	// Pools are the pools the lock belongs to after the change; Pool is the
	// pool an added/removed event is about.
	Pools []string `json:"pools,omitempty"`
	Pool  string   `json:"pool,omitempty"`
}
