package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/internal/upgradetest"
)

// TestUpgradeFromOlderFiles starts the binary on files older Lockers left
// (the first with a snapshot and a log; the last before the segment header
// changed, and one that forgets locks, both killed with -9 with their logs
// unreplayed, the latter's holding forget records; see
// filestore/testdata/upgrade), checks them as the old server listed them,
// and that what the current binary then wrote (a lock forgotten and taken
// again among it) survives its own restart: the same listing.
func TestUpgradeFromOlderFiles(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	for _, rev := range []string{"7c97271", "1036f0a", "22a1f40"} {
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
			listed := readBack(t, s.URL)
			stopServer(t, s)

			s = startServer(t, env)
			status, body := do(t, nil, http.MethodGet, s.URL+"/lock/new-after-upgrade", "")
			var l lockState
			if status != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil || l.LockedBy["after-upgrade"] != 1 {
				t.Errorf("after a restart, GET /lock/new-after-upgrade: %d %s; want it held by after-upgrade", status, body)
			}
			again := readBack(t, s.URL)
			for _, what := range slices.Sorted(maps.Keys(listed)) {
				if !reflect.DeepEqual(listed[what], again[what]) {
					t.Errorf("after a restart, %s: %s\nwant it as before the restart: %s", what, mustMarshal(again[what]), mustMarshal(listed[what]))
				}
			}
			stopServer(t, s)
		})
	}
}

// readBack is GET /locks and every listed lock's history, decoded, by
// request.
func readBack(t *testing.T, base string) map[string]any {
	t.Helper()
	got := map[string]any{}
	read := func(path string) any {
		status, body := do(t, nil, http.MethodGet, base+path, "")
		var v any
		if status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		got["GET "+path] = v
		return v
	}
	locks, _ := read("/locks").(map[string]any)
	for name := range locks {
		read("/lock/" + strings.ReplaceAll(url.PathEscape(name), ".", "%2E") + "/history")
	}
	return got
}
