package cli_test

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestMigrateForceListsTheTargetsOwnLocks: --force replaces the target's
// locks that the source has, and keeps those it does not have as they are
// (a store merged into another keeps the other's holds: dropped, a hold
// whose holder is at work would be handed to a second one). A review found
// them kept without a word, a stale hold among them held for ever without
// anyone being told: the held ones are listed with their holders, as the
// replaced ones are, and the free ones counted.
func TestMigrateForceListsTheTargetsOwnLocks(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	dst := filepath.Join(t.TempDir(), "locks.yml")
	withService(t, dst, func(s *lockservice.Service) {
		_, err := s.Acquire(bgCtx, "theirs", lock.Request{Key: "k", Holder: "job-7"}, 0)
		must(t, err)
		_, err = s.Acquire(bgCtx, "spare", lock.Request{Key: "k", Holder: "k"}, 0)
		must(t, err)
		_, _, err = s.Release(bgCtx, "spare", "k", "k")
		must(t, err)
	})
	out, err := migrate(t, "--from", src, "--to", dst, "--force")
	if err != nil {
		t.Fatalf("--force: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`(?m)^kept 2 locks the target had that the source does not, as they were: 1 free, and 1 held: "theirs", held by 'job-7' \(key 'k', fence 1\)\. Their holders keep their holds: release a stale one with locker unlock NAME --force once a server runs on the target\n`)
	if !want.MatchString(out) {
		t.Errorf("the target's own locks are not listed: %s", out)
	}
	got := read(t, dst)
	if l := got.locks["theirs"]; l.Key != "k" || l.Holds.Get("job-7").Count != 1 {
		t.Errorf("the target's own hold was not kept: %+v", l)
	}
}
