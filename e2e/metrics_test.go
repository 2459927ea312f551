package e2e

// Observability through the real binary: /metrics (behind auth unless
// LOCKER_METRICS_PUBLIC=true) counts what happened, /healthz answers without
// auth, /readyz reflects the store.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metric returns the value of the sample of name whose labels include all of
// labels (k="v" each), and whether there is one.
func metric(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		rest = strings.TrimSpace(rest)
		i := strings.LastIndex(rest, " ") // label values may hold spaces
		series, value := rest[:max(i, 0)], rest[i+1:]
		match := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				match = false
			}
		}
		if match {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func scrape(t *testing.T, url, user, pass string) string {
	t.Helper()
	st, h, body := hcall(t, nil, "GET", url+"/metrics", user, pass, "")
	if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s %.200s", st, h.Get("Content-Type"), body)
	}
	return body
}

func TestMetricsBehindAuth(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=pw", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=root"})
	if st, h, b := hcall(t, nil, "GET", s.URL+"/metrics", "", "", ""); st != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("/metrics without credentials: %d %s, want 401", st, b)
	}
	// Health checks need none.
	if st, _, b := hcall(t, nil, "GET", s.URL+"/healthz", "", "", ""); st != 200 || !strings.Contains(b, `"ok"`) {
		t.Fatalf("/healthz: %d %s", st, b)
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/readyz", "", "", ""); st != 200 || !strings.Contains(b, `"ready"`) {
		t.Fatalf("/readyz: %d %s", st, b)
	}

	ok := func(method, path, user, pass, body string) {
		t.Helper()
		if st, _, b := hcall(t, nil, method, s.URL+path, user, pass, body); st != 200 {
			t.Fatalf("%s %s: %d %s", method, path, st, b)
		}
	}
	// Three locks held at the end (one shared by two holders), one lease
	// run out, one forced release, four cycles of lock and unlock.
	for range 4 {
		ok("PUT", "/lock/cycle", "deploy", "pw", `{"key":"k"}`)
		ok("DELETE", "/lock/cycle", "deploy", "pw", `{"key":"k"}`)
	}
	ok("PUT", "/lock/held-1", "deploy", "pw", `{"key":"k"}`)
	ok("PUT", "/lock/held-2", "deploy", "pw", `{"key":"k","lock_by":"a"}`)
	ok("PUT", "/lock/held-2", "deploy", "pw", `{"key":"k","lock_by":"b"}`)
	ok("PUT", "/lock/held-3", "deploy", "pw", `{"key":"k"}`)
	ok("PUT", "/lock/forced", "deploy", "pw", `{"key":"k"}`)
	ok("DELETE", "/lock/forced?force=true", "ops", "root", "")
	ok("PUT", "/lock/lease", "deploy", "pw", `{"key":"k","ttl":"1s"}`)
	if st, _, _ := hcall(t, nil, "PUT", s.URL+"/lock/held-1", "deploy", "pw", `{"key":"other"}`); st != 423 {
		t.Fatalf("conflict: %d", st)
	}

	var text string
	deadline := time.Now().Add(20 * time.Second)
	for {
		text = scrape(t, s.URL, "deploy", "pw")
		if v, _ := metric(text, "locker_lock_events_total", `type="expired"`); v >= 1 {
			// A scrape is not one instant: its gauges and the commit
			// histogram may have been read before the expiry was
			// committed, and the event counter after. The next
			// scrape's are all after it.
			text = scrape(t, s.URL, "deploy", "pw")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no expiry counted after 20s:\n%s", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := []struct {
		name   string
		labels []string
		check  func(float64) bool
		what   string
	}{
		{"locker_http_requests_total", []string{`route="PUT /lock/{name}"`, `method="PUT"`, `code="200"`}, func(v float64) bool { return v == 4+5+1 }, "10 good PUTs"},
		{"locker_http_requests_total", []string{`route="PUT /lock/{name}"`, `code="423"`}, func(v float64) bool { return v == 1 }, "1 conflict"},
		{"locker_http_requests_total", []string{`route="DELETE /lock/{name}"`, `code="200"`}, func(v float64) bool { return v == 5 }, "5 DELETEs"},
		{"locker_http_requests_total", []string{`route="GET /metrics"`, `code="401"`}, func(v float64) bool { return v == 1 }, "the refused scrape"},
		{"locker_lock_events_total", []string{`type="expired"`}, func(v float64) bool { return v == 1 }, "1 expiry"},
		{"locker_lock_events_total", []string{`type="forced"`}, func(v float64) bool { return v == 1 }, "1 forced"},
		{"locker_lock_events_total", []string{`type="acquired"`}, func(v float64) bool { return v == 10 }, "10 acquired"},
		{"locker_lock_events_total", []string{`type="released"`}, func(v float64) bool { return v == 4 }, "4 released"},
		{"locker_locks_held", nil, func(v float64) bool { return v == 3 }, "3 held"},
		{"locker_holds", nil, func(v float64) bool { return v == 4 }, "4 holds"},
		{"locker_locks", nil, func(v float64) bool { return v == 6 }, "6 locks"},
		{"locker_waiters", nil, func(v float64) bool { return v == 0 }, "no waiters"},
		{"locker_store_commit_batch_size_count", nil, func(v float64) bool { return v >= 1 && v <= 16 }, "one batch per commit, 16 changes at most"},
		{"locker_store_commit_batch_size_sum", nil, func(v float64) bool { return v == 16 }, "16 changes committed (10 acquired, 4 released, 1 forced, 1 expired)"},
		{"locker_store_write_errors_total", nil, func(v float64) bool { return v == 0 }, "no write errors"},
		{"locker_http_request_duration_seconds_count", []string{`route="PUT /lock/{name}"`}, func(v float64) bool { return v == 11 }, "11 PUTs timed"},
	}
	for _, w := range want {
		v, found := metric(text, w.name, w.labels...)
		if !found || !w.check(v) {
			t.Errorf("%s%v = %v (found %v), want %s", w.name, w.labels, v, found, w.what)
		}
	}
	// Lock names never become labels.
	if strings.Contains(text, "held-1") || strings.Contains(text, "/lock/cycle") {
		t.Errorf("a lock name is in the metrics")
	}
}

