package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func (s *Server) handleList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		locks, err := s.svc.List(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeLockMap(w, r, locks)
	})
}

func (s *Server) handleAcquire() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		req, err := decodeKeyedRequest(w, r)
		if err == nil {
			err = req.refuseAcquired("a PUT, which takes a hold,")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		took := time.Now()
		ctx, began := lockservice.WithChangeBegan(s.places.waitIn(r.Context(), req.Wait))
		l, err := s.svc.Acquire(ctx, name, req.hold(), req.Wait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		count := l.Holds.Get(req.Holder).Count
		s.log.Info("lock", "lock", name, "key", req.Key, "holder", req.Holder, "count", count, "fence", l.Fence, s.remote(r))
		setLease(w, l, req.Holder, s.svc.Lease(req.TTL), took, began())
		s.writeLockResponse(w, fmt.Sprintf("locked %q with key %q for %q (count %d)", name, req.Key, req.Holder, count), l)
	})
}

func (s *Server) handleRelease() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		req, err := decodeLockRequest(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.Force {
			if err := req.refuseAcquired("a forced release, which ends every hold,"); err != nil {
				s.writeError(w, r, err)
				return
			}
			s.forceRelease(w, r, name, req.Fence)
			return
		}
		if err := req.requireKey(); err != nil {
			s.writeError(w, r, err)
			return
		}
		l, released, err := s.svc.ReleaseHold(r.Context(), name, req.Key, req.Holder, lock.HoldRef{Fence: req.Fence, Acquired: req.Acquired})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.Fence != 0 {
			// Says the fence was checked: a server from before fenced
			// releases ignores it, and its 200 proves nothing.
			w.Header().Set("Locker-Fence-Checked", strconv.FormatUint(req.Fence, 10))
		}
		setAcquiredChecked(w, req.Acquired)
		var msg string
		switch {
		case released:
			count := l.Holds.Get(req.Holder).Count
			s.log.Info("unlock", "lock", name, "key", req.Key, "holder", req.Holder, "count", count, "fence", l.Fence, s.remote(r))
			msg = fmt.Sprintf("unlocked %q for %q (count %d)", name, req.Holder, count)
			if l.Free() {
				msg += "; the lock is free"
			}
		case l.Free():
			msg = fmt.Sprintf("lock %q is not held; nothing to unlock", name)
		default:
			msg = fmt.Sprintf("%q holds nothing on lock %q; nothing changed", req.Holder, name)
		}
		s.writeLockResponse(w, msg, l)
	})
}

// setAcquiredChecked says, on the answer to a release or refresh that named
// its hold by the time it began, that this was checked: a server from
// before the field ignores it, and its 200 proves nothing. The time is
// written back in UTC, as the lock's holds show it.
func setAcquiredChecked(w http.ResponseWriter, acquired time.Time) {
	if !acquired.IsZero() {
		w.Header().Set("Locker-Acquired-Checked", acquired.UTC().Format(time.RFC3339Nano))
	}
}

// forceRelease ends every hold on the named lock, or with fence (not 0)
// those taken under it only: the dashboard sends the fence of the holders
// its confirmation named.
func (s *Server) forceRelease(w http.ResponseWriter, r *http.Request, name string, fence uint64) {
	if err := s.mayForce(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	by := s.actor(r)
	l, events, err := s.svc.ForceReleaseFence(r.Context(), name, by, fence)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msg := fmt.Sprintf("lock %q is not held; nothing to release", name)
	if forced := s.logForced(r, events, by); len(forced) > 0 {
		msg = fmt.Sprintf("force-released lock %q from %q", name, forced)
	}
	s.writeLockResponse(w, msg, l)
}

// logForced logs a warning for each hold a force release ended, and
// returns their holders.
func (s *Server) logForced(r *http.Request, events []lock.Event, by string, attrs ...any) []string {
	var forced []string
	for _, ev := range events {
		if ev.Type == lock.Forced {
			forced = append(forced, ev.Holder)
			s.log.Warn("force release", append([]any{"lock", ev.Lock, "key", ev.Key, "holder", ev.Holder, "fence", ev.Fence, "by", by, s.remote(r)}, attrs...)...)
		}
	}
	return forced
}

func (s *Server) handleGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, err := s.svc.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, s.view(l))
	})
}

