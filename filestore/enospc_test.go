package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// mountTmpfs mounts a small tmpfs for the test and unmounts it at the end.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to run out of space needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the disk-full path is not tested", err)
	}
	// Registered after the store's cleanup would be, so it runs first:
	// cleanups run last-in first-out, and stores are opened after this.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file until the file system is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{64 << 10, 4096, 256, 1} {
		chunk := make([]byte, size)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
	return p
}

func TestDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name         string
		compactBytes int64
	}{
		{"no compaction", 0},
		{"compaction due while full", 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mountTmpfs(t, "512k")
			path := filepath.Join(dir, "locks.yml")
			clk := &clock{}
			logger, logs := testLogger(t)
			var writeErrors atomic.Int64 // told to OnCommit (the server's write-error metric)
			opts := Options{CompactBytes: tc.compactBytes, Now: clk.Now, Logger: logger, OnCommit: func(_ int, _ time.Duration, err error) {
				if err != nil {
					writeErrors.Add(1)
				}
			}}
			s := openT(t, path, opts)
			ctx := context.Background()

			counts := map[string]int{} // acknowledged acquisitions per lock
			for i := range 5 {
				name := fmt.Sprintf("pre-%d", i)
				acquire(t, s, name, "k", "h", 0)
				counts[name]++
			}
			filler := fillDisk(t, dir)

			// Changes go on while the log's last page has room; then one
			// fails.
			var failed string
			for i := 0; i < 10000 && failed == ""; i++ {
				name := fmt.Sprintf("l-%d", i%7)
				before, beforeOK := getT(t, s, name)
				beforeHist, _ := s.History(ctx, name)
				_, _, err := tryAcquire(s, name, "k", "h", 0)
				if err == nil {
					counts[name]++
					continue
				}
				failed = name
				var le *lock.Error
				if !errors.As(err, &le) || le.Code != lock.ENOSPACE {
					t.Fatalf("failed write: %v (%T), want a *lock.Error with code %s", err, err, lock.ENOSPACE)
				}
				after, afterOK := getT(t, s, name)
				if afterOK != beforeOK || !reflect.DeepEqual(after, before) {
					t.Fatalf("a failed change changed memory: %+v -> %+v", before, after)
				}
				if h, _ := s.History(ctx, name); len(h) != len(beforeHist) {
					t.Fatalf("a failed change added history: %d -> %d events", len(beforeHist), len(h))
				}
			}
			if failed == "" {
				t.Fatal("never ran out of space")
			}
			if writeErrors.Load() == 0 {
				t.Error("the failed write was not told to OnCommit")
			}
			if err := s.Ready(ctx); lock.ErrorCode(err) != lock.ENOSPACE {
				t.Fatalf("Ready after a failed write: %v", err)
			}
			// A lock's first change failing leaves no trace of the lock.
			if _, _, err := tryAcquire(s, "a-new-lock-while-the-disk-is-full", "k", "h", 0); lock.ErrorCode(err) != lock.ENOSPACE {
				t.Fatalf("first change of a new lock on a full disk: %v", err)
			}
			if _, ok := getT(t, s, "a-new-lock-while-the-disk-is-full"); ok {
				t.Fatal("a lock whose first change failed exists")
			}
			if locks, _ := s.List(ctx); len(locks) != len(counts) {
				t.Fatalf("List shows %d locks, %d were acknowledged", len(locks), len(counts))
			}
			if err := s.Ready(ctx); lock.ErrorCode(err) != lock.ENOSPACE {
				t.Fatalf("Ready while still full: %v", err)
			}
			// Every change is refused while the disk is full: the log says
			// so once, not once a change.
			for range 20 {
				tryAcquire(s, "more-while-full", "k", "h", 0)
			}
			if n := strings.Count(logs.String(), "writing the log failed"); n != 1 {
				t.Errorf("%d messages for the failing writes, want 1 a minute", n)
			}

			// The disk recovers.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			acquire(t, s, failed, "k", "h", 0)
			counts[failed]++
			if err := s.Ready(ctx); err != nil {
				t.Fatalf("Ready after a good write: %v", err)
			}
			for i := range 40 {
				name := fmt.Sprintf("post-%d", i%5)
				acquire(t, s, name, "k", "h", 0)
				counts[name]++
			}
			want := dump(t, s)
			closeT(t, s)

			s = openT(t, path, opts)
			sameDump(t, "after reopen", want, dump(t, s))
			for name, n := range counts {
				l, _ := getT(t, s, name)
				if got := l.Holds.Get("h").Count; got != n {
					t.Errorf("%s: count %d after reopen, %d acknowledged", name, got, n)
				}
			}
			if locks, _ := s.List(ctx); len(locks) != len(counts) {
				t.Errorf("List shows %d locks after reopen, %d were acknowledged", len(locks), len(counts))
			}
			if !strings.Contains(logs.String(), "writing the log works again") {
				t.Errorf("no message when writes worked again:\n%s", logs.String())
			}
			t.Logf("log:\n%s", logs.String())
		})
	}
}

