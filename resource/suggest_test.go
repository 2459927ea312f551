package resource_test

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/client"
)

// runSuggested reads line, a `locker ...` command a message suggests, as a
// POSIX shell does when it is pasted there (locker a shell function that
// prints its words), and runs those words with the CLI against url: the
// command does what it says only if it was quoted for the shell.
func runSuggested(t *testing.T, url, line string) (stdout, stderr string, err error) {
	t.Helper()
	sh, lerr := exec.LookPath("sh")
	if lerr != nil {
		t.Skip("no sh:", lerr)
	}
	out, serr := exec.Command(sh, "-c", `locker() { printf '%s\0' "$@"; }; `+line).Output()
	if serr != nil {
		t.Fatalf("sh -c %s: %v", line, serr)
	}
	words := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	var o, e bytes.Buffer
	env := map[string]string{"LOCKER_URL": url}
	err = cli.Run(context.Background(), append([]string{"locker"}, words...), func(k string) string { return env[k] }, &o, &e)
	return o.String(), e.String(), err
}

// TestAbortAsGrantedSuggestionPastes: the release that a step stopped as
// its lock was granted suggests (locker unlock NAME --key KEY --holder
// HOLDER), pasted into a shell, releases that hold when the name, key and
// holder hold quotes, spaces and $: each was printed inside '%s' as it
// was, which the shell split at the quote.
func TestAbortAsGrantedSuggestionPastes(t *testing.T) {
	const name, key, holder = `it's "slow" $x`, "B $y", "b 'one'"
	granted := make(chan struct{}, 1)
	s := startServer(t, serverOpts{wrap: grantWithoutAnswer("/lock/"+name, granted, nil)})
	c := s.client(t, "", "")
	p := start(t, binary, request(src(s, name), lockParams(key, holder), nil), "out", t.TempDir())
	<-granted
	p.cmd.Process.Signal(syscall.SIGTERM) // the build is aborted
	r := p.wait()
	m := regexp.MustCompile(`release it \((locker unlock .*)\)`).FindStringSubmatch(r.stderr)
	if r.code == 0 || m == nil {
		t.Fatalf("exit %d, no suggested release in stderr:\n%s", r.code, r.stderr)
	}
	if l := get(t, c, name); l.LockedBy[holder] != 1 {
		t.Fatalf("the hold was not left for the user: %+v", l)
	}
	if _, stderr, err := runSuggested(t, s.URL, m[1]); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, stderr)
	}
	if l := get(t, c, name); !l.Free() {
		t.Fatalf("%s left %+v", m[1], l)
	}
}

// TestPoolRemoveRefusedSuggestionPastes: the removal by hand that a
// refused remove: suggests (locker pool rm POOL MEMBER --force --fence N),
// pasted into a shell, removes the member when the pool's and the
// member's names hold quotes, spaces and $.
func TestPoolRemoveRefusedSuggestionPastes(t *testing.T) {
	const pool, name = "team's envs", `m 'one' $z`
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	setup := newBuild(t, poolSource(s, pool), "setup", 1, 1)
	setup.task("m", map[string]string{"name": name, "metadata": ""})
	setup.put("m", obj{"add": "m"})
	if _, err := c.Lock(context.Background(), name, client.LockOptions{Key: "team-key", Holder: "other-job"}); err != nil {
		t.Fatal(err)
	}
	b := newBuild(t, poolSource(s, pool), "special", 1, 401)
	b.put("env", obj{"claim": name, "key": "team-key", "locked_by": "special-job"})
	r := b.putFails(obj{"remove": "env"})
	m := regexp.MustCompile(`remove it by hand: (locker pool rm .*)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no suggested removal in stderr:\n%s", r.stderr)
	}
	if _, stderr, err := runSuggested(t, s.URL, m[1]); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, stderr)
	}
	if p := getPool(t, c, pool); p.Total != 0 {
		t.Fatalf("%s left the pool %+v", m[1], p)
	}
}