// setLease says in the Locker-Lease header how long, at least, the hold
// of holder runs from when the server took the request (took): the lease
// the change granted, which runs from the change, and the time between the
// two, which a request that waited for the lock spent waiting (began: when
// the change began, no later than the store's time of it). Counted from
// when it sent the request, a client can time its renewals by it whatever
// its clock and the server's say. No header when the change granted no
// lease, or the hold has none after it (taken again with a ttl, a hold
// without a lease keeps none: a lease never shortens).
func setLease(w http.ResponseWriter, l lock.Lock, holder string, lease time.Duration, took, began time.Time) {
	if lease <= 0 || l.Holds.Get(holder).Expires.IsZero() {
		return
	}
	if waited := began.Sub(took).Truncate(time.Millisecond); waited > 0 {
		// In whole milliseconds: less, never more. Stopping at the
		// largest duration, which the longest ttl plus a wait would
		// pass (and wrap round to a negative one).
		lease += min(waited, math.MaxInt64-lease)
	}
	w.Header().Set("Locker-Lease", lease.String())
}

func (s *Server) handleRefresh() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		req, err := decodeKeyedRequest(w, r)
		if err == nil && req.TTL <= 0 {
			err = lock.Errorf(lock.EINVALID, `refresh needs a "ttl", such as "30s"`)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		took := time.Now()
		ctx, began := lockservice.WithChangeBegan(r.Context())
		l, err := s.svc.RefreshHold(ctx, name, req.Key, req.Holder, req.TTL, lock.HoldRef{Fence: req.Fence, Acquired: req.Acquired})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		setAcquiredChecked(w, req.Acquired)
		exp := l.Holds.Get(req.Holder).Expires
		setLease(w, l, req.Holder, s.svc.Lease(req.TTL), took, began())
		s.writeLockResponse(w, fmt.Sprintf("lease of %q on %q renewed: it now expires at %s", req.Holder, name, exp.Format("2006-01-02T15:04:05.000Z07:00")), l)
	})
}

// historyResponse is a lock's recent events, oldest first.
type historyResponse struct {
	Name   string       `json:"name"`
	Events []lock.Event `json:"events"`
}

func (s *Server) handleHistory() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		events, err := s.svc.History(r.Context(), name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if events == nil {
			events = []lock.Event{}
		}
		writeJSON(w, http.StatusOK, historyResponse{Name: name, Events: events})
	})
}

// handleHealthz is liveness: 200 while the process serves. It also reports
// the store (the database, with LOCKER_DATABASE_URL) without failing on it:
// a replica whose database is down is alive and will recover by itself;
// /readyz is the check that fails.
func (s *Server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Within half a second whatever the store does: a liveness
		// probe (1s by default in Kubernetes) must not fail, and restart
		// the server, because the database is slow or away.
		ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
		defer cancel()
		store := "ok"
		if err := s.storeReady(ctx); err != nil {
			store = "unavailable: " + s.notReady(err)
		} else {
			s.ready()
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "store": store, "version": s.cfg.Version})
	})
}

// storeReady checks the store for the health checks, which anyone may
// ask for: a flood of them must not make the store work once each (a
// query with PostgreSQL, a test write for a file store that failed a
// write). Checks are made one at a time; the requests that come while
// one is made wait for it to end and share the next, which begins after
// they came (package coalesce, as /metrics' reads of the store are). So no
// answer comes from a check older than its request: a store that failed
// while a check was being made is never reported ready to a request that
// came meanwhile. A check goes on while a request waits for it, and stops
// when none does.
func (s *Server) storeReady(ctx context.Context) error {
	_, err := s.readiness.Do(ctx)
	if err != nil && err == ctx.Err() && errors.Is(err, context.DeadlineExceeded) {
		// /healthz's own bound ran out, waiting for a check in progress
		// or its own.
		return lock.Errorf(lock.EUNAVAILABLE, "the store did not answer its check in time")
	}
	return err
}

