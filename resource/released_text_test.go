package resource_test

import (
	"strings"
	"testing"
)

// TestUnlockSaysFreeOnce: an unlock that frees the lock quotes the
// server's answer, which already ends "the lock is free"; the step does
// not say it twice ("the lock is free; it is now free"). One that leaves
// the lock held still says who holds it now.
func TestUnlockSaysFreeOnce(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := src(s, "prod")
	mustRun(t, request(source, lockParams("K", "a"), nil), "out", t.TempDir())
	mustRun(t, request(source, lockParams("K", "b"), nil), "out", t.TempDir())

	r := mustRun(t, request(source, unlockParams("K", "a"), nil), "out", t.TempDir())
	if !strings.Contains(r.stderr, `; it is now held by key "K" (holders: "b")`) {
		t.Errorf("an unlock that leaves the lock held says:\n%s", r.stderr)
	}
	r = mustRun(t, request(source, unlockParams("K", "b"), nil), "out", t.TempDir())
	if n := strings.Count(r.stderr, "free"); n != 1 || !strings.Contains(r.stderr, `released lock "prod" (key "K", holder "b"): unlocked "prod" for "b" (count 0); the lock is free`) {
		t.Errorf("an unlock that frees the lock says \"free\" %d times:\n%s", n, r.stderr)
	}
}
