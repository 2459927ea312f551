package e2e

import (
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The service's user in these tests: nobody (as the systemd unit's
// DynamicUser, a user nobody can sudo to).
const serviceUID, serviceGID = 65534, 65534

// asService runs a command as the service's user, with no groups.
func asService(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: serviceUID, Gid: serviceGID, Groups: []uint32{}}}
}

// serviceDir makes a data directory of the service user's, which that user
// can reach (and the binary too).
func serviceDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), filepath.Dir(binary)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, serviceUID, serviceGID); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rootOwned lists the files in dir that are not the service user's.
func rootOwned(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != serviceUID || st.Gid != serviceGID {
			bad = append(bad, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// TestRootCommandsKeepTheServiceOwner: the offline commands that write a
// store's files, run with sudo on the store of the user the server runs
// as: locker salvage, and locker migrate into a new file. The server, run
// as that user again, starts on what they leave; it failed with
// "permission denied" on the files of root's they made.
func TestRootCommandsKeepTheServiceOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to run the server as another user (running as uid %d)", os.Geteuid())
	}
	dir := serviceDir(t)
	data := filepath.Join(dir, "locks.yml")
	env := []string{"LOCKER_CONFIG=" + data}
	s, err := tryStartServerCmd(t, env, asService)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "damaged", "c"} {
		if status, body := do(t, nil, http.MethodPut, s.URL+"/lock/"+name, `{"key":"k-`+name+`"}`); status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", name, status, body)
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, s.Output())
	}
	if bad := rootOwned(t, dir); len(bad) > 0 {
		t.Fatalf("the server as uid %d made files of another's: %v", serviceUID, bad)
	}
	damageRecord(t, data, "damaged")

	// sudo locker salvage
	if out, code := runLocker(t, env, "salvage", data); code != 0 || !strings.Contains(out, "skipped 1 damaged part") {
		t.Fatalf("locker salvage: exit %d\n%s", code, out)
	}
	if bad := rootOwned(t, dir); len(bad) > 0 {
		t.Errorf("after sudo locker salvage, files not the service user's: %v", bad)
	}
	s, err = tryStartServerCmd(t, env, asService)
	if err != nil {
		t.Fatalf("the server as uid %d after sudo locker salvage: %v", serviceUID, err)
	}
	if status, body := do(t, nil, http.MethodGet, s.URL+"/lock/a", ""); status != http.StatusOK || !strings.Contains(body, `"key":"k-a"`) {
		t.Errorf("GET /lock/a after salvage: %d %s", status, body)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, s.Output())
	}

	// sudo locker migrate --from FILE --to NEWFILE
	moved := filepath.Join(dir, "moved.yml")
	if out, code := runLocker(t, nil, "migrate", "--from", data, "--to", moved); code != 0 {
		t.Fatalf("locker migrate: exit %d\n%s", code, out)
	}
	if bad := rootOwned(t, dir); len(bad) > 0 {
		t.Errorf("after sudo locker migrate, files not the service user's: %v", bad)
	}
	s, err = tryStartServerCmd(t, []string{"LOCKER_CONFIG=" + moved}, asService)
	if err != nil {
		t.Fatalf("the server as uid %d after sudo locker migrate: %v", serviceUID, err)
	}
	if status, body := do(t, nil, http.MethodGet, s.URL+"/lock/c", ""); status != http.StatusOK || !strings.Contains(body, `"key":"k-c"`) {
		t.Errorf("GET /lock/c after migrate: %d %s", status, body)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, s.Output())
	}
}
