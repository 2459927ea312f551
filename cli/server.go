package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/internal/leaseclock"
	"github.com/cloudfoundry-community/locker/internal/shellquote"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/metrics"
	"github.com/cloudfoundry-community/locker/pgstore"
)

const serverHelp = `Usage: locker [server]

Runs the lock server. It is configured with environment variables:

  LOCKER_CONFIG       required: the file locks are stored in (created if missing;
                      a file written by the original locker is read and converted)
  LOCKER_DATABASE_URL keep locks in PostgreSQL instead (postgres://... or a
                      connection string: host=... dbname=...), so that several
                      replicas can serve them; LOCKER_CONFIG is then not needed
  PORT                port to listen on (default 3000)
  LOCKER_LISTEN       address to listen on (default all interfaces; overrides PORT
                      when it includes a port, e.g. 127.0.0.1:3000)
  AUTH_USER, AUTH_PASS
                      HTTP basic auth for every route but /healthz and /readyz
                      (set both or neither)
  LOCKER_ADMIN_USER, LOCKER_ADMIN_PASS
                      the only user who may force a release or forget a lock
                      (set both or neither)
  LOCKER_READONLY_USER, LOCKER_READONLY_PASS
                      a user who may list and watch locks (GET) but change
                      nothing: lock, unlock, refresh, force, forget, pools
                      answer 403; needs AUTH_USER
  LOCKER_AUTH_FAILURES_PER_MINUTE
                      failed logins an address may make a minute, after a burst
                      of as many; then 429 with Retry-After (default 10; 0: no limit)
  LOCKER_TRUSTED_PROXIES
                      comma-separated addresses or CIDRs of load balancers whose
                      X-Forwarded-For names the client for that limit, in history
                      and in log lines (default none)
  LOCKER_ALLOWED_HOSTS
                      without AUTH_USER: comma-separated host names at which
                      browser pages (the dashboard) may change locks, besides
                      the server's addresses and localhost (default none;
                      *.example.com: its subdomains; *: any)
  SSL_CERT, SSL_KEY   PEM certificate and key files: serve HTTPS, HTTP/2 and
                      HTTP/1.1 (both or neither); read again when they change
  LOCKER_MAX_WAIT     longest blocking wait a request may ask for (default 10m)
  LOCKER_DEFAULT_TTL  lease of holds that ask for none (default: never expire)
  LOCKER_MAX_TTL      longest lease (default: no limit); without LOCKER_DEFAULT_TTL
                      also the lease of holds that ask for none
  LOCKER_MAX_WAITERS, LOCKER_MAX_WAITERS_PER_LOCK
                      bounds on waiting requests (default 10000 and 1000)
  LOCKER_FORGET_FREE_AFTER
                      forget locks free for longer than this (e.g. 168h) that
                      nobody waits for and that are in no pool, with their
                      history (default 0: keep them, listed, for ever)
  LOCKER_HISTORY      events kept per lock (default 100; at most 2048 with the
                      file store)
  LOCKER_LOG_FORMAT   text (default) or json
  LOCKER_METRICS_PUBLIC
                      true: serve /metrics without auth (default false)
  LOCKER_MAX_CONNECTIONS
                      open connections served at once (default 4096); at the cap,
                      idle keep-alive ones are closed to make room, else more wait
  LOCKER_READ_HEADER_TIMEOUT
                      time a client has to send a request's headers (default 10s)
  LOCKER_READ_TIMEOUT time a client has to send a whole request (default 30s)
  LOCKER_IDLE_TIMEOUT time an idle keep-alive connection stays open (default 2m)
`

// serverConfig is the server's configuration, read from the environment.
type serverConfig struct {
	dataFile      string
	databaseURL   string
	listen        string
	auth, admin   httpapi.Credentials
	readOnly      httpapi.Credentials
	authLimit     httpapi.AuthLimit
	allowedHosts  []string
	maxConns      int
	readHeader    time.Duration // LOCKER_READ_HEADER_TIMEOUT
	readBody      time.Duration // LOCKER_READ_TIMEOUT
	idle          time.Duration // LOCKER_IDLE_TIMEOUT
	certFile      string
	keyFile       string
	service       lockservice.Config
	historyLimit  int
	logJSON       bool
	metricsPublic bool
}