// mountExt4 mounts a small ext4 file system on a loop device for the test.
func mountExt4(t *testing.T, mb int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting an ext4 loop device needs root")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(mb)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v %s", err, out)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount an ext4 loop device here (%v %s); the partial fallocate is not tested", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullPartialPreallocation: on a full ext4 a failed fallocate can
// extend the log part of the way. A store stopped cleanly after that must
// start again as it was, without taking those zeros for a torn write (and
// without writing a copy of them to a disk that is full).
func TestDiskFullPartialPreallocation(t *testing.T) {
	dir := mountExt4(t, 16)
	path := filepath.Join(dir, "locks.yml")
	logger, logs := testLogger(t)
	s := openT(t, path, Options{Logger: logger})
	big := strings.Repeat("h", 400)
	// Most of the first preallocated chunk.
	i := 0
	for ; s.logSize < preallocChunk-40<<10; i++ {
		acquire(t, s, fmt.Sprintf("l-%d", i), "k", big, 0)
	}
	filler := fillDisk(t, dir)
	f, err := os.OpenFile(filler, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if err := f.Truncate(st.Size() - 120<<10); err != nil { // room for the records, not for another chunk
		t.Fatal(err)
	}
	f.Close()
	for ; s.logSize < preallocChunk+20<<10; i++ {
		acquire(t, s, fmt.Sprintf("l-%d", i), "k", big, 0)
	}
	if info, err := s.log.Stat(); err != nil || info.Size() != s.logSize {
		t.Errorf("the log is %d bytes with %d written (%v): the failed preallocation left zeros", info.Size(), s.logSize, err)
	}
	closeT(t, s)

	s = openT(t, path, Options{Logger: logger})
	for j := range i {
		if l, ok := getT(t, s, fmt.Sprintf("l-%d", j)); !ok || l.Holds[0].Holder != big {
			t.Fatalf("l-%d after the restart: %+v, %v", j, l, ok)
		}
	}
	if strings.Contains(logs.String(), "dropping") {
		t.Errorf("the restart took the log's end for a torn write:\n%s", logs.String())
	}
}

// TestFileMountedOnItsOwn: LOCKER_CONFIG bind-mounted as a single file (a
// docker -v of a file, a Kubernetes subPath) cannot be replaced by rename.
// The refusal must say so and what to do.
func TestFileMountedOnItsOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a bind mount needs root")
	}
	host := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, host, []byte(`{}`))
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	writeFile(t, path, nil)
	if err := syscall.Mount(host, path, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(path, 0) })
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("opened a store whose file cannot be replaced")
	}
	if !strings.Contains(err.Error(), "mounted on its own") || !strings.Contains(err.Error(), "mount the directory") {
		t.Fatalf("refusal %q does not say what is wrong and what to do", err)
	}
}

