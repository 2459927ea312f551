package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/filestore"
)

// TestHistoryLimitBoundedForTheFileStore: LOCKER_HISTORY above what one
// snapshot frame holds is refused at start with the file store (a lock's
// entry of 80 MB was written, then refused by the next start), and kept
// as it is with PostgreSQL, which stores each event as a row.
func TestHistoryLimitBoundedForTheFileStore(t *testing.T) {
	max := strconv.Itoa(filestore.MaxHistoryLimit)
	over := strconv.Itoa(filestore.MaxHistoryLimit + 1)
	c, err := loadServerConfig(envOf(map[string]string{"LOCKER_CONFIG": "/tmp/x.yml", "LOCKER_HISTORY": max}))
	if err != nil || c.historyLimit != filestore.MaxHistoryLimit {
		t.Fatalf("LOCKER_HISTORY=%s: %v, %d", max, err, c.historyLimit)
	}
	_, err = loadServerConfig(envOf(map[string]string{"LOCKER_CONFIG": "/tmp/x.yml", "LOCKER_HISTORY": over}))
	if err == nil || !strings.Contains(err.Error(), "LOCKER_HISTORY="+over+" is more than the file store keeps: at most "+max) {
		t.Fatalf("LOCKER_HISTORY=%s: %v", over, err)
	}
	c, err = loadServerConfig(envOf(map[string]string{"LOCKER_DATABASE_URL": "postgres://db/locker", "LOCKER_HISTORY": "100000"}))
	if err != nil || c.historyLimit != 100000 {
		t.Fatalf("LOCKER_HISTORY=100000 with PostgreSQL: %v, %d", err, c.historyLimit)
	}

	// locker migrate into a file refuses it too, before it opens anything.
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.yml"), filepath.Join(dir, "dst.yml")
	var out bytes.Buffer
	err = runMigrate(context.Background(), []string{"--from", src, "--to", dst}, envOf(map[string]string{"LOCKER_HISTORY": over}), &out, &out)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "at most "+max) {
		t.Fatalf("migrate into a file with LOCKER_HISTORY=%s: %v", over, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused migrate made %d files", len(entries))
	}
}
