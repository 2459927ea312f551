package cli

// What keeps hostile or broken clients from hurting the others: a cap on
// open connections, and the limits on connections, timeouts and failed logins
// read from the environment.

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// limitListener accepts at most max connections at a time: at the cap, Accept
// waits until one closes, and new connections wait in the kernel's backlog
// meanwhile. It logs (at most once a minute) when the cap is reached.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	log       *slog.Logger

	mu     sync.Mutex
	logged time.Time
}

func newLimitListener(ln net.Listener, max int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, max), done: make(chan struct{}), log: log}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		l.full()
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) full() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.logged) < time.Minute {
		return
	}
	l.logged = time.Now()
	l.log.Warn("connection limit reached: new connections wait until one closes (LOCKER_MAX_CONNECTIONS)", "max", cap(l.sem))
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
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
					return fmt.Errorf("LOCKER_TRUSTED_PROXIES: %q is neither an address nor a CIDR such as 10.0.0.0/8", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
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
