package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestMethodsAreBoundedLabels: a request's method is any token a client
// sends; only HTTP's own methods become label values.
func TestMethodsAreBoundedLabels(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /locks", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	send := func(method, path string) {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path)
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	for i := range 50 {
		send(fmt.Sprintf("FOO%d", i), "/x")
	}
	send("GET", "/locks")
	send("DELETE", "/x")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	if strings.Contains(out, "FOO") {
		t.Errorf("a method a client made up became a label:\n%s", grep(out, "FOO"))
	}
	for _, want := range []string{
		`locker_http_requests_total{code="404",method="other",route="other"} 50`,
		`locker_http_requests_total{code="200",method="GET",route="GET /locks"} 1`,
		`locker_http_requests_total{code="404",method="DELETE",route="other"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, grep(out, "locker_http_requests_total"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestAbandonedRequestsCounted: a request given up because its client went
// away ends in http.ErrAbortHandler (the connection is closed without an
// answer). It is still counted and timed, as 499, and the abort goes on.
func TestAbandonedRequestsCounted(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /lock/{name}", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	srv := httptest.NewServer(m.Middleware(mux))
	srv.Config.ErrorLog = nil
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/lock/x", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("an aborted request got an answer: %d", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`locker_http_requests_total{code="499",method="PUT",route="PUT /lock/{name}"} 1`,
		`locker_http_request_duration_seconds_count{method="PUT",route="PUT /lock/{name}"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, grep(out, "locker_http"))
		}
	}
}

// TestLockGaugesLeftOutWhenUnreadable: the lock gauges come from one read
// of the store a scrape; when the store cannot be read (a database that is
// away) they are left out of the scrape, not reported as zero ("nothing
// held"), and the rest of the metrics are still served.
func TestLockGaugesLeftOutWhenUnreadable(t *testing.T) {
	m := New()
	calls, fail := 0, false
	m.WatchLocks(func() (LockStats, error) {
		calls++
		if fail {
			return LockStats{}, fmt.Errorf("database away")
		}
		return LockStats{Locks: 5, Held: 2, Holds: 3, Waiters: 1, OldestHold: 90 * time.Minute, OldestWait: 1500 * time.Millisecond}, nil
	})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	out := scrape()
	for _, want := range []string{"locker_locks 5\n", "locker_locks_held 2\n", "locker_holds 3\n", "locker_waiters 1\n",
		"locker_oldest_hold_seconds 5400\n", "locker_oldest_wait_seconds 1.5\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if calls != 1 {
		t.Errorf("one scrape read the store %d times, want once", calls)
	}
	fail = true
	out = scrape()
	if strings.Contains(out, "locker_locks") || strings.Contains(out, "locker_holds") || strings.Contains(out, "locker_oldest") || !strings.Contains(out, "locker_store_write_errors_total") {
		t.Errorf("with the store unreadable the scrape is:\n%s", out)
	}
}

// TestEventTypesStartAtZero: every type of lock change is in the first
// scrape, at zero, so that rate() and increase() see its first change and
// an alert on it has a series to watch: pool members added and removed too.
func TestEventTypesStartAtZero(t *testing.T) {
	m := New()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, typ := range []string{"acquired", "released", "expired", "forced", "refreshed", "added", "removed"} {
		if want := `locker_lock_events_total{type="` + typ + `"} 0` + "\n"; !strings.Contains(out, want) {
			t.Errorf("the first scrape lacks %s in:\n%s", strings.TrimSpace(want), grep(out, "locker_lock_events_total"))
		}
	}
}

