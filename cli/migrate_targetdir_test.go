package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
)

// TestMigrateIntoAMissingDirectoryReadsNothing: a target file whose
// directory is not there (a typo) is refused before the source is read.
// Before, the whole source was read first (17 s for 100,000 locks here,
// minutes from a distant database) and only then was the target refused.
func TestMigrateIntoAMissingDirectoryReadsNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	defer cli.SetMigrateProgressEvery(0)()
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	for _, args := range [][]string{
		{"--from", src, "--to", filepath.Join(missing, "locks.yml")},
		{"--from", src, "--to", filepath.Join(missing, "locks.json"), "--original"},
		{"--from", src, "--to", filepath.Join(src, "locks.yml")}, // under a file
	} {
		out, err := migrate(t, args...)
		if err == nil || !strings.Contains(err.Error(), "directory") || !strings.Contains(err.Error(), "nothing was read or written") {
			t.Errorf("%q: %v\n%s", args, err, out)
		}
		if strings.Contains(out, "read ") {
			t.Errorf("%q: the source was read before the target was refused:\n%s", args, out)
		}
	}
}

// TestMigrateRefusesATargetBeforeReadingTheSource: a target that is
// refused (it holds locks, a server uses it) is refused before the
// source's histories are read, which for 100,000 locks from a database
// takes a while; before, the whole source was read first.
func TestMigrateRefusesATargetBeforeReadingTheSource(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	dst := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, dst)
	defer cli.SetMigrateProgressEvery(0)()
	out, err := migrate(t, "--from", src, "--to", dst)
	if err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("migrate into a store with locks: %v\n%s", err, out)
	}
	if strings.Contains(out, "read ") {
		t.Errorf("the source was read before the target was refused:\n%s", out)
	}
}
