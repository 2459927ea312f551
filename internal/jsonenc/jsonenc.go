// Package jsonenc appends JSON values byte for byte as encoding/json writes
// them, without its reflection: for the few hot paths that encode the same
// shapes over and over (the HTTP API's lock views, the file store's log
// records). Anything unusual goes through encoding/json itself.
package jsonenc

import (
	"encoding/json"
	"time"
	"unicode/utf8"
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
