package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/metrics"
)

// TestDataFileMustBeARegularFile: a LOCKER_CONFIG that exists and is not a
// regular file is refused at once, naming what it is: a named pipe hung
// the server at start (its open waits for a writer, and SIGTERM was not
// heard meanwhile); a directory is no store either. A symlink to a file is
// the file. Nothing is made beside a refused path (no <path>.lock).
func TestDataFileMustBeARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub.yml")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	linkToFifo := filepath.Join(dir, "link.yml")
	if err := os.Symlink(fifo, linkToFifo); err != nil {
		t.Fatal(err)
	}
	open := func(path string) error {
		done := make(chan error, 1)
		go func() {
			store, err := openStore(context.Background(), serverConfig{dataFile: path}, slog.New(slog.DiscardHandler), metrics.New())
			if err == nil {
				store.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			// Let the hung open go: a writer on the pipe.
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				defer w.Close()
			}
			t.Fatalf("opening %s still waits after 10s", path)
			return nil
		}
	}
	for path, want := range map[string]string{fifo: "is a named pipe (FIFO)", linkToFifo: "is a named pipe (FIFO)", sub: "is a directory"} {
		err := open(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "LOCKER_CONFIG="+path) {
			t.Errorf("LOCKER_CONFIG=%s: %v, want %q", path, err, want)
		}
		if _, err := os.Lstat(path + ".lock"); err == nil {
			t.Errorf("a refused %s left %s.lock", path, path)
		}
	}
	// A symlink to a regular file, and a file not made yet, are fine.
	real := filepath.Join(dir, "real.yml")
	if err := open(real); err != nil {
		t.Fatalf("a new file: %v", err)
	}
	link := filepath.Join(dir, "real-link.yml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := open(link); err != nil {
		t.Fatalf("a symlink to a file: %v", err)
	}

	// locker migrate: a directory as source or target is refused, and
	// nothing made beside it.
	var out bytes.Buffer
	for _, args := range [][]string{{"--from", sub, "--to", filepath.Join(dir, "to.yml")}, {"--from", real, "--to", sub}} {
		err := runMigrate(context.Background(), args, envOf(nil), &out, &out)
		if err == nil || !strings.Contains(err.Error(), sub+" is a directory") {
			t.Errorf("migrate %v: %v", args, err)
		}
	}
	if _, err := os.Lstat(sub + ".lock"); err == nil {
		t.Errorf("a refused migrate left %s.lock", sub)
	}
}
