package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateSameStoreWrittenTwoWays: --from and --to that name one data
// file in different ways (x/../x, a symlink, a hard link) are refused as
// the same store, not as a store "in use by a running Locker server", and
// before either is opened.
func TestMigrateSameStoreWrittenTwoWays(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data.yml")
	populate(t, src)
	link := filepath.Join(t.TempDir(), "link.yml")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.yml")
	if err := os.Link(src, hard); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{filepath.Join(dir, "..", filepath.Base(dir), "data.yml"), dir + "/./data.yml", link, hard} {
		out, err := migrate(t, "--from", src, "--to", to)
		if err == nil || !strings.Contains(err.Error(), "--from and --to are the same store") || strings.Contains(err.Error(), "in use") {
			t.Errorf("--to %s: %v\n%s", to, err, out)
		}
	}
}
