package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// TestReadmeFenceScriptStopsWithoutTheLock runs the README's script for a
// release by fencing token ("fence=$(locker lock ... --json ...)", then a
// trap that unlocks with --fence) as a CI job would, under sh -e: with the
// lock held by another key, the script must stop at the lock, not go on
// to the work. Written as "$(locker lock ... --json | jq .fence)", the
// pipeline's status was jq's, 0 on locker's empty output: set -e went on,
// and the work ran without the lock (and the trap's unlock got --fence "").
// With the lock free, the work runs and the trap gives the hold back.
func TestReadmeFenceScriptStopsWithoutTheLock(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("the README's script uses jq, which is not installed (apt-get install jq)")
	}
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, block := range strings.Split(string(b), "```") {
		if strings.Contains(block, "--fence") && strings.Contains(block, "trap ") && strings.Contains(block, "locker lock prod-deployments") {
			script = block
			break
		}
	}
	if script == "" {
		t.Fatal("README.md has no script that locks prod-deployments and unlocks it with --fence in a trap")
	}
	// Fail at once rather than after the README's 10 minutes.
	script = strings.Replace(script, "--wait 10m", "--wait 0", 1)
	if !strings.Contains(script, "--wait 0") {
		t.Fatalf("the README's script no longer waits with --wait 10m:\n%s", script)
	}
	script = "set -e\n" + script + "\necho WORK RAN UNDER FENCE \"$fence\"\n"

	s := startServer(t, nil)
	c := cliClient(t, s.URL)
	ctx := context.Background()
	bin := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(bin, "locker")); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0",
			"LOCKER_URL=" + s.URL, "BUILD_ID=build-7", "JOB=deploy"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	if _, err := c.Lock(ctx, "prod-deployments", client.LockOptions{Key: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	if err == nil || strings.Contains(out, "WORK RAN") {
		t.Fatalf("with the lock held by another key, the README's script (%v) went on to the work:\n%s\nscript:\n%s", err, out, script)
	}
	if _, err := c.Unlock(ctx, "prod-deployments", "someone-else", ""); err != nil {
		t.Fatal(err)
	}

	out, err = run()
	if err != nil || !strings.Contains(out, "WORK RAN UNDER FENCE ") || strings.Contains(out, `FENCE ""`) {
		t.Fatalf("with the lock free, the README's script: %v\n%s", err, out)
	}
	if l, err := c.Get(ctx, "prod-deployments"); err != nil || !l.Free() {
		t.Fatalf("the README's trap did not give the hold back: %+v, %v\n%s", l, err, out)
	}
}
