package client

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// Hold is one holder's share of a lock.
type Hold struct {
	// Count is how many times the holder took the lock and has not released
	// it yet.
	Count int `json:"count"`
	// Acquired is when the holder's count went from zero to one.
	Acquired time.Time `json:"acquired"`
	// Expires is when the hold's lease runs out; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// Lock is the state of one lock, as the server reports it.
type Lock struct {
	Name string `json:"name"`
	// Key is the key the lock is held under; "" when it is free.
	Key string `json:"key"`
	// LockedBy maps each holder to its count (the seed API's "locked_by").
	LockedBy map[string]int `json:"locked_by"`
	// State is "free", "held" (one holder) or "shared" (several).
	State string `json:"state"`
	// Fence is the fencing token issued when the lock last went from free
	// to held: it only grows, server-wide. Pass it to the service the lock
	// protects, which rejects writes carrying a token lower than one it has
	// seen.
	Fence uint64 `json:"fence"`
	// Since is when the lock last went from free to held; zero when free.
	Since time.Time `json:"since,omitzero"`
	// Expires is the earliest lease expiry of any hold; zero if none.
	Expires time.Time `json:"expires,omitzero"`
	// Holds has each holder's hold with its times; empty (not nil) when
	// the server said the lock is free, nil when it sent no holds (the
	// original locker). Written back as JSON, it is what the server sent.
	Holds map[string]Hold `json:"holds,omitzero"`
	// Waiters is how many requests wait for the lock.
	Waiters int `json:"waiters"`

	// Pools names the pools the lock is a member of, sorted; nil when it is
	// in none.
	Pools []string `json:"pools,omitempty"`
	// Metadata is a pool member's metadata, any JSON value (nil when it has
	// none): the settings of the environment it stands for, say.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// FreeSince is when a pool member last became free (or joined a pool);
	// the member free longest is handed out first. Zero when held.
	FreeSince time.Time `json:"free_since,omitzero"`

	// Message is the server's one-line account of a change ("locked
	// \"prod\" with key ..."), on the results of Lock, Unlock, Refresh and
	// ForceUnlock.
	Message string `json:"-"`
	// Legacy is true when the server sent only the original API's fields
	// (key and locked_by): it is a locker without blocking waits, leases
	// or fencing tokens.
	Legacy bool `json:"-"`
	// ReadBack is true when the answer to the request was lost (or a
	// proxy answered in the server's place) and this is the lock's state
	// read back afterwards, which shows the request was done; Message
	// then says so.
	ReadBack bool `json:"-"`
	// Lease is how long, at least, the hold runs from when the server took
	// the request (the answer's Locker-Lease header: the lease the change
	// granted, and the time the request waited for the lock before it), on
	// the results of Lock, Acquire, Refresh and the pool's: unlike Expires,
	// it needs no clock to agree with the server's. 0 when the hold has no
	// lease, or the server did not say. LeaseLeft counts it down.
	Lease time.Duration `json:"-"`
	// sent is when the request this answers was sent, by this machine's
	// clock: the lease runs at least until sent plus Lease. answered is
	// when its answer came.
	sent, answered time.Time
	// serverAhead is ServerClock's.
	serverAhead time.Duration
}

// ServerClock is how far the server's clock, by which it wrote the lock's
// times (Since, Acquired, Expires: its lease clock, which after a step of
// its wall clock runs behind or ahead of it for hours while it catches
// up), was ahead of this machine's when it answered (negative: behind),
// as the answer's Date header says. 0 when the two agree to within
// serverClockSlack (Date has whole seconds), or the answer had no Date.
// time.Now().Add(l.ServerClock()) is the present by the server's clock,
// to count the lock's times from.
func (l *Lock) ServerClock() time.Duration { return l.serverAhead }

// serverClockSlack is the least difference between the server's Date and
// this machine's clock that ServerClock reports: a Date has whole seconds,
// so one from a server whose clock agrees can read up to a second (and a
// round trip) behind.
const serverClockSlack = 2 * time.Second

// serverAheadOf is ServerClock's value for an answer with header h that
// came at answered (this machine's clock). The Date's whole second is
// taken at its middle: the server's clock read between it and the next.
func serverAheadOf(h http.Header, answered time.Time) time.Duration {
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return 0
	}
	if d := date.Add(time.Second / 2).Sub(answered); d.Abs() >= serverClockSlack {
		return d
	}
	return 0
}

