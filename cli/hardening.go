package cli

// What keeps hostile or broken clients from hurting the others: a cap on
// open connections that idle ones make room under, and the limits on connections, timeouts and failed logins
// read from the environment.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/internal/logevery"
	"github.com/cloudfoundry-community/locker/lock"
)

// limitListener accepts at most max connections at a time. At the cap it
// makes room by closing the connection that has waited longest between
// requests (or for its first), once it has waited minIdle; with none such,
// the new connection waits until one closes or goes idle. It logs (at most
// once a minute) when the cap is reached.
//
// It learns which connections are between requests from the http.Server's
// ConnState hook, which net/http calls after it has sent an answer (idle)
// and after it has read the next request's headers (active). A connection
// still counts as idle while that next request's headers come in, so a
// close can land after a request was read: Gate, around the handler, makes
// sure no request of a closed connection is carried out (a change made and
// never answered would be retried by its client, and held twice).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	log       *slog.Logger
	// minIdle is how long a connection must have been idle before it is
	// closed to make room: a client between two requests is left alone,
	// and so is the last frame of an HTTP/2 answer, which net/http may
	// still be flushing when it reports the connection idle.
	minIdle time.Duration

	fullLog   logevery.Minute // "connection limit reached"
	acceptLog logevery.Minute // a failed accept

	mu         sync.Mutex
	idle       map[*limitConn]time.Time // connections between requests, since when
	becameIdle chan struct{}
	reclaimed  int // connections closed to make room, for tests
}

// reclaimIdleAfter is the server's minIdle.
const reclaimIdleAfter = time.Second

func newLimitListener(ln net.Listener, max int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, max), done: make(chan struct{}), log: log,
		minIdle: reclaimIdleAfter, idle: map[*limitConn]time.Time{}, becameIdle: make(chan struct{}, 1)}
}

// Accept takes a connection from the kernel first, and only then, at the
// cap, makes room: idle connections are closed for a client that is there,
// never in advance.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.acceptFailed(err)
		return nil, err
	}
	select {
	case l.sem <- struct{}{}:
	default:
		l.full()
		if err := l.makeRoom(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return &limitConn{Conn: c, l: l}, nil
}

// makeRoom waits for a place, closing the longest-idle connection to free
// one as soon as one has been idle for minIdle.
func (l *limitListener) makeRoom() error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		closed, wait := l.closeIdle()
		var retry <-chan time.Time
		switch {
		case closed:
			// Its Close gave its place back.
			select {
			case l.sem <- struct{}{}:
				return nil
			case <-l.done:
				return net.ErrClosed
			}
		case wait > 0:
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			retry = timer.C
		}
		select {
		case l.sem <- struct{}{}:
			return nil
		case <-l.becameIdle:
		case <-retry:
		case <-l.done:
			return net.ErrClosed
		}
	}
}

// closeIdle closes the connection idle the longest if it has been idle for
// minIdle. Otherwise it returns how long until the longest-idle one will
// have been (zero when none is idle).
func (l *limitListener) closeIdle() (closed bool, wait time.Duration) {
	l.mu.Lock()
	var oldest *limitConn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest == nil {
		l.mu.Unlock()
		return false, 0
	}
	if wait := l.minIdle - time.Since(since); wait > 0 {
		l.mu.Unlock()
		return false, wait
	}
	delete(l.idle, oldest)
	oldest.reclaimed = true
	l.reclaimed++
	l.mu.Unlock()
	// The TCP connection itself, even under TLS: a TLS close would send an
	// alert first, and could wait on a client that does not read.
	oldest.Close()
	return true, 0
}

