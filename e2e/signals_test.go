package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowGrantProxy passes requests on to the server at target, but answers a
// PUT (taking a lock) only 3s after the server did: a signal sent once
// granted reaches the client while it waits for the answer. granted gets
// a value as each PUT is answered by the server.
func slowGrantProxy(t *testing.T, target string) (proxyURL string, granted chan struct{}) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	granted = make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		granted <- struct{}{}
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, granted
}

// TestCLISignalWhileWaitingGivesBack: SIGHUP (a dropped ssh session),
// SIGQUIT, SIGUSR1 and SIGUSR2 while locker run, locker lock or locker
// pool acquire waits for the answer to taking the lock stop it as SIGTERM
// does: the grant is given back (locker run; lock and pool acquire --key
// name it, the member for a pool, and the command that releases it, as the
// key may be shared), and it exits 130 saying it was interrupted. Go's
// default used to kill it outright (129 and the like), leaving the lock held by a key
// nobody knew, without a lease.
func TestCLISignalWhileWaitingGivesBack(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, nil)
	c := cliClient(t, s.URL)
	proxy, granted := slowGrantProxy(t, s.URL)
	env := []string{"LOCKER_URL=" + proxy}
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2} {
		for _, mode := range []string{"run", "lock", "pool"} {
			name := fmt.Sprintf("%s-%d", mode, int(sig))
			args := []string{"run", name, "--ttl", "0", "--", "echo", "RAN"}
			switch mode {
			case "lock":
				args = []string{"lock", name, "--key", "k-" + name}
			case "pool":
				if _, err := c.AddMember(context.Background(), "p-"+name, name, nil); err != nil {
					t.Fatal(err)
				}
				args = []string{"pool", "acquire", "p-" + name, "--key", "k-" + name}
			}
			cmd, out := cliStart(t, env, args...)
			select {
			case <-granted:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the lock was not asked for\n%s", name, out)
			}
			time.Sleep(100 * time.Millisecond) // waiting for the answer
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			ee, _ := err.(*exec.ExitError)
			if ee == nil || ee.ExitCode() != 130 || !strings.Contains(out.String(), "interrupted") || strings.Contains(out.String(), "RAN") {
				t.Errorf("%v to locker %s: %v, want exit 130 and 'interrupted'\n%s", sig, mode, err, out)
			}
			if mode == "lock" || mode == "pool" {
				// --key given: the key may be shared, so the hold (for a
				// pool, the member) is named for its owner to release,
				// not given back.
				if !strings.Contains(out.String(), "release it with 'locker unlock "+name) {
					t.Errorf("%v to locker %s: the hold granted is not named\n%s", sig, mode, out)
				}
				continue
			}
			if l, err := c.Get(context.Background(), name); err != nil || !l.Free() {
				t.Errorf("%v to locker %s: left %+v (%v)\n%s", sig, mode, l, err, out)
			}
		}
	}
}

// TestServerSIGHUPStopsCleanly: SIGHUP stops the server as SIGTERM does
// (finishing requests in flight, exit 0), not at once.
func TestServerSIGHUPStopsCleanly(t *testing.T) {
	s := startServer(t, nil)
	s.signal(t, syscall.SIGHUP)
	if err := s.waitExit(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, s.Output())
	}
	if !strings.Contains(s.Output(), "shutting down") {
		t.Fatalf("no clean shutdown:\n%s", s.Output())
	}
}

// TestCLIRunSignalsPassedOnOnce: SIGHUP, SIGUSR1 and SIGUSR2 to locker run
// while COMMAND runs reach COMMAND once each, and do not stop it (no
// SIGTERM of locker run's own as its context ends); sent to the whole
// process group, they reach it directly and through locker run, but
// COMMAND still gets no SIGTERM.
func TestCLIRunSignalsPassedOnOnce(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, nil)
	c := cliClient(t, s.URL)
	for _, group := range []bool{false, true} {
		dir := t.TempDir()
		script := `for s in HUP USR1 USR2 TERM; do trap "echo $s >> $0/got" $s; done; touch "$0/started"; while [ ! -e "$0/go" ]; do sleep 0.05; done`
		cmd, out := cliStart(t, []string{"LOCKER_URL=" + s.URL}, "run", "p", "--key", "k", "--", "sh", "-c", script, dir)
		cliWait(t, "the command started", func() bool { return exists(filepath.Join(dir, "started")) })
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2} {
			if group {
				syscall.Kill(-cmd.Process.Pid, sig)
			} else {
				cmd.Process.Signal(sig)
			}
			time.Sleep(300 * time.Millisecond) // one at a time: sh may merge two pending
		}
		time.Sleep(300 * time.Millisecond) // past a fallback SIGTERM, if any
		os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("group %v: %v\n%s", group, err, out)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "got"))
		got := string(b)
		for _, name := range []string{"HUP", "USR1", "USR2"} {
			n := strings.Count(got, name+"\n")
			if n < 1 || !group && n != 1 || n > 2 {
				t.Errorf("group %v: COMMAND got %s %d times:\n%s", group, name, n, got)
			}
		}
		if strings.Contains(got, "TERM") {
			t.Errorf("group %v: COMMAND got SIGTERM:\n%s", group, got)
		}
		if l, err := c.Get(context.Background(), "p"); err != nil || !l.Free() {
			t.Fatalf("not released: %+v %v", l, err)
		}
	}
}

// TestCLIRunUnderNohupLeavesSIGHUPIgnored: locker run started with SIGHUP
// ignored (nohup, trap "" HUP) leaves it so, for itself and for COMMAND,
// which then outlives a hangup as nohup promised. Caught by locker run,
// SIGHUP was back at its default in COMMAND, and passed on, it ended it.
func TestCLIRunUnderNohupLeavesSIGHUPIgnored(t *testing.T) {
	s := startServer(t, nil)
	dir := t.TempDir()
	script := `touch "$0/started"; while [ ! -e "$0/go" ]; do sleep 0.05; done; touch "$0/done"`
	cmd, out := cliStartProgram(t, []string{"LOCKER_URL=" + s.URL}, "sh", "-c", `trap "" HUP; exec "$0" "$@"`, binary, "run", "nh", "--key", "k", "--", "sh", "-c", script, dir)
	cliWait(t, "the command started", func() bool { return exists(filepath.Join(dir, "started")) })
	cmd.Process.Signal(syscall.SIGHUP) // locker run: the shell exec'ed it
	time.Sleep(300 * time.Millisecond)
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	if err := cmd.Wait(); err != nil || !exists(filepath.Join(dir, "done")) {
		t.Fatalf("locker run under nohup after a SIGHUP: %v, COMMAND finished: %v\n%s", err, exists(filepath.Join(dir, "done")), out)
	}
}