// loadServerConfig reads and checks the environment. Each refusal is one
// line that names the variable to fix.
func loadServerConfig(env Env) (serverConfig, error) {
	var c serverConfig
	c.dataFile = env("LOCKER_CONFIG")
	c.databaseURL = env("LOCKER_DATABASE_URL")
	if c.dataFile == "" && c.databaseURL == "" {
		return c, errors.New("LOCKER_CONFIG is not set: set it to the file locks are stored in, e.g. LOCKER_CONFIG=/var/lib/locker/locks.yml (or set LOCKER_DATABASE_URL to keep them in PostgreSQL)")
	}
	port := env("PORT")
	if port == "" {
		port = "3000"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return c, fmt.Errorf("PORT=%q is not a port number", port)
	}
	c.listen = ":" + port
	if l := env("LOCKER_LISTEN"); l != "" {
		if _, p, err := net.SplitHostPort(l); err != nil {
			c.listen = net.JoinHostPort(unbracket(l), port)
		} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			return c, fmt.Errorf("LOCKER_LISTEN=%q: %q is not a port number (give an address, such as 127.0.0.1, or an address and a port, such as 127.0.0.1:3000)", l, p)
		} else {
			c.listen = l
		}
	}
	var err error
	if c.auth, err = credentials(env, "AUTH_USER", "AUTH_PASS"); err != nil {
		return c, err
	}
	if c.admin, err = credentials(env, "LOCKER_ADMIN_USER", "LOCKER_ADMIN_PASS"); err != nil {
		return c, err
	}
	if c.readOnly, err = credentials(env, "LOCKER_READONLY_USER", "LOCKER_READONLY_PASS"); err != nil {
		return c, err
	}
	if c.auth.Set() && c.admin.User == c.auth.User && c.admin.Pass != c.auth.Pass {
		// Two accounts under one name: history's "by" and the logs
		// would not tell which one forced a release. (The same password
		// is one account, the admin.)
		return c, errors.New("LOCKER_ADMIN_USER is AUTH_USER with another password: history and the logs name a user by name, and could not tell the two accounts apart; give the admin a name of its own")
	}
	if c.readOnly.Set() {
		switch {
		case !c.auth.Set():
			return c, errors.New("LOCKER_READONLY_USER needs AUTH_USER and AUTH_PASS: without them anyone may change locks, and read-only credentials would mean nothing")
		case c.readOnly.User == c.auth.User || c.readOnly.User == c.admin.User:
			return c, errors.New("LOCKER_READONLY_USER must differ from AUTH_USER and LOCKER_ADMIN_USER")
		}
	}
	if err := loadHardening(env, &c); err != nil {
		return c, err
	}
	c.certFile, c.keyFile = env("SSL_CERT"), env("SSL_KEY")
	if (c.certFile == "") != (c.keyFile == "") {
		return c, errors.New("SSL_CERT and SSL_KEY go together: set both (PEM files) to serve HTTPS, or neither")
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"LOCKER_MAX_WAIT", &c.service.MaxWait}, {"LOCKER_DEFAULT_TTL", &c.service.DefaultTTL}, {"LOCKER_MAX_TTL", &c.service.MaxTTL}, {"LOCKER_FORGET_FREE_AFTER", &c.service.ForgetFreeAfter}} {
		if v := env(d.name); v != "" {
			if *d.dst, err = lock.ParseDuration(v); err != nil {
				return c, fmt.Errorf("%s: %v", d.name, err)
			}
		}
	}
	if v := env("LOCKER_MAX_WAIT"); v != "" && c.service.MaxWait == 0 {
		// 0 would otherwise mean the default, 10m: neither "no waits" nor
		// what was asked.
		return c, fmt.Errorf("LOCKER_MAX_WAIT=%q: the longest wait must be more than zero, such as 10m (or leave it unset for 10m)", v)
	}
	if f := c.service.ForgetFreeAfter; f > 0 && f < time.Second {
		// The sweep runs at most once a second: less would not be kept.
		return c, fmt.Errorf("LOCKER_FORGET_FREE_AFTER=%q is shorter than a second, the shortest the server keeps to: use 1s or more, or 0 to keep free locks", env("LOCKER_FORGET_FREE_AFTER"))
	}
	if c.service.MaxTTL > 0 && c.service.DefaultTTL > c.service.MaxTTL {
		return c, fmt.Errorf("LOCKER_DEFAULT_TTL (%s) is longer than LOCKER_MAX_TTL (%s)", c.service.DefaultTTL, c.service.MaxTTL)
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"LOCKER_MAX_WAITERS", &c.service.MaxWaiters}, {"LOCKER_MAX_WAITERS_PER_LOCK", &c.service.MaxWaitersPerLock}, {"LOCKER_HISTORY", &c.historyLimit}} {
		if v := env(n.name); v != "" {
			if *n.dst, err = strconv.Atoi(v); err != nil || *n.dst <= 0 {
				return c, fmt.Errorf("%s=%q is not a positive number", n.name, v)
			}
		}
	}
	if c.databaseURL == "" && c.historyLimit > filestore.MaxHistoryLimit {
		return c, fmt.Errorf("%s (a lock's older events are then dropped at start)", historyTooLong(c.historyLimit))
	}
	if v := env("LOCKER_METRICS_PUBLIC"); v != "" {
		if c.metricsPublic, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("LOCKER_METRICS_PUBLIC=%q: use true or false", v)
		}
	}
	switch f := env("LOCKER_LOG_FORMAT"); f {
	case "", "text":
	case "json":
		c.logJSON = true
	default:
		return c, fmt.Errorf("LOCKER_LOG_FORMAT=%q: use text or json", f)
	}
	return c, nil
}

