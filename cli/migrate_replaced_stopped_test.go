package cli_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestMigrateForceStoppedHalfWayNamesTheLocksItReplaced: a copy with
// --force that stops half way still lists the target's locks it replaced
// so far, with their holders, who lost their holds: running it again finds
// them as the source has them and leaves them, so it does not list them
// either (a review found them listed by neither run).
func TestMigrateForceStoppedHalfWayNamesTheLocksItReplaced(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	dst := filepath.Join(t.TempDir(), "locks.yml")
	withService(t, dst, func(s *lockservice.Service) {
		_, err := s.Acquire(bgCtx, "latest", lock.Request{Key: "theirs", Holder: "job-9"}, 0)
		must(t, err)
	})
	const replaced = `replaced 1 lock the target had: "latest", held by 'job-9' (key 'theirs', fence 1)`
	// In name order, "latest" is the third lock written.
	restore := cli.StopMigrateAfter(3, errors.New("stopped by the test"))
	out, err := migrate(t, "--from", src, "--to", dst, "--force")
	restore()
	if err == nil || !strings.Contains(err.Error(), "stopped by the test") {
		t.Fatalf("migrate did not stop: %v\n%s", err, out)
	}
	if !strings.Contains(out, replaced) {
		t.Errorf("the stopped run does not list the lock it replaced: %s", out)
	}
	out, err = migrate(t, "--from", src, "--to", dst, "--force")
	if err != nil {
		t.Fatalf("again: %v\n%s", err, out)
	}
	if !strings.Contains(out, "left 3 locks already in the target") {
		t.Errorf("again: %s", out)
	}
}
