package cli_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestServerRefusesAnUnfinishedCopy: a copy stopped half way (kill -9, a
// lost database) leaves a target with part of the locks. Before, a server
// started on it without a word and granted the locks not copied yet, which
// their holders in the source still held. The target is now marked until
// the last lock is written: a server's open refuses it, saying how to
// finish the copy; the copy run again without --force says it was left
// unfinished; once it finishes, servers start on it.
func TestServerRefusesAnUnfinishedCopy(t *testing.T) {
	for _, target := range []string{"file", "postgres"} {
		t.Run(target, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "locks.yml")
			populate(t, src)
			want := read(t, src)
			dst := filepath.Join(t.TempDir(), "locks.yml")
			if target == "postgres" {
				dst = pgtest.Schema(t)
			}
			// As a server opens its store.
			serverOpen := func() error {
				if target == "postgres" {
					s, err := pgstore.Open(bgCtx, dst, pgstore.Options{})
					if err == nil {
						s.Close()
					}
					return err
				}
				s, err := filestore.Open(dst, filestore.Options{})
				if err == nil {
					s.Close()
				}
				return err
			}
			restore := cli.StopMigrateAfter(3, errors.New("stopped by the test"))
			out, err := migrate(t, "--from", src, "--to", dst)
			restore()
			if err == nil || !strings.Contains(err.Error(), "run the same locker migrate again with --force") {
				t.Fatalf("the stopped copy: %v\n%s", err, out)
			}
			err = serverOpen()
			if err == nil || !strings.Contains(err.Error(), "unfinished locker migrate") || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "from "+src) {
				t.Fatalf("a server's open of the half-copied target: %v, want a refusal naming the copy and --force", err)
			}
			out, err = migrate(t, "--from", src, "--to", dst)
			if err == nil || !strings.Contains(err.Error(), "did not finish") {
				t.Fatalf("again without --force: %v\n%s", err, out)
			}
			if out, err = migrate(t, "--from", src, "--to", dst, "--force"); err != nil {
				t.Fatalf("again with --force: %v\n%s", err, out)
			}
			if err := serverOpen(); err != nil {
				t.Fatalf("a server's open of the finished target: %v", err)
			}
			sameLocks(t, want, read(t, dst))
		})
	}
}
