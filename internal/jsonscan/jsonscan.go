// Package jsonscan reads JSON documents of a known shape without
// reflection: for the few hot paths that decode the same small shapes over
// and over (the file store's records at recovery, the HTTP API's request
// bodies). It handles only the plain cases — strings without escapes,
// integers without fractions or exponents, objects whose members the
// caller names — and each method reports false for anything else, valid
// JSON or not; the caller then decodes the whole document with
// encoding/json instead, so a document always decodes exactly as
// encoding/json decodes it. Callers check that with differential fuzz
// tests against encoding/json.
package jsonscan

import "unicode/utf8"

// Scanner reads one JSON document from its start.
type Scanner struct {
	b []byte
	i int
}

// New returns a Scanner at the start of b.
func New(b []byte) Scanner { return Scanner{b: b} }

func (d *Scanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// End reports whether only whitespace is left.
func (d *Scanner) End() bool {
	d.ws()
	return d.i == len(d.b)
}

// Byte takes the next token if it is the single byte c.
func (d *Scanner) Byte(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// Peek reports whether the next token starts with c, without taking it.
func (d *Scanner) Peek(c byte) bool {
	d.ws()
	return d.i < len(d.b) && d.b[d.i] == c
}

// RawString takes a string without escapes and returns its bytes (s) and
// its quoted form (quoted, for an UnmarshalJSON method such as
// time.Time's). Both share the document's memory. A string with an escape,
// a control character or bytes that are not UTF-8 (which encoding/json
// replaces) is not taken.
func (d *Scanner) RawString() (s, quoted []byte, ok bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, nil, false
	}
	start := d.i
	ascii := true
	for j := d.i + 1; j < len(d.b); j++ {
		c := d.b[j]
		switch {
		case c == '"':
			s = d.b[start+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, nil, false // encoding/json replaces bad bytes
			}
			d.i = j + 1
			return s, d.b[start : j+1], true
		case c == '\\' || c < 0x20:
			return nil, nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, nil, false
}

// Uint takes a JSON integer that fits in 63 bits without a sign.
func (d *Scanner) Uint() (uint64, bool) {
	d.ws()
	start := d.i
	var n uint64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		if n > (1<<63-1)/10 {
			return 0, false
		}
		n = n*10 + uint64(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || (digits > 1 && d.b[start] == '0') || n > 1<<63-1 {
		return 0, false // not a JSON integer (or too large to bother)
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// Int takes a JSON integer that fits in an int.
func (d *Scanner) Int() (int, bool) {
	neg := d.Peek('-')
	if neg {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] < '0' || d.b[d.i] > '9') {
			return 0, false
		}
	}
	n, ok := d.Uint()
	if !ok || uint64(int(n)) != n || int(n) < 0 {
		return 0, false
	}
	if neg {
		return -int(n), true
	}
	return int(n), true
}

// maxMembers is how many members an object with unique members may have.
const maxMembers = 12

// Object takes an object, calling field for each member's name with the
// Scanner at its value; field takes the value, or reports false. With
// unique, an object that repeats a member (which encoding/json merges into
// a struct) is not taken, nor is one of over maxMembers members; in a map,
// the last one wins, as there.
func (d *Scanner) Object(unique bool, field func(name []byte) bool) bool {
	if !d.Byte('{') {
		return false
	}
	if d.Byte('}') {
		return true
	}
	var seen [maxMembers][]byte
	n := 0
	for {
		name, _, ok := d.RawString()
		if !ok || !d.Byte(':') {
			return false
		}
		if unique {
			for _, s := range seen[:n] {
				if string(s) == string(name) {
					return false
				}
			}
			if n == len(seen) {
				return false
			}
			seen[n] = name
			n++
		}
		if !field(name) {
			return false
		}
		if d.Byte('}') {
			return true
		}
		if !d.Byte(',') {
			return false
		}
	}
}
