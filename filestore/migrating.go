package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A copy by locker migrate into a store marks it unfinished, in
// <file>.migrating beside the data file, until every lock is written: a
// copy stopped half way (killed, a full disk) leaves a store with only part
// of the locks, and a server started on it would grant locks the source's
// holders still hold. Open refuses such a store unless Options.Migrating.

// migratingSuffix names the marker beside the data file.
const migratingSuffix = ".migrating"

// MarkMigrating marks the store whose data file is at path as the target of
// a copy that has not finished; note says which (its source and start).
// The store is to be open (its file lock held) while it is called.
func (s *Store) MarkMigrating(note string) error {
	return writeFileSync(s.path+migratingSuffix, []byte(strings.TrimSpace(note)+"\n"), s.owner)
}

// UnmarkMigrating removes the mark MarkMigrating made, once the copy is
// complete and the store closed (its changes durable).
func UnmarkMigrating(path string) error {
	path, err := realPath(path)
	if err != nil {
		return err
	}
	if err := os.Remove(path + migratingSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// Migrating says whether the store whose data file is at path is marked as
// the target of an unfinished copy, and the mark's note.
func Migrating(path string) (note string, ok bool) {
	path, err := realPath(path)
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile(path + migratingSuffix)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// unfinishedCopy is Open's refusal of a store marked by MarkMigrating.
func unfinishedCopy(path, note string) error {
	return fmt.Errorf("%s holds only part of the locks of an unfinished locker migrate into it (%s; marked by %s): a server started on it would grant locks that their holders in the source still hold. Run that locker migrate again with --force to finish the copy, or, to use the store as it is, remove %s", path, note, path+migratingSuffix, path+migratingSuffix)
}
