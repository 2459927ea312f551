package e2e

import (
	"strings"
	"testing"
)

// TestResourceLockTwiceWarns: through the built resource and server, two
// builds of a job that is not serial lock with the same key and holder:
// the second is granted at once (the same key shares the lock) and warns
// that the build does not have the lock to itself.
func TestResourceLockTwiceWarns(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	source := `{"locker_uri":"` + srv.URL + `","lock_name":"prod","retry_delay":"100ms"}`
	params := `{"lock_op":"lock","key":"deploy-prod"}`
	_, e, code := startResource(t, `{"source":`+source+`,"params":`+params+`}`, "out", t.TempDir()).wait()
	if code != 0 || strings.Contains(e, "warning") {
		t.Fatalf("the first build's lock: exit %d\n%s", code, e)
	}
	o, e, code := startResource(t, `{"source":`+source+`,"params":`+params+`}`, "out", t.TempDir()).wait()
	if code != 0 {
		t.Fatalf("the second build's lock: exit %d\n%s", code, e)
	}
	if !strings.Contains(e, `warning: "deploy-prod" held lock "prod" under key "deploy-prod" already (count 2 now)`) || !strings.Contains(e, "serial: true") {
		t.Errorf("the second build's lock does not warn:\n%s", e)
	}
	if v := decodeResourceAnswer(t, o).Version; v["holders"] != `{"deploy-prod":2}` {
		t.Errorf("version %v", v)
	}
}
