package cli_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestMigratePostgresMetadataWrittenOutToFile: PostgreSQL's jsonb writes
// numbers out in full (1e300 as 301 digits), so 1.8 KB of metadata comes
// back as 90 KB, past the 64 KiB the API takes. The file store it is
// copied to must start on it: input limits are not applied to stored data.
func TestMigratePostgresMetadataWrittenOutToFile(t *testing.T) {
	dbURL := pgtest.Schema(t)
	meta := json.RawMessage("[" + strings.Repeat("1e300,", 299) + "1e300]")
	withService(t, dbURL, func(s *lockservice.Service) {
		_, err := s.AddMember(bgCtx, "envs", "env-1", meta)
		must(t, err)
	})
	file := filepath.Join(t.TempDir(), "locks.yml")
	if out, err := migrate(t, "--from", dbURL, "--to", file); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	got := read(t, file).locks["env-1"].Metadata
	var want, have []float64
	must(t, json.Unmarshal(meta, &want))
	must(t, json.Unmarshal(got, &have))
	if len(got) < 64<<10 || !reflect.DeepEqual(want, have) {
		t.Fatalf("metadata of %d bytes after the migration: %.80s", len(got), got)
	}
}