// notReady returns what the open health checks say of err, the store's
// failure: its summary, without file paths or the database's address and
// user, which anyone could read there. The details go to the log: when the
// store stops being ready, when the reason changes, and once a minute while
// it lasts (load balancers ask every few seconds).
func (s *Server) notReady(err error) string {
	detail := err.Error()
	s.readyLog.Lock()
	defer s.readyLog.Unlock()
	now := time.Now()
	if s.readyLog.since.IsZero() {
		s.readyLog.since = now
	}
	if detail != s.readyLog.last || now.Sub(s.readyLog.at) >= time.Minute {
		s.readyLog.last, s.readyLog.at = detail, now
		s.log.Warn("the store is not ready", "error", detail)
	}
	return lock.ErrorSummary(err)
}

// ready notes that a health check found the store ready, and logs it
// (once) when the last one found it not ready, with how long it was not.
func (s *Server) ready() {
	s.readyLog.Lock()
	defer s.readyLog.Unlock()
	if s.readyLog.since.IsZero() {
		return
	}
	s.log.Info("the store is ready again", "not_ready_for", time.Since(s.readyLog.since).Round(time.Millisecond))
	s.readyLog.since, s.readyLog.last = time.Time{}, ""
}

func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.storeReady(r.Context()); err != nil {
			// Not ready, whatever the cause (disk full, read-only, database
			// down): 503, what load balancers and orchestrators expect.
			s.writeError(w, r, lock.Errorf(lock.EUNAVAILABLE, "not ready: %s", s.notReady(err)))
			return
		}
		s.ready()
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// handleNotFound answers every unknown route: 405 with Allow when the path
// exists with other methods, 404 otherwise.
func (s *Server) handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := emptyName(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := s.mux.Handler(routeSlashNames(probe)); pattern != "/" && pattern != "" {
				allow = append(allow, m)
				if m == http.MethodGet {
					// A GET route answers HEAD too.
					allow = append(allow, http.MethodHead)
				}
			}
		}
		// The path as sent when it differs from its decoding in more
		// than spelling: /lock/a%2Fb/refresh is not /lock/a/b/refresh.
		path := r.URL.Path
		if r.URL.RawPath != "" {
			path = r.URL.RawPath
		}
		if len(allow) > 0 {
			for _, m := range allow {
				w.Header().Add("Allow", m)
			}
			errorf(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; allowed: %v", r.Method, path, allow))
			return
		}
		s.writeError(w, r, noRoute(r.Method, path))
	})
}

// emptyName is the 400 for the path of a route with its last name left
// out, whatever the method, as that route answers for a bad name: /lock/
// (the lock's name), /pool/ (the pool's) and /pool/{pool}/ (the member's,
// once the pool's name is good). The mux has no route for them (a
// wildcard matches no empty segment), so they come here.
func emptyName(r *http.Request) error {
	segs := strings.Split(r.URL.EscapedPath(), "/")
	switch {
	case len(segs) == 3 && segs[1] == "lock" && segs[2] == "":
		return lock.ValidateName("lock name", "")
	case len(segs) == 3 && segs[1] == "pool" && segs[2] == "":
		return lock.ValidateName("pool name", "")
	case len(segs) == 4 && segs[1] == "pool" && segs[3] == "":
		pool, err := url.PathUnescape(segs[2])
		if err != nil {
			return nil
		}
		if err := lock.ValidateName("pool name", pool); err != nil {
			return err
		}
		return lock.ValidateName("lock name", "")
	}
	return nil
}
