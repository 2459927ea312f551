package httpapi

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AuthLimit limits failed logins per client address. The zero value sets
// no limit; the server sets 10 a minute (LOCKER_AUTH_FAILURES_PER_MINUTE).
type AuthLimit struct {
	// PerMinute is how many failures an address may make a minute once it
	// used up its burst; zero or less: no limit.
	PerMinute int
	// Burst is how many failures in a row an address may make before the
	// limit applies (default PerMinute).
	Burst int
	// MaxClients bounds the addresses remembered (default 10,000). When
	// more fail at once, the ones that failed least recently are forgotten.
	MaxClients int
	// TrustedProxies are the load balancers and reverse proxies whose
	// X-Forwarded-For header names the client. The address of any other
	// peer is its own.
	TrustedProxies []netip.Prefix
}

// failureLimiter is a token bucket per client address: each failed login
// with credentials the address has not failed with lately takes a token,
// tokens come back at a steady rate, and an address with no token left is
// refused with 429 before its credentials are even looked at (otherwise a
// guesser would still learn which guess was right). Successful logins take
// nothing, and other addresses have their own buckets.
//
// A login holds a token while its credentials are checked (admit), and
// gives it back when they were right or a repeat (succeeded, failed):
// otherwise logins sent at once were all checked while the address's last
// token was there, and a guesser with many connections had as many
// guesses as it could send at once each time a token came back. A login
// that finds the tokens left all held by logins being checked waits for
// them (microseconds: a check is two hashes), so that logins that turn out
// right never make another one wait for a token to come back.
//
// Sending the same wrong credentials again guesses nothing: that is a
// client with a stale password retrying, and counting it would lock out
// every client that shares its address (a CI worker, a NAT, a proxy) with
// it. So each bucket remembers the last few wrong credentials it was
// charged for, as salted hashes, and a repeat of one costs no token.
//
// A repeat is not slowed, so it is not logged each time either: a client
// that sends stale credentials in a loop would otherwise write a line per
// request, as fast as it can connect. The first repeat is logged, then at
// most one line a minute for the address, with the repeats since.
//
// Memory is bounded: buckets live in a list, most recently failed first; a
// bucket that has filled up again and has seen no failure for a minute
// holds nothing worth keeping and is dropped (kept for that minute, it
// still knows a stale client's credentials, and when it last logged their
// repeats), and past MaxClients the least recently failed address is
// forgotten.
type failureLimiter struct {
	rate    float64 // tokens a second
	burst   float64
	max     int
	proxies []netip.Prefix
	now     func() time.Time
	salt    [16]byte // for the hashes of wrong credentials

	mu      sync.Mutex
	settled *sync.Cond // on mu: a login's check ended
	waiting int        // logins waiting in admit for others' checks to end
	recent  *list.List // of *bucket, most recent failure first
	buckets map[string]*list.Element
}

type bucket struct {
	key      string
	tokens   float64
	at       time.Time // when tokens was last brought up to date
	guesses  [rememberedGuesses]uint64
	next     int       // where the next guess is remembered
	failedAt time.Time // the address's last failure; zero: none
	pending  int       // logins being checked, each holding a token
	// refused counts the address's requests refused (429) since the last
	// log line that said so, written at loggedAt.
	refused  int
	loggedAt time.Time
	// repeats counts the failures with a remembered guess since the last
	// log line that said so, written at repeatLoggedAt.
	repeats        int
	repeatLoggedAt time.Time
}

// refusalLogEvery is how often, at most, the refusals of one address are
// logged: a guesser told to wait may go on asking many times a second. So
// are its repeated failures, which nothing slows, and a bucket is kept this
// long after its last failure.
const refusalLogEvery = time.Minute

// rememberedGuesses is how many distinct wrong credentials a bucket
// remembers: enough for a few misconfigured clients behind one address.
const rememberedGuesses = 8

// newFailureLimiter returns the limiter for cfg, nil when it is off.
func newFailureLimiter(cfg AuthLimit) *failureLimiter {
	if cfg.PerMinute <= 0 {
		return nil
	}
	if cfg.Burst <= 0 {
		cfg.Burst = cfg.PerMinute
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 10000
	}
	l := &failureLimiter{
		rate: float64(cfg.PerMinute) / 60, burst: float64(cfg.Burst), max: cfg.MaxClients,
		proxies: cfg.TrustedProxies, now: time.Now,
		recent: list.New(), buckets: map[string]*list.Element{},
	}
	l.settled = sync.NewCond(&l.mu)
	rand.Read(l.salt[:])
	return l
}

// guess names a set of wrong credentials (or a malformed Authorization
// header) without keeping them: a salted hash. Zero is never returned.
func (l *failureLimiter) guess(parts ...string) uint64 {
	h := sha256.New()
	h.Write(l.salt[:])
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return binary.BigEndian.Uint64(h.Sum(nil)) | 1
}

// refill brings b's tokens up to date.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
	}
	b.at = now
}

