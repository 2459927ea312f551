package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func TestForgetCommand(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	locker(t, ctx, env, "lock", "pr-1", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "lock", "held", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "unlock", "pr-1", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "pool", "add", "workers", "w1").want(t, 0, ``, ``)

	locker(t, ctx, env, "forget").want(t, 2, `^$`, `lock name`)
	locker(t, ctx, env, "forget", "held").want(t, 3, `^$`, `^locker forget: lock 'held' is held by 'k' \(key 'k'\) since .*: only a free lock can be forgotten; nothing was forgotten\n$`)
	locker(t, ctx, env, "forget", "w1").want(t, 1, `^$`, `DELETE /pool/\{pool\}/\{member\}`)
	locker(t, ctx, env, "forget", "never").want(t, 1, `^$`, `^locker forget: no lock named "never"\n$`)
	locker(t, ctx, env, "forget", "pr-1").want(t, 0, `^forgot 'pr-1' and its history\n$`, `^$`)
	r := locker(t, ctx, env, "list", "--json")
	if !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, `"held"`) || strings.Contains(r.stdout, `"pr-1"`) {
		t.Fatalf("locker list --json after the forget: %s", r.stdout)
	}
	locker(t, ctx, env, "lock", "pr-1", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "unlock", "pr-1", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "forget", "pr-1", "--json").want(t, 0, `"name":\s*"pr-1"`, `^$`)
	locker(t, ctx, env, "forget", "--help").want(t, 0, `Usage: locker forget NAME`, ``)
}

func TestForgetCommandNeedsAdmin(t *testing.T) {
	url := testServer(t, httpapi.Config{Admin: httpapi.Credentials{User: "ops", Pass: "ops-pass"}}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	locker(t, ctx, env, "lock", "x", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "unlock", "x", "--key", "k").want(t, 0, ``, ``)
	locker(t, ctx, env, "forget", "x").want(t, 1, `^$`, `not allowed: only the admin user \(LOCKER_ADMIN_USER\) may forget a lock`)
	env["LOCKER_USER"], env["LOCKER_PASS"] = "ops", "ops-pass"
	locker(t, ctx, env, "forget", "x").want(t, 0, `forgot 'x'`, `^$`)
}
