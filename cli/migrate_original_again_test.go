package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestMigrateAgainFromAnOriginalLockerFile: a copy from the original
// locker's file that stopped half way is finished by running it again with
// --force, as any other: the locks copied already are left as they are, not
// replaced. Their events are made from the file (it has no history), with
// the time it is read at, which differs from run to run: a review found
// every lock copied already listed as replaced, its holders said to lose
// their holds, and its acquisitions written into its history a second time.
func TestMigrateAgainFromAnOriginalLockerFile(t *testing.T) {
	for _, target := range []string{"file", "postgres"} {
		t.Run(target, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "locks.json")
			must(t, os.WriteFile(src, []byte(`{"a":{"key":"k","locked_by":{"k":2}},"b":{"key":"x","locked_by":{"x":1,"y":1}},"c":{"key":"c","locked_by":{"c":1}},"idle":{"key":"","locked_by":{}}}`), 0o600))
			dst := filepath.Join(t.TempDir(), "locks.yml")
			if target == "postgres" {
				dst = pgtest.Schema(t)
			}
			restore := cli.StopMigrateAfter(2, errors.New("stopped by the test"))
			out, err := migrate(t, "--from", src, "--to", dst)
			restore()
			if err == nil {
				t.Fatalf("migrate did not stop:\n%s", out)
			}
			out, err = migrate(t, "--from", src, "--to", dst, "--force")
			if err != nil {
				t.Fatalf("again with --force: %v\n%s", err, out)
			}
			if !strings.Contains(out, "copied 1 lock ") || !strings.Contains(out, "left 2 locks already in the target") || strings.Contains(out, "replaced") {
				t.Errorf("output: %s", out)
			}
			got := read(t, dst)
			for name, want := range map[string]int{"a": 1, "b": 2, "c": 1} {
				if n := len(got.history[name]); n != want {
					t.Errorf("lock %q has %d history events, want %d (one per holder): %+v", name, n, want, got.history[name])
				}
			}
		})
	}
}
