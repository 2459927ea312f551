package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/filestore"
)

// TestMigrateHoldsAnOriginalLockerSourceLocked: a source in the original
// locker's format is locked for the whole copy, as a source in this
// server's format is, so that no Locker server starts on it meanwhile (a
// start converts it in place and takes changes the copy lacks). It was read
// without any lock.
func TestMigrateHoldsAnOriginalLockerSourceLocked(t *testing.T) {
	const original = `{"a":{"key":"k","locked_by":{"h":1}},"b":{"key":"k","locked_by":{"h":2}},"c":{"key":"","locked_by":{}}}`
	dir := t.TempDir()
	src := filepath.Join(dir, "legacy.json")
	must(t, os.WriteFile(src, []byte(original), 0o600))
	dst := filepath.Join(t.TempDir(), "locks.yml")

	var tried bool
	defer cli.DuringMigrate(func(copied int) error {
		if copied != 1 {
			return nil
		}
		tried = true
		s, err := filestore.Open(src, filestore.Options{})
		if err == nil {
			s.Close()
			t.Errorf("a server started on the source during the copy")
		} else if !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Errorf("opening the source during the copy: %v, want it refused as in use", err)
		}
		return nil
	})()
	if out, err := migrate(t, "--from", src, "--to", dst); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !tried {
		t.Fatal("the copy never reported progress")
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != original {
		t.Errorf("the source was changed: %.80q, %v", b, err)
	}
	// Let go once the copy is done: a server starts on it again.
	s, err := filestore.Open(src, filestore.Options{})
	if err != nil {
		t.Fatalf("opening the source after the copy: %v", err)
	}
	s.Close()
}
