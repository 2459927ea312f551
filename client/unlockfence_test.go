package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestUnlockFence: a release with the fence of the hold meant gives back
// one count; after the lock was lost and taken afresh by the same key and
// holder, the old fence is ErrLocked (the APIError's Lock is the lock as it
// is) and the newer hold stays. Fence 0 is Unlock.
func TestUnlockFence(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	old, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job"}); err != nil {
		t.Fatal(err) // re-entered: count 2
	}
	l, err := c.UnlockFence(ctx, "r", "ci", "job", old.Fence)
	if err != nil || l.LockedBy["job"] != 1 {
		t.Fatalf("UnlockFence with the hold's fence = %+v, %v; want one count given back", l, err)
	}
	if _, err := c.ForceUnlock(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	fresh, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UnlockFence(ctx, "r", "ci", "job", old.Fence)
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.Fence != fresh.Fence || ae.Lock.LockedBy["job"] != 1 ||
		!strings.Contains(ae.Message, "taken again since fence") {
		t.Fatalf("UnlockFence with the old fence: %+v", ae)
	}
	if errors.Is(err, client.ErrFenceNotChecked) {
		t.Errorf("a refusal matches ErrFenceNotChecked: %v", err)
	}
	if now, err := c.Get(ctx, "r"); err != nil || now.LockedBy["job"] != 1 || now.Fence != fresh.Fence {
		t.Fatalf("after a refused UnlockFence: %+v, %v", now, err)
	}
	if l, err := c.UnlockFence(ctx, "r", "ci", "job", fresh.Fence); err != nil || !l.Free() {
		t.Fatalf("UnlockFence with the new hold's fence = %+v, %v", l, err)
	}
	// Free: nothing to give back, whatever the fence.
	if l, err := c.UnlockFence(ctx, "r", "ci", "job", old.Fence); err != nil || !l.Free() {
		t.Fatalf("UnlockFence of a free lock = %+v, %v", l, err)
	}
	// 0: any hold, as Unlock.
	if _, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job"}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.UnlockFence(ctx, "r", "ci", "job", 0); err != nil || !l.Free() {
		t.Fatalf("UnlockFence with fence 0 = %+v, %v", l, err)
	}
}

// TestUnlockFenceServerWithoutTheCheck: a server that predates fenced
// releases ignores the fence (an unknown field) and releases whatever
// hold the key and holder have. Its 200 cannot be taken as the check
// made: UnlockFence returns the lock and an error matching
// ErrFenceNotChecked, for a Locker from before (simulated: the fence is
// taken out of the request) and for the original locker alike.
func TestUnlockFenceServerWithoutTheCheck(t *testing.T) {
	srv := newServer(t, serverConfig{wrap: without("fence")})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	old, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ForceUnlock(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "r", client.LockOptions{Key: "ci", Holder: "job"}); err != nil {
		t.Fatal(err)
	}
	l, err := c.UnlockFence(ctx, "r", "ci", "job", old.Fence)
	if !errors.Is(err, client.ErrFenceNotChecked) || l == nil || !l.Free() {
		t.Fatalf("UnlockFence on a server without the check = %+v, %v; want the lock and ErrFenceNotChecked", l, err)
	}
	doneUnchecked(t, err, "whatever its fence")

	legacy := httptest.NewServer(&legacyServer{locks: map[string]*legacyLock{}})
	defer legacy.Close()
	lc := newClient(t, client.Options{URL: legacy.URL})
	if _, err := lc.Lock(ctx, "prod", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	l, err = lc.UnlockFence(ctx, "prod", "a", "", 7)
	if !errors.Is(err, client.ErrFenceNotChecked) || l == nil || !l.Legacy {
		t.Fatalf("UnlockFence on the original locker = %+v, %v; want the lock and ErrFenceNotChecked", l, err)
	}
	if l, err := lc.UnlockFence(ctx, "prod", "a", "", 0); err != nil || !l.Legacy {
		t.Fatalf("UnlockFence with fence 0 on the original locker = %+v, %v", l, err)
	}
}

// TestGiveBackByFence: a wait with OwnKey that ended as the server
// granted it gives the grant back by its fence. OwnKey says no other call
// uses the key and holder, so the fence changes nothing then; should
// another call use them all the same, and take the lock afresh after the
// grant was forced away (here between the read back and the release),
// that hold is left alone, and nothing of this call's is left held: ctx's
// error alone. Given back by key and holder, the other's hold was released.
func TestGiveBackByFence(t *testing.T) {
	var (
		granted = make(chan struct{})
		answer  = make(chan struct{})
		retake  atomic.Pointer[func()]
		waiting atomic.Bool // the wait's PUT is still to come
	)
	waiting.Store(true)
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPut:
				if !waiting.CompareAndSwap(true, false) {
					h.ServeHTTP(w, r) // the other call's
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				close(granted)
				<-answer // slow to come back: the wait ends first
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			case http.MethodDelete:
				if r.URL.Query().Get("force") == "" {
					if f := retake.Swap(nil); f != nil {
						(*f)()
					}
				}
			}
			h.ServeHTTP(w, r)
		})
	}})
	defer close(answer)
	c := newClient(t, client.Options{URL: srv.URL})
	other := newClient(t, client.Options{URL: srv.URL})
	var fresh atomic.Pointer[client.Lock] // set by a handler: read by the test
	f := func() {
		if _, err := other.ForceUnlock(context.Background(), "prod"); err != nil {
			t.Error(err)
		}
		l, err := other.Lock(context.Background(), "prod", client.LockOptions{Key: "deploy"})
		if err != nil {
			t.Error(err)
		}
		fresh.Store(l)
	}
	retake.Store(&f)
	cancelAsGranted(t, c, granted, &fresh, "")
}

