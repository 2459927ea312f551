package pgstore_test

import (
	"context"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
	"github.com/cloudfoundry-community/locker/storetest"
)

// TestBehaviour runs the behavioural suite every store must pass.
func TestBehaviour(t *testing.T) {
	t.Parallel()
	pgtest.Schema(t) // skip early, once, when there is no database
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dbURL := pgtest.Schema(t)
		return func(t *testing.T) lock.Store {
			s, err := pgstore.Open(context.Background(), dbURL, pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// BenchmarkPoolAcquire: storetest.BenchPoolAcquire on PostgreSQL, beside
// none and 20,000 other locks.
func BenchmarkPoolAcquire(b *testing.B) {
	storetest.BenchPoolAcquire(b, func(b *testing.B) *lockservice.Service {
		s, err := pgstore.Open(context.Background(), pgtest.Schema(b), pgstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return storetest.Serve(b, s, lockservice.Config{})
	}, 0, 20_000)
}
