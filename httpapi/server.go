// Package httpapi is Locker's HTTP transport: the seed's API (GET /locks,
// PUT and DELETE /lock/<name>) and its additions, over a lockservice.Service.
// All routes are in routes.go; request decoding in decode.go, response
// encoding in encode.go (its fast path in viewjson.go); the mapping of
// domain errors to statuses in errors.go.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/internal/coalesce"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// Credentials is a user name and password for HTTP basic auth.
type Credentials struct {
	User, Pass string
}

// Set reports whether the credentials are configured.
func (c Credentials) Set() bool { return c.User != "" }

// Config configures the HTTP API.
type Config struct {
	// Auth, when set, is required on every route but the health checks.
	Auth Credentials
	// Admin, when set, is the only user who may force a release; it may use
	// the rest of the API too.
	Admin Credentials
	// ReadOnly, when set, may read (GET and HEAD: list, get, history,
	// events, the dashboard, metrics) but not change anything: 403.
	ReadOnly Credentials
	// AuthLimit limits failed logins per client address (429).
	AuthLimit AuthLimit
	Version   string
	Logger    *slog.Logger
	// Metrics, if set, is served at GET /metrics: behind the same auth as
	// the API unless MetricsPublic.
	Metrics       http.Handler
	MetricsPublic bool
	// AllowedHosts are the host names (lower case, no port) at which a
	// server without credentials takes changes from browser pages, besides
	// its addresses and localhost; "*" is any (rebinding.go).
	AllowedHosts []string
	// MaxLongRequests bounds the blocking waits and event streams in
	// progress at once, each counted, over HTTP/2 too (places.go); past it
	// they are refused with 503. Zero: no bound.
	MaxLongRequests int
}

// Server serves the HTTP API.
type Server struct {
	svc   *lockservice.Service
	cfg   Config
	log   *slog.Logger
	mux   *routeMux
	guard *guard // auth.go
	// places bounds the connections held by waits and streams (places.go).
	places *places
	// csrf refuses changes sent by a browser from a page of another
	// origin: with basic auth the browser adds the saved login to them,
	// and a plain HTML form can POST a refresh (key and ttl in the query)
	// to any server the user can reach.
	csrf *http.CrossOriginProtection
	// readyLog is the last store failure the health checks logged, and
	// when; since is when the store was first seen not ready, zero while
	// it is ready (handlers.go).
	readyLog struct {
		sync.Mutex
		last      string
		at, since time.Time
	}
	// readiness are the health checks' checks of the store, shared by the
	// requests that come at the same time (handlers.go).
	readiness *coalesce.Calls[struct{}]
	// streamWriteTimeout bounds each write of an event stream
	// (events.go).
	streamWriteTimeout time.Duration
	// now is the service's lease clock (lockservice.Config.Now), by which
	// the times in the answers were written: the Date header's.
	now func() time.Time
}

// New returns the API's handler over svc.
func New(svc *lockservice.Service, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, cfg: cfg, log: cfg.Logger, mux: &routeMux{ServeMux: http.NewServeMux()}, guard: newGuard(cfg), csrf: http.NewCrossOriginProtection(), places: newPlaces(cfg.MaxLongRequests), streamWriteTimeout: streamWriteTimeout}
	s.now = svc.Config().Now
	s.readiness = coalesce.New(func(ctx context.Context) (struct{}, error) { return struct{}{}, svc.Ready(ctx) })
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Date by the clock the answers' times were written by: a client
	// (the dashboard) that counts a lease down from its expires, by the
	// server's time, is right while the lease clock catches up with a
	// step of the wall clock, when the two differ. Only then: otherwise
	// net/http writes the same Date without the two allocations.
	if now := s.now(); now.Sub(time.Now()).Abs() >= time.Second {
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	}
	defer func() {
		// A bug must never take the server down, nor answer with Go's
		// plain-text 500: log it and answer in JSON.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, s.remote(r))
			errorf(w, http.StatusInternalServerError, "internal error")
		}
	}()
	if err := s.csrf.Check(r); err != nil {
		s.log.Warn("cross-origin change refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), s.remote(r))
		closeUnread(w, r)
		s.writeError(w, r, lock.Errorf(lock.EFORBIDDEN, "cross-origin request refused: a page of another site may not change locks (%v)", err))
		return
	}
	if err := s.checkHost(r); err != nil {
		s.log.Warn("browser change at an unlisted host name refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "origin", r.Header.Get("Origin"), s.remote(r))
		closeUnread(w, r)
		s.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodConnect && !strings.HasPrefix(r.URL.Path, "/") {
		// CONNECT host:port: a client that takes this server for a
		// proxy. ServeMux would answer in plain text.
		closeUnread(w, r)
		errorf(w, http.StatusMethodNotAllowed, fmt.Sprintf("method CONNECT is not allowed: this is a Locker server, not a proxy (asked for %q)", r.Host))
		return
	}
	routed := routeSlashNames(routeCleanPath(r))
	s.mux.ServeHTTP(w, routed)
	if routed != r {
		// The metrics middleware reads the route from r, which the mux
		// did not see.
		r.Pattern = routed.Pattern
	}
}
