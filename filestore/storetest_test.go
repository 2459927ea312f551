package filestore_test

import (
	"path/filepath"
	"testing"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/storetest"
)

// TestBehaviour runs the behavioural suite every store must pass.
func TestBehaviour(t *testing.T) {
	t.Parallel() // sets no package variable (frameLimit, readWindow, hooks): beside the others, after the serial tests that do (CI time)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "locks.yml")
		return func(t *testing.T) lock.Store {
			s, err := filestore.Open(path, filestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
