package e2e

// Disk full and a read-only file system, with real file systems under the
// real binary: writes fail with a JSON 507 or 503, /readyz says 503, reads
// go on, nothing acknowledged is lost, and the server recovers.
//
// Disk full uses a tmpfs with a size limit. Read-only uses ext4 on a loop
// device mounted with errors=remount-ro, made read-only by the kernel the
// way a failing disk does (/sys/fs/ext4/<dev>/trigger_fs_error): a plain
// `mount -o remount,ro` is refused ("mount point is busy") while a process
// has files open for writing, which a running Locker always has.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory, and
// unmounts it when the test ends. It skips the test, saying why, where
// mounting is not possible.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 16, 4096, 1} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
}

// lockNames returns the names of the locks held (key not empty).
func heldNames(t *testing.T, url string) []string {
	t.Helper()
	st, _, body := hcall(t, nil, "GET", url+"/locks", "", "", "")
	if st != 200 {
		t.Fatalf("GET /locks: %d %s", st, body)
	}
	var locks map[string]struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(body), &locks); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n, l := range locks {
		if l.Key != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// jsonError checks that body is a JSON error whose message holds want.
func jsonError(t *testing.T, what, body, want string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, want) {
		t.Errorf("%s: body %s, want a JSON error mentioning %q", what, body, want)
	}
}

func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	env := []string{"LOCKER_CONFIG=" + filepath.Join(dir, "locks.yml")}
	s := startServer(t, env)
	var acked, refused []string
	// before-00's holder has a long name, so that releasing it takes a
	// bigger record than the PUTs refused below: it cannot fit in what
	// room they left.
	longHolder := strings.Repeat("holder-", 60)
	for i := range 10 {
		name := fmt.Sprintf("before-%02d", i)
		body := `{"key":"k"}`
		if i == 0 {
			body = `{"key":"k","lock_by":"` + longHolder + `"}`
		}
		if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/"+name, "", "", body); st != 200 {
			t.Fatalf("PUT %s: %d %s", name, st, b)
		}
		acked = append(acked, name)
	}
	fill(t, filepath.Join(dir, "filler"))

	// Changes go on fitting into the log's last page, and the space
	// preallocated after it (up to 256 KiB), for a while; then they are
	// refused with 507.
	for i := 0; len(refused) < 5; i++ {
		if i > 3000 {
			t.Fatalf("no write refused on a full disk after %d changes", i)
		}
		name := fmt.Sprintf("full-%03d", i)
		st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/"+name, "", "", `{"key":"k"}`)
		switch st {
		case 200:
			if len(refused) > 0 {
				t.Fatalf("PUT %s succeeded after a refusal, on a disk still full", name)
			}
			acked = append(acked, name)
		case 507:
			jsonError(t, "PUT on a full disk", b, "disk space")
			refused = append(refused, name)
		default:
			t.Fatalf("PUT %s on a full disk: %d %s, want 200 or 507", name, st, b)
		}
	}
	// A release needs a write too: refused, and the lock stays held.
	st, _, b := hcall(t, nil, "DELETE", s.URL+"/lock/before-00", "", "", `{"key":"k","locked_by":"`+longHolder+`"}`)
	if st != 507 {
		t.Fatalf("DELETE on a full disk: %d %s, want 507", st, b)
	}
	jsonError(t, "DELETE on a full disk", b, "disk space")
	if st, _, b := hcall(t, nil, "GET", s.URL+"/readyz", "", "", ""); st != 503 {
		t.Errorf("/readyz on a full disk: %d %s, want 503", st, b)
	} else {
		jsonError(t, "/readyz on a full disk", b, "disk space")
	}
	// Reads go on, and show exactly what was acknowledged.
	if got := heldNames(t, s.URL); strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("held on a full disk:\n got  %v\n want %v", got, acked)
	}

	// Space comes back: the server takes changes again, without a restart.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/after", "", "", `{"key":"k"}`); st != 200 {
		t.Fatalf("PUT once space is back: %d %s", st, b)
	}
	acked = append(acked, "after")
	if st, _, b := hcall(t, nil, "GET", s.URL+"/readyz", "", "", ""); st != 200 {
		t.Errorf("/readyz once space is back and a write succeeded: %d %s", st, b)
	}

	// Nothing acknowledged is lost, nothing refused appears: kill -9 and
	// start again.
	s.Kill()
	s = startServer(t, env)
	sort.Strings(acked)
	if got := heldNames(t, s.URL); strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("after a restart:\n got  %v\n want %v (refused: %v)", got, acked, refused)
	}
}

