// Package metrics exposes Locker's Prometheus metrics: HTTP requests by
// route and status with latency, lock counts, lease expiries and forced
// releases, and the store's commits (latency, batch size, write errors,
// the write in flight) and snapshots (failures).
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cloudfoundry-community/locker/internal/coalesce"
	"github.com/cloudfoundry-community/locker/lock"
)

// Metrics holds every metric of one server.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	events       *prometheus.CounterVec
	commitTime   prometheus.Histogram
	commitBatch  prometheus.Histogram
	commitErrors prometheus.Counter
	snapErrors   prometheus.Counter
	snapFailing  prometheus.Gauge
	// writeInFlight is the store's WriteInFlight (WatchStoreWrites); nil
	// without one.
	writeInFlight atomic.Pointer[func() time.Duration]
}

// New registers Locker's metrics (and the Go runtime's) in a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locker_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "locker_http_request_duration_seconds", Help: "HTTP request latency by route and method (blocking waits included).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 120, 600},
		}, []string{"route", "method"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locker_lock_events_total", Help: "Committed lock changes by type: acquired, released, expired (lease ran out), forced, refreshed, pool members added, removed, and forgotten locks.",
		}, []string{"type"}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "locker_store_commit_duration_seconds", Help: "Time to write and fsync one batch of changes (file store).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "locker_store_commit_batch_size", Help: "Changes per fsync (group commit; file store).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locker_store_write_errors_total", Help: "Failed writes or fsyncs of the store's log; each failed the requests of its batch.",
		}),
		snapErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locker_store_snapshot_errors_total", Help: "Snapshots the file store could not write (compaction); no change is lost, but its log grows until one is written.",
		}),
		snapFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "locker_store_snapshot_failing", Help: "1 while the file store's last snapshot could not be written (retried every minute, its log growing meanwhile), 0 otherwise.",
		}),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "locker_store_write_in_flight_seconds", Help: "How long the file store's write in flight (a batch's write and fsync of the log, or other disk work every change waits for) has been going on, 0 when none: it grows while the disk hangs, and /readyz fails once it passes 5 s.",
	}, func() float64 {
		if fn := m.writeInFlight.Load(); fn != nil {
			return (*fn)().Seconds()
		}
		return 0
	})
	m.reg.MustRegister(m.requests, m.latency, m.events, m.commitTime, m.commitBatch, m.commitErrors, m.snapErrors, m.snapFailing, inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, t := range lock.EventTypes {
		m.events.WithLabelValues(string(t)) // present at zero from the start
	}
	return m
}

// knownCodes are the status codes each known route is exported with from
// the start (KnownRoutes): 200, and the server's own failures, which alerts
// watch (500: a bug or an unexpected error; 503: the store unavailable, or
// no place for a wait).
var knownCodes = []string{"200", "500", "503"}

// KnownRoutes exports, at 0, the request series of the routes of patterns
// (net/http's, as httpapi.Server.Routes gives them): a labelled series
// otherwise appears only when first counted, so after a restart rate() and
// increase() miss that first request (a series that begins at 1 has not
// increased), and absent() cannot tell a route never asked from one not
// counted. Each route has the method of its pattern (GET for one without:
// the dashboard's page), with the codes of knownCodes and its latency
// histogram. Only what is known in advance: not the catch-all "/" (label
// "other") nor "refused", not HEAD (a GET route's too), nor the other codes
// (a 423 or a 404 appears when first counted). Never a lock name: the
// route is the pattern.
func (m *Metrics) KnownRoutes(patterns []string) {
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = http.MethodGet, p
		}
		route := routeLabel(p, http.StatusOK)
		if path == "/" || route == "other" {
			continue
		}
		method = methodLabel(method)
		for _, code := range knownCodes {
			m.requests.WithLabelValues(route, method, code)
		}
		m.latency.WithLabelValues(route, method)
	}
}