// TestGiveBackByFenceAnswerLost: a give-back (OwnKey) whose answer is
// lost reads the lock again to see whether the hold is gone. When the
// release was made and the lock taken afresh since with the same key and
// holder (another fence), the hold there is not this wait's: ctx's error
// alone, not an ErrMaybeHeld that names that hold as this call's to
// release.
func TestGiveBackByFenceAnswerLost(t *testing.T) {
	var (
		granted = make(chan struct{})
		answer  = make(chan struct{})
		waiting atomic.Bool
		lose    atomic.Pointer[func()]
	)
	waiting.Store(true)
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPut:
				if !waiting.CompareAndSwap(true, false) {
					h.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				close(granted)
				<-answer
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			case http.MethodDelete:
				if f := lose.Swap(nil); f != nil && r.URL.Query().Get("force") == "" {
					// Released, taken afresh by another call with
					// the same key and holder, and the answer lost.
					h.ServeHTTP(httptest.NewRecorder(), r)
					(*f)()
					panic(http.ErrAbortHandler)
				}
			}
			h.ServeHTTP(w, r)
		})
	}})
	defer close(answer)
	c := newClient(t, client.Options{URL: srv.URL})
	other := newClient(t, client.Options{URL: srv.URL})
	var fresh atomic.Pointer[client.Lock] // set by a handler: read by the test
	f := func() {
		l, err := other.Lock(context.Background(), "prod", client.LockOptions{Key: "deploy"})
		if err != nil {
			t.Error(err)
		}
		fresh.Store(l)
	}
	lose.Store(&f)
	cancelAsGranted(t, c, granted, &fresh, ", give-back's answer lost")
}

// cancelAsGranted runs an OwnKey Acquire of "prod" (key deploy) that is
// cancelled once granted is closed (the server granted it), and checks
// that it returns ctx's error alone and that the lock then holds fresh's,
// the hold another call took afresh after the give-back (stored by the
// server's handler: an atomic, since the race detector sees no order
// through the network). how says what else happened, for the messages.
func cancelAsGranted(t *testing.T, c *client.Client, granted <-chan struct{}, fresh *atomic.Pointer[client.Lock], how string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-granted
		cancel()
	}()
	_, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "deploy", Wait: 5 * time.Second, OwnKey: true})
	if !errors.Is(err, context.Canceled) || errors.Is(err, client.ErrMaybeHeld) {
		t.Fatalf("Acquire (OwnKey) cancelled as it was granted%s: %v; want ctx's error alone", how, err)
	}
	if l, gerr := c.Get(context.Background(), "prod"); gerr != nil || fresh.Load() == nil || l.LockedBy["deploy"] != 1 || l.Fence != fresh.Load().Fence {
		t.Fatalf("after the give-back: %+v, %v; want the hold taken afresh (%+v) kept", l, gerr, fresh.Load())
	}
}
