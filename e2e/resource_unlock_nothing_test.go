package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestResourceUnlockOfNothingSendsNoRelease: through the built resource and
// server, an unlock step that reads no hold of its own key and holder (the
// lock free: a retried or second unlock after the first released it)
// sends no release. Another build of the job (not serial: the same key and
// holder) takes the lock just after that read; its hold stays. A release
// sent anyway by key and holder, as before, ended it.
func TestResourceUnlockOfNothingSendsNoRelease(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var armed atomic.Bool
	var otherBuild int
	var otherBody string
	// In front of the server: right after it answered the unlock step's
	// read of the lock, the other build takes it.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.ServeHTTP(w, r)
		if r.Method == http.MethodGet && r.URL.Path == "/lock/prod" && armed.CompareAndSwap(true, false) {
			otherBuild, otherBody = lockAsOtherBuild(srv.URL + "/lock/prod")
		}
	}))
	defer front.Close()
	source := `{"locker_uri":"` + front.URL + `","lock_name":"prod","retry_delay":"100ms"}`

	armed.Store(true)
	o, e, code := startResource(t, `{"source":`+source+`,"params":{"lock_op":"unlock","key":"deploy-prod","locked_by":"deploy"}}`, "out", t.TempDir()).wait()
	if code != 0 {
		t.Fatalf("unlock: exit %d\n%s", code, e)
	}
	if otherBuild != 200 {
		t.Fatalf("the other build's lock: %d %s", otherBuild, otherBody)
	}
	if !strings.Contains(e, `lock "prod" is free: nothing to release`) || strings.Contains(e, "released lock") {
		t.Errorf("stderr:\n%s", e)
	}
	a := decodeResourceAnswer(t, o)
	if a.Version["state"] != "free" {
		t.Errorf("the unlock's version %v: want the lock as the step read it, free", a.Version)
	}
	_, body := do(t, nil, "GET", srv.URL+"/lock/prod", "")
	if !strings.Contains(body, `"locked_by":{"deploy":1}`) {
		t.Fatalf("after the unlock the lock is %s; want the other build's hold kept", body)
	}
}

// lockAsOtherBuild takes the lock as the other build (not through t: it
// runs in the server's goroutine).
func lockAsOtherBuild(u string) (int, string) {
	req, err := http.NewRequest(http.MethodPut, u, strings.NewReader(`{"key":"deploy-prod","locked_by":"deploy"}`))
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
