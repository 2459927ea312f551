package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMigrateOriginalFromAnOriginalLockerFileLeavesItAlone: --original
// reads a source in the original locker's format as it is, as a copy to a
// store does, instead of converting it in place (a review found it
// converted, with .orig, .lock and .log.1 beside it, so that the original
// locker, maybe still running on it, could no longer read it; also when the
// export was then refused because its target existed).
func TestMigrateOriginalFromAnOriginalLockerFileLeavesItAlone(t *testing.T) {
	const original = `{"prod":{"key":"deploy","locked_by":{"a":2}},"idle":{"key":"","locked_by":{}}}`
	dir := t.TempDir()
	src := filepath.Join(dir, "legacy.json")
	must(t, os.WriteFile(src, []byte(original), 0o600))
	exists := filepath.Join(dir, "exists.json")
	must(t, os.WriteFile(exists, nil, 0o600))

	unchanged := func(when string, want ...string) {
		t.Helper()
		if b, err := os.ReadFile(src); err != nil || string(b) != original {
			t.Errorf("%s: the source was changed: %.60q..., %v", when, b, err)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: %s holds %v, want %v", when, dir, names, want)
		}
	}

	out, err := migrate(t, "--from", src, "--to", exists, "--original")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("into an existing file: %v\n%s", err, out)
	}
	unchanged("refused", "exists.json", "legacy.json")

	back := filepath.Join(dir, "back.json")
	if out, err := migrate(t, "--from", src, "--to", back, "--original"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	unchanged("written", "back.json", "exists.json", "legacy.json")
	b, err := os.ReadFile(back)
	if err != nil || !strings.Contains(string(b), `"deploy"`) || !strings.Contains(string(b), `"a": 2`) {
		t.Errorf("the export: %s, %v", b, err)
	}
}
