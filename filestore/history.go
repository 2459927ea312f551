package filestore

import (
	"math"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// Every lock's recent history is kept in memory, so its form decides much
// of the server's size: as lock.Events (192 bytes each: the lock's name
// again, time.Times of 24 bytes, the fields only pools and forced releases
// use) the history was 47% of the heap with 100,000 locks held, one event
// each. A histEvent keeps the common event in 80 bytes: without the lock's
// name (the lock's own), its type as a small number, its times as Unix
// nanoseconds. An event this form cannot give back exactly (a pool's event,
// a forced release, a time outside 1678-2262 or not in UTC) is kept whole.
type histEvent struct {
	key, holder string
	fence       uint64
	time        int64 // UnixNano
	expires     int64 // UnixNano; 0: no expiry
	count       int32
	typ         uint8       // index+1 in lock.EventTypes; 0 when whole is set
	whole       *lock.Event // the event as it was, when the compact form cannot hold it
}

// compactEvent returns e's compact form, in the history of lock name.
func compactEvent(name string, e *lock.Event) histEvent {
	h := histEvent{key: e.Key, holder: e.Holder, fence: e.Fence, count: int32(e.Count)}
	for i, t := range lock.EventTypes {
		if e.Type == t {
			h.typ = uint8(i + 1)
		}
	}
	var okTime, okExpires bool
	h.time, okTime = unixNano(e.Time)
	if e.Expires.IsZero() {
		okExpires = true
	} else {
		h.expires, okExpires = unixNano(e.Expires)
		okExpires = okExpires && h.expires != 0
	}
	if h.typ == 0 || !okTime || !okExpires || e.Lock != name || e.By != "" || e.Pools != nil || e.Pool != "" ||
		e.Count < math.MinInt32 || e.Count > math.MaxInt32 {
		whole := *e
		return histEvent{whole: &whole}
	}
	return h
}

// unixNano returns t as Unix nanoseconds, and whether time.Unix(0,
// n).UTC() gives t back exactly (same instant, UTC, no monotonic reading).
func unixNano(t time.Time) (int64, bool) {
	n := t.UnixNano()
	return n, !t.IsZero() && time.Unix(0, n).UTC() == t
}

// event gives back the event of lock name.
func (h *histEvent) event(name string) lock.Event {
	if h.whole != nil {
		return *h.whole
	}
	e := lock.Event{Type: lock.EventTypes[h.typ-1], Lock: name, Key: h.key, Holder: h.holder, Count: int(h.count), Fence: h.fence, Time: time.Unix(0, h.time).UTC()}
	if h.expires != 0 {
		e.Expires = time.Unix(0, h.expires).UTC()
	}
	return e
}

// historyEvents gives back the events of history h of lock name, oldest
// first; nil for none.
func historyEvents(name string, h []histEvent) []lock.Event {
	if len(h) == 0 {
		return nil
	}
	out := make([]lock.Event, len(h))
	for i := range h {
		out[i] = h[i].event(name)
	}
	return out
}

// compactHistory returns the last limit of events, the history of lock
// name as read from a snapshot, in an array of just their number.
func compactHistory(name string, events []lock.Event, limit int) []histEvent {
	events = events[max(0, len(events)-limit):]
	if len(events) == 0 {
		return nil
	}
	out := make([]histEvent, len(events))
	for i := range events {
		out[i] = compactEvent(name, &events[i])
	}
	return out
}

func boundHistory(h []histEvent, limit int) []histEvent {
	if len(h) > limit {
		h = h[len(h)-limit:]
	}
	return h
}

// appendHistory returns h, the history of lock name, with events added,
// keeping the last limit. It never writes into h's existing elements, so a
// slice handed to a reader stays as it was: it appends after them while h's
// array has room (a reader's slice ends before), and drops the oldest by
// slicing.
//
// Memory and copying: a short history grows like append's (most locks have
// a few events, and the history of every lock stays in memory); a full one
// is copied into a new array with room for historySlack more events, so
// a busy lock's history is copied once every historySlack changes, not at
// every change.
func appendHistory(h []histEvent, name string, events []lock.Event, limit int) []histEvent {
	if len(events) == 0 {
		return h
	}
	add := func(out []histEvent, events []lock.Event) []histEvent {
		for i := range events {
			out = append(out, compactEvent(name, &events[i]))
		}
		return out
	}
	n := len(h) + len(events)
	if n <= cap(h) {
		return boundHistory(add(h, events), limit)
	}
	c := min(limit, n) + min(limit, historySlack)
	if n < limit {
		c = min(max(n, 2*cap(h)), c)
	}
	out := make([]histEvent, 0, c)
	if drop := n - limit; drop > len(h) {
		out = add(out, events[drop-len(h):])
	} else {
		out = append(out, h[max(drop, 0):]...)
		out = add(out, events)
	}
	return out
}

// historySlack is the room for more events a full history gets when it is
// copied.
const historySlack = 32

// MaxHistoryLimit is the most events a lock may keep (LOCKER_HISTORY) with
// the file store: the snapshot holds each lock, its history included, in
// one frame of at most maxFrame (64 MiB) of JSON, and a longer one would be
// refused at the next start. The worst event within the API's limits:
// five names (lock, key, holder, by, pool) of lock.MaxNameLen (512) bytes
// that each encode to six times that (<, > and & are written as \u003c) and
// two quotes, 5 × 3,074 = 15,370 bytes, and under 256 for the rest (field
// names, a 16-digit count, a 20-digit fence, two times): under 16 KiB.
// 2,048 of them take at most 32 MiB, half a frame, and leave the other half
// for the lock itself (its holds and up to 384 KiB of escaped metadata).
// Beyond the API's limits (an event of a lock in many pools lists them
// all; holders converted from the original locker's file are as long as
// they were) the snapshot writer leaves the oldest events out rather than
// write a frame too long (fitSnapshotFrame).
const MaxHistoryLimit = 2048