// mountExt4 makes an ext4 file system in an image file, mounts it on a loop
// device with errors=remount-ro, and returns the mount point and the
// device's name (loopN) and the image file. It skips the test, saying why, where this is not
// possible.
func mountExt4(t *testing.T) (dir, dev, img string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop device needs root")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 is not installed (e2fsprogs)")
	}
	img = filepath.Join(t.TempDir(), "fs.img")
	dir = t.TempDir()
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", img, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", "--target", dir).Output()
	if err != nil {
		t.Fatalf("findmnt: %v", err)
	}
	dev = filepath.Base(strings.TrimSpace(string(out)))
	if _, err := os.Stat("/sys/fs/ext4/" + dev + "/trigger_fs_error"); err != nil {
		t.Skipf("this kernel cannot make an ext4 file system fail on demand: %v", err)
	}
	return dir, dev, img
}

func TestReadOnlyFileSystem(t *testing.T) {
	dir, dev, img := mountExt4(t)
	data := filepath.Join(dir, "locker")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"LOCKER_CONFIG=" + filepath.Join(data, "locks.yml")}
	s := startServer(t, env)
	var acked []string
	for i := range 5 {
		name := fmt.Sprintf("before-%d", i)
		if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/"+name, "", "", `{"key":"k"}`); st != 200 {
			t.Fatalf("PUT %s: %d %s", name, st, b)
		}
		acked = append(acked, name)
	}

	// The disk fails; the kernel makes the file system read-only.
	if err := os.WriteFile("/sys/fs/ext4/"+dev+"/trigger_fs_error", []byte("locker e2e test"), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600); errors.Is(err, syscall.EROFS) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system did not become read-only")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 3 {
		name := fmt.Sprintf("readonly-%d", i)
		st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/"+name, "", "", `{"key":"k"}`)
		if st != 503 {
			t.Fatalf("PUT on a read-only file system: %d %s, want 503", st, b)
		}
		jsonError(t, "PUT on a read-only file system", b, "read-only file system")
		jsonError(t, "PUT on a read-only file system", b, "the change was not made")
		// Without the data file's path: anyone who may read locks
		// reads this (everyone, without AUTH_USER).
		if strings.Contains(b, dir) {
			t.Errorf("PUT on a read-only file system names the data file: %s", b)
		}
	}
	if st, _, b := hcall(t, nil, "DELETE", s.URL+"/lock/before-0", "", "", `{"key":"k"}`); st != 503 {
		t.Fatalf("DELETE on a read-only file system: %d %s, want 503", st, b)
	} else if strings.Contains(b, dir) {
		t.Errorf("DELETE on a read-only file system names the data file: %s", b)
	}
	// The log has the path, with each refused request.
	if out := s.Output(); strings.Count(out, `msg="request failed" method=PUT path=/lock/readonly-`) != 3 || !strings.Contains(out, dir) {
		t.Errorf("the log does not have each refused request with the file's path:\n%s", out)
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/readyz", "", "", ""); st != 503 {
		t.Errorf("/readyz on a read-only file system: %d %s, want 503", st, b)
	} else {
		// Why, without the data file's path: /readyz is open to anyone.
		jsonError(t, "/readyz on a read-only file system", b, "read-only file system")
		if strings.Contains(b, dir) {
			t.Errorf("/readyz names the data file: %s", b)
		}
	}
	if got := heldNames(t, s.URL); strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("held on a read-only file system:\n got  %v\n want %v", got, acked)
	}

	// The kernel keeps a file system it made read-only so until it is
	// unmounted: recovery is the operator's stop, fsck, mount, start. The
	// server stops on SIGTERM though it cannot flush.
	s.signal(t, syscall.SIGTERM)
	if err := s.waitExit(t); err != nil {
		t.Logf("exit after SIGTERM on a read-only file system: %v", err)
	}
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	if out, err := exec.Command("e2fsck", "-f", "-y", img).CombinedOutput(); err != nil {
		// Exit status 1 means errors were corrected.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck: %v: %s", err, out)
		}
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting again: %v: %s", err, out)
	}
	s = startServer(t, env)
	if got := heldNames(t, s.URL); strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("after recovery:\n got  %v\n want %v", got, acked)
	}
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/after", "", "", `{"key":"k"}`); st != 200 {
		t.Fatalf("PUT after recovery: %d %s", st, b)
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/readyz", "", "", ""); st != 200 {
		t.Errorf("/readyz after recovery: %d %s", st, b)
	}
}
