package lock

import (
	"time"
	"unicode"
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
