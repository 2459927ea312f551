package resource_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBoshLockFileHasNoPassword: the get writes bosh_lock's URL into the
// build (the bosh_lock file, for an unlock while the director is down),
// where every later task and put can read it: without the password that
// the URL may carry, which the step's output never shows either. An
// unlock with the director down still finds the name there.
func TestBoshLockFileHasNoPassword(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	d := director(t, "bosh-prod", false)
	withCreds := strings.Replace(d.URL, "http://", "http://admin:dir-secret-pw@", 1)
	source := obj{"locker_uri": s.URL, "bosh_lock": withCreds, "retry_delay": "100ms"}
	a := decodeAnswer(t, mustRun(t, request(source, lockParams("k", ""), nil), "out", t.TempDir()))
	build := t.TempDir()
	mustRun(t, request(source, nil, a.Version), "in", filepath.Join(build, "bosh-lock"))
	b, err := os.ReadFile(filepath.Join(build, "bosh-lock", "bosh_lock"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "dir-secret-pw") {
		t.Errorf("the bosh_lock file shows the password: %q", b)
	}

	d.Close()
	r := mustRun(t, request(source, unlockParams("k", ""), nil), "out", build)
	if !strings.Contains(r.stderr, `using the name "bosh-prod" that a get of this resource wrote earlier in the build`) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "dir-secret-pw") {
		t.Errorf("the output shows the password:\n%s\n%s", r.stdout, r.stderr)
	}
	if l := get(t, c, "bosh-prod"); !l.Free() {
		t.Fatalf("the server has %+v", l)
	}
}
