package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// owner is who the files the store makes are given to. Root working on
// another user's store (sudo locker salvage, locker migrate, a server
// started with sudo by mistake) would otherwise leave files of root's
// (mode 0600) beside that user's data file, and the server, run as that
// user again, could not open them: its next start failed with "permission
// denied". The zero value gives nothing away: a file belongs to whoever
// makes it.
type owner struct {
	uid, gid int
	set      bool
}

// ownerFor is the owner of the files of the store whose data file is at
// path (resolved): when this process runs as root, the data file's owner,
// or its directory's while there is no data file, unless that is root.
func ownerFor(path string) owner {
	if os.Geteuid() != 0 {
		return owner{}
	}
	info, err := os.Stat(path)
	if err != nil {
		if info, err = os.Stat(filepath.Dir(path)); err != nil {
			return owner{}
		}
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return owner{}
	}
	return owner{uid: int(st.Uid), gid: int(st.Gid), set: true}
}

// give gives f, which was just made at path, to o (nothing when o is not
// set). On failure the file is closed and removed: left with root as its
// owner, it would keep the server from starting.
func (o owner) give(f *os.File, path string) error {
	if !o.set {
		return nil
	}
	if err := f.Chown(o.uid, o.gid); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("giving %s to the data file's owner (uid %d, gid %d), as the server that runs as that user must open it: %w", path, o.uid, o.gid, err)
	}
	return nil
}
