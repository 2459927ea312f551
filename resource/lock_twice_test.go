package resource_test

import (
	"strings"
	"testing"
)

// TestLockAlreadyHeldByTheSameHolderWarns: a lock step whose key and holder
// hold the lock already (a second build of a job that is not serial, or
// the step run again by attempts:) is granted at once, sharing the lock
// with that hold (the same key shares): two builds go on with one lock,
// and one unlock leaves it held. The step warns, saying why and what to
// do; a first hold, and a hold beside another holder under the key (shared
// on purpose, with a locked_by each), say nothing of the kind.
func TestLockAlreadyHeldByTheSameHolderWarns(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := src(s, "prod")
	r := mustRun(t, request(source, lockParams("deploy-prod", ""), nil), "out", t.TempDir())
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("the first lock warns:\n%s", r.stderr)
	}
	r = mustRun(t, request(source, lockParams("deploy-prod", "smoke"), nil), "out", t.TempDir())
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("a lock beside another holder under the key warns:\n%s", r.stderr)
	}
	r = mustRun(t, request(source, lockParams("deploy-prod", ""), nil), "out", t.TempDir())
	for _, want := range []string{`warning: "deploy-prod" held lock "prod" under key "deploy-prod" already`, "count 2", "serial: true", "attempts:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the second lock of one key and holder: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