// unbracket drops the brackets of an IPv6 address written as in a URL
// without a port (LOCKER_LISTEN=[::1]), which net.JoinHostPort adds again.
func unbracket(host string) string {
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}

// storeName says where locks are kept, for the log (never the database
// password).
func storeName(cfg serverConfig) string {
	if cfg.databaseURL != "" {
		// A URL or a keyword=value connection string, passwords masked.
		return redactDatabase(cfg.databaseURL)
	}
	return cfg.dataFile
}

func credentials(env Env, userVar, passVar string) (httpapi.Credentials, error) {
	c := httpapi.Credentials{User: env(userVar), Pass: env(passVar)}
	if (c.User == "") != (c.Pass == "") {
		return c, fmt.Errorf("%s and %s go together: set both or neither", userVar, passVar)
	}
	if strings.Contains(c.User, ":") {
		// Basic auth sends "user:pass" and splits it at the first colon:
		// nobody could ever log in as this user.
		return c, fmt.Errorf("%s must not contain a colon (HTTP basic auth splits the user from the password at the first one, so nobody could log in)", userVar)
	}
	return c, nil
}

// runServer runs the server until ctx ends, then stops accepting, lets
// requests in flight finish, flushes the store and returns nil.
func runServer(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("locker server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serverHelp)
			return nil
		}
		err = dashed(err)
		for _, a := range args {
			for _, c := range commands() {
				if a == c.name && c.name != "server" {
					// locker --url URL list: the client's flags given
					// before the command.
					return fmt.Errorf("%w: %v; a command's flags come after it: %s", errUsage, err, shellquote.Locker([]string{c.name}, nil, hidePasswords(slices.DeleteFunc(slices.Clone(args), func(s string) bool { return s == c.name }))...))
				}
			}
		}
		return fmt.Errorf("%w: %v; the server is configured with environment variables, see locker server --help", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: the server takes no arguments (got %q); it is configured with environment variables, see locker server --help", errUsage, fs.Args())
	}
	cfg, err := loadServerConfig(env)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if cfg.logJSON {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	cfg.service.Logger = log
	// The clock that decides leases tells of the wall clock's steps
	// (internal/leaseclock).
	leaseclock.Default().SetLogger(log)
	if leaseclock.TestHooks {
		log.Warn("this locker was built with -tags lockertestclock for the end-to-end tests: LOCKER_TEST_WALL_STEP_FILE can set the clock that decides leases; never run it in production")
	}

	var tlsConfig *tls.Config
	if cfg.certFile != "" {
		certs, err := newCertReloader(cfg.certFile, cfg.keyFile, log)
		if err != nil {
			return fmt.Errorf("SSL_CERT/SSL_KEY: %v", err)
		}
		tlsConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12, CipherSuites: tls12CipherSuites}
	}

	m := metrics.New()
	store, err := openStore(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	return serve(ctx, store, cfg, tlsConfig, log, m, stdout)
}

// tls12CipherSuites are the TLS 1.2 suites the server takes: ECDHE with an
// AEAD, Mozilla's "intermediate" (Go has no DHE). Go's defaults add ECDHE
// with AES-CBC and SHA-1. TLS 1.3's suites are not configurable, and all
// good.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// startWait is how long a replica (or locker migrate) waits for a
// PostgreSQL database that is not up yet; preparing it once it answers has
// time of its own (docs/ha.md).
const startWait = 30 * time.Second

// lockGauges reads the lock gauges at a scrape: one read of every lock and
// one of the wait queue, as of now(), the lease clock by which the locks'
// times were written. The oldest wait's start is by this process's clock
// (with its monotonic reading): its age is taken by that, then counted
// back from now, so that a step of the wall clock changes neither age.
func lockGauges(svc *lockservice.Service, now func() time.Time) metrics.Gauges {
	return func() (metrics.LockStats, error) {
		all, err := svc.List(context.Background())
		if err != nil {
			return metrics.LockStats{}, err
		}
		waiters, oldestWait := svc.Waiting(context.Background())
		t := now()
		if !oldestWait.IsZero() {
			oldestWait = t.Add(-time.Since(oldestWait))
		}
		return metrics.Stats(all, waiters, oldestWait, t), nil
	}
}

// openStore opens the PostgreSQL store when LOCKER_DATABASE_URL is set, the
// file store under LOCKER_CONFIG otherwise.
func openStore(ctx context.Context, cfg serverConfig, log *slog.Logger, m *metrics.Metrics) (lock.Store, error) {
	if cfg.databaseURL != "" {
		store, err := pgstore.Open(ctx, cfg.databaseURL, pgstore.Options{HistoryLimit: cfg.historyLimit, Logger: log, StartWait: startWait})
		if err != nil {
			return nil, fmt.Errorf("LOCKER_DATABASE_URL %s: %s", redactDatabase(cfg.databaseURL), databaseError(cfg.databaseURL, err))
		}
		return store, nil
	}
	store, err := filestore.Open(cfg.dataFile, filestore.Options{HistoryLimit: cfg.historyLimit, Logger: log, OnCommit: m.ObserveCommit, OnSnapshot: m.ObserveSnapshot})
	if err != nil {
		return nil, fmt.Errorf("LOCKER_CONFIG=%s: %v", cfg.dataFile, err)
	}
	m.WatchStoreWrites(store.WriteInFlight)
	return store, nil
}

// serve runs the service and HTTP server over store until ctx ends.
func serve(ctx context.Context, store lock.Store, cfg serverConfig, tlsConfig *tls.Config, log *slog.Logger, m *metrics.Metrics, stdout io.Writer) error {
	defer store.Close()
	// The port first: a server that cannot have it changes nothing (the
	// service's start expires the leases that ran out meanwhile).
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %v", cfg.listen, err)
	}
	cfg.service.OnEvents = m.ObserveEvents
	svc := lockservice.New(store, cfg.service)
	svcCtx, stopService := context.WithCancel(context.Background())
	defer stopService()
	// On every way out, before the store closes: Close waits for the
	// sweep of free locks (LOCKER_FORGET_FREE_AFTER) to stop.
	defer svc.Close()
	if err := svc.Start(svcCtx); err != nil {
		ln.Close()
		return err
	}
	m.WatchLocks(lockGauges(svc, leaseclock.Now))
	m.WatchLeaseClock(leaseclock.Default().Offset)
	api := httpapi.New(svc, httpapi.Config{Auth: cfg.auth, Admin: cfg.admin, ReadOnly: cfg.readOnly, AuthLimit: cfg.authLimit, AllowedHosts: cfg.allowedHosts,
		Version: Version, Logger: log, Metrics: m.Handler(), MetricsPublic: cfg.metricsPublic,
		MaxLongRequests: longRequestPlaces(cfg.maxConns)})
	// Each route's request series from the start, at 0 (metrics.go).
	m.KnownRoutes(api.Routes())

	limiter := newLimitListener(ln, cfg.maxConns, log)
	ln = limiter
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	// HTTP/2 over TLS (browsers speak it nowhere else): a client's requests
	// and event streams share one connection. Over HTTP/1.1 a browser opens
	// six per host, each dashboard tab's event stream holds one, and a
	// seventh tab goes stale. Plain HTTP stays HTTP/1.1 (no h2c).
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	srv := &http.Server{
		TLSConfig: tlsConfig,
		Protocols: &protocols,
		HTTP2: &http.HTTP2Config{
			// Requests at once on one connection (RFC 9113's recommended
			// minimum, less than Go's 250): LOCKER_MAX_CONNECTIONS counts
			// connections, and this bounds what each may carry. Clients
			// open another connection when they need more.
			MaxConcurrentStreams: 100,
			// A connection that takes no data for this long is closed, as
			// an HTTP/1.1 event stream's would be (events.go): its client
			// stopped reading altogether.
			WriteByteTimeout: 30 * time.Second,
		},
		Handler:   limiter.Gate(m.Middleware(api)),
		ConnState: limiter.ConnState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return httpapi.ConnContext(limiter.ConnContext(ctx, c), c)
		},
		ReadHeaderTimeout: cfg.readHeader,
		// Headers and body. Once the body is read, net/http clears the
		// deadline: blocking waits and event streams may run longer.
		ReadTimeout:    cfg.readBody,
		IdleTimeout:    cfg.idle,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	attrs := []any{"addr", ln.Addr().String(), "scheme", scheme, "store", storeName(cfg), "version", Version}
	if f := cfg.service.ForgetFreeAfter; f > 0 {
		attrs = append(attrs, "forget_free_after", f.String())
	}
	if f, ok := store.(interface{ Path() string }); ok && f.Path() != cfg.dataFile {
		// LOCKER_CONFIG is relative or a link: say which file it is.
		attrs = append(attrs, "file", f.Path())
	}
	log.Info("locker listening", attrs...)
	ws := configWarnings(cfg, ln.Addr(), tlsConfig != nil)
	if w := openFilesWarning(cfg.maxConns, openFilesLimit()); w != nil {
		ws = append(ws, *w)
	}
	for _, w := range ws {
		log.Warn(w.msg, w.attrs...)
	}
	fmt.Fprintf(stdout, "locker listening on %s://%s\n", scheme, ln.Addr())

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			// ServeTLS offers h2 and http/1.1 (ALPN) as Protocols says.
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	svc.Close() // waiting requests give up with 503
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err = srv.Shutdown(shutdownCtx); errors.Is(err, context.DeadlineExceeded) {
		// Requests still in flight: mostly answers their clients read
		// slowly or not at all. Their connections are closed, as a lost
		// network would close them (a client reads the lock back); the
		// store is still closed properly below, so nothing it has
		// acknowledged is lost, and the stop is a clean one.
		log.Warn("shutting down: answers not taken by their clients within the grace period; closing their connections", "grace", shutdownGrace)
		err = srv.Close()
	}
	stopService()
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shutting down: %v", err)
	}
	log.Info("stopped")
	return nil
}

// longRequestPlaces is how many of maxConns connections blocking waits and
// event streams may hold: all but an eighth (at least one), kept for the
// requests that answer at once, the release that ends a wait among them.
func longRequestPlaces(maxConns int) int {
	return max(1, maxConns-max(1, maxConns/8))
}

// shutdownGrace is how long a stopping server waits for the answers in
// flight to be taken by their clients before it closes their connections.
// A variable for tests.
var shutdownGrace = 30 * time.Second

// historyTooLong says why LOCKER_HISTORY=n is more than the file store
// keeps: one lock's snapshot entry, its history included, is one frame of
// at most 64 MiB (see filestore.MaxHistoryLimit).
func historyTooLong(n int) string {
	return fmt.Sprintf("LOCKER_HISTORY=%d is more than the file store keeps: at most %d events per lock, so that a lock with its history always fits one 64 MiB record of the snapshot; set it to %d or less", n, filestore.MaxHistoryLimit, filestore.MaxHistoryLimit)
}
