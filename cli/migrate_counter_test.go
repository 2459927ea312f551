package cli_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// The source's fence counter can be above every lock's token: a start that
// dropped a damaged last record keeps the token legible in it (in a
// .dropped- file beside the log, and in the counter), and salvage raises
// the counter by the bytes it skipped; the holder of such a token may
// still be at work. The copy must go on above the counter, not above the
// highest token its locks show, or that holder's token is handed out
// again, or one below it, and a service checking tokens takes the old
// holder for the newer one.

// fileSourceAhead makes a file store whose counter is 1000, far above the
// tokens its locks show, as a start that kept the token legible in a
// damaged record leaves it.
func fileSourceAhead(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, file)
	if read(t, file).fence >= 1000 {
		t.Fatal("populate's tokens are already up to 1000")
	}
	dropped := file + ".log.1.dropped-20260101T000000.000000000Z"
	must(t, os.WriteFile(dropped, []byte(`{"lock":{"name":"lost","key":"k","fence":1000`), 0o600))
	return file
}

func TestMigrateFromFileGoesOnAboveTheSourceCounter(t *testing.T) {
	for _, target := range []string{"file", "postgres"} {
		t.Run(target, func(t *testing.T) {
			src := fileSourceAhead(t)
			dst := filepath.Join(t.TempDir(), "locks.yml")
			if target == "postgres" {
				dst = pgtest.Schema(t)
			}
			migrateGoesOnAbove1000(t, src, dst)
		})
	}
}

// migrateGoesOnAbove1000 migrates src to dst and checks that the target's
// fence tokens go on above the source's counter, 1000, and say so.
func migrateGoesOnAbove1000(t *testing.T, src, dst string) {
	t.Helper()
	out, err := migrate(t, "--from", src, "--to", dst)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "fence tokens go on above 1000") {
		t.Errorf("output: %s", out)
	}
	checkFenceGoesOn(t, dst, 1000)
}

func TestMigrateFromPostgresGoesOnAboveTheSourceCounter(t *testing.T) {
	src := pgtest.Schema(t)
	populate(t, src)
	conn, err := pgx.Connect(bgCtx, src)
	must(t, err)
	_, err = conn.Exec(bgCtx, `SELECT setval('locker_fence', 1000)`)
	conn.Close(bgCtx)
	must(t, err)
	migrateGoesOnAbove1000(t, src, filepath.Join(t.TempDir(), "locks.yml"))
}

// TestMigrateStoppedHalfWayKeepsTheSourceCounter: the target's counter is
// raised before the first lock is written, so a copy that stops there
// leaves it above the source's counter too.
func TestMigrateStoppedHalfWayKeepsTheSourceCounter(t *testing.T) {
	for _, target := range []string{"file", "postgres"} {
		t.Run(target, func(t *testing.T) {
			src := fileSourceAhead(t)
			dst := filepath.Join(t.TempDir(), "locks.yml")
			if target == "postgres" {
				dst = pgtest.Schema(t)
			}
			defer cli.StopMigrateAfter(1, errors.New("stopped by the test"))()
			if out, err := migrate(t, "--from", src, "--to", dst); err == nil {
				t.Fatalf("migrate did not stop:\n%s", out)
			}
			checkFenceGoesOn(t, dst, 1000)
		})
	}
}

// TestMigrateAgainAfterAStop: a copy stopped half way (kill -9, a lost
// database) is finished by running it again with --force, which the
// refusal suggests: the locks already copied are recognised (their history
// ends with the source's) and left as they are, not written a second time
// with their history doubled.
func TestMigrateAgainAfterAStop(t *testing.T) {
	for _, target := range []string{"file", "postgres"} {
		t.Run(target, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "locks.yml")
			populate(t, src)
			want := read(t, src)
			dst := filepath.Join(t.TempDir(), "locks.yml")
			if target == "postgres" {
				dst = pgtest.Schema(t)
			}
			restore := cli.StopMigrateAfter(3, errors.New("stopped by the test"))
			out, err := migrate(t, "--from", src, "--to", dst)
			restore()
			if err == nil {
				t.Fatalf("migrate did not stop:\n%s", out)
			}
			out, err = migrate(t, "--from", src, "--to", dst)
			if err == nil || !strings.Contains(err.Error(), "already holds 3 locks") {
				t.Fatalf("again without --force: %v\n%s", err, out)
			}
			out, err = migrate(t, "--from", src, "--to", dst, "--force")
			if err != nil {
				t.Fatalf("again with --force: %v\n%s", err, out)
			}
			if !strings.Contains(out, "copied 4 locks") || !strings.Contains(out, "left 3 locks already in the target") {
				t.Errorf("output: %s", out)
			}
			got := read(t, dst)
			if len(got.locks) != len(want.locks) {
				t.Errorf("%d locks in the target, want %d", len(got.locks), len(want.locks))
			}
			sameLocks(t, want, got)
		})
	}
}

// TestMigrateLeavesAnOriginalLockerSourceAlone: the original locker's file
// is read as it is, not converted in place: a migration that fails (a
// mistyped target) changes nothing, and one that works leaves the file for
// the original locker to go back to.
func TestMigrateLeavesAnOriginalLockerSourceAlone(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "locks.yml")
	orig := []byte(`{"prod":{"key":"deploy","locked_by":{"a":2,"b":1}},"idle":{"key":"","locked_by":{}}}`)
	must(t, os.WriteFile(src, orig, 0o600))
	unchanged := func(when string) {
		t.Helper()
		if b, err := os.ReadFile(src); err != nil || !bytes.Equal(b, orig) {
			t.Errorf("%s: the source is now %q (%v)", when, b, err)
		}
		if names, _ := filepath.Glob(src + ".*"); len(names) > 0 {
			t.Errorf("%s: files made beside the source: %v", when, names)
		}
	}
	out, err := migrate(t, "--from", src, "--to", filepath.Join(dir, "no-such-dir", "locks.yml"))
	if err == nil {
		t.Fatalf("migrating into a missing directory worked:\n%s", out)
	}
	unchanged("after a failed migration")
	dst := filepath.Join(t.TempDir(), "locks.yml")
	out, err = migrate(t, "--from", src, "--to", dst)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied 1 lock (1 held)") || !strings.Contains(out, "original locker's format") {
		t.Errorf("output: %s", out)
	}
	unchanged("after the migration")
	if p := read(t, dst).locks["prod"]; p.Key != "deploy" || p.Holds.Get("a").Count != 2 || p.Fence != 1 {
		t.Errorf("prod: %+v", p)
	}
	checkFenceGoesOn(t, dst, 1)
}

// TestMigrateForceNamesTheLocksItReplaced: --force says which of the
// target's locks it wrote over, and what they were (a holder there loses
// its hold).
func TestMigrateForceNamesTheLocksItReplaced(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	dst := filepath.Join(t.TempDir(), "locks.yml")
	withService(t, dst, func(s *lockservice.Service) {
		_, err := s.Acquire(bgCtx, "latest", lock.Request{Key: "theirs", Holder: "job-9"}, 0)
		must(t, err)
		_, err = s.Acquire(bgCtx, "mine", lock.Request{Key: "theirs", Holder: "job-9"}, 0)
		must(t, err)
	})
	out, err := migrate(t, "--from", src, "--to", dst, "--force")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, `replaced 1 lock the target had: "latest", held by 'job-9' (key 'theirs', fence 1)`) {
		t.Errorf("output: %s", out)
	}
}
