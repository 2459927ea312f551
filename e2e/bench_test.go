package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchThroughTheBinary runs the benchmark harness as a user does: the
// built binary starts a server of its own (--spawn) and the ceiling server,
// drives both, and reports as JSON; then again with clients that pause
// between their changes (--think).
func TestBenchThroughTheBinary(t *testing.T) {
	type result struct {
		Target    string  `json:"target"`
		Ops       int64   `json:"ops"`
		Errors    int64   `json:"errors"`
		Think     string  `json:"think"`
		Ratio     float64 `json:"ceiling_ratio"`
		OpsPerSec float64 `json:"ops_per_sec"`
	}
	run := func(args ...string) []result {
		t.Helper()
		out, code := runLocker(t, nil, append([]string{"bench", "--spawn", "--duration", "300ms", "--concurrency", "2", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("locker bench %q: exit %d\n%s", args, code, out)
		}
		// Progress goes to stderr, which runLocker mixes in: the report
		// is the JSON object that starts a line.
		var rep struct {
			Results []result `json:"results"`
		}
		if err := json.NewDecoder(strings.NewReader(out[strings.Index(out, "\n{")+1:])).Decode(&rep); err != nil {
			t.Fatalf("locker bench %q: %v\n%s", args, err, out)
		}
		for _, r := range rep.Results {
			if r.Ops <= 0 || r.Errors != 0 || r.OpsPerSec <= 0 {
				t.Errorf("locker bench %q: %+v", args, r)
			}
		}
		return rep.Results
	}
	rs := run("--ceiling")
	if len(rs) != 2 || rs[0].Target != "locker" || rs[1].Target != "ceiling" || rs[0].Ratio <= 0 {
		t.Errorf("with --ceiling: %+v", rs)
	}
	rs = run("--think", "5ms")
	if len(rs) != 1 || rs[0].Think != "5ms" {
		t.Errorf("with --think: %+v", rs)
	}
}

// heldLocks lists the locks held on the server at base.
func heldLocks(t *testing.T, base string) []string {
	t.Helper()
	status, body := do(t, nil, "GET", base+"/locks", "")
	if status != 200 {
		t.Fatalf("GET /locks: %d %s", status, body)
	}
	var locks map[string]struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(body), &locks); err != nil {
		t.Fatal(err)
	}
	var held []string
	for name, l := range locks {
		if l.State != "free" {
			held = append(held, name)
		}
	}
	return held
}

// waitExit waits for a process started by cliStart to exit, and returns
// its exit status.
func waitExit(t *testing.T, cmd *exec.Cmd, out *outputBuffer, patience time.Duration) int {
	t.Helper()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
		return cmd.ProcessState.ExitCode()
	case <-time.After(patience):
		t.Fatalf("locker bench did not exit within %s:\n%s", patience, out)
		return 0
	}
}

// TestBenchInterruptedReleasesPrefilledLocks: Ctrl-C (SIGINT) in the
// middle of a measurement against a server given by URL: the locks the
// harness prefilled are released before it exits, and it says so.
func TestBenchInterruptedReleasesPrefilledLocks(t *testing.T) {
	s := startServer(t, nil)
	cmd, out := cliStart(t, nil, "bench", "--url", s.URL, "--prefill", "300", "--duration", "1m", "--concurrency", "2")
	cliWait(t, "the measurement to start", func() bool { return strings.Contains(out.String(), "run 1 of 1") })
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	if code := waitExit(t, cmd, out, 30*time.Second); code != 130 || !strings.HasSuffix(out.String(), "\nlocker bench: interrupted\n") {
		t.Errorf("exit status %d after an interruption, want 130 and \"interrupted\":\n%s", code, out)
	}
	if held := heldLocks(t, s.URL); len(held) > 0 {
		t.Errorf("%d locks still held after the interrupted run, e.g. %s:\n%s", len(held), held[0], out)
	}
	if !strings.Contains(out.String(), "interrupted: releasing the 300 locks") {
		t.Errorf("the harness did not say it released the locks:\n%s", out)
	}
}