// servedAt records what the answer's Date header says of the server's
// clock (ServerClock).
func (w *wireLock) servedAt(h http.Header, answered time.Time) {
	w.serverAhead = serverAheadOf(h, answered)
}

// servedMap is an answer that is a JSON object (GET /locks, GET /pools),
// with what its Date header says of the server's clock.
type servedMap[T any] struct {
	m           map[string]T
	serverAhead time.Duration
}

func (s *servedMap[T]) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.m) }

func (s *servedMap[T]) servedAt(h http.Header, answered time.Time) {
	s.serverAhead = serverAheadOf(h, answered)
}

// LeaseLeft is how much of Lease is left, at least, by this machine's
// clock: Lease counted from when the request was sent (the server took it
// later). ok is false when the server said no lease (Lease is 0). Zero or
// less: the lease may have run out before the answer arrived, and the lock
// may be another's.
func (l *Lock) LeaseLeft() (left time.Duration, ok bool) {
	if l.Lease <= 0 || l.sent.IsZero() {
		return 0, false
	}
	return time.Until(l.sent.Add(l.Lease)), true
}

// TakenAgainSince reports whether the lock has been taken afresh since the
// hold granted under fence (released, or its lease run out, then taken
// again: its fence token moved on). A hold there now, even one under the
// same key and holder, is another acquisition's, which a release or a
// renewal meant for the old hold must leave alone. False when fence is 0
// or the server has no fencing tokens (Legacy): then it cannot tell.
func (l *Lock) TakenAgainSince(fence uint64) bool {
	return fence != 0 && !l.Legacy && l.Fence != fence
}

// TakenAgainWithin reports whether holder's hold (the lock's key when
// holder is "") began at another time than acquired: the hold that began
// then was released or ran out, and the same key and holder took the lock
// again, under the same fence token when another holder kept it held
// under the key (TakenAgainSince cannot tell that). False when holder
// holds nothing, or either time is unknown (zero).
func (l *Lock) TakenAgainWithin(holder string, acquired time.Time) bool {
	if holder == "" {
		holder = l.Key
	}
	h, ok := l.Holds[holder]
	return ok && !acquired.IsZero() && !h.Acquired.IsZero() && !h.Acquired.Equal(acquired)
}

// HoldRef names one hold, for UnlockHold and RefreshHold: the fence token
// of the holding period it was taken in (0: any) and the time it began,
// its Hold.Acquired (zero: any). A fence names a holding period, not a
// hold in it: while another holder under the same key keeps the lock held,
// a hold that ran out or was released and was taken again by the same key
// and holder has the same fence, and only the time it began tells them
// apart.
type HoldRef struct {
	Fence    uint64
	Acquired time.Time
}

// Ref names holder's hold (the lock's key when holder is "") as l shows it:
// pass the Lock that Lock or Acquire returned, to release or renew that
// hold and no other.
func (l *Lock) Ref(holder string) HoldRef {
	if holder == "" {
		holder = l.Key
	}
	return HoldRef{Fence: l.Fence, Acquired: l.Holds[holder].Acquired}
}

// Free reports whether nobody holds the lock.
func (l *Lock) Free() bool { return l.Key == "" }

