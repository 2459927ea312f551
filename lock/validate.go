package lock

import (
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxNameLen is the longest lock name, key or holder, in bytes.
const MaxNameLen = 512

// ValidateName checks a lock name, key or holder (what says which): not
// empty, at most MaxNameLen bytes, valid UTF-8, no control characters.
func ValidateName(what, s string) error {
	switch {
	case s == "":
		return Errorf(EINVALID, "%s must not be empty", what)
	case len(s) > MaxNameLen:
		return Errorf(EINVALID, "%s is %d bytes long; the limit is %d", what, len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return Errorf(EINVALID, "%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "%s must not contain control characters (found %U)", what, r)
		}
	}
	return nil
}

// cutName cuts s to at most MaxNameLen bytes, at the start of a character.
func cutName(s string) string {
	if len(s) <= MaxNameLen {
		return s
	}
	n := MaxNameLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// HasLoneSurrogate reports whether valid JSON text m holds a \u escape of
// half a UTF-16 surrogate pair without its other half. Such an escape is no
// character: encoding/json decodes it as U+FFFD, so that different strings
// would read as one ("\ud800" and "\udbff" as the same key), and
// PostgreSQL refuses it.
func HasLoneSurrogate(m []byte) bool {
	for i := 0; i < len(m); i++ {
		if m[i] != '\\' {
			continue
		}
		r, ok := escapedRune(m[i:])
		if ok && utf16.IsSurrogate(r) {
			if r >= 0xdc00 {
				return true // a second half first
			}
			if lo, ok := escapedRune(m[i+6:]); !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11 // past both halves
			continue
		}
		i++ // the escaped character, which may be a backslash
	}
	return false
}

// escapedRune reads a \uXXXX escape at the start of b.
func escapedRune(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Validate checks a request for a hold on the named lock.
func (r Request) Validate(name string) error {
	if err := ValidateName("lock name", name); err != nil {
		return err
	}
	if err := ValidateName("key", r.Key); err != nil {
		return err
	}
	if err := ValidateName("holder", r.Holder); err != nil {
		return err
	}
	if r.TTL < 0 {
		return Errorf(EINVALID, "ttl must not be negative")
	}
	return nil
}

// ValidateRelease checks a release's lock name, key and holder. The name
// is checked as for a hold; the key and holder only have to be there and be
// valid UTF-8, whatever their length and characters: a release only
// compares them with the holds, and a hold taken before the limits of
// ValidateName (converted from the original locker's file, which had
// none) must stay releasable by its holder.
func ValidateRelease(name, key, holder string) error {
	if err := ValidateName("lock name", name); err != nil {
		return err
	}
	for _, f := range []struct{ what, s string }{{"key", key}, {"holder", holder}} {
		switch {
		case f.s == "":
			return Errorf(EINVALID, "%s must not be empty", f.what)
		case !utf8.ValidString(f.s):
			return Errorf(EINVALID, "%s is not valid UTF-8", f.what)
		}
	}
	return nil
}

// ValidateHeldBy checks the key and holder a forced removal of a pool
// member is conditioned on (RemoveFromPoolHeldBy): either may be empty (no
// condition); one given must be valid UTF-8. Like ValidateRelease's, they
// are only compared with the holds, so any length and characters pass.
func ValidateHeldBy(key, holder string) error {
	for _, f := range []struct{ what, s string }{{"key", key}, {"holder", holder}} {
		if !utf8.ValidString(f.s) {
			return Errorf(EINVALID, "%s is not valid UTF-8", f.what)
		}
	}
	return nil
}

// ClampTTL applies a server's default and maximum lease to a requested ttl
// (zero meaning none asked). A zero default leaves holds without a lease; a
// zero max sets no limit.
func ClampTTL(ttl, def, max time.Duration) time.Duration {
	if ttl == 0 {
		ttl = def
	}
	if max > 0 && (ttl == 0 || ttl > max) {
		ttl = max
	}
	return ttl
}