func TestMetricsPublic(t *testing.T) {
	s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=pw", "LOCKER_METRICS_PUBLIC=true"})
	text := scrape(t, s.URL, "", "")
	if _, ok := metric(text, "locker_locks_held"); !ok {
		t.Fatalf("public /metrics has no locker_locks_held:\n%s", text)
	}
	// Only the metrics: the API still needs credentials.
	if st, _, _ := hcall(t, nil, "GET", s.URL+"/locks", "", "", ""); st != http.StatusUnauthorized {
		t.Fatalf("GET /locks without credentials: %d, want 401", st)
	}
}

// TestMetricsRouteLabels: through the real binary, the changes the API
// refuses before routing them (a page of another site; a page at a host
// name a server without credentials does not know) count as
// route="refused", not as the unknown routes' "other"; the dashboard's page
// is route="/"; every type of lock change is counted from zero.
func TestMetricsRouteLabels(t *testing.T) {
	s := startServer(t, nil)
	text := scrape(t, s.URL, "", "")
	for _, typ := range []string{"acquired", "released", "expired", "forced", "refreshed", "added", "removed", "forgotten"} {
		if v, ok := metric(text, "locker_lock_events_total", `type="`+typ+`"`); !ok || v != 0 {
			t.Errorf("the first scrape has locker_lock_events_total{type=%q} = %v (found %v), want 0", typ, v, ok)
		}
	}

	send := func(host string, header map[string]string) {
		t.Helper()
		req, err := http.NewRequest("PUT", s.URL+"/lock/prod", strings.NewReader(`{"key":"k"}`))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("PUT from a browser page (%v, host %q): %d, want 403", header, host, resp.StatusCode)
		}
	}
	send("", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	send("evil.test:"+port, map[string]string{"Origin": "http://evil.test:" + port, "Sec-Fetch-Site": "same-origin"})

	// The dashboard's page, at exactly "/" (the pattern "/{$}").
	req, err := http.NewRequest("GET", s.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A lock named "/" is routed with a stand-in for its name; it counts
	// under its route all the same.
	if st, body := do(t, http.DefaultClient, "PUT", s.URL+"/lock/%2F", `{"key":"k"}`); st != 200 {
		t.Fatalf("PUT /lock/%%2F: %d %s", st, body)
	}

	text = scrape(t, s.URL, "", "")
	if v, _ := metric(text, "locker_http_requests_total", `route="PUT /lock/{name}"`, `code="200"`, `method="PUT"`); v != 1 {
		t.Errorf(`locker_http_requests_total{route="PUT /lock/{name}",code="200"} = %v, want 1 (the lock named "/")`, v)
	}
	if v, _ := metric(text, "locker_http_requests_total", `route="/"`, `code="200"`, `method="GET"`); v != 1 {
		t.Errorf(`locker_http_requests_total{route="/",code="200"} = %v, want 1 (the dashboard)`, v)
	}
	if v, _ := metric(text, "locker_http_requests_total", `route="refused"`, `code="403"`, `method="PUT"`); v != 2 {
		t.Errorf(`locker_http_requests_total{route="refused",code="403"} = %v, want 2:`+"\n%s", v, text)
	}
	if v, ok := metric(text, "locker_http_requests_total", `route="other"`, `code="403"`); ok {
		t.Errorf(`locker_http_requests_total{route="other",code="403"} = %v: refused changes counted as unknown routes`, v)
	}
}

// TestMetricsStuckGauges: through the real binary, a lock taken shows as
// a positive locker_oldest_hold_seconds, and a request waiting for it as a
// positive locker_oldest_wait_seconds; both are 0 again when the lock is
// free and nobody waits. Polled: the ages grow at the clock's pace, however
// slow the machine.
func TestMetricsStuckGauges(t *testing.T) {
	s := startServer(t, nil)
	gauges := func() (hold, wait float64) {
		t.Helper()
		text := scrape(t, s.URL, "", "")
		hold, okh := metric(text, "locker_oldest_hold_seconds")
		wait, okw := metric(text, "locker_oldest_wait_seconds")
		if !okh || !okw {
			t.Fatalf("no oldest hold or wait gauge:\n%s", text)
		}
		return hold, wait
	}
	poll := func(what string, ok func(hold, wait float64) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			hold, wait := gauges()
			if ok(hold, wait) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30s: oldest hold %v, oldest wait %v; want %s", hold, wait, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if hold, wait := gauges(); hold != 0 || wait != 0 {
		t.Fatalf("nothing held: oldest hold %v, wait %v; want 0", hold, wait)
	}
	if st, b := do(t, http.DefaultClient, "PUT", s.URL+"/lock/deploy", `{"key":"pipeline-1"}`); st != 200 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	poll("a positive oldest hold", func(hold, _ float64) bool { return hold > 0 })

	waited := make(chan int, 1)
	go func() { // not do: t.Fatal is for the test's goroutine only
		req, err := http.NewRequest("PUT", s.URL+"/lock/deploy", strings.NewReader(`{"key":"pipeline-2","wait":"2m"}`))
		if err != nil {
			waited <- 0
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			waited <- 0
			return
		}
		resp.Body.Close()
		waited <- resp.StatusCode
	}()
	poll("a positive oldest wait", func(_, wait float64) bool { return wait > 0 })

	if st, b := do(t, http.DefaultClient, "DELETE", s.URL+"/lock/deploy", `{"key":"pipeline-1"}`); st != 200 {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	if st := <-waited; st != 200 {
		t.Fatalf("the waiting PUT: %d, want 200", st)
	}
	if st, b := do(t, http.DefaultClient, "DELETE", s.URL+"/lock/deploy", `{"key":"pipeline-2"}`); st != 200 {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	poll("0 and 0, nothing held, nobody waiting", func(hold, wait float64) bool { return hold == 0 && wait == 0 })
}

// TestMetricsStuckGaugesReplicas: with PostgreSQL, a replica reports the
// oldest hold and wait of the whole database, as it does the counts: a
// request waiting on replica a shows in replica b's scrape too.
func TestMetricsStuckGaugesReplicas(t *testing.T) {
	db := haDatabase(t)
	a := startServer(t, []string{"LOCKER_DATABASE_URL=" + db})
	b := startServer(t, []string{"LOCKER_DATABASE_URL=" + db})
	if st, body := do(t, nil, "PUT", a.URL+"/lock/deploy", `{"key":"pipeline-1"}`); st != 200 {
		t.Fatalf("PUT: %d %s", st, body)
	}
	waited := haAsync("PUT", a.URL+"/lock/deploy", `{"key":"pipeline-2","wait":"2m"}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		text := scrape(t, b.URL, "", "")
		hold, _ := metric(text, "locker_oldest_hold_seconds")
		wait, _ := metric(text, "locker_oldest_wait_seconds")
		n, _ := metric(text, "locker_waiters")
		if hold > 0 && wait > 0 && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b after 30s: oldest hold %v, oldest wait %v, %v waiters; want replica a's lock and waiter", hold, wait, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, body := do(t, nil, "DELETE", a.URL+"/lock/deploy", `{"key":"pipeline-1"}`); st != 200 {
		t.Fatalf("DELETE: %d %s", st, body)
	}
	if r := <-waited; r.err != nil || r.status != 200 {
		t.Fatalf("the waiting PUT: %d %v %s", r.status, r.err, r.body)
	}
}

// TestMetricsRequestSeriesFromTheStart: the request counters appeared only
// after their first increment, so after a restart rate() and increase()
// missed the first request of each route and code (a series that begins at
// 1 has no increase), and absent() could not tell a route never asked from
// a server that does not count it. Every route the server serves, with its
// method, is exported from the start at 0 for the codes alerts watch: 200
// and the server's failures, 500 and 503; its latency histogram too. The
// catch-alls ("other", "refused") and other codes still appear when they
// are first counted: their values are not known in advance.
func TestMetricsRequestSeriesFromTheStart(t *testing.T) {
	s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=pw", "LOCKER_METRICS_PUBLIC=true"})
	// The first request the server gets.
	text := scrape(t, s.URL, "", "")
	for _, route := range []struct{ route, method string }{
		{"GET /locks", "GET"},
		{"PUT /lock/{name}", "PUT"},
		{"DELETE /lock/{name}", "DELETE"},
		{"GET /lock/{name}", "GET"},
		{"POST /lock/{name}/refresh", "POST"},
		{"POST /lock/{name}/forget", "POST"},
		{"GET /lock/{name}/history", "GET"},
		{"GET /events", "GET"},
		{"PUT /pool/{pool}", "PUT"},
		{"PUT /pool/{pool}/{member}", "PUT"},
		{"DELETE /pool/{pool}/{member}", "DELETE"},
		{"GET /readyz", "GET"},
		{"GET /healthz", "GET"},
		{"/", "GET"}, // the dashboard's page
	} {
		r, m := `route="`+route.route+`"`, `method="`+route.method+`"`
		for _, code := range []string{"200", "500", "503"} {
			if v, ok := metric(text, "locker_http_requests_total", r, m, `code="`+code+`"`); !ok || v != 0 {
				t.Errorf("locker_http_requests_total{%s,%s,code=%q} = %v (present %v), want 0 from the start", r, m, code, v, ok)
			}
		}
		if v, ok := metric(text, "locker_http_request_duration_seconds_count", r, m); !ok || v != 0 {
			t.Errorf("locker_http_request_duration_seconds_count{%s,%s} = %v (present %v), want 0 from the start", r, m, v, ok)
		}
	}
	// The scrape being answered is counted after it; the next one sees it.
	text = scrape(t, s.URL, "", "")
	if v, _ := metric(text, "locker_http_requests_total", `route="GET /metrics"`, `code="200"`); v != 1 {
		t.Errorf(`the first scrape counted %v times, want 1`, v)
	}
	for _, unknown := range []string{`route="other"`, `route="refused"`, `method="HEAD"`, `code="404"`} {
		if strings.Contains(text, unknown) {
			t.Errorf("a series %s exported before any such request", unknown)
		}
	}
}
