package lock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMetadata is the largest metadata a lock may carry, in bytes of JSON as
// sent.
const MaxMetadata = 64 << 10

// MaxMetadataDepth is how deeply metadata may nest arrays and objects.
// Metadata is a pool member's settings, rarely more than a few levels deep;
// every reader must be able to decode it inside what carries it (a log
// record, a snapshot entry, an API answer or event, each a few levels
// more), and decoders stop at a depth: encoding/json at 10,000 levels,
// Python's json near its recursion limit of 1,000. 100 leaves room for
// any configuration and a wide margin below them all.
const MaxMetadataDepth = 100

// ValidateMetadata checks new metadata, as it comes in: at most
// MaxMetadata bytes and MaxMetadataDepth levels, what CheckMetadata
// checks, and that its text is valid UTF-8 without \u escapes of half a
// surrogate pair (see HasLoneSurrogate). encoding/json accepts both, and
// the bytes would go out as they came to every reader of the lock, whose
// stricter JSON parsers may refuse the whole answer.
//
// These limits are for input only. A store never applies them again to
// what it holds: stored metadata may be longer than it came (the file
// store's encoding escapes <, > and & as \u003c; PostgreSQL writes 1e300
// out in full), and a store that refused its own data at start would keep
// the server from starting over locks it acknowledged.
func ValidateMetadata(m json.RawMessage) error {
	if len(m) > MaxMetadata {
		return Errorf(EINVALID, "metadata is %d bytes of JSON; the limit is %d", len(m), MaxMetadata)
	}
	if deeperThan(m, MaxMetadataDepth) {
		return Errorf(EINVALID, "metadata nests arrays and objects more than %d levels deep; the limit is %d", MaxMetadataDepth, MaxMetadataDepth)
	}
	if err := CheckMetadata(m); err != nil {
		return err
	}
	return checkText(m)
}

// checkText checks what ValidateMetadata asks of JSON text beyond
// CheckMetadata, its size and its depth.
func checkText(m json.RawMessage) error {
	if !utf8.Valid(m) {
		return Errorf(EINVALID, "metadata is not valid UTF-8")
	}
	if HasLoneSurrogate(m) {
		return Errorf(EINVALID, `metadata holds a \u escape of half a UTF-16 surrogate pair, which is no character`)
	}
	return checkPortable(m)
}

// MaxMetadataNumber is the longest number metadata may hold, in characters.
const MaxMetadataNumber = 100

// checkPortable refuses what valid JSON may hold but not every reader and
// store can keep (as I-JSON, RFC 7493, asks): an object with a key twice
// (which one counts?), and numbers a double cannot hold (1e400, or 1e-400
// read as 0) or longer than MaxMetadataNumber characters. PostgreSQL's
// jsonb refuses some of those numbers (1e1000000) and writes others out in
// full (1e131071 as 131,072 digits), and keeps one of a key's values.
func checkPortable(m json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(m))
	dec.UseNumber()
	type object struct {
		keys  map[string]bool
		atKey bool
	}
	var open []*object // the enclosing objects and arrays (nil)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return Errorf(EINVALID, "metadata is not valid JSON")
		}
		var o *object
		if len(open) > 0 {
			o = open[len(open)-1]
		}
		if o != nil && o.atKey {
			if k, ok := tok.(string); ok {
				if o.keys[k] {
					return Errorf(EINVALID, "metadata has the key %q twice in one object", k)
				}
				o.keys[k] = true
				o.atKey = false
				continue
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				open = append(open, &object{keys: map[string]bool{}, atKey: true})
				continue
			case '[':
				open = append(open, nil)
				continue
			default:
				open = open[:len(open)-1]
			}
		case json.Number:
			if err := checkNumber(string(t)); err != nil {
				return err
			}
		}
		// A value ended: in an object, a key comes next.
		if len(open) > 0 && open[len(open)-1] != nil {
			open[len(open)-1].atKey = true
		}
	}
}

