package httpapi_test

import (
	"os"
	"testing"

	"github.com/cloudfoundry-community/locker/internal/testwaits"
)

// The tests marked t.Parallel here mostly wait: several at once.
func TestMain(m *testing.M) {
	testwaits.Parallel(4)
	os.Exit(m.Run())
}