// ConnState is the http.Server's ConnState hook: it follows which
// connections are between requests (or have not sent their first yet).
func (l *limitListener) ConnState(nc net.Conn, s http.ConnState) {
	c := asLimitConn(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.reclaimed || c.gone {
		return
	}
	switch s {
	case http.StateNew, http.StateIdle:
		l.idle[c] = time.Now()
		select {
		case l.becameIdle <- struct{}{}:
		default:
		}
	default: // active, hijacked, closed
		delete(l.idle, c)
	}
}

type connKey struct{}

// ConnContext is the http.Server's ConnContext hook: it puts the
// connection in its requests' context, for Gate.
func (l *limitListener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := asLimitConn(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Gate runs h only for requests whose connection was not closed to make
// room. net/http reports a connection active (ConnState) before it calls
// the handler, and closeIdle closes only idle ones, under the same lock:
// a request that gets past here keeps its connection to the end.
func (l *limitListener) Gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*limitConn); ok {
			l.mu.Lock()
			reclaimed := c.reclaimed
			l.mu.Unlock()
			if reclaimed {
				// Its headers were read as it was closed: nobody can be
				// answered, so nothing is done.
				panic(http.ErrAbortHandler)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// asLimitConn returns the limitConn under nc (a TLS connection's too).
func asLimitConn(nc net.Conn) *limitConn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	c, _ := nc.(*limitConn)
	return c
}

// acceptFailed logs a failed accept, at most once a minute: net/http
// retries it, and says so only to the server's ErrorLog (DEBUG). Out of
// file descriptors, the server took no connection and nothing said why.
func (l *limitListener) acceptFailed(err error) {
	if errors.Is(err, net.ErrClosed) {
		return // shutting down
	}
	if ok, _ := l.acceptLog.Allow(time.Now()); !ok {
		return
	}
	msg := "accepting a connection failed; new connections wait until it succeeds"
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		msg = "accepting a connection failed: out of file descriptors; new connections wait until one closes. Raise the open-files limit (systemd LimitNOFILE, ulimit -n) above LOCKER_MAX_CONNECTIONS"
	}
	l.log.Error(msg, "err", err, "max_connections", cap(l.sem))
}

func (l *limitListener) full() {
	if ok, _ := l.fullLog.Allow(time.Now()); !ok {
		return
	}
	l.log.Warn("connection limit reached: connections idle between requests are closed to make room, else new connections wait until one closes (LOCKER_MAX_CONNECTIONS)", "max", cap(l.sem))
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	l         *limitListener
	once      sync.Once
	reclaimed bool // closed to make room; guarded by l.mu
	gone      bool // closed; guarded by l.mu
}

// SetWriteBuffer sizes the kernel's send buffer of the connection under c
// (an event stream asks for a small one).
func (c *limitConn) SetWriteBuffer(n int) error {
	if s, ok := c.Conn.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return nil
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.gone = true
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.sem
	})
	return err
}

// loadHardening reads the limits on connections, timeouts and failed logins.
func loadHardening(env Env, c *serverConfig) error {
	c.maxConns = 4096
	if v := env("LOCKER_MAX_CONNECTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("LOCKER_MAX_CONNECTIONS=%q is not a positive number", v)
		}
		c.maxConns = n
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"LOCKER_READ_HEADER_TIMEOUT", &c.readHeader, 10 * time.Second},
		{"LOCKER_READ_TIMEOUT", &c.readBody, 30 * time.Second},
		{"LOCKER_IDLE_TIMEOUT", &c.idle, 2 * time.Minute},
	} {
		*d.dst = d.def
		if v := env(d.name); v != "" {
			t, err := lock.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %v", d.name, err)
			}
			if t == 0 {
				return fmt.Errorf("%s=%q: it must be more than zero, such as 10s or 2m", d.name, v)
			}
			*d.dst = t
		}
	}
	c.authLimit.PerMinute = 10
	if v := env("LOCKER_AUTH_FAILURES_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("LOCKER_AUTH_FAILURES_PER_MINUTE=%q is not a number (0 turns the limit off)", v)
		}
		c.authLimit.PerMinute = n
	}
	if v := env("LOCKER_TRUSTED_PROXIES"); v != "" {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("LOCKER_TRUSTED_PROXIES: %q is neither an address nor a CIDR such as 10.0.1.0/24", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				// ::ffff:10.0.0.2, as dual-stack tools print an IPv4
				// peer: the server reads peers (and X-Forwarded-For
				// entries) as IPv4, which an IPv6 prefix never holds.
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			c.authLimit.TrustedProxies = append(c.authLimit.TrustedProxies, p.Masked())
		}
	}
	for _, raw := range strings.Split(env("LOCKER_ALLOWED_HOSTS"), ",") {
		raw = strings.TrimSpace(raw)
		h := strings.ToLower(raw)
		if h != "*" {
			h = strings.TrimSuffix(h, ".") // a name may end with the root's dot
		}
		rest, wild := strings.CutPrefix(h, "*.")
		switch {
		case raw == "":
			continue
		case raw == "*":
		case strings.ContainsAny(h, "/: \t@[]"):
			return fmt.Errorf("LOCKER_ALLOWED_HOSTS: %q is not a host name: list names such as locker.example.com, without scheme or port", raw)
		case h == "" || h == "*" || strings.HasPrefix(rest, ".") || strings.HasSuffix(h, ".") || wild && rest == "" || strings.Contains(rest, "*"):
			// "*." (*.${DOMAIN} with DOMAIN unset, say) must not mean
			// "any", nor ".example.com" pass unnoticed, never matching.
			return fmt.Errorf("LOCKER_ALLOWED_HOSTS: %q is not a host name, * or *.domain (such as locker.example.com or *.example.com)", raw)
		}
		c.allowedHosts = append(c.allowedHosts, h)
	}
	return nil
}