// admit lets a login from the address be checked, holding one of its
// tokens meanwhile (b), and then returns a zero wait; the login must end
// with succeeded or failed. Or it returns how long the address must wait
// before it may try to log in again: the request is then counted as
// refused, and unlogged is the number of refusals a log line should report
// now: all since the address's last line, when there was none or it is
// refusalLogEvery old; otherwise zero.
func (l *failureLimiter) admit(key string) (b *bucket, wait time.Duration, unlogged int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		now := l.now()
		e, ok := l.buckets[key]
		if !ok {
			b = &bucket{key: key, tokens: l.burst, at: now, pending: 1}
			l.buckets[key] = l.recent.PushFront(b)
			l.evict(now)
			return b, 0, 0
		}
		b = e.Value.(*bucket)
		l.refill(b, now)
		if b.tokens-float64(b.pending) >= 1 {
			b.pending++
			return b, 0, 0
		}
		if b.tokens < 1 {
			break
		}
		// The tokens left are held by logins being checked: whether
		// one is left for this one depends on them.
		l.waiting++
		l.settled.Wait()
		l.waiting--
	}
	now := l.now()
	b.refused++
	if b.loggedAt.IsZero() || now.Sub(b.loggedAt) >= refusalLogEvery {
		unlogged, b.refused, b.loggedAt = b.refused, 0, now
	}
	return nil, time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), unlogged
}

// succeeded ends a login admitted with b whose credentials were right: it
// gives its token back, and forgets the address if it never failed.
func (l *failureLimiter) succeeded(b *bucket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.pending--
	if e, ok := l.buckets[b.key]; ok && e.Value == b && b.pending == 0 && b.failedAt.IsZero() {
		l.recent.Remove(e)
		delete(l.buckets, b.key)
	}
	l.settled.Broadcast()
}

// failed ends a login admitted with b whose credentials were wrong (guess):
// it keeps its token, unless the address failed with the same guess lately.
// It says whether the failure is to be logged: a new guess always; a
// repeat when it is the address's first, or the last line about its
// repeats is refusalLogEvery old, and then repeats is the number of them
// the line reports (zero for a new guess).
func (l *failureLimiter) failed(b *bucket, guess uint64) (log bool, repeats int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.settled.Broadcast()
	now := l.now()
	b.pending--
	e, ok := l.buckets[b.key]
	switch {
	case ok && e.Value == b:
		l.recent.MoveToFront(e)
	case ok:
		// Forgotten (past MaxClients) while it was checked, and failed
		// again since: the address's bucket of now takes the failure.
		b = e.Value.(*bucket)
		l.recent.MoveToFront(e)
	default:
		b = &bucket{key: b.key, tokens: l.burst, at: now}
		l.buckets[b.key] = l.recent.PushFront(b)
	}
	l.refill(b, now)
	b.failedAt = now
	if !slices.Contains(b.guesses[:], guess) {
		b.tokens = math.Max(0, b.tokens-1)
		b.guesses[b.next] = guess
		b.next = (b.next + 1) % rememberedGuesses
		log = true
	} else if b.repeats++; b.repeatLoggedAt.IsZero() || now.Sub(b.repeatLoggedAt) >= refusalLogEvery {
		log, repeats, b.repeats, b.repeatLoggedAt = true, b.repeats, 0, now
	}
	l.evict(now)
	return log, repeats
}

// evict drops the buckets at the back that have filled up again and seen
// no failure for refusalLogEvery, and the least recently failed addresses
// past the bound.
func (l *failureLimiter) evict(now time.Time) {
	for back := l.recent.Back(); back != nil; back = l.recent.Back() {
		b := back.Value.(*bucket)
		if l.recent.Len() <= l.max {
			l.refill(b, now)
			if b.tokens < l.burst || b.pending > 0 || now.Sub(b.failedAt) < refusalLogEvery {
				return
			}
		}
		l.recent.Remove(back)
		delete(l.buckets, b.key)
	}
}

// clients returns how many addresses the limiter remembers.
func (l *failureLimiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// clientKey names the client a request comes from (clientAddr) for the
// limit. IPv6 addresses count per /64, the block one host usually has.
func (l *failureLimiter) clientKey(r *http.Request) string {
	addr, _, ok := clientAddr(r, l.proxies)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return host
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// clientAddr returns the address of the client a request comes from: the
// peer's, or, when the peer is one of proxies, the last address in
// X-Forwarded-For that is not a trusted proxy (proxied is then true). ok
// is false when the peer's address cannot be read.
func clientAddr(r *http.Request, proxies []netip.Prefix) (addr netip.Addr, proxied, ok bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err = netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false, false
	}
	addr = addr.Unmap()
	peer := addr
	if trusted(proxies, addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, ok := parseHop(hops[i])
			if !ok {
				break // garbage: stop at the last address we could trust
			}
			addr = hop.Unmap()
			if !trusted(proxies, addr) {
				break
			}
		}
	}
	return addr, addr != peer, true
}

// parseHop reads an X-Forwarded-For entry: an address, which some proxies
// write with the client's port (10.0.2.1:5555, [2001:db8::1]:443) or, for
// IPv6, in brackets alone. Left unread, such an entry would make the
// proxy's own address the client's, and one guesser's failures would lock
// out everyone behind it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if inner, ok := strings.CutSuffix(inner, "]"); ok {
			a, err := netip.ParseAddr(inner)
			return a, err == nil
		}
	}
	return netip.Addr{}, false
}

func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
