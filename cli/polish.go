package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lock"
)

// waitChunkHelp is the help of --wait-chunk, for the commands that wait.
const waitChunkHelp = `  --wait-chunk D  wait in requests of at most D each (default 5m; env
                  LOCKER_WAIT_CHUNK; at least 1s). Behind a proxy or load
                  balancer, set it below the proxy's read (idle) timeout,
                  60s by default for nginx and AWS ALB (docs/deploy.md)
`

// minWaitChunk is the shortest --wait-chunk: proxies' timeouts are
// seconds, and shorter parts only add requests.
const minWaitChunk = client.MinWaitChunk

// chunkFlag is --wait-chunk: the longest wait asked of the server in one
// request, and whether it was given.
type chunkFlag struct {
	d   time.Duration
	set bool
}

func (f *chunkFlag) String() string { return f.d.String() }
func (f *chunkFlag) Set(s string) error {
	d, err := lock.ParseDuration(s)
	f.d, f.set = d, true
	return err
}

// addWaitChunk registers --wait-chunk: the command waits, and reads
// LOCKER_WAIT_CHUNK too.
func (c *clientCmd) addWaitChunk() {
	c.waitChunk = &chunkFlag{}
	c.fs.Var(c.waitChunk, "wait-chunk", "")
}

// waitChunkOption is the client's Options.WaitChunk from --wait-chunk or
// LOCKER_WAIT_CHUNK (0: the client's default); a bad value is a usage
// error.
func (c *clientCmd) waitChunkOption() (time.Duration, error) {
	if c.waitChunk == nil {
		return 0, nil // a command that does not wait
	}
	what, d := "", c.waitChunk.d
	switch v := c.env("LOCKER_WAIT_CHUNK"); {
	case c.waitChunk.set:
		what = "--wait-chunk " + c.waitChunk.d.String()
	case v != "":
		var err error
		if d, err = lock.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("%w: LOCKER_WAIT_CHUNK=%q: %v", errUsage, v, err)
		}
		what = fmt.Sprintf("LOCKER_WAIT_CHUNK=%q", v)
	default:
		return 0, nil
	}
	if d < minWaitChunk {
		return 0, fmt.Errorf("%w: %s is too short: give at least %s (below the read timeout of a proxy in front of the server)", errUsage, what, minWaitChunk)
	}
	return d, nil
}

// explainCut explains a wait that a proxy's timeout likely cut short.
func explainCut(wc *client.WaitCutError) string {
	return shown(wc.Explain("locker", "set --wait-chunk (or LOCKER_WAIT_CHUNK) below it, e.g. --wait-chunk %s (see docs/deploy.md)")) +
		". The lock, read back, shows that the request took nothing; it was not sent again, as the proxy may still pass it on"
}

// shortLease says on stderr when the server granted holder's hold in l a
// shorter lease than the asked (--ttl; 0: none asked, nothing to say):
// its LOCKER_MAX_TTL. then says what becomes of the lease.
func (c *clientCmd) shortLease(l *client.Lock, holder string, asked time.Duration, then string) {
	if asked <= 0 || l.Legacy {
		return
	}
	granted, ok := grantedLease(l, holder)
	if !ok || granted+10*time.Millisecond >= asked {
		return
	}
	fmt.Fprintf(c.stderr, "locker %s: warning: the server cut the lease to %s, shorter than the %s asked with --ttl (its maximum lease, LOCKER_MAX_TTL); %s\n", c.name, granted.Round(time.Millisecond), asked, then)
}

// leaseNotRenewed is what shortLease says of a hold that lock and pool
// acquire take.
const leaseNotRenewed = "the hold ends then unless refreshed (this command does not renew it; locker run does)"

// grantedLease is the lease the server granted holder's hold in l, the
// answer to a take: exact for a hold taken afresh (its expiry less its
// start, both the server's); else the answer's lease (Lock.Lease), which
// counts the time the request waited too, so it may be longer. ok is
// false when the answer shows no lease.
func grantedLease(l *client.Lock, holder string) (time.Duration, bool) {
	if h, ok := l.Holds[holder]; ok && h.Count == 1 && !h.Expires.IsZero() && !h.Acquired.IsZero() {
		return h.Expires.Sub(h.Acquired), true
	}
	return l.Lease, l.Lease > 0
}

// shown makes text from the server (a lock's name, key, holders, pool,
// metadata, a message) safe to print on a terminal: each character that
// shows nothing yet changes what the rest looks like, or acts on the
// terminal, is written as its escape (\u202e, \x1b, \t). The set is the
// dashboard's (httpapi/web/app.js, oddChars): control and format
// characters (bidi overrides and marks, the soft hyphen, tags), every
// default-ignorable one (zero-width spaces and joiners, variation
// selectors, Hangul fillers), line and paragraph separators, the blank
// braille pattern, and white space other than the plain space. --json
// prints the server's text as it is.
func shown(s string) string {
	if !strings.ContainsFunc(s, oddRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !oddRune(r) {
			b.WriteRune(r)
			continue
		}
		if q := strconv.QuoteRune(r); strings.HasPrefix(q, `'\`) {
			b.WriteString(q[1 : len(q)-1]) // \t, \x1b, \u202e
		} else if r <= 0xFFFF {
			fmt.Fprintf(&b, `\u%04x`, r) // printable to Go, invisible all the same (U+115F)
		} else {
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

// oddRune reports whether shown escapes r.
func oddRune(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r < 0x80:
		return r < 0x20 || r == 0x7f
	case r == '\u2800':
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.White_Space,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}
