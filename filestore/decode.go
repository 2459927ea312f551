package filestore

import (
	"encoding/json"
	"runtime"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/internal/jsonscan"
	"github.com/cloudfoundry-community/locker/lock"
)

// Recovery decodes every record of the snapshot and the log: with 100,000
// locks that is hundreds of thousands of JSON documents, and encoding/json
// (reflection, a validating pre-scan, a new string for every field) made
// start-up take seconds. The records are written by encoding/json in one
// known shape, so they are read here by a decoder for exactly that shape:
// the fields of diskLock, lock.Hold, lock.Event, logRecord and
// snapshotEntry, strings without escapes, integers, RFC 3339 times. Anything
// else — an escape, a null, an unknown or repeated field, a number with a
// fraction, a pool member's metadata — is not guessed at: the whole document goes to encoding/json
// instead, so a document decodes exactly as encoding/json decodes it
// (FuzzFastDecode checks this). Strings that repeat the lock's name, key or
// a holder (in events) share its memory.

// recoveryChunk is how many frames recovery reads before decoding them.
const recoveryChunk = 4096

// decodeWorkers is how many goroutines decode a chunk of frames (a
// variable for tests).
var decodeWorkers = func() int { return min(runtime.GOMAXPROCS(0), 4) }

// decodeFrames decodes each payload into out[i] (errors in errs[i]), on
// several goroutines when there are enough payloads to share; out and errs
// are reused from the last call. The decoders share nothing, so the result
// is the same as decoding them one after the other.
func decodeFrames[T any](payloads [][]byte, out []T, errs []error, dec func([]byte, *T) error) ([]T, []error) {
	n := len(payloads)
	if cap(out) < n {
		out, errs = make([]T, n), make([]error, n)
	}
	out, errs = out[:n], errs[:n]
	clear(out) // the decoders fill in only the fields present
	decodeRange := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			errs[i] = dec(payloads[i], &out[i])
		}
	}
	workers := min(decodeWorkers(), max(1, n/64))
	if workers <= 1 {
		decodeRange(0, n)
		return out, errs
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += per {
		wg.Go(func() { decodeRange(lo, min(n, lo+per)) })
	}
	wg.Wait()
	return out, errs
}

// decodeLogRecord decodes a log record's payload into rec.
func decodeLogRecord(payload []byte, rec *logRecord) error {
	d := fastDecoder{Scanner: jsonscan.New(payload)}
	d.holders = d.buf[:0]
	if d.logRecord(rec) && d.End() {
		return nil
	}
	*rec = logRecord{}
	return json.Unmarshal(payload, rec)
}

// decodeSnapshotEntry decodes a snapshot entry's payload into se.
func decodeSnapshotEntry(payload []byte, se *snapshotEntry) error {
	d := fastDecoder{Scanner: jsonscan.New(payload)}
	d.holders = d.buf[:0]
	if d.snapshotEntry(se) && d.End() {
		return nil
	}
	*se = snapshotEntry{}
	return json.Unmarshal(payload, se)
}

// fastDecoder reads one JSON document of a known shape. Each method
// returns false when the input is outside what it handles (not necessarily
// invalid JSON); the caller then falls back to encoding/json.
type fastDecoder struct {
	jsonscan.Scanner
	// Strings seen in this document, reused for equal strings later on.
	name, key string
	holders   []string
	buf       [4]string // holders' first backing array
}

// str decodes a string, reusing the memory of an equal string in reuse.
func (d *fastDecoder) str(reuse ...string) (string, bool) {
	b, _, ok := d.RawString()
	if !ok {
		return "", false
	}
	for _, r := range reuse {
		if r == string(b) { // no allocation
			return r, true
		}
	}
	return string(b), true
}

// holder decodes a holder's name, reusing one seen before.
func (d *fastDecoder) holder() (string, bool) {
	b, _, ok := d.RawString()
	if !ok {
		return "", false
	}
	return d.internHolder(b), true
}

func (d *fastDecoder) internHolder(b []byte) string {
	for _, h := range d.holders {
		if h == string(b) {
			return h
		}
	}
	h := string(b)
	d.holders = append(d.holders, h)
	return h
}

