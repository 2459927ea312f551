package e2e

// A data directory whose disk hangs (a dead NFS server, a failing device, a
// stalled network volume), under the real binary: the directory is a FUSE
// mount (bindfs, a pass-through file system, over a temporary directory),
// and the test stops the bindfs process (SIGSTOP). Every write, fsync or
// stat in the mount then waits for a FUSE daemon that does not answer,
// exactly as a process does on a hard NFS mount whose server is gone; a
// SIGCONT makes the disk come back. It needs root, /dev/fuse and bindfs
// (Debian's bindfs package, which .ci/run installs); without them the test
// is skipped, saying why (device-mapper's dm-delay, the other way, is not
// in this machine's kernel: dmsetup finds no /dev/mapper/control).

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountHangable mounts a bindfs pass-through of a new directory on another
// and returns the mount point and the bindfs process, whose SIGSTOP hangs
// every access to the mount. It unmounts it when the test ends, letting
// the process go on first. It skips the test where this is not possible.
func mountHangable(t *testing.T) (dir string, fuse *os.Process) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a FUSE file system needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	bindfs, err := exec.LookPath("bindfs")
	if err != nil {
		t.Skip("bindfs is not installed (Debian's bindfs package)")
	}
	src, dir := t.TempDir(), t.TempDir()
	cmd := exec.Command(bindfs, "-f", src, dir) // -f: in the foreground, so that its PID is this one
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start bindfs: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		if err := exec.Command("fusermount", "-u", dir).Run(); err != nil {
			exec.Command("umount", "-l", dir).Run()
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !mounted(dir) {
		select {
		case <-exited:
			t.Skipf("bindfs could not mount here: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("bindfs did not mount %s within 30 s: %s", dir, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return dir, cmd.Process
}

// mounted reports whether dir is a mount point of a FUSE file system.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir && strings.Contains(line, " - fuse") {
			return true
		}
	}
	return false
}

// TestHungDisk: while the data directory's disk hangs, the changes wait;
// /readyz answers 503 once the write has been in flight longer than 5 s,
// saying for how long and naming no file; /healthz stays 200 (a restart
// would not cure the disk, and would lose the changes in flight);
// locker_store_write_in_flight_seconds says how long; the log has one
// WARN. A client that gives up on its acquire meanwhile (its connection
// closed) has it given back once written. When the disk comes back, the
// changes are answered, /readyz is ready again, the log says how long the
// write took, and a restart finds exactly what memory had.
func TestHungDisk(t *testing.T) {
	dir, fuse := mountHangable(t)
	env := []string{"LOCKER_CONFIG=" + filepath.Join(dir, "locks.yml")}
	s := startServer(t, env)
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/before", "", "", `{"key":"k"}`); st != 200 {
		t.Fatalf("PUT before the hang: %d %s", st, b)
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/readyz", "", "", ""); st != 200 {
		t.Fatalf("/readyz before the hang: %d %s", st, b)
	}

	if err := fuse.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			fuse.Signal(syscall.SIGCONT)
		}
	}
	defer resume() // before the server is killed and the mount unmounted
	type answer struct {
		status int
		body   string
		err    error
	}
	waiting := make(chan answer, 1)
	go func() {
		st, _, b, err := tryCall(nil, "PUT", s.URL+"/lock/during", "", "", `{"key":"k"}`)
		waiting <- answer{st, b, err}
	}()
	// A client that gives up: its connection is closed while its acquire
	// waits behind the hung write.
	impatient := &http.Client{Timeout: 2 * time.Second}
	if _, _, _, err := tryCall(impatient, "PUT", s.URL+"/lock/gaveup", "", "", `{"key":"k"}`); err == nil {
		t.Fatal("an acquire was answered while the disk hangs")
	}

	var body string
	waitFor(t, "/readyz answers 503 while the disk hangs", func() bool {
		var st int
		st, _, body = hcall(t, nil, "GET", s.URL+"/readyz", "", "", "")
		return st == 503
	})
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || !regexp.MustCompile(`writing to disk for \d+s`).MatchString(e.Error) || strings.Contains(body, dir) {
		t.Errorf("/readyz while the disk hangs: %s; want a JSON error saying for how long the store has been writing, naming no file", body)
	}
	st, _, b := hcall(t, nil, "GET", s.URL+"/healthz", "", "", "")
	if st != 200 || !strings.Contains(b, "writing to disk for") {
		t.Errorf("/healthz while the disk hangs: %d %s; want 200, its store saying what /readyz does", st, b)
	}
	st, _, b = hcall(t, nil, "GET", s.URL+"/metrics", "", "", "")
	m := regexp.MustCompile(`(?m)^locker_store_write_in_flight_seconds (\S+)$`).FindStringSubmatch(b)
	if st != 200 || m == nil {
		t.Fatalf("/metrics while the disk hangs: %d, no locker_store_write_in_flight_seconds", st)
	}
	if v, err := strconv.ParseFloat(m[1], 64); err != nil || v < 5 {
		t.Errorf("locker_store_write_in_flight_seconds %s while /readyz says the write has been in flight over 5 s", m[1])
	}
	warn := "a write to disk has not returned"
	waitFor(t, "the log says a write hangs", func() bool { return strings.Contains(s.Output(), warn) })
	select {
	case a := <-waiting:
		t.Fatalf("an acquire was answered while the disk hangs: %d %s %v", a.status, a.body, a.err)
	default:
	}

	resume()
	a := <-waiting
	if a.err != nil || a.status != 200 {
		t.Fatalf("the acquire that waited for the disk: %d %s %v", a.status, a.body, a.err)
	}
	waitFor(t, "/readyz answers 200 once the disk is back", func() bool {
		st, _, _ := hcall(t, nil, "GET", s.URL+"/readyz", "", "", "")
		return st == 200
	})
	if out := s.Output(); !strings.Contains(out, "the write to disk that had not returned completed") {
		t.Errorf("the log does not say the write completed:\n%s", out)
	}
	if n := strings.Count(s.Output(), warn); n != 1 {
		t.Errorf("%d WARN lines for one hung write, want 1:\n%s", n, s.Output())
	}
	// The health checks' own WARN, once when the store stops being
	// ready and once a minute while it lasts: not at each check, though
	// the seconds in the answer change.
	if n, most := strings.Count(s.Output(), "the store is not ready"), 1+int(time.Since(stopped)/time.Minute); n < 1 || n > most {
		t.Errorf("%d lines \"the store is not ready\" for one hung write, want 1 to %d:\n%s", n, most, s.Output())
	}
	// The impatient client's acquire was made once written, and given
	// back: nobody holds a lock for a client that never learnt of it.
	// (Its history first: the held locks read the same before its
	// acquire is made as after it is given back, and a run here read
	// them before.)
	waitFor(t, "the acquire given up on is made, then given back", func() bool {
		st, _, b = hcall(t, nil, "GET", s.URL+"/lock/gaveup/history", "", "", "")
		return st == 200 && strings.Contains(b, `"acquired"`) && strings.Contains(b, `"released"`)
	})
	want := "before,during"
	if got := strings.Join(heldNames(t, s.URL), ","); got != want {
		t.Errorf("held once the acquire given up on was given back: %s, want %s", got, want)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping: %v\n%s", err, s.Output())
	}
	s = startServer(t, env)
	if got := strings.Join(heldNames(t, s.URL), ","); got != want {
		t.Fatalf("after a restart: %s, want %s (what memory had)", got, want)
	}
}
