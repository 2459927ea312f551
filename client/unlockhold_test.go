package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// takenAgainInAPeriod makes the case a fence cannot tell apart: job and
// sibling share the key ci; job's hold is released and job takes the lock
// again while sibling keeps it held, so under the same fence. It returns
// the Lock answers of job's first and second holds.
func takenAgainInAPeriod(t *testing.T, c *client.Client) (first, again *client.Lock) {
	t.Helper()
	ctx := context.Background()
	first, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "sibling"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UnlockFence(ctx, "r", "ci", "job", first.Fence); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // a clock that reads the same twice would make one hold of two
	if again, err = c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if again.Fence != first.Fence || again.Ref("job") == first.Ref("job") {
		t.Fatalf("job's hold taken again: %+v, first %+v; want the same fence, another start", again.Ref("job"), first.Ref("job"))
	}
	return first, again
}

// TestUnlockAndRefreshHold: UnlockHold and RefreshHold with the Ref of the
// hold meant leave alone a hold the same key and holder took again within
// the holding period (ErrLocked, ErrNotFound), which UnlockFence and
// RefreshFence, by the fence alone, cannot tell apart; with the Ref of the
// hold there now they release and renew it.
func TestUnlockAndRefreshHold(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	first, again := takenAgainInAPeriod(t, c)

	_, err := c.UnlockHold(ctx, "r", "ci", "job", first.Ref("job"))
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.LockedBy["job"] != 1 || !strings.Contains(ae.Message, "took the lock again at") {
		t.Fatalf("UnlockHold of the first hold: %+v", ae)
	}
	_, err = c.RefreshHold(ctx, "r", "ci", "job", time.Second, first.Ref("job"))
	wantOnly(t, err, "ErrNotFound")
	if errors.Is(err, client.ErrAcquiredNotChecked) {
		t.Errorf("a refusal matches ErrAcquiredNotChecked: %v", err)
	}
	now, err := c.Get(ctx, "r")
	if err != nil || now.LockedBy["job"] != 1 || !now.Holds["job"].Expires.Equal(again.Holds["job"].Expires) {
		t.Fatalf("after the refused release and renewal: %+v, %v; want job's hold taken again as it was", now, err)
	}

	l, err := c.RefreshHold(ctx, "r", "ci", "job", 2*time.Hour, again.Ref("job"))
	if err != nil || !l.Holds["job"].Expires.After(again.Holds["job"].Expires) {
		t.Fatalf("RefreshHold of the hold there = %+v, %v; want it renewed", l, err)
	}
	l, err = c.UnlockHold(ctx, "r", "ci", "job", again.Ref("job"))
	if err != nil || l.LockedBy["job"] != 0 || l.LockedBy["sibling"] != 1 {
		t.Fatalf("UnlockHold of the hold there = %+v, %v; want it released, sibling's kept", l, err)
	}
	// The holder holds nothing now: nothing to give back.
	if l, err := c.UnlockHold(ctx, "r", "ci", "job", again.Ref("job")); err != nil || l.LockedBy["sibling"] != 1 {
		t.Fatalf("UnlockHold of a hold gone = %+v, %v", l, err)
	}
}

// TestUnlockAndRefreshHoldServerWithoutTheCheck: a Locker from before the
// condition (simulated: acquired is taken out of the request) releases or
// renews whatever hold the key and holder have under the fence. Its 200
// to a release cannot be taken as the check made: UnlockHold returns the
// lock and an error matching ErrAcquiredNotChecked. A renewal's answer
// shows which hold it renewed: another's is ErrAcquiredNotChecked, the one
// meant no error.
func TestUnlockAndRefreshHoldServerWithoutTheCheck(t *testing.T) {
	srv := newServer(t, serverConfig{wrap: without("acquired")})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	first, again := takenAgainInAPeriod(t, c)

	l, err := c.RefreshHold(ctx, "r", "ci", "job", 2*time.Hour, again.Ref("job"))
	if err != nil || l == nil {
		t.Fatalf("RefreshHold of the hold there, unchecked = %+v, %v; want no error: the answer shows it renewed that hold", l, err)
	}
	l, err = c.RefreshHold(ctx, "r", "ci", "job", time.Second, first.Ref("job"))
	if !errors.Is(err, client.ErrAcquiredNotChecked) || l == nil || l.LockedBy["job"] != 1 {
		t.Fatalf("RefreshHold of the first hold, unchecked = %+v, %v; want the lock and ErrAcquiredNotChecked", l, err)
	}
	l, err = c.UnlockHold(ctx, "r", "ci", "job", first.Ref("job"))
	if !errors.Is(err, client.ErrAcquiredNotChecked) || l == nil || l.LockedBy["job"] != 0 {
		t.Fatalf("UnlockHold of the first hold, unchecked = %+v, %v; want the lock and ErrAcquiredNotChecked", l, err)
	}
	doneUnchecked(t, err, "whenever it began")
}

// without takes field out of the requests' bodies and query strings, as a
// server from before that field would ignore it.
func without(field string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			b, _ := io.ReadAll(r.Body)
			if json.Unmarshal(b, &body) == nil {
				delete(body, field)
				b, _ = json.Marshal(body)
			}
			q := r.URL.Query()
			q.Del(field)
			r.URL.RawQuery = q.Encode()
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			next.ServeHTTP(w, r)
		})
	}
}

// doneUnchecked checks that err, of a change a server made without a check
// it does not know, matches none of the sentinels of refusals and says
// what was done (did).
func doneUnchecked(t *testing.T, err error, did string) {
	t.Helper()
	for name, s := range sentinels {
		if errors.Is(err, s) {
			t.Errorf("errors.Is(%v, %s)", err, name)
		}
	}
	if !strings.Contains(err.Error(), did) {
		t.Errorf("error %q does not say what was done (%s)", err, did)
	}
}
