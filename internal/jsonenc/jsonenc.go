// Package jsonenc appends JSON values byte for byte as encoding/json writes
// them, without its reflection: for the few hot paths that encode the same
// shapes over and over (the HTTP API's lock views, the file store's log
// records). Anything unusual goes through encoding/json itself.
package jsonenc

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cloudfoundry-community/locker/lock"
)

// AppendString appends s as encoding/json writes it (HTML-safe escaping):
// printable ASCII directly, with `"` and `\` escaped; anything else
// (control characters, <, >, &, non-ASCII) through encoding/json itself.
func AppendString(b []byte, s string) []byte {
	quotes := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&':
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		case c == '"' || c == '\\':
			quotes = true
		}
	}
	b = append(b, '"')
	if !quotes {
		b = append(b, s...)
		return append(b, '"')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// AppendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds), and false, appending nothing, where MarshalJSON fails.
func AppendTime(b []byte, t time.Time) ([]byte, bool) {
	if !TimeOK(t) {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// TimeOK reports whether time.Time's MarshalJSON encodes t: a year from 0
// to 9999 and a zone offset under 24 hours (RFC 3339 has no more).
func TimeOK(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off > -24*3600 && off < 24*3600
}

// AppendHolds appends hs as encoding/json writes a map[string]lock.Hold of
// them (an object keyed by holder, in holder order: {} for none), and
// false, with b cut back, where a time would not encode.
func AppendHolds(b []byte, hs lock.Holds) ([]byte, bool) {
	n0 := len(b)
	var ok bool
	b = append(b, '{')
	for i, h := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, h.Holder)
		b = append(b, `:{"count":`...)
		b = strconv.AppendInt(b, int64(h.Count), 10)
		b = append(b, `,"acquired":`...)
		if b, ok = AppendTime(b, h.Acquired); !ok {
			return b[:n0], false
		}
		if !h.Expires.IsZero() {
			b = append(b, `,"expires":`...)
			if b, ok = AppendTime(b, h.Expires); !ok {
				return b[:n0], false
			}
		}
		b = append(b, '}')
	}
	return append(b, '}'), true
}
