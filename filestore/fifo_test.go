package filestore

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNamedPipesRefused: a named pipe where the store keeps a file (the
// data file, a log segment, the snapshot's temporary file, the original's
// copy), whatever else is there, is refused, naming it, instead of Open waiting for ever for the
// other end (a file-store review hung start-up, SIGTERM ignored, with each).
func TestNamedPipesRefused(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T, path string) string{
		"data file": func(t *testing.T, path string) string { return path },
		"log segment": func(t *testing.T, path string) string {
			closeT(t, openT(t, path, Options{}))
			seg := segmentPath(path, 1)
			if err := os.Remove(seg); err != nil {
				t.Fatal(err)
			}
			return seg
		},
		// Open looks at segment 1 before reading the data file when that
		// is missing, or is the original's (is the segment a crashed
		// start's, without records?).
		"log segment without the data file": func(t *testing.T, path string) string { return segmentPath(path, 1) },
		"log segment beside the original's file": func(t *testing.T, path string) string {
			writeFile(t, path, []byte(`{"a":{"key":"k","locked_by":{"k":1}}}`))
			return segmentPath(path, 1)
		},
		"snapshot's temporary file": func(t *testing.T, path string) string { return path + ".tmp" },
		"original's copy": func(t *testing.T, path string) string {
			writeFile(t, path, []byte(`{"a":{"key":"k","locked_by":{"k":1}}}`))
			return path + ".orig"
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			fifo := setup(t, path)
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("no named pipes here: %v", err)
			}
			opened := make(chan error, 1)
			go func() {
				s, err := Open(path, Options{})
				if err == nil {
					s.Close()
				}
				opened <- err
			}()
			select {
			case err := <-opened:
				if err == nil || !strings.Contains(err.Error(), filepath.Base(fifo)) {
					t.Fatalf("Open with a named pipe at %s: %v", fifo, err)
				}
			case <-time.After(10 * time.Second):
				// Let the hung Open go: open the pipe's other end.
				if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
					f.Close()
				}
				t.Fatalf("Open still waits on a named pipe at %s", fifo)
			}
		})
	}
}