func checkNumber(n string) error {
	if len(n) > MaxMetadataNumber {
		return Errorf(EINVALID, "metadata holds a number of %d characters; the limit is %d", len(n), MaxMetadataNumber)
	}
	f, err := strconv.ParseFloat(n, 64)
	mantissa, exp, _ := strings.Cut(strings.ToLower(n), "e")
	if err != nil || f == 0 && strings.ContainsAny(mantissa, "123456789") {
		return Errorf(EINVALID, "metadata holds the number %s, which a double cannot hold", n)
	}
	// A zero may carry any exponent (0e-17000), which PostgreSQL's
	// numeric refuses: no number needs one beyond a thousand.
	if e, err := strconv.Atoi(strings.TrimPrefix(exp, "+")); exp != "" && (err != nil || e > 1000 || e < -1000) {
		return Errorf(EINVALID, "metadata holds the number %s, whose exponent is beyond ±1000", n)
	}
	return nil
}

// CheckMetadata checks metadata a store already holds: valid JSON without
// NUL, whatever its size and depth (see ValidateMetadata: input limits are
// not applied again to what was stored). It is less strict than
// ValidateMetadata so that a file written before that refused bad UTF-8
// still loads.
func CheckMetadata(m json.RawMessage) error {
	if !json.Valid(m) {
		return Errorf(EINVALID, "metadata is not valid JSON")
	}
	if hasNUL(m) {
		// PostgreSQL's jsonb cannot hold it: refused by every store alike.
		return Errorf(EINVALID, `metadata must not contain the NUL character (\u0000)`)
	}
	return nil
}

// deeperThan reports whether m nests arrays and objects more than limit
// levels deep. It only counts brackets outside strings, so it needs no
// valid JSON and no stack: it runs before json.Valid, whose own limit
// (10,000) would otherwise report deep metadata as not JSON at all.
func deeperThan(m []byte, limit int) bool {
	depth, inString := 0, false
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped character, which may be a quote
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// hasNUL reports whether valid JSON holds a \u0000 escape (it cannot hold a
// raw NUL: control characters are not allowed in JSON strings).
func hasNUL(m []byte) bool {
	for i := 0; i < len(m); i++ {
		if m[i] == '\\' {
			if bytes.HasPrefix(m[i+1:], []byte("u0000")) {
				return true
			}
			i++ // the escaped character, which may be a backslash
		}
	}
	return false
}

// InPool reports whether l belongs to pool.
func (l *Lock) InPool(pool string) bool {
	_, found := slices.BinarySearch(l.Pools, pool)
	return found
}

// MaxPools is how many pools a lock may be in. Every event of a lock
// lists its pools (its history, the log, the event stream), so a lock in
// thousands of them made each change hundreds of kilobytes: a few thousand
// adds took one lock's history to hundreds of megabytes.
const MaxPools = 64

// AddToPool makes l a member of pool (if it is not yet) and, when metadata
// is not nil, sets its metadata. A lock that has never been held counts as
// free since it joined. A lock in MaxPools pools already joins no other
// (ETOOLARGE, nothing changed but what expired).
func AddToPool(l *Lock, pool string, metadata json.RawMessage, env Env) ([]Event, error) {
	events := Expire(l, env.Now)
	changed := false
	if !l.InPool(pool) {
		if len(l.Pools) >= MaxPools {
			return events, &Error{Code: ETOOLARGE, Message: fmt.Sprintf("lock %q is in %d pools, the most a lock may be in: it cannot join pool %q too (remove it from a pool it no longer needs first)", l.Name, len(l.Pools), pool)}
		}
		pools := append(slices.Clone(l.Pools), pool)
		sort.Strings(pools)
		l.Pools = pools
		changed = true
	}
	// Stored metadata that today's rules refuse (kept from an older
	// file) is replaced even by the same value, written cleanly. Not for
	// its size or depth alone: stored metadata may be longer than it came
	// (see ValidateMetadata), and the same value is the same.
	if metadata != nil && (!sameJSON(metadata, l.Metadata) || CheckMetadata(l.Metadata) != nil || checkText(l.Metadata) != nil) {
		l.Metadata = metadata
		changed = true
	}
	if l.Free() && l.FreeSince.IsZero() {
		l.FreeSince = env.Now
		changed = true
	}
	if !changed {
		return events, nil
	}
	ev := event(l, Added, "", env.Now)
	ev.Pool = pool
	return append(events, ev), nil
}

// sameJSON reports whether a and b are the same JSON value, however
// written: whitespace, the order of an object's keys, string escapes and
// the spelling of numbers aside (1e2 and 100 are the same number). So
// metadata sent again as it was, or as PostgreSQL's jsonb gives it back
// (keys reordered, spaces added), is no change.
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	va, err := decodeJSON(a)
	if err != nil {
		return false
	}
	vb, err := decodeJSON(b)
	return err == nil && equalJSON(va, vb)
}