// time decodes a time the way encoding/json does: by the quoted string
// given to time.Time's UnmarshalJSON.
func (d *fastDecoder) time(t *time.Time) bool {
	_, quoted, ok := d.RawString()
	return ok && t.UnmarshalJSON(quoted) == nil
}

func (d *fastDecoder) diskLock(l *diskLock) bool {
	return d.Object(true, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "name":
			l.Name, ok = d.str()
			d.name = l.Name
		case "key":
			l.Key, ok = d.str()
			d.key = l.Key
		case "holds":
			ok = d.holds(l)
		case "fence":
			l.Fence, ok = d.Uint()
		case "since":
			ok = d.time(&l.Since)
		case "free_since":
			ok = d.time(&l.FreeSince)
		case "pools":
			l.Pools, ok = d.strings()
		}
		// "metadata" (any JSON value, kept as written) is left to
		// encoding/json.
		return ok
	})
}

// strings decodes an array of strings ([] gives an empty slice, as
// encoding/json does).
func (d *fastDecoder) strings() ([]string, bool) {
	if !d.Byte('[') {
		return nil, false
	}
	out := []string{}
	if d.Byte(']') {
		return out, true
	}
	for {
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if d.Byte(']') {
			return out, true
		}
		if !d.Byte(',') {
			return nil, false
		}
	}
}

func (d *fastDecoder) holds(l *diskLock) bool {
	return d.Object(false, func(name []byte) bool {
		var hold lock.Hold
		if !d.hold(&hold) {
			return false
		}
		l.Holds.Set(d.internHolder(name), hold)
		return true
	})
}

func (d *fastDecoder) hold(h *lock.Hold) bool {
	return d.Object(true, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "count":
			h.Count, ok = d.Int()
		case "acquired":
			ok = d.time(&h.Acquired)
		case "expires":
			ok = d.time(&h.Expires)
		}
		return ok
	})
}

func (d *fastDecoder) events() ([]lock.Event, bool) {
	if !d.Byte('[') {
		return nil, false
	}
	evs := []lock.Event{}
	if d.Byte(']') {
		return evs, true
	}
	for {
		var ev lock.Event
		if !d.event(&ev) {
			return nil, false
		}
		evs = append(evs, ev)
		if d.Byte(']') {
			return evs, true
		}
		if !d.Byte(',') {
			return nil, false
		}
	}
}

func (d *fastDecoder) event(ev *lock.Event) bool {
	return d.Object(true, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "type":
			var t []byte
			if t, _, ok = d.RawString(); ok {
				ev.Type = eventType(t)
			}
		case "lock":
			ev.Lock, ok = d.str(d.name)
		case "key":
			ev.Key, ok = d.str(d.key)
		case "holder":
			ev.Holder, ok = d.holder()
		case "count":
			ev.Count, ok = d.Int()
		case "fence":
			ev.Fence, ok = d.Uint()
		case "time":
			ok = d.time(&ev.Time)
		case "expires":
			ok = d.time(&ev.Expires)
		case "by":
			ev.By, ok = d.str()
		case "pools":
			ev.Pools, ok = d.strings()
		case "pool":
			ev.Pool, ok = d.str()
		}
		return ok
	})
}

// eventType returns the constant for a known type (no allocation).
func eventType(b []byte) lock.EventType {
	for _, t := range lock.EventTypes {
		if string(t) == string(b) {
			return t
		}
	}
	return lock.EventType(b)
}

func (d *fastDecoder) logRecord(rec *logRecord) bool {
	return d.Object(true, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "lock":
			ok = d.diskLock(&rec.Lock)
		case "events":
			rec.Events, ok = d.events()
		case "fence":
			rec.Fence, ok = d.Uint()
		}
		return ok
	})
}

func (d *fastDecoder) snapshotEntry(se *snapshotEntry) bool {
	return d.Object(true, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "lock":
			ok = d.diskLock(&se.Lock)
		case "history":
			se.History, ok = d.events()
		}
		return ok
	})
}
