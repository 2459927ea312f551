package resource_test

import (
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// TestUnlockGivingUpSaysHowToRelease: an unlock that gives up at
// source.timeout (the server refusing releases for now, 503, all along)
// leaves the lock held by the build's hold: the step says so and names the
// command that releases it, rather than leave a lock that nothing in the
// pipeline will release with nobody told how.
func TestUnlockGivingUpSaysHowToRelease(t *testing.T) {
	t.Parallel()
	refuse := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"error":"the store is away; try again shortly"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	s := startServer(t, serverOpts{wrap: refuse})
	source := src(s, "prod")
	mustRun(t, request(source, lockParams("deploy", "job"), nil), "out", t.TempDir())
	source["timeout"] = "1s"
	r := run(t, request(source, unlockParams("deploy", "job"), nil), "out", t.TempDir())
	if r.code == 0 {
		t.Fatalf("the unlock succeeded:\n%s", r.stderr)
	}
	for _, want := range []string{"gave up releasing lock \"prod\"", `held by key "deploy" (holders: "job")`, "locker unlock prod --key deploy --holder job"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestUnlockGivingUpOnASilentServerSaysSo: against a server that takes the
// requests and never answers, the unlock that gives up at source.timeout
// says that its request had no answer, not Go's "context deadline
// exceeded".
func TestUnlockGivingUpOnASilentServerSaysSo(t *testing.T) {
	t.Parallel()
	srv := silentServer(t)
	source := obj{"locker_uri": srv.URL, "lock_name": "prod", "timeout": "1s"}
	r := run(t, request(source, unlockParams("deploy", "job"), nil), "out", t.TempDir())
	if r.code == 0 {
		t.Fatalf("the unlock succeeded:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "context deadline exceeded") || !strings.Contains(r.stderr, "no answer") {
		t.Errorf("stderr does not say the server did not answer:\n%s", r.stderr)
	}
}

// TestUnlockGivingUpSuggestionPastes: the release that an unlock that gave
// up suggests, pasted into a shell once the server takes releases again,
// releases the step's hold, with quotes, spaces and $ in the name, key and
// holder.
func TestUnlockGivingUpSuggestionPastes(t *testing.T) {
	const name, key, holder = `it's "prod" $x`, "deploy $y", "job 'one'"
	var refusing atomic.Bool
	refusing.Store(true)
	refuse := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && refusing.Load() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"error":"the store is away; try again shortly"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	s := startServer(t, serverOpts{wrap: refuse})
	c := s.client(t, "", "")
	source := src(s, name)
	mustRun(t, request(source, lockParams(key, holder), nil), "out", t.TempDir())
	source["timeout"] = "1s"
	r := run(t, request(source, unlockParams(key, holder), nil), "out", t.TempDir())
	m := regexp.MustCompile(`release it with (locker unlock .*)$`).FindStringSubmatch(strings.TrimSpace(r.stderr))
	if r.code == 0 || m == nil {
		t.Fatalf("exit %d, no suggested release in stderr:\n%s", r.code, r.stderr)
	}
	refusing.Store(false)
	if _, stderr, err := runSuggested(t, s.URL, m[1]); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, stderr)
	}
	if l := get(t, c, name); !l.Free() {
		t.Fatalf("%s left %+v", m[1], l)
	}
}