// LockStats are the lock gauges' figures at one scrape.
type LockStats struct {
	Locks, Held, Holds, Waiters int
	// OldestHold is how long the lock held longest has been held,
	// continuously since it went from free to held (lock.Lock's Since,
	// whoever holds it now); 0 when nothing is held.
	OldestHold time.Duration
	// OldestWait is how long the request waiting longest has waited; 0
	// when none waits.
	OldestWait time.Duration
}

// Stats computes the lock figures from every lock, in one pass over them,
// with waiters and oldestWait (zero: none waits) from the wait queue, as of
// now. Clock skew (a lock taken by a replica whose clock is ahead) would
// make an age negative: it counts as 0.
func Stats(locks []*lock.Lock, waiters int, oldestWait, now time.Time) LockStats {
	st := LockStats{Locks: len(locks), Waiters: waiters}
	var oldest time.Time
	for _, l := range locks {
		if l.Free() {
			continue
		}
		st.Held++
		st.Holds += len(l.Holds)
		if !l.Since.IsZero() && (oldest.IsZero() || l.Since.Before(oldest)) {
			oldest = l.Since
		}
	}
	if !oldest.IsZero() {
		st.OldestHold = max(now.Sub(oldest), 0)
	}
	if !oldestWait.IsZero() {
		st.OldestWait = max(now.Sub(oldestWait), 0)
	}
	return st
}

// Gauges reports the lock figures; read once at each scrape. An error (the
// store cannot be read) leaves the lock gauges out of that scrape rather
// than report zeros: "nothing held" would be a lie, and an absent series is
// what alerts can tell.
type Gauges func() (LockStats, error)

// WatchLocks registers gauges read from fn at each scrape.
//
// The oldest hold and wait are ages in seconds, not the Unix timestamps of
// when they began (which Prometheus' guide prefers for gauges a program
// sets when something happens, lest a stuck update go unseen): these are
// computed at each scrape, so they cannot go stale, and an age has an
// honest value when nothing is held or waits, 0, where a timestamp would
// need a made-up one (0 would read as a hold since 1970 in time() - x) or
// an absent series, which already means "the store cannot be read". The
// alert is then a plain threshold. No gauge has a lock's name as a label:
// names are unbounded; GET /locks says which lock it is.
func (m *Metrics) WatchLocks(fn Gauges) {
	m.reg.MustRegister(newLockGauges(fn))
}

func newLockGauges(fn Gauges) *lockGauges {
	return &lockGauges{reads: coalesce.New(func(context.Context) (LockStats, error) { return fn() }), descs: [6]*prometheus.Desc{
		prometheus.NewDesc("locker_locks", "Locks known to the server, free or held.", nil, nil),
		prometheus.NewDesc("locker_locks_held", "Locks currently held.", nil, nil),
		prometheus.NewDesc("locker_holds", "Holders currently holding a lock (one per holder and lock).", nil, nil),
		prometheus.NewDesc("locker_waiters", "Requests waiting for a lock.", nil, nil),
		prometheus.NewDesc("locker_oldest_hold_seconds", "How long the lock held longest has been held, since it went from free to held; 0 when none is held.", nil, nil),
		prometheus.NewDesc("locker_oldest_wait_seconds", "How long the request waiting longest for a lock has waited; 0 when none waits.", nil, nil),
	}}
}

// read returns the figures of a call of fn that began after it was called.
func (g *lockGauges) read() (LockStats, error) {
	return g.reads.Do(context.Background())
}

// waiting returns how many scrapes wait for a read that has not begun.
func (g *lockGauges) waiting() int { return g.reads.Waiting() }

// lockGauges collects the lock gauges from one call of fn.
//
// A call reads every lock, and /metrics may be open to anyone
// (LOCKER_METRICS_PUBLIC): a read per scrape let many scrapers at once
// read the store as often as they liked. So calls are made one at a time,
// and the scrapes that come while one is made share the next, which begins
// after they came (package coalesce, which /readyz's checks of the store
// share): no scrape gets a figure from before it asked, and however many
// ask at once, the store is read once at a time.
type lockGauges struct {
	reads *coalesce.Calls[LockStats]
	descs [6]*prometheus.Desc
}

