package filestore

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// The store's user in these tests: nobody.
const ownerUID, ownerGID = 65534, 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it checks what root does to another user's store")
	}
}

// chownTree gives dir and everything in it to uid and gid.
func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ownerOfFile(t *testing.T, p string) (uid, gid int, mode fs.FileMode) {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), info.Mode()
}

// ownedBy checks that every file in dir belongs to uid and gid and, a
// regular file, has mode 0600; it returns how many files it looked at.
func ownedBy(t *testing.T, dir string, uid, gid int) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		u, g, mode := ownerOfFile(t, p)
		if u != uid || g != gid {
			t.Errorf("%s belongs to %d:%d; want %d:%d", e.Name(), u, g, uid, gid)
		}
		if mode.IsRegular() && mode.Perm() != 0o600 {
			t.Errorf("%s has mode %v; want 0600", e.Name(), mode)
		}
	}
	return len(ents)
}

// TestRootSalvageKeepsOwner: sudo locker salvage on a store of the
// service's user. Every file it makes (the skipped bytes, the segments kept
// aside, the new segment and snapshot) belongs to that user, so that the
// server, run as that user, starts on them; root-owned, it was refused
// ("permission denied").
func TestRootSalvageKeepsOwner(t *testing.T) {
	needRoot(t)
	path, _, _ := committedStore(t)
	dir := filepath.Dir(path)
	seg := segmentPath(path, 1)
	offs, _ := logFrames(t, seg)
	flipByte(t, seg, offs[3]+frameHeader+40)
	chownTree(t, dir, ownerUID, ownerGID)
	rep, err := Salvage(path, Options{})
	if err != nil || !rep.Damaged {
		t.Fatalf("Salvage: %+v, %v", rep, err)
	}
	if n := ownedBy(t, dir, ownerUID, ownerGID); n < 5 {
		t.Errorf("only %d files after salvage", n)
	}
}

// TestRootOpenKeepsOwner: a store of another user's opened by root (locker
// migrate --from or --to, or the server started by mistake with sudo): the
// files it makes, a new store's, a converted original file's copy, the
// bytes of a torn tail, compactions' snapshots and segments, belong to the
// data file's owner (its directory's, for a new store).
func TestRootOpenKeepsOwner(t *testing.T) {
	needRoot(t)
	t.Run("new store in the user's directory", func(t *testing.T) {
		dir := t.TempDir()
		chownTree(t, dir, ownerUID, ownerGID)
		path := filepath.Join(dir, "locks.yml")
		s := openT(t, path, Options{CompactBytes: 512})
		for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			acquire(t, s, name, "k", "h", 0)
		}
		waitCompactionIdle(t, s)
		closeT(t, s)
		if gens := segmentGens(t, path); gens[len(gens)-1] < 2 {
			t.Fatalf("no compaction: segments %v", gens)
		}
		ownedBy(t, dir, ownerUID, ownerGID)
	})
	t.Run("existing store with a torn tail", func(t *testing.T) {
		path, _, _ := committedStore(t)
		dir := filepath.Dir(path)
		appendToFile(t, segmentPath(path, 1), []byte(`{"lock":{"name":"torn","fence":99}`))
		// The data file's owner counts, not the directory's.
		if err := os.Chown(dir, 4321, 4321); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if err := os.Chown(filepath.Join(dir, e.Name()), ownerUID, ownerGID); err != nil {
				t.Fatal(err)
			}
		}
		before := len(ents)
		closeT(t, openT(t, path, Options{}))
		if n := len(must(os.ReadDir(dir))); n <= before {
			t.Fatalf("no file made (the torn tail's bytes kept, a new segment): %d files, %d before", n, before)
		}
		ownedBy(t, dir, ownerUID, ownerGID)
	})
	t.Run("original file converted", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "locks.yml")
		if err := os.WriteFile(path, []byte(`{"a":{"key":"k","locked_by":{"h":1}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		chownTree(t, dir, ownerUID, ownerGID)
		closeT(t, openT(t, path, Options{}))
		if _, err := os.Stat(path + ".orig"); err != nil {
			t.Fatal(err)
		}
		ownedBy(t, dir, ownerUID, ownerGID)
	})
	t.Run("root's own store", func(t *testing.T) {
		dir := t.TempDir()
		s := openT(t, filepath.Join(dir, "locks.yml"), Options{})
		acquire(t, s, "a", "k", "h", 0)
		closeT(t, s)
		ownedBy(t, dir, 0, 0)
	})
	t.Run("a file of root's linked in is left alone", func(t *testing.T) {
		// The user may write in the directory: a hard link there to a
		// file of root's must not be given to the user.
		dir := t.TempDir()
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("root's"), 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "locks.yml")
		if err := os.Link(secret, path+".lock"); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, ownerUID, ownerGID); err != nil {
			t.Fatal(err)
		}
		closeT(t, openT(t, path, Options{}))
		if u, g, _ := ownerOfFile(t, secret); u != 0 || g != 0 {
			t.Errorf("a file of root's linked in as the lock file was given to %d:%d", u, g)
		}
	})
}

// TestRootWriteOriginalKeepsOwner: locker migrate --to FILE --original, run
// by root into the user's directory, gives the file to that user.
func TestRootWriteOriginalKeepsOwner(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	chownTree(t, dir, ownerUID, ownerGID)
	l := lock.Lock{Name: "a", Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: time.Now()}})}
	if _, err := WriteOriginal(filepath.Join(dir, "original.yml"), []*lock.Lock{&l}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := ownedBy(t, dir, ownerUID, ownerGID); n != 1 {
		t.Errorf("%d files; want the one written", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