// TestStoreErrorSummary: what the open /readyz says of a failed write names
// the system's error, never the file (a review read the server's paths and
// database address there).
func TestStoreErrorSummary(t *testing.T) {
	for _, tc := range []struct {
		err              error
		message, summary string
	}{
		{&os.PathError{Op: "write", Path: "/srv/secret/locks.yml.log.1", Err: syscall.EROFS},
			"the lock store could not write (write /srv/secret/locks.yml.log.1: read-only file system); the change was not made",
			"the lock store could not write (read-only file system); the change was not made"},
		{fmt.Errorf("cutting back /srv/secret/locks.yml.log.1: %w", syscall.EIO),
			"the lock store could not write (cutting back /srv/secret/locks.yml.log.1: input/output error); the change was not made",
			"the lock store could not write (input/output error); the change was not made"},
		{errors.New("a failure at /srv/secret"),
			"the lock store could not write (a failure at /srv/secret); the change was not made",
			"the lock store could not write; the change was not made"},
		// Nothing to leave out: the message is the summary.
		{errLogDeleted, "the lock store could not write (" + errLogDeleted.Error() + "); the change was not made", ""},
		{&os.PathError{Op: "write", Path: "/srv/secret/locks.yml.log.1", Err: syscall.ENOSPC},
			"the lock store is out of disk space; the change was not made", ""},
		{errSnapshotLost, "the lock store could not write (" + errSnapshotLost.Error() + "); the change was not made", ""},
		{errSnapshotReplaced, "the lock store could not write (" + errSnapshotReplaced.Error() + "); the change was not made", ""},
	} {
		var e *lock.Error
		if !errors.As(storeError(tc.err), &e) || e.Message != tc.message || e.Summary != tc.summary {
			t.Errorf("storeError(%v) = %+v, want message %q, summary %q", tc.err, e, tc.message, tc.summary)
		}
	}
	// A write that may be on disk: the summary still says so, and what
	// to do.
	for _, tc := range []struct {
		err, terr error
		summary   string
	}{
		{&os.PathError{Op: "sync", Path: "/srv/secret/locks.yml.log.1", Err: syscall.EIO}, &os.PathError{Op: "truncate", Path: "/srv/secret/locks.yml.log.1", Err: syscall.EROFS},
			"the lock store could not write (input/output error) nor take the write back (read-only file system): the change may or may not have been made (a restart may find it made); check the lock"},
		{errors.New("a failure at /srv/secret"), errors.New("another at /srv/secret"),
			"the lock store could not write nor take the write back: the change may or may not have been made (a restart may find it made); check the lock"},
	} {
		var e *lock.Error
		if !errors.As(mayBeOnDisk(tc.err, tc.terr), &e) || e.Summary != tc.summary || !strings.Contains(e.Message, "/srv/secret") {
			t.Errorf("mayBeOnDisk(%v, %v) = %+v, want summary %q and the paths in the message", tc.err, tc.terr, e, tc.summary)
		}
	}
}

// TestTornTailOnAFullDiskSaysWhatToDo: a crash on a disk that filled up
// can leave a torn record at the log's end, and a start keeps its bytes
// beside the log before it cuts them off; on a disk still full that copy
// cannot be written, and the start refuses. The refusal named only the
// copy's file and ENOSPC; it must say that the server did not start for
// want of space, what to free, and that nothing was changed, and the
// store must start once there is room.
func TestTornTailOnAFullDiskSaysWhatToDo(t *testing.T) {
	dir := mountTmpfs(t, "512k")
	path := filepath.Join(dir, "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	acquire(t, s, "b", "k", "h", 0)
	want := dump(t, s)
	end := s.logSize
	closeT(t, s)
	seg := segmentPath(path, segmentGens(t, path)[0])
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := appendRecordFrame(nil, &logRecord{Lock: diskLock{Name: "torn", Key: "k", Fence: 3}, Fence: 3})
	if _, err := f.WriteAt(torn[:len(torn)-1], end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	filler := fillDisk(t, dir)

	err = openRefused(t, path, seg, "no space left on device", "free space", "start again")
	if !strings.Contains(err.Error(), "changed nothing") {
		t.Errorf("the refusal does not say that nothing was changed: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path, Options{})
	sameLocks(t, want, dump(t, s))
	if got := s.counter(); got < 3 {
		t.Errorf("fence counter %d: the token legible in the torn record (3) may be handed out again", got)
	}
}
