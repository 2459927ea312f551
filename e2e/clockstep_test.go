package e2e

// A step of the server's wall clock, through the built binary. The
// machine's clock is shared and is never stepped by a test, and a Go
// binary's wall clock cannot be faked from outside (it is read through the
// vDSO, not libc: faketime does not reach it; a time namespace offsets
// only the monotonic and boot clocks). So TestWallClockStepEndToEnd runs a
// binary built with -tags lockertestclock, whose only difference is the
// TEST-ONLY hook of internal/leaseclock/testhook.go: the file named by
// LOCKER_TEST_WALL_STEP_FILE offsets the wall clock its lease clock reads.
// Release builds have no such hook; TestNoWallStepHookInTheReleaseBinary
// checks that the binary built as released ignores the variable.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var testClockBinary struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// testClockLocker returns the locker binary built with -tags
// lockertestclock, built once for the package's tests.
func testClockLocker(t *testing.T) string {
	t.Helper()
	b := &testClockBinary
	b.once.Do(func() {
		b.path = filepath.Join(filepath.Dir(binary), "locker-testclock")
		args := []string{"build", "-tags", "lockertestclock", "-o", b.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		b.out, b.err = exec.Command("go", append(args, "..")...).CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("building locker with -tags lockertestclock: %v\n%s", b.err, b.out)
	}
	return b.path
}

func setStep(t *testing.T, file, d string) {
	t.Helper()
	if err := os.WriteFile(file+".new", []byte(d), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
}

type steppedLock struct {
	Key     string `json:"key"`
	Fence   uint64 `json:"fence"`
	Waiters int    `json:"waiters"`
}

func getLock(t *testing.T, url string) steppedLock {
	t.Helper()
	st, body := do(t, nil, "GET", url, "")
	if st != 200 {
		t.Fatalf("GET %s: %d %s", url, st, body)
	}
	var l steppedLock
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return l
}

// TestWallClockStepEndToEnd: a lock held with a lease of 15s and a waiter;
// the server's wall clock is stepped forward an hour. The lock stays with
// its holder (it would have gone to the waiter at once when leases were
// compared with the wall clock), the log says so once with the step, the
// gauge says how far the lease clock is behind, and the waiter gets the
// lock only once the lease has run out by the lease clock: no sooner than
// 15s / 1.05 after it was granted.
func TestWallClockStepEndToEnd(t *testing.T) {
	t.Parallel()
	bin := testClockLocker(t)
	step := filepath.Join(t.TempDir(), "step")
	setStep(t, step, "0s")
	s, err := tryStartServerCmd(t, []string{"LOCKER_TEST_WALL_STEP_FILE=" + step}, func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Output(), "built with -tags lockertestclock") {
		t.Errorf("the test binary does not say it has test hooks:\n%s", s.Output())
	}
	lockURL := s.URL + "/lock/stepped"

	sent := time.Now()
	if st, body := do(t, nil, "PUT", lockURL, `{"key":"a","lock_by":"a","ttl":"15s"}`); st != 200 {
		t.Fatalf("PUT a: %d %s", st, body)
	}
	held := getLock(t, lockURL)
	type answer struct {
		status int
		body   string
		at     time.Time
	}
	got := make(chan answer, 1)
	go func() {
		st, body := do(t, nil, "PUT", lockURL, `{"key":"b","lock_by":"b","wait":"2m"}`)
		got <- answer{st, body, time.Now()}
	}()
	waitFor(t, "the waiter to queue", func() bool { return getLock(t, lockURL).Waiters == 1 })

	setStep(t, step, "1h")
	// The lease clock reads the wall clock at the next change: this one
	// (refused either way) expires the leases that have run out by it,
	// and would give the lock to the waiter.
	if st, body := do(t, nil, "PUT", lockURL, `{"key":"c","lock_by":"c"}`); st != 423 || !strings.Contains(body, `held by key \"a\"`) {
		t.Fatalf("after the wall clock stepped forward an hour: %d %s; want the lock still held by a\n%s", st, body, s.Output())
	}
	if l := getLock(t, lockURL); l.Key != "a" || l.Fence != held.Fence {
		t.Fatalf("after the wall clock stepped forward an hour the lock is %+v; want it still held by a under fence %d\n%s", l, held.Fence, s.Output())
	}
	waitFor(t, "the step to be logged", func() bool { return strings.Contains(s.Output(), "the wall clock stepped forward") })
	select {
	case a := <-got:
		t.Fatalf("the waiter got an answer right after the step: %d %s", a.status, a.body)
	default:
	}
	text := scrape(t, s.URL, "", "")
	if v, ok := metric(text, "locker_lease_clock_offset_seconds"); !ok || v < 3500 || v > 3600 {
		t.Errorf("locker_lease_clock_offset_seconds = %v (%v), want about 3600", v, ok)
	}
	if n := strings.Count(s.Output(), "the wall clock stepped forward"); n != 1 {
		t.Errorf("%d log lines of the step, want 1:\n%s", n, s.Output())
	}

	var a answer
	select {
	case a = <-got:
	case <-time.After(90 * time.Second):
		t.Fatalf("the waiter did not get the lock once the lease ran out\n%s", s.Output())
	}
	if a.status != 200 || !strings.Contains(a.body, `"key":"b"`) {
		t.Fatalf("the waiter got %d %s; want the lock", a.status, a.body)
	}
	// Granted to a no sooner than sent, to b no later than its answer:
	// the lease ran out by the lease clock, at most 1.05 times real time.
	if d := a.at.Sub(sent); d < 15*time.Second*100/105 {
		t.Errorf("the waiter had the lock %v after the holder's lease of 15s was granted; want no sooner than 15s/1.05", d)
	}
	_, hist := do(t, nil, "GET", lockURL+"/history", "")
	if !strings.Contains(hist, `"expired"`) {
		t.Errorf("no expired event in the history: %s", hist)
	}
}

// TestNoWallStepHookInTheReleaseBinary: the binary built as released
// ignores LOCKER_TEST_WALL_STEP_FILE and says nothing of test hooks.
func TestNoWallStepHookInTheReleaseBinary(t *testing.T) {
	t.Parallel()
	step := filepath.Join(t.TempDir(), "step")
	setStep(t, step, "1h")
	s := startServer(t, []string{"LOCKER_TEST_WALL_STEP_FILE=" + step})
	lockURL := s.URL + "/lock/plain"
	if st, body := do(t, nil, "PUT", lockURL, `{"key":"a","lock_by":"a","ttl":"1m"}`); st != 200 {
		t.Fatalf("PUT: %d %s", st, body)
	}
	if st, body := do(t, nil, "PUT", lockURL, `{"key":"b","lock_by":"b"}`); st != 423 {
		t.Fatalf("PUT under another key: %d %s; want 423, the lease not run out", st, body)
	}
	if v, ok := metric(scrape(t, s.URL, "", ""), "locker_lease_clock_offset_seconds"); !ok || v != 0 {
		t.Errorf("locker_lease_clock_offset_seconds = %v (%v), want 0", v, ok)
	}
	if out := s.Output(); strings.Contains(out, "lockertestclock") || strings.Contains(out, "wall clock stepped") {
		t.Errorf("the release binary took the test hook:\n%s", out)
	}
}

// TestListByAServerClockBehind: a server whose lease clock is an hour
// behind this machine's (started on a wall clock an hour behind, so that
// its lease clock is too, and its Date header says so): locker ls, status
// and pool ls count its leases and holds by its clock, as its Date gives
// it. By this machine's clock the lease of 10m would show 0s left, and the
// lock held for an hour.
func TestListByAServerClockBehind(t *testing.T) {
	t.Parallel()
	bin := testClockLocker(t)
	step := filepath.Join(t.TempDir(), "step")
	setStep(t, step, "-1h")
	s, err := tryStartServerCmd(t, []string{"LOCKER_TEST_WALL_STEP_FILE=" + step}, func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin })
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"LOCKER_URL=" + s.URL}
	if out, errOut, code, err := cliExec(env, "lock", "behind", "--key", "k", "--ttl", "10m"); err != nil || code != 0 {
		t.Fatalf("locker lock: %d %v\n%s%s", code, err, out, errOut)
	}
	out, errOut, code, err := cliExec(env, "ls")
	if err != nil || code != 0 || !regexp.MustCompile(`behind +held +k +k x1 +[0-9]s +(10m|10m0[01]s|9m[0-9]+s) +1 +0`).MatchString(out) {
		t.Errorf("locker ls: %d %v\n%s%s\nwant the lease's 10m left, by the server's clock", code, err, out, errOut)
	}
	out, errOut, code, err = cliExec(env, "status", "behind")
	if err != nil || code != 0 || !regexp.MustCompile(`lease ends in (10m|10m0[01]s|9m[0-9]+s)\n`).MatchString(out) {
		t.Errorf("locker status: %d %v\n%s%s\nwant the lease's 10m left, by the server's clock", code, err, out, errOut)
	}
	if out, errOut, code, err := cliExec(env, "pool", "add", "envs", "behind"); err != nil || code != 0 {
		t.Fatalf("locker pool add: %d %v\n%s%s", code, err, out, errOut)
	}
	out, errOut, code, err = cliExec(env, "pool", "ls")
	if err != nil || code != 0 || !regexp.MustCompile(`envs +0/1 +behind +held +k +k x1 +[0-9]s `).MatchString(out) {
		t.Errorf("locker pool ls: %d %v\n%s%s\nwant it held for seconds, by the server's clock", code, err, out, errOut)
	}
}
