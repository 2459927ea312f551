package lock

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxSeconds is the longest duration that may be written as a number of
// seconds: about 31 years.
const MaxSeconds = 1e9

// ParseDuration reads a duration as every part of Locker takes one (a wait
// or ttl in a request, a command-line flag, the Concourse resource's
// source, the server's environment): Go syntax ("30s", "1h30m") or a
// decimal number of seconds ("90", "1.5").
//
// It refuses a negative duration, more than MaxSeconds written as seconds,
// and a positive one shorter than a nanosecond: rounded to 0 it would read
// as "none", and a ttl asked for would become a hold that never expires.
// The errors are EINVALID and name s.
func ParseDuration(s string) (time.Duration, error) {
	if isDecimal(strings.TrimPrefix(s, "-")) {
		return secondsText(s, strconv.Quote(s))
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil && goSyntax(s) && strings.HasPrefix(s, "-"):
		return 0, errNegative(strconv.Quote(s))
	case err != nil && goSyntax(s):
		// Well written, but past what a time.Duration holds:
		// time.ParseDuration says only "invalid duration".
		return 0, Errorf(EINVALID, "duration %q is too long: the longest is %s (about 292 years)", s, time.Duration(math.MaxInt64))
	case err != nil:
		return 0, Errorf(EINVALID, "bad duration %q: use Go syntax such as \"30s\" or \"5m\", or a number of seconds", s)
	case v < 0:
		return 0, errNegative(strconv.Quote(s))
	case v == 0 && strings.ContainsAny(s, "123456789"):
		return 0, errTooShort(strconv.Quote(s))
	}
	return v, nil
}

// Seconds is secs seconds as a duration, with ParseDuration's limits: from
// 0 to MaxSeconds, and not so short that it rounds to nothing.
func Seconds(secs float64) (time.Duration, error) {
	return seconds(secs, "of "+strconv.FormatFloat(secs, 'g', -1, 64)+" seconds")
}

// SecondsText is a JSON number of seconds (its text, such as 30, 1.5 or
// 1e-9) as a duration, with Seconds' limits. Its text is needed: a number
// too small for a float64 (1e-400) reads as 0 without an error, and must be
// refused as too short, not taken for "none".
func SecondsText(n string) (time.Duration, error) {
	return secondsText(n, "of "+n+" seconds")
}

func secondsText(n, what string) (time.Duration, error) {
	secs, err := strconv.ParseFloat(n, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, Errorf(EINVALID, "bad duration %s: use Go syntax such as \"30s\" or \"5m\", or a number of seconds", what)
	case secs == 0 && nonzeroDigits(n):
		return 0, errTooShort(what)
	}
	return seconds(secs, what)
}

// seconds is Seconds with the duration named in errors as what.
func seconds(secs float64, what string) (time.Duration, error) {
	switch {
	case secs < 0:
		return 0, errNegative(what)
	case !(secs <= MaxSeconds): // NaN too
		return 0, Errorf(EINVALID, "duration %s is out of range: use 0 to 1e9 seconds", what)
	}
	v := time.Duration(secs * float64(time.Second))
	if v == 0 && secs > 0 {
		return 0, errTooShort(what)
	}
	return v, nil
}

func errNegative(what string) error {
	return Errorf(EINVALID, "duration %s must not be negative", what)
}

func errTooShort(what string) error {
	return Errorf(EINVALID, "duration %s is shorter than a nanosecond; use 0 for none", what)
}

// goSyntax reports whether s is written as time.ParseDuration reads a
// duration, whatever its size: an optional sign, then one or more numbers
// (digits, with at most one decimal point) each followed by a unit; or 0.
func goSyntax(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "0" {
		return true
	}
	if s == "" {
		return false
	}
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	for s != "" {
		i, digits := 0, 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
		if i < len(s) && s[i] == '.' {
			for i++; i < len(s) && isDigit(s[i]); i++ {
				digits++
			}
		}
		if digits == 0 {
			return false
		}
		s = s[i:]
		j := 0
		for j < len(s) && s[j] != '.' && !isDigit(s[j]) {
			j++
		}
		switch s[:j] {
		case "ns", "us", "\u00b5s", "\u03bcs", "ms", "s", "m", "h":
		default:
			return false
		}
		s = s[j:]
	}
	return true
}

// isDecimal reports whether s is digits with at most one decimal point:
// "90", "1.5", ".5", "5.". Not "1e3", "0x10" or "1_000", which
// strconv.ParseFloat would take.
func isDecimal(s string) bool {
	digits, points := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}

// nonzeroDigits reports whether the decimal number n (exponent aside) has a
// digit other than 0: a number that is not 0, though a float64 may read it
// as 0 (1e-400).
func nonzeroDigits(n string) bool {
	mantissa, _, _ := strings.Cut(strings.ToLower(n), "e")
	return strings.ContainsAny(mantissa, "123456789")
}
