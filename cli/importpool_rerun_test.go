package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestImportPoolRepoRerunLeavesAReleasedImportFree: a lock the repository
// still has claimed (its pipeline moved to Locker, or the checkout not
// pulled), imported claimed and released in Locker since (docs/pools.md's
// step 3), is not claimed again by a rerun: a review found every such lock
// taken back, held with the import key by nobody at work, until someone
// noticed and released it again. A checkout that is not a git repository
// cannot date its claim, and the import's claim is taken as that one.
func TestImportPoolRepoRerunLeavesAReleasedImportFree(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	repo := poolRepo(t, map[string]string{"aws/claimed/aws-1": "{}", "aws/claimed/aws-2": "{}"})
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0, `2 claimed and 0 released`, `^$`)
	locker(t, ctx, env, "unlock", "aws-1", "--key", importKey).want(t, 0, `free now`, `^$`)

	// (Not a git checkout, unless the temporary directory is in one:
	// then the file is not committed.)
	const left = `free: released on the server since an import claimed it \(free since .*\); the repository does not date its claim \(.*\): if the repository's claimant holds it now, claim it with: locker lock aws-1 --key imported-from-pool-repo\n`
	locker(t, ctx, env, "import-pool-repo", repo, "--dry-run").want(t, 0, `(?m)^  aws-1: already a member \(claimed in the repository\); would be left `+left, `^$`)
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0,
		`(?m)^  aws-1: already a member \(claimed in the repository\); left `+left+`(?s).*  aws-2: already a member \(claimed in the repository\); claimed already\n.*0 claimed and 0 released`, `^$`)
	if l, _ := cl.Get(ctx, "aws-1"); l == nil || !l.Free() {
		t.Fatalf("aws-1 after the rerun: %+v; want it left free", l)
	}
}

// TestImportPoolRepoRerunDatesTheClaimByGit: in a git checkout, the
// repository's claim is dated by the commit that made it, so that a
// rerun tells the claim it imported (and that was released in Locker
// since: left free) from one made after the lock was freed in Locker (a
// job still on pool-resource claimed it again: claimed, as it is held).
func TestImportPoolRepoRerunDatesTheClaimByGit(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	repo := poolRepo(t, map[string]string{"aws/claimed/old": "{}", "aws/claimed/again": "{}"})
	git := func(when time.Time, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+when.Format(time.RFC3339), "GIT_COMMITTER_DATE="+when.Format(time.RFC3339), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	git(hourAgo, "init", "-q")
	git(hourAgo, "add", ".")
	git(hourAgo, "commit", "-q", "-m", "claims")
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0, `2 claimed and 0 released`, `^$`)
	// Both released in Locker; then a job still on pool-resource frees
	// "again" in the repository and claims it again.
	for _, name := range []string{"old", "again"} {
		if _, err := cl.Unlock(ctx, name, importKey, ""); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Minute)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(repo, "aws/unclaimed"), 0o755))
	must(os.Rename(filepath.Join(repo, "aws/claimed/again"), filepath.Join(repo, "aws/unclaimed/again")))
	git(later, "add", "-A")
	git(later, "commit", "-q", "-m", "unclaim again")
	must(os.Rename(filepath.Join(repo, "aws/unclaimed/again"), filepath.Join(repo, "aws/claimed/again")))
	git(later.Add(time.Second), "add", "-A")
	git(later.Add(time.Second), "commit", "-q", "-m", "claim again")

	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0,
		`(?m)^  again: already a member \(claimed in the repository\); claimed with key 'imported-from-pool-repo'\n`+
			`  old: already a member \(claimed in the repository\); left free: released on the server since an import claimed it \(free since .*\); the repository's claim is older \(committed .*\)`+
			`(?s).*1 claimed and 0 released`, `^$`)
	if l, _ := cl.Get(ctx, "old"); l == nil || !l.Free() {
		t.Fatalf("old after the rerun: %+v; want it left free", l)
	}
	if l, _ := cl.Get(ctx, "again"); l == nil || l.LockedBy[importKey] != 1 {
		t.Fatalf("again after the rerun: %+v; want it claimed", l)
	}
}

// TestImportPoolRepoCountsAFailedClaimOnce: a lock whose claim (or
// release) fails is counted as FAILED, and only so: a review found it
// counted as unchanged (or updated) too, the summary's counts adding up to
// more locks than the repository has. Its line says what was done before
// the failure.
func TestImportPoolRepoCountsAFailedClaimOnce(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	target, _ := neturl.Parse(url)
	rp := httputil.NewSingleHostReverseProxy(target)
	var refuse atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && (r.Method == http.MethodPut || r.Method == http.MethodDelete) && strings.HasPrefix(r.URL.Path, "/lock/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":"not allowed (a test's)"}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	env := map[string]string{"LOCKER_URL": proxy.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	for _, name := range []string{"e1", "e2"} {
		if _, err := cl.AddMember(ctx, "envs", name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Lock(ctx, "e2", client.LockOptions{Key: importKey}); err != nil {
		t.Fatal(err)
	}
	refuse.Store(true)
	repo := poolRepo(t, map[string]string{"envs/claimed/e1": "{}", "envs/unclaimed/e2": ""})
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 1,
		`(?m)^  e1: metadata updated \(claimed in the repository\); claim FAILED: .*not allowed \(a test's\)\n`+
			`  e2: metadata updated \(unclaimed in the repository\); release FAILED: .*not allowed \(a test's\)\n`+
			`1 pool\(s\), 2 lock\(s\): 0 added, 0 updated, 0 unchanged; 0 claimed and 0 released with key 'imported-from-pool-repo'; 2 FAILED\n`, `^$`)
}
