package filestore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestNoWriteThroughPlantedLinks: whoever may write to the data file's
// directory (/tmp, where the README's first run keeps it) can put a
// symbolic link where the store is about to make a file of its own. The
// store must never create, truncate or write a file through such a link: a
// server run as root wrote its snapshot over the file the link named (any
// file on the machine) and then renamed the link to the data file's name.
func TestNoWriteThroughPlantedLinks(t *testing.T) {
	for name, tc := range map[string]struct {
		link func(path string) string
		// dangling: the link names a file that is not there, which the
		// store must not make (an empty file at a chosen path, such as
		// /etc/nologin, is harm enough).
		dangling bool
		// run plants the link (at the instant the case needs) and has
		// the store make the file.
		run func(t *testing.T, path string, plant func())
	}{
		"lock file": {
			link: func(path string) string { return path + ".lock" }, dangling: true,
			run: func(t *testing.T, path string, plant func()) { plant(); tryOpen(path, Options{}) },
		},
		"snapshot's temporary file, new store": {
			link: func(path string) string { return path + ".tmp" },
			run:  func(t *testing.T, path string, plant func()) { plant(); tryOpen(path, Options{}) },
		},
		"snapshot's temporary file, compaction": {
			link: func(path string) string { return path + ".tmp" },
			run: func(t *testing.T, path string, plant func()) {
				s := openT(t, path, Options{CompactBytes: 1024})
				plant()
				churn(t, s, "x", 40)
				waitCompactionIdle(t, s)
				s.Close()
			},
		},
		"next log segment": {
			link: func(path string) string { return segmentPath(path, 2) },
			run: func(t *testing.T, path string, plant func()) {
				s := openT(t, path, Options{CompactBytes: 1024})
				plant()
				churn(t, s, "x", 40)
				waitCompactionIdle(t, s)
				s.Close()
			},
		},
		"readiness probe": {
			link: func(path string) string { return path + ".probe" },
			run: func(t *testing.T, path string, plant func()) {
				s := openT(t, path, Options{})
				plant()
				s.probeWrite()
				s.Close()
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			victim := filepath.Join(t.TempDir(), "victim")
			const precious = "someone else's file\n"
			if !tc.dangling {
				writeFile(t, victim, []byte(precious))
			}
			tc.run(t, path, func() {
				if err := os.Symlink(victim, tc.link(path)); err != nil {
					t.Fatal(err)
				}
			})
			b, err := os.ReadFile(victim)
			switch {
			case tc.dangling && !errors.Is(err, os.ErrNotExist):
				t.Fatalf("the store made %s through the link at %s (%v)", victim, tc.link(path), err)
			case !tc.dangling && err != nil:
				t.Fatal(err)
			case !tc.dangling && string(b) != precious:
				t.Fatalf("the store wrote through the link at %s over %s: it now holds %.60q...", tc.link(path), victim, b)
			}
		})
	}
}

// tryOpen opens and closes the store at path, whether or not it is refused.
func tryOpen(path string, opts Options) {
	if s, err := Open(path, opts); err == nil {
		s.Close()
	}
}
