package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// TestMaybeMadeIsMarked: a store's failure that may or may not have made
// the change is answered with "maybe_made": true beside its words, so that
// a client need not match the text to know it must read the lock back
// before asking again (the Go client matched the words). Any other error
// has no such field.
func TestMaybeMadeIsMarked(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *lock.Error
		want bool
	}{
		{"maybe made", &lock.Error{Code: lock.EUNAVAILABLE, Message: "cut off in flight", MaybeMade: true}, true},
		{"unsure", &lock.Error{Code: lock.EUNAVAILABLE, Message: "cut off in flight", Unsure: true}, true},
		{"not made", &lock.Error{Code: lock.EUNAVAILABLE, Message: "the change was not made"}, false},
		{"no space", &lock.Error{Code: lock.ENOSPACE, Message: "out of disk space"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failing := new(atomic.Bool)
			svc := lockservice.New(failingStore{memstore.New(memstore.Options{}), failing, tc.err}, lockservice.Config{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			api := httpapi.New(svc, httpapi.Config{})
			failing.Store(true)
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, httptest.NewRequest("PUT", "/lock/x", strings.NewReader(`{"key":"k"}`)))
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code < 500 {
				t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
			}
			got, present := body["maybe_made"]
			if tc.want && got != true || !tc.want && present {
				t.Errorf("PUT: %d %s: maybe_made %v (present %v), want %v", rec.Code, rec.Body, got, present, tc.want)
			}
		})
	}
}
