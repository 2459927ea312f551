package cli

import (
	"context"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// The repository's directory is the same however it is written: with a
// trailing slash (as tab completion adds), a claimed/ directory at its top
// was imported as a pool named "." instead of skipped with a warning.
func TestImportPoolRepoDirWrittenTwoWays(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	repo := poolRepo(t, map[string]string{
		"claimed/top-1":       "",
		"unclaimed/top-2":     "",
		"aws/unclaimed/aws-1": "{}",
	})
	const stdout = `^dry run: nothing is changed\npool 'aws':\n  aws-1: would be added \(unclaimed in the repository\)\n1 pool\(s\), 1 lock\(s\)`
	const stderr = `^locker import-pool-repo: warning: .*claimed: a claimed directory at the top of the repository, not in a pool's; skipped\n` +
		`locker import-pool-repo: warning: .*unclaimed: a unclaimed directory at the top of the repository, not in a pool's; skipped\n$`
	for _, dir := range []string{repo, repo + "/", repo + "/.", repo + "//"} {
		locker(t, ctx, env, "import-pool-repo", dir, "--dry-run").want(t, 0, stdout, stderr)
	}
	t.Chdir(repo)
	for _, dir := range []string{".", "./"} {
		locker(t, ctx, env, "import-pool-repo", dir, "--dry-run").want(t, 0, stdout, stderr)
	}
}

// The members left alone are named unambiguously: after an import with
// --prefix-pool, "aws/env-1" read as the member just added, not as member
// env-1 of pool aws, which the repository no longer names so.
func TestImportPoolRepoListsLeftAloneByPool(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	repo := poolRepo(t, map[string]string{
		"aws/unclaimed/env-1": "{}",
		"aws/unclaimed/env-2": "{}",
		"gcp/unclaimed/g-1":   "{}",
	})
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0, `3 added`, `^$`)
	locker(t, ctx, env, "import-pool-repo", repo, "--prefix-pool").want(t, 0,
		`(?m)^  aws/env-1: added \(unclaimed in the repository\)\n(.*\n)*`+
			`left alone: 3 member\(s\) on the server that the repository does not have: pool 'aws': 'env-1', 'env-2'; pool 'gcp': 'g-1'\n`, `^$`)
}