// TestRouteLabels: requests refused before routing (the API's cross-origin
// and host-name checks answer 403 before its mux chooses a route) count as
// "refused", not as the unknown routes' "other"; a 403 from a route keeps
// the route's label; the page at exactly "/" ("/{$}") is "/".
func TestRouteLabels(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /lock/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("forbidden") {
			http.Error(w, "read-only", http.StatusForbidden)
		}
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	// Like httpapi.Server: some requests are refused before the mux.
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(m.Middleware(api))
	defer srv.Close()
	send := func(method, path, origin string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("PUT", "/lock/x", "https://evil.example")
	send("PUT", "/lock/x", "https://evil.example")
	send("PUT", "/lock/x?forbidden", "")
	send("PUT", "/lock/x", "")
	send("GET", "/", "")
	send("GET", "/nope", "")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := grep(rec.Body.String(), "locker_http_requests_total{")
	for _, want := range []string{
		`locker_http_requests_total{code="403",method="PUT",route="refused"} 2`,
		`locker_http_requests_total{code="403",method="PUT",route="PUT /lock/{name}"} 1`,
		`locker_http_requests_total{code="200",method="PUT",route="PUT /lock/{name}"} 1`,
		`locker_http_requests_total{code="200",method="GET",route="/"} 1`,
		`locker_http_requests_total{code="404",method="GET",route="other"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n") + 1; n != 5 {
		t.Errorf("%d series, want the 5 above:\n%s", n, out)
	}
}

// TestCommitsObserved: a batch written is counted with its size, a failed
// write as a write error (and not as a batch). Only a run without errors
// was checked (e2e: write errors 0), so a failed write not counted passed.
func TestCommitsObserved(t *testing.T) {
	m := New()
	m.ObserveCommit(3, time.Millisecond, nil)
	m.ObserveCommit(2, time.Millisecond, errors.New("no space left on device"))
	m.ObserveCommit(2, time.Millisecond, errors.New("input/output error"))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		"locker_store_write_errors_total 2\n",
		"locker_store_commit_batch_size_count 1\n",
		"locker_store_commit_batch_size_sum 3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, grep(out, "locker_store"))
		}
	}
}

// TestSnapshotsObserved: each failed snapshot is counted, and the failing
// gauge is 1 from a failure until a snapshot is written (0 before any).
func TestSnapshotsObserved(t *testing.T) {
	m := New()
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	for _, step := range []struct {
		err         error
		want, wantN string
	}{
		{nil, "locker_store_snapshot_failing 0\n", "locker_store_snapshot_errors_total 0\n"},
		{errors.New("no space left on device"), "locker_store_snapshot_failing 1\n", "locker_store_snapshot_errors_total 1\n"},
		{errors.New("no space left on device"), "locker_store_snapshot_failing 1\n", "locker_store_snapshot_errors_total 2\n"},
		{nil, "locker_store_snapshot_failing 0\n", "locker_store_snapshot_errors_total 2\n"},
	} {
		m.ObserveSnapshot(step.err)
		out := scrape()
		for _, want := range []string{step.want, step.wantN} {
			if !strings.Contains(out, want) {
				t.Errorf("after a snapshot (err %v): no %q in:\n%s", step.err, want, grep(out, "locker_store"))
			}
		}
	}
}

// TestStatsOldest: the oldest hold is the lock held longest, by when it went
// from free to held (Since), whoever holds it now and however many; free
// locks do not count; nothing held or nobody waiting is 0; the ages grow
// with the clock; a Since ahead of the clock (another replica's clock) is
// 0, not negative.
func TestStatsOldest(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	held := func(name string, since time.Time, holders ...string) *lock.Lock {
		l := &lock.Lock{Name: name, Key: "k", Since: since}
		for _, h := range holders {
			l.Holds = append(l.Holds, lock.HeldBy{Holder: h, Hold: lock.Hold{Count: 1, Acquired: t0.Add(time.Hour)}})
		}
		return l
	}
	free := &lock.Lock{Name: "free", FreeSince: t0.Add(-48 * time.Hour)}

	if st := Stats([]*lock.Lock{free}, 0, time.Time{}, t0); st != (LockStats{Locks: 1}) {
		t.Errorf("nothing held, nobody waiting: %+v", st)
	}
	locks := []*lock.Lock{
		free,
		held("recent", t0.Add(-10*time.Minute), "a"),
		held("stuck", t0.Add(-2*time.Hour), "a", "b"),
		held("middle", t0.Add(-time.Hour), "c"),
	}
	st := Stats(locks, 2, t0.Add(-30*time.Second), t0)
	want := LockStats{Locks: 4, Held: 3, Holds: 4, Waiters: 2, OldestHold: 2 * time.Hour, OldestWait: 30 * time.Second}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	st = Stats(locks, 2, t0.Add(-30*time.Second), t0.Add(45*time.Minute))
	if st.OldestHold != 2*time.Hour+45*time.Minute || st.OldestWait != 45*time.Minute+30*time.Second {
		t.Errorf("45 minutes later: oldest hold %v, wait %v", st.OldestHold, st.OldestWait)
	}
	if st := Stats([]*lock.Lock{held("ahead", t0.Add(time.Second), "a")}, 1, t0.Add(time.Second), t0); st.OldestHold != 0 || st.OldestWait != 0 {
		t.Errorf("a Since ahead of the clock: oldest hold %v, wait %v; want 0", st.OldestHold, st.OldestWait)
	}
}

// TestConcurrentScrapesShareAStoreRead: each scrape read every lock of the
// store, and with LOCKER_METRICS_PUBLIC=true anyone may scrape: in a
// review, 300 anonymous scrapers at once on a server of 20,000 locks made
// one lock take 1-2 s instead of 1 ms, each scrape a read of its own.
// Scrapes that come while a read is being made now wait for it to end and
// share the next one, which begins after they came: never a figure from
// before a scrape was asked for, and one read at a time however many ask.
func TestConcurrentScrapesShareAStoreRead(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	g := newLockGauges(func() (LockStats, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		<-release
		return LockStats{Locks: n}, nil
	})
	reads := func() int { mu.Lock(); defer mu.Unlock(); return calls }
	m := New()
	m.reg.MustRegister(g)
	h := m.Handler()
	scrape := func(out chan<- float64) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if v, ok := strings.CutPrefix(l, "locker_locks "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				out <- f
				return
			}
		}
		out <- -1
	}
	first := make(chan float64, 1)
	go scrape(first)
	for reads() != 1 {
		runtime.Gosched()
	}
	// 20 more while the first read is being made.
	const n = 20
	rest := make(chan float64, n)
	for range n {
		go scrape(rest)
	}
	for reads() < 1+n && g.waiting() < n {
		runtime.Gosched()
	}
	close(release)
	if got := <-first; got != 1 {
		t.Errorf("the first scrape got the figure of read %v, want 1", got)
	}
	for range n {
		if got := <-rest; got != 2 {
			t.Errorf("a scrape that came during the first read got the figure of read %v, want 2 (the read after it came)", got)
		}
	}
	if r := reads(); r != 2 {
		t.Errorf("%d concurrent scrapes read the store %d times, want 2: the first, and one shared by the %d that came during it", 1+n, r, n)
	}
	// Alone, each scrape reads.
	for i := range 3 {
		one := make(chan float64, 1)
		scrape(one)
		if got, want := <-one, float64(3+i); got != want {
			t.Errorf("scrape %d alone got read %v, want %v", i+1, got, want)
		}
	}
}

// TestKnownRoutesStartAtZero: a labelled counter appeared only at its first
// increment, so rate() and increase() missed that increment after a
// restart (a series that begins at 1 has not increased) and absent() could
// not tell "never asked" from "not counted". The routes a server serves,
// each with its method, are exported at 0 from the start for the codes
// alerts watch (200, 500, 503), with their latency; a request then counts
// in that series, not a new one. The catch-all "/" (label "other") is not
// a route known in advance, nor are other codes or methods.
func TestKnownRoutesStartAtZero(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	for _, p := range []string{"GET /locks", "PUT /lock/{name}", "/{$}", "/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {})
	}
	m.KnownRoutes([]string{"GET /locks", "PUT /lock/{name}", "/{$}", "/"})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	out := scrape()
	for _, rm := range []string{`method="GET",route="GET /locks"`, `method="PUT",route="PUT /lock/{name}"`, `method="GET",route="/"`} {
		for _, code := range []string{"200", "500", "503"} {
			if want := `locker_http_requests_total{code="` + code + `",` + rm + `} 0`; !strings.Contains(out, want) {
				t.Errorf("no %s in:\n%s", want, grep(out, "locker_http_requests_total"))
			}
		}
		if want := `locker_http_request_duration_seconds_count{` + rm + `} 0`; !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, grep(out, "locker_http_request_duration_seconds_count"))
		}
	}
	for _, unknown := range []string{`route="other"`, `method="HEAD"`, `code="404"`, `{$}`} {
		if strings.Contains(out, unknown) {
			t.Errorf("%s exported before any such request:\n%s", unknown, grep(out, unknown))
		}
	}
	if n := strings.Count(out, "locker_http_requests_total{"); n != 3*3 {
		t.Errorf("%d request series, want 9 (3 routes, 3 codes):\n%s", n, grep(out, "locker_http_requests_total{"))
	}
	h := m.Middleware(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PUT", "/lock/x", nil))
	out = scrape()
	if want := `locker_http_requests_total{code="200",method="PUT",route="PUT /lock/{name}"} 1`; !strings.Contains(out, want) {
		t.Errorf("no %s after one PUT:\n%s", want, grep(out, "locker_http_requests_total"))
	}
}

// TestWriteInFlightGauge: locker_store_write_in_flight_seconds is how long
// the file store's write in flight has been waiting, read at each scrape
// from the store (WatchStoreWrites), 0 when none is; it is there at 0 from
// the start, and with a store that has none to report (PostgreSQL).
func TestWriteInFlightGauge(t *testing.T) {
	m := New()
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if out := scrape(); !strings.Contains(out, "\nlocker_store_write_in_flight_seconds 0\n") {
		t.Errorf("before any store: %s", grep(out, "locker_store_write"))
	}
	var inFlight time.Duration
	m.WatchStoreWrites(func() time.Duration { return inFlight })
	for _, step := range []struct {
		d    time.Duration
		want string
	}{
		{0, "locker_store_write_in_flight_seconds 0\n"},
		{12*time.Second + 500*time.Millisecond, "locker_store_write_in_flight_seconds 12.5\n"},
		{0, "locker_store_write_in_flight_seconds 0\n"},
	} {
		inFlight = step.d
		if out := scrape(); !strings.Contains(out, "\n"+step.want) {
			t.Errorf("with a write in flight for %v: no %q in:\n%s", step.d, step.want, grep(out, "locker_store_write"))
		}
	}
}

func TestLeaseClockOffset(t *testing.T) {
	m := New()
	offset := -90 * time.Second
	m.WatchLeaseClock(func() time.Duration { return offset })
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if body := scrape(); !strings.Contains(body, "\nlocker_lease_clock_offset_seconds -90\n") {
		t.Errorf("want locker_lease_clock_offset_seconds -90 in:\n%s", body)
	}
	offset = 3600 * time.Second
	if body := scrape(); !strings.Contains(body, "\nlocker_lease_clock_offset_seconds 3600\n") {
		t.Errorf("want locker_lease_clock_offset_seconds 3600 in:\n%s", body)
	}
}
