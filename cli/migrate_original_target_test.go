package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMigrateRefusedLeavesAnOriginalLockerFileAlone: a target file in the
// original locker's format with locks is refused as any target with locks
// is, and left as it was, not converted to Locker's format (a review found
// it converted, with .orig, .lock and .log.1 beside it, so that the
// original locker could no longer read it); so is a source in that format.
func TestMigrateRefusedLeavesAnOriginalLockerFileAlone(t *testing.T) {
	const original = `{"prod":{"key":"deploy","locked_by":{"a":2}},"idle":{"key":"","locked_by":{}},"qa":{"key":"k","locked_by":{"k":1}}}`
	src := filepath.Join(t.TempDir(), "src.yml")
	populate(t, src)
	legacySrcDir := t.TempDir()
	legacySrc := filepath.Join(legacySrcDir, "legacy.json")
	must(t, os.WriteFile(legacySrc, []byte(`{"other":{"key":"k","locked_by":{"k":1}}}`), 0o600))
	dir := t.TempDir()
	live := filepath.Join(dir, "live.json")
	must(t, os.WriteFile(live, []byte(original), 0o600))

	for _, from := range []string{src, legacySrc} {
		out, err := migrate(t, "--from", from, "--to", live)
		if err == nil || !strings.Contains(err.Error(), "already holds 3 locks") {
			t.Fatalf("--from %s: %v\n%s", from, err, out)
		}
		if b, err := os.ReadFile(live); err != nil || string(b) != original {
			t.Errorf("the refused target was changed: %.60q..., %v", b, err)
		}
		for d, want := range map[string][]string{dir: {"live.json"}, legacySrcDir: {"legacy.json"}} {
			entries, _ := os.ReadDir(d)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, want) {
				t.Errorf("after a refused migration, %s holds %v, want only %v", d, names, want)
			}
		}
		if !strings.Contains(err.Error(), "original locker's format, and is left as it is") {
			t.Errorf("the refusal does not say the file is left as it is: %v", err)
		}
		if t.Failed() {
			return
		}
	}

	// With --force it is copied over, a copy of the original kept.
	if out, err := migrate(t, "--from", src, "--to", live, "--force"); err != nil {
		t.Fatalf("--force: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(live + ".orig"); err != nil || string(b) != original {
		t.Errorf("the original's copy: %q, %v", b, err)
	}
	got := read(t, live)
	for _, name := range []string{"prod", "qa", "shared"} {
		if _, ok := got.locks[name]; !ok {
			t.Errorf("after --force, %q is missing: %v", name, got.locks)
		}
	}
}
