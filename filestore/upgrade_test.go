package filestore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/internal/upgradetest"
)

// TestUpgradeGoldenSets opens the files older Lockers left
// (testdata/upgrade/<commit>, README.md there says how) with the current
// store: every lock reads back as the old server listed it, holds release
// with their old keys, fences go on upward, pools hand out their members.
func TestUpgradeGoldenSets(t *testing.T) {
	dirs, err := filepath.Glob("testdata/upgrade/*/expected.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden sets: %v", err)
	}
	for _, exp := range dirs {
		dir := filepath.Dir(exp)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// A copy: opening a store may write (a torn tail cut, a
			// new segment), and the golden set must stay as it was.
			tmp := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(dir, "locks.json*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(tmp, filepath.Base(f)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			store, err := filestore.Open(filepath.Join(tmp, "locks.json"), filestore.Options{})
			if err != nil {
				t.Fatalf("opening the files commit %s wrote: %v", filepath.Base(dir), err)
			}
			t.Cleanup(func() { store.Close() })
			upgradetest.Check(t, upgradetest.Serve(t, store), upgradetest.Load(t, exp))
		})
	}
}
