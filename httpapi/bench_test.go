package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// benchAPI is the HTTP API over an in-memory store: what these benchmarks
// measure is the transport's own cost (routing, decoding, encoding,
// logging), not storage. For the whole server over the network, see
// docs/benchmarks.md (locker bench).
func benchAPI(b *testing.B, held int) http.Handler {
	b.Helper()
	store := memstore.New(memstore.Options{})
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range held {
		if _, err := svc.Acquire(ctx, fmt.Sprintf("deploy/lock-%06d", i), lock.Request{Key: "pipeline-" + fmt.Sprint(i%97), Holder: "worker-1"}, 0); err != nil {
			b.Fatal(err)
		}
	}
	return httpapi.New(svc, httpapi.Config{})
}

// discard is a ResponseWriter that keeps only the status and the size.
type discard struct {
	h      http.Header
	status int
	n      int64
}

func (d *discard) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discard) WriteHeader(s int) { d.status = s }
func (d *discard) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = 200
	}
	d.n += int64(len(p))
	return len(p), nil
}

// BenchmarkListLocks is GET /locks with many held locks: listing, sorting
// and JSON encoding of the whole map.
func BenchmarkListLocks(b *testing.B) {
	for _, n := range []int{1000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			api := benchAPI(b, n)
			req := httptest.NewRequest("GET", "/locks", nil)
			var size int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w := &discard{}
				api.ServeHTTP(w, req)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
				size = w.n
			}
			b.ReportMetric(float64(size)/float64(n), "bytes/lock")
		})
	}
}

// BenchmarkLockUnlock is PUT then DELETE on a lock of each goroutine's own,
// through the API's handler (no network). One op is one request.
func BenchmarkLockUnlock(b *testing.B) {
	api := benchAPI(b, 0)
	var ids atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids.Add(1)
		path := fmt.Sprintf("/lock/bench-%d", id)
		body := fmt.Sprintf(`{"key":"k%d","lock_by":"h%d"}`, id, id)
		put := true
		for pb.Next() {
			method := "DELETE"
			if put {
				method = "PUT"
			}
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			w := &discard{}
			api.ServeHTTP(w, req)
			if w.status != 200 {
				b.Errorf("%s %s: status %d", method, path, w.status)
				return
			}
			put = !put
		}
	})
}