func (g *lockGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

func (g *lockGauges) Collect(ch chan<- prometheus.Metric) {
	st, err := g.read()
	if err != nil {
		return
	}
	for i, v := range []float64{float64(st.Locks), float64(st.Held), float64(st.Holds), float64(st.Waiters), st.OldestHold.Seconds(), st.OldestWait.Seconds()} {
		ch <- prometheus.MustNewConstMetric(g.descs[i], prometheus.GaugeValue, v)
	}
}

// WatchLeaseClock registers locker_lease_clock_offset_seconds, read from
// offset at each scrape: how far the server's lease clock (the clock that
// decides leases, internal/leaseclock) is behind the wall clock, negative
// when ahead of it. It is 0 but for the hours after the wall clock was
// stepped, while the lease clock catches up (at most 5% fast, 10% slow):
// meanwhile the times the server writes are off the wall clock by it.
func (m *Metrics) WatchLeaseClock(offset func() time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "locker_lease_clock_offset_seconds",
		Help: "How far the clock that decides leases is behind the wall clock (negative: ahead); 0 but while it catches up after the wall clock was stepped.",
	}, func() float64 { return offset().Seconds() }))
}

// ObserveEvents counts committed lock changes.
func (m *Metrics) ObserveEvents(events []lock.Event) {
	for _, ev := range events {
		m.events.WithLabelValues(string(ev.Type)).Inc()
	}
}

// ObserveCommit records one batch written by the file store.
func (m *Metrics) ObserveCommit(batch int, d time.Duration, err error) {
	if err != nil {
		m.commitErrors.Inc()
		return
	}
	m.commitTime.Observe(d.Seconds())
	m.commitBatch.Observe(float64(batch))
}

// WatchStoreWrites has locker_store_write_in_flight_seconds read from fn
// at each scrape: the file store's WriteInFlight. An age computed at the
// scrape, not the time the write began, for the reasons WatchLocks gives;
// it cannot go stale while the store is stuck, since the store's commit
// loop does not set it. Without it (PostgreSQL) the gauge stays 0.
func (m *Metrics) WatchStoreWrites(fn func() time.Duration) {
	m.writeInFlight.Store(&fn)
}

// ObserveSnapshot records a snapshot the file store wrote, or failed to
// write (err).
func (m *Metrics) ObserveSnapshot(err error) {
	if err != nil {
		m.snapErrors.Inc()
		m.snapFailing.Set(1)
		return
	}
	m.snapFailing.Set(0)
}

// Middleware counts and times every request, by the route pattern that
// served it (never the raw path, so lock names do not become labels).
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			code := strconv.Itoa(sw.code)
			v := recover()
			if v == http.ErrAbortHandler && !sw.wrote {
				// Given up because the client went away (the handler
				// closes the connection without an answer): 499, as
				// nginx counts it.
				code = "499"
			}
			route := routeLabel(r.Pattern, sw.code)
			method := methodLabel(r.Method)
			m.requests.WithLabelValues(route, method, code).Inc()
			m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// routeLabel is a request's route as a label: the pattern of the route that
// served it, never its path. Its values are as few as the routes, and:
//
//   - "other": the catch-all "/" (the JSON 404 or 405 of unknown routes), or
//     no route at all;
//   - "refused": no route, answered 403. The API refuses a change from a
//     page of another site, or at a host name it does not know (DNS
//     rebinding), before it routes the request; those are not unknown
//     routes;
//   - a pattern that ends in {$} ("exactly this path") without it: the
//     dashboard's "/{$}" is "/".
func routeLabel(pattern string, code int) string {
	switch {
	case pattern == "" && code == http.StatusForbidden:
		return "refused"
	case pattern == "" || pattern == "/":
		return "other"
	}
	return strings.TrimSuffix(pattern, "{$}")
}

// methodLabel is a request's method as a label: HTTP's own methods, and
// "other" for the rest. A client may send any token as a method, without
// credentials (the answer is a 401 or 404, counted all the same): each
// would be a new series, kept for good, and /metrics would grow without
// end.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer (the
// event stream needs it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