// configWarning is a setting that works but leaves the server open to
// something its operator most likely did not mean: logged at start, one
// line each, saying what and what to do.
type configWarning struct {
	msg   string
	attrs []any
}

// configWarnings looks at cfg for a server listening on addr (over TLS or
// not): no AUTH_USER on an address others can reach, credentials sent over
// plain HTTP there, and trusted proxies so wide that any client can name
// its own address for the failed-login limit. None refuses the start.
// openFilesMargin is room, beside LOCKER_MAX_CONNECTIONS, for the
// descriptors the server needs for itself: the listener, the store's files
// or the database's connections, TLS certificates being read again.
const openFilesMargin = 64

// openFilesWarning warns when the process's open-files limit (0: unknown)
// is below LOCKER_MAX_CONNECTIONS with the margin: the server would run
// out of descriptors before it reaches its cap on connections, and take no
// connection until one closes.
func openFilesWarning(maxConns int, limit uint64) *configWarning {
	if limit == 0 || limit >= uint64(maxConns)+openFilesMargin {
		return nil
	}
	return &configWarning{fmt.Sprintf("the open-files limit is below LOCKER_MAX_CONNECTIONS (with %d to spare for the server's own files): past it the server takes no new connection until one closes; raise the limit (systemd LimitNOFILE, ulimit -n) or lower LOCKER_MAX_CONNECTIONS", openFilesMargin),
		[]any{"open_files", limit, "max_connections", maxConns}}
}

func configWarnings(cfg serverConfig, addr net.Addr, overTLS bool) []configWarning {
	var ws []configWarning
	exposed := true
	if a, ok := addr.(*net.TCPAddr); ok && a.IP.IsLoopback() {
		exposed = false
	}
	if exposed && !cfg.auth.Set() {
		ws = append(ws, configWarning{"no AUTH_USER: anyone who can reach this address may take and release any lock; set AUTH_USER and AUTH_PASS, or listen on the loopback address only (LOCKER_LISTEN=127.0.0.1) behind a proxy that authenticates", []any{"addr", addr.String()}})
	}
	if exposed && !overTLS && (cfg.auth.Set() || cfg.admin.Set() || cfg.readOnly.Set()) {
		ws = append(ws, configWarning{"credentials are set but served over plain HTTP on an address others can reach: passwords cross the network in clear; set SSL_CERT and SSL_KEY, or let clients reach the server only through a TLS proxy", []any{"addr", addr.String()}})
	}
	var wide []string
	for _, p := range cfg.authLimit.TrustedProxies {
		if tooWideForProxies(p) {
			wide = append(wide, p.String())
		}
	}
	if len(wide) > 0 {
		ws = append(ws, configWarning{"LOCKER_TRUSTED_PROXIES trusts a range wider than load balancers need (a private one wider than /24, or /64 for IPv6; a public one wider than /16, or /48): a client whose address is in it may name any address in X-Forwarded-For and so escape the limit on failed logins (LOCKER_AUTH_FAILURES_PER_MINUTE); list only the load balancers' own addresses or subnet", []any{"prefixes", strings.Join(wide, ",")}})
	}
	return ws
}

// sharedAddressSpace is 100.64.0.0/10 (RFC 6598): carrier-grade NAT, and
// the addresses of some clusters' pods and of Tailscale's nodes.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// tooWideForProxies reports whether p, a trusted proxies' range (IPv4
// ranges unmapped), is wide enough that clients are likely in it: any
// client in it may name any address in X-Forwarded-For, even through the
// load balancer (clientAddr walks back past every trusted hop), and so
// escape the limit on failed logins. No width proves a range holds only
// load balancers, so this is a rule of thumb:
//
//   - private ranges (RFC 1918, shared 100.64.0.0/10, IPv6 ULA, loopback,
//     link-local) are where a lock server's clients live: CI workers in the
//     same VPC, pods of the same cluster, containers of the same Docker
//     network. One subnet (/24, or /64) can hold a load balancer fleet; a
//     wider range is a VPC (/16), a pod or Docker network (/16), a whole
//     private block (/8), and holds the clients too;
//   - public ranges wider than /16 (IPv4) or /48 (IPv6) are more than a
//     provider's load balancers (Google's front ends are 35.191.0.0/16 and
//     130.211.0.0/22): several networks, or the Internet (0.0.0.0/0, ::/0).
//
// A range no wider than /16 (/48) lies wholly in or out of each private
// block, so its first address tells which it is; a wider one warns anyway.
func tooWideForProxies(p netip.Prefix) bool {
	a := p.Addr()
	private := a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || sharedAddressSpace.Contains(a)
	if a.Is4() {
		return p.Bits() < 16 || private && p.Bits() < 24
	}
	return p.Bits() < 48 || private && p.Bits() < 64
}
