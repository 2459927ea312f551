package e2e

// A forced removal of a pool member conditioned on its holder, through
// the real binary: over HTTP (query and body) and with locker pool rm
// --holder, on the file store and, with LOCKER_TEST_DATABASE_URL set, on
// PostgreSQL.

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

func TestPoolRemoveHolder(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	stores := map[string]func(t *testing.T) []string{
		"file": func(t *testing.T) []string { return nil },
		"postgres": func(t *testing.T) []string {
			base := os.Getenv("LOCKER_TEST_DATABASE_URL")
			if base == "" {
				t.Skip("LOCKER_TEST_DATABASE_URL is not set")
			}
			return []string{"LOCKER_DATABASE_URL=" + pgtest.SchemaIn(t, base)}
		},
	}
	for name, env := range stores {
		t.Run(name, func(t *testing.T) { poolRemoveHolder(t, env(t)) })
	}
}

func poolRemoveHolder(t *testing.T, env []string) {
	s := startServer(t, env)
	cli := []string{"LOCKER_URL=" + s.URL}
	for _, m := range []string{"env-1", "env-2"} {
		wtDo(t, "PUT", s.URL+"/pool/envs/"+m, "", 200)
	}
	// build-1 takes env-1; other-job joins under the same key (same fence).
	f := wtDo(t, "PUT", s.URL+"/lock/env-1", `{"key":"build","lock_by":"build-1"}`, 200).Fence
	if g := wtDo(t, "PUT", s.URL+"/lock/env-1", `{"key":"build","lock_by":"other-job"}`, 200).Fence; g != f {
		t.Fatalf("joining changed the fence: %d, was %d", g, f)
	}
	unchanged := func(what string) {
		t.Helper()
		got := wtDo(t, "GET", s.URL+"/lock/env-1", "", 200)
		if got.Key != "build" || got.Fence != f || got.LockedBy["build-1"] != 1 || got.LockedBy["other-job"] != 1 {
			t.Fatalf("%s changed env-1: %+v", what, got)
		}
		if status, raw := do(t, nil, "GET", s.URL+"/pool/envs", ""); status != 200 || !strings.Contains(raw, `"env-1"`) {
			t.Fatalf("%s: env-1 left the pool: %d %s", what, status, raw)
		}
	}
	// HTTP: query and body.
	q := fmt.Sprintf("%s/pool/envs/env-1?force=true&fence=%d&key=build&locked_by=build-1", s.URL, f)
	l := wtDo(t, "DELETE", q, "", 423)
	if !strings.Contains(l.Error, `by others besides "build-1": "other-job" x1`) || l.Lock == nil || l.Lock.LockedBy["other-job"] != 1 {
		t.Fatalf("forced removal for build-1 in the query: %+v", l)
	}
	unchanged("the refused removal (query)")
	wtDo(t, "DELETE", s.URL+"/pool/envs/env-1", fmt.Sprintf(`{"force":true,"fence":%d,"key":"build","locked_by":"build-1"}`, f), 423)
	unchanged("the refused removal (body)")
	if l := wtDo(t, "DELETE", s.URL+"/pool/envs/env-1?force=true&locked_by=%ff", "", 400); l.Error != "holder is not valid UTF-8" {
		t.Fatalf("a holder that is not UTF-8: %+v", l)
	}
	unchanged("the bad request")
	// The CLI.
	pcliRun(t, cli, 3, `^$`, `^locker pool rm: pool "envs": member "env-1" is held under key "build" by others besides "build-1": "other-job" x1 \(holders: build-1 x1, other-job x1\); nothing was forced or removed \(held since \d\d:\d\d\)\n$`,
		"pool", "rm", "envs", "env-1", "--force", "--fence", fmt.Sprint(f), "--key", "build", "--holder", "build-1")
	pcliRun(t, cli, 2, `^$`, `--holder goes with --force`, "pool", "rm", "envs", "env-1", "--holder", "build-1")
	unchanged("the refused locker pool rm")
	// Once other-job released, the removal ends build-1's hold alone.
	wtDo(t, "DELETE", s.URL+"/lock/env-1", `{"key":"build","locked_by":"other-job"}`, 200)
	pcliRun(t, cli, 0, `^removed 'env-1' from pool 'envs'; it is free\n$`, `^$`,
		"pool", "rm", "envs", "env-1", "--force", "--fence", fmt.Sprint(f), "--key", "build", "--holder", "build-1")
	h := wtHistory(t, s, "env-1")
	if n := len(h); n < 2 || h[n-2].Type != "forced" || h[n-2].Holder != "build-1" || h[n-1].Type != "removed" {
		t.Fatalf("history: %+v", h)
	}
	// And over HTTP, on a member held by build-2 alone.
	g := wtDo(t, "PUT", s.URL+"/lock/env-2", `{"key":"build-2","lock_by":"deploy"}`, 200).Fence
	req, _ := http.NewRequest("DELETE", s.URL+"/pool/envs/env-2", strings.NewReader(fmt.Sprintf(`{"force":true,"fence":%d,"key":"build-2","locked_by":"deploy"}`, g)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// It says it checked the holder (a server from before does not).
	if resp.StatusCode != 200 || resp.Header.Get("Locker-Holder-Checked") != "true" {
		t.Fatalf("forced removal of env-2 by its holder: %d, Locker-Holder-Checked %q", resp.StatusCode, resp.Header.Get("Locker-Holder-Checked"))
	}
}