func decodeJSON(m json.RawMessage) (any, error) {
	if m == nil {
		return nil, errors.New("none")
	}
	dec := json.NewDecoder(bytes.NewReader(m))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			if vb, ok := b[k]; !ok || !equalJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		return ok && sameNumber(string(a), string(b))
	default: // string, bool, nil
		return a == b
	}
}

// sameNumber reports whether two JSON numbers are the same number,
// exactly. Numbers beyond a double's range (which new metadata may not
// hold, see checkPortable) are compared as written: their exact values can
// take megabytes.
func sameNumber(a, b string) bool {
	if a == b {
		return true
	}
	for _, n := range []string{a, b} {
		if f, err := strconv.ParseFloat(n, 64); err != nil || math.IsInf(f, 0) || (f == 0 && nonzeroDigits(n)) {
			return false
		}
	}
	ra, ok := new(big.Rat).SetString(a)
	rb, ok2 := new(big.Rat).SetString(b)
	return ok && ok2 && ra.Cmp(rb) == 0
}

// RemoveFromPool takes l out of pool. A held member is only removed with
// force, which releases its holds first (recorded as forced, by by, cut as
// ForceRelease cuts it). Not a member: ENOTFOUND.
func RemoveFromPool(l *Lock, pool string, force bool, by string, env Env) ([]Event, error) {
	by = cutName(by)
	events := Expire(l, env.Now)
	if !l.InPool(pool) {
		return events, Errorf(ENOTFOUND, "%q is not a member of pool %q", l.Name, pool)
	}
	if !l.Free() {
		if !force {
			c := l.Clone()
			return events, &Error{Code: ECONFLICT, Lock: &c, Message: fmt.Sprintf("pool %q: member %q is held by key %q (%s); release it first, or remove it with force", pool, l.Name, l.Key, DescribeHolders(l))}
		}
		events = append(events, ForceRelease(l, by, env)...)
	}
	l.Pools = slices.DeleteFunc(slices.Clone(l.Pools), func(p string) bool { return p == pool })
	if len(l.Pools) == 0 {
		l.Pools = nil
	}
	ev := event(l, Removed, "", env.Now)
	ev.Pool, ev.By = pool, by
	return append(events, ev), nil
}

// RemoveFromPoolFence is RemoveFromPool whose force ends only the holds
// taken under fence (0: whatever holds the member): a member released and
// taken again since is refused with ECONFLICT, and neither forced nor
// removed.
func RemoveFromPoolFence(l *Lock, pool string, force bool, by string, fence uint64, env Env) ([]Event, error) {
	if !force || fence == 0 {
		return RemoveFromPool(l, pool, force, by, env)
	}
	events := Expire(l, env.Now)
	if l.InPool(pool) && l.Key != "" {
		if err := takenAgain(l, pool, fence); err != nil {
			return events, err
		}
	}
	more, err := RemoveFromPool(l, pool, force, by, env)
	return append(events, more...), err
}

