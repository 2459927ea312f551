package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudfoundry-community/locker/internal/upgradetest"
)

// TestUpgradeFromOlderFiles starts the binary on files older Lockers left
// (the first with a snapshot and a log, and the last before the segment
// header changed, killed with -9 with its log unreplayed; see
// filestore/testdata/upgrade), checks them as the old server listed them,
// and that what the current binary then wrote survives its own restart.
func TestUpgradeFromOlderFiles(t *testing.T) {
	for _, rev := range []string{"7c97271", "1036f0a"} {
		t.Run(rev, func(t *testing.T) {
			src := filepath.Join("..", "filestore", "testdata", "upgrade", rev)
			dir := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(src, "locks.json*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := []string{"LOCKER_CONFIG=" + filepath.Join(dir, "locks.json")}
			exp := upgradetest.Load(t, filepath.Join(src, "expected.json"))
			s := startServer(t, env)
			upgradetest.Check(t, s.URL, exp)
			stopServer(t, s)

			s = startServer(t, env)
			status, body := do(t, nil, http.MethodGet, s.URL+"/lock/new-after-upgrade", "")
			var l lockState
			if status != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil || l.LockedBy["after-upgrade"] != 1 {
				t.Errorf("after a restart, GET /lock/new-after-upgrade: %d %s; want it held by after-upgrade", status, body)
			}
			stopServer(t, s)
		})
	}
}