// Holders returns the names of the holders, sorted.
func (l *Lock) Holders() []string {
	hs := make([]string, 0, len(l.LockedBy))
	for h := range l.LockedBy {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	return hs
}

// answeredAt records the lease an answer's Locker-Lease header grants,
// when its request was sent and when the answer came.
func (w *wireLock) answeredAt(lease time.Duration, sent, answered time.Time) {
	w.lease, w.sent, w.answered = lease, sent, answered
}

// wireLock is a lock as it comes over the wire; pointers tell which fields
// the server sent.
type wireLock struct {
	Name     string          `json:"name"`
	Key      string          `json:"key"`
	LockedBy map[string]int  `json:"locked_by"`
	State    string          `json:"state"`
	Fence    *uint64         `json:"fence"`
	Since    time.Time       `json:"since"`
	Expires  time.Time       `json:"expires"`
	Holds    map[string]Hold `json:"holds"`
	Waiters  int             `json:"waiters"`
	Response string          `json:"response"`

	Pools     []string        `json:"pools"`
	Metadata  json.RawMessage `json:"metadata"`
	FreeSince time.Time       `json:"free_since"`

	// From the answer's headers, and the request (see answeredAt).
	lease          time.Duration
	sent, answered time.Time
	serverAhead    time.Duration
	// fenceChecked is the fence a release was checked against (the
	// answer's Locker-Fence-Checked header); 0 when the server did not say.
	fenceChecked uint64
	// holderChecked: the server checked the holder (and key) of a forced
	// pool removal (the answer's Locker-Holder-Checked: true).
	holderChecked bool
	// acquiredChecked is the time a release or refresh was checked
	// against (the answer's Locker-Acquired-Checked); zero when the server
	// did not say.
	acquiredChecked time.Time
}

// checks reads what the answer's headers say the server checked.
func (w *wireLock) checks(h http.Header) {
	w.fenceChecked, _ = strconv.ParseUint(h.Get("Locker-Fence-Checked"), 10, 64)
	w.holderChecked = h.Get("Locker-Holder-Checked") == "true"
	w.acquiredChecked, _ = time.Parse(time.RFC3339Nano, h.Get("Locker-Acquired-Checked"))
}

func (w *wireLock) lock(name string) *Lock {
	l := &Lock{
		Name: w.Name, Key: w.Key, State: w.State, Since: w.Since, Expires: w.Expires,
		Holds: w.Holds, Waiters: w.Waiters, Message: w.Response, Legacy: w.Fence == nil,
		LockedBy: make(map[string]int, len(w.LockedBy)),
		Pools:    w.Pools, FreeSince: w.FreeSince, Lease: w.lease, sent: w.sent, answered: w.answered, serverAhead: w.serverAhead,
	}
	if len(w.Metadata) > 0 && string(w.Metadata) != "null" {
		l.Metadata = w.Metadata
	}
	if l.Name == "" {
		l.Name = name
	}
	if w.Fence != nil {
		l.Fence = *w.Fence
	}
	// The original locker keeps holders whose count went back to zero.
	for h, n := range w.LockedBy {
		if n > 0 {
			l.LockedBy[h] = n
		}
	}
	if len(l.LockedBy) == 0 {
		l.Key = ""
	}
	if l.State == "" {
		switch {
		case l.Key == "":
			l.State = "free"
		case len(l.LockedBy) > 1:
			l.State = "shared"
		default:
			l.State = "held"
		}
	}
	return l
}

// Event is one change to a lock, from its history or the event stream.
type Event struct {
	// Type is acquired, released, expired, forced, refreshed, or (pool
	// members) added or removed.
	Type   string `json:"type"`
	Lock   string `json:"lock"`
	Key    string `json:"key"`
	Holder string `json:"holder"`
	// Count is the holder's count after the change.
	Count int       `json:"count"`
	Fence uint64    `json:"fence"`
	Time  time.Time `json:"time"`
	// Expires is the hold's lease expiry after the change, if it has one.
	Expires time.Time `json:"expires,omitzero"`
	// By is who forced a release.
	By string `json:"by,omitempty"`
	// Pools are the pools the lock belongs to after the change; Pool is the
	// pool an added or removed event is about.
	Pools []string `json:"pools,omitempty"`
	Pool  string   `json:"pool,omitempty"`
}

// errorBody is every error answer of the server.
type errorBody struct {
	Error     string          `json:"error"`
	Lock      json.RawMessage `json:"lock"`
	MaybeMade bool            `json:"maybe_made"`
}