// TestBenchSecondInterruptGivesUpTheRelease: a server that never answers
// the release of the prefilled locks: a second SIGINT gives it up at once,
// and the harness names the locks it leaves held and how to free them.
func TestBenchSecondInterruptGivesUpTheRelease(t *testing.T) {
	ended := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == "DELETE" && strings.Contains(r.URL.Path, "/held-") {
			select {
			case <-r.Context().Done():
			case <-ended:
			}
			return
		}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	defer close(ended)
	cmd, out := cliStart(t, nil, "bench", "--url", srv.URL, "--prefill", "20", "--duration", "1m", "--concurrency", "1")
	cliWait(t, "the measurement to start", func() bool { return strings.Contains(out.String(), "run 1 of 1") })
	cmd.Process.Signal(os.Interrupt)
	cliWait(t, "the release to start", func() bool { return strings.Contains(out.String(), "interrupted: releasing the 20 locks") })
	time.Sleep(200 * time.Millisecond) // into the release
	cmd.Process.Signal(os.Interrupt)
	if code := waitExit(t, cmd, out, 10*time.Second); code != 130 {
		t.Errorf("exit status %d, want 130:\n%s", code, out)
	}
	for _, want := range []string{"locker bench: interrupted; releasing the locks the harness took on", "given up (interrupted again)", "up to 20 of the 20", `key "bench-prefill"`, "locker unlock "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// benchChildren waits for a `locker bench --spawn --ceiling` run to start
// measuring, and returns the URLs of the servers it started and their
// directories (the spawned server's data, the ceiling server's log),
// which the test removes at its end.
func benchChildren(t *testing.T, out *outputBuffer) (urls, dirs []string) {
	t.Helper()
	cliWait(t, "the measurement to start", func() bool { return strings.Contains(out.String(), "run 1 of 1") })
	m := regexp.MustCompile(`started \S+ at (http://\S+) \(data in (\S+)\)`).FindStringSubmatch(out.String())
	c := regexp.MustCompile(`started the ceiling server at (http://\S+) \(log in (\S+)\)`).FindStringSubmatch(out.String())
	if m == nil || c == nil {
		t.Fatalf("the servers started are not in the output:\n%s", out)
	}
	t.Cleanup(func() {
		os.RemoveAll(m[2])
		os.RemoveAll(c[2])
	})
	return []string{m[1], c[1]}, []string{m[2], c[2]}
}

// waitGone waits until nothing answers at u any more.
func waitGone(t *testing.T, u string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	cliWait(t, u+" to stop", func() bool {
		resp, err := hc.Get(u + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
}

// TestBenchHangupStopsItsServers: SIGHUP (a closed terminal) ends the run
// as SIGINT does: the servers the harness started are stopped and their
// temporary directories removed.
func TestBenchHangupStopsItsServers(t *testing.T) {
	cmd, out := cliStart(t, nil, "bench", "--spawn", "--ceiling", "--duration", "1m", "--concurrency", "1")
	urls, dirs := benchChildren(t, out)
	cmd.Process.Signal(syscall.SIGHUP)
	waitExit(t, cmd, out, 30*time.Second)
	for _, u := range urls {
		waitGone(t, u)
	}
	for _, dir := range dirs {
		if exists(dir) {
			t.Errorf("%s is left behind", dir)
		}
	}
}

// TestBenchServersDieWithTheHarness: when the harness is killed outright
// (SIGKILL, no chance to clean up), the servers it started die with it.
func TestBenchServersDieWithTheHarness(t *testing.T) {
	cmd, out := cliStart(t, nil, "bench", "--spawn", "--ceiling", "--duration", "1m", "--concurrency", "1")
	urls, _ := benchChildren(t, out)
	cmd.Process.Signal(syscall.SIGKILL)
	waitExit(t, cmd, out, 10*time.Second)
	for _, u := range urls {
		waitGone(t, u)
	}
}

// TestBenchRefusesConflictingFlags: --spawn with --url (which it would
// ignore), or with --keep (which would do nothing), is a usage error.
// LOCKER_URL in the environment is no conflict: --spawn ignores it.
func TestBenchRefusesConflictingFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--spawn", "--url", "http://127.0.0.1:1"}, "give one of them"},
		{[]string{"--spawn", "--keep"}, "--keep leaves locks held on a --url server"},
		{[]string{"--spawn", "--profile", filepath.Join(t.TempDir(), "p"), "--keep"}, "--keep leaves locks held"},
	} {
		out, code := runLocker(t, nil, append([]string{"bench", "--duration", "100ms", "--concurrency", "1"}, c.args...)...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("locker bench %q: exit %d, want 2 and %q:\n%s", c.args, code, c.want, out)
		}
	}
	out, code := runLocker(t, []string{"LOCKER_URL=http://127.0.0.1:1"}, "bench", "--spawn", "--duration", "100ms", "--concurrency", "1")
	if code != 0 || !strings.Contains(out, "target: spawned: ") {
		t.Errorf("--spawn with LOCKER_URL set: exit %d:\n%s", code, out)
	}
}