// takenAgain refuses the forced removal of held member l from pool when it
// is no longer held under fence (0: any).
func takenAgain(l *Lock, pool string, fence uint64) error {
	if fence == 0 || l.Fence == fence {
		return nil
	}
	e := conflict(l)
	e.Message = fmt.Sprintf("pool %q: member %q was taken again since fence %d: it is held by key %q under fence %d (%s); nothing was forced or removed", pool, l.Name, fence, l.Key, l.Fence, DescribeHolders(l))
	if fence > l.Fence {
		e.Message = fmt.Sprintf("pool %q: member %q: fence %d is higher than any it has had: it is held by key %q under fence %d (%s); nothing was forced or removed", pool, l.Name, fence, l.Key, l.Fence, DescribeHolders(l))
	}
	return e
}

// RemoveFromPoolHeldBy is RemoveFromPoolFence whose force also ends only
// holder's holds: a held member is removed only while every hold on it is
// holder's (and, with key not "", the member is held under key), so that
// a forced removal meant to end one holder's hold does not end another's
// that joined it under the same key (and so the same fence) since the
// member was read. Otherwise ECONFLICT, naming the other holders, and
// nothing is forced or removed. The fence is checked first, then the key,
// then the holders; holder "" checks none, and key "" no key. Without
// force, or on a free member (nothing to force), it is RemoveFromPool.
func RemoveFromPoolHeldBy(l *Lock, pool string, force bool, by string, fence uint64, key, holder string, env Env) ([]Event, error) {
	if !force || (key == "" && holder == "") {
		return RemoveFromPoolFence(l, pool, force, by, fence, env)
	}
	events := Expire(l, env.Now)
	if l.InPool(pool) && l.Key != "" {
		err := takenAgain(l, pool, fence)
		if err == nil {
			err = heldByOthers(l, pool, key, holder)
		}
		if err != nil {
			return events, err
		}
	}
	more, err := RemoveFromPool(l, pool, force, by, env)
	return append(events, more...), err
}

// heldByOthers refuses the forced removal of held member l from pool
// unless it is held under key ("": any) by holder alone.
func heldByOthers(l *Lock, pool, key, holder string) error {
	if key != "" && l.Key != key {
		e := conflict(l)
		e.Message = fmt.Sprintf("pool %q: member %q is held by key %q, not %q (%s); nothing was forced or removed", pool, l.Name, l.Key, key, DescribeHolders(l))
		return e
	}
	if holder == "" {
		return nil
	}
	var others []string
	for _, h := range l.Holds {
		if h.Holder != holder {
			others = append(others, fmt.Sprintf("%q x%d", h.Holder, h.Count))
		}
	}
	if len(others) == 0 {
		return nil
	}
	e := conflict(l)
	if _, ok := l.Holds.Lookup(holder); ok {
		e.Message = fmt.Sprintf("pool %q: member %q is held under key %q by others besides %q: %s (%s); nothing was forced or removed", pool, l.Name, l.Key, holder, strings.Join(others, ", "), DescribeHolders(l))
	} else {
		e.Message = fmt.Sprintf("pool %q: member %q is held under key %q by %s, not by %q (%s); nothing was forced or removed", pool, l.Name, l.Key, strings.Join(others, ", "), holder, DescribeHolders(l))
	}
	return e
}

// FreeLongest orders pool members for handing out: free members only, the
// one free longest first (ties by name), so that use spreads evenly.
func FreeLongest(members []Lock, now time.Time) []Lock {
	var free []Lock
	for _, m := range members {
		m := m.Clone()
		Expire(&m, now) // a member whose leases ran out is free
		if m.Free() {
			free = append(free, m)
		}
	}
	sort.Slice(free, func(i, j int) bool {
		if !free[i].FreeSince.Equal(free[j].FreeSince) {
			return free[i].FreeSince.Before(free[j].FreeSince)
		}
		return free[i].Name < free[j].Name
	})
	return free
}
