package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// renewals stands between client and server for lease renewals: it passes
// them on, answers them with a gateway's 502 without passing them on
// (cut), or passes them on without their fence token, as a server from
// before fence tokens on renewals would take them (noFence).
type renewals struct {
	cut, noFence atomic.Bool
	notFound     atomic.Bool  // answer with a proxy's 404 page
	sent         atomic.Int32 // renewals the server got
	refused      atomic.Int32 // renewals cut
	// ttl, when set, is the lease asked for, as a server granting less
	// than asked would take it; ahead is how far the server's clock is
	// ahead of the client's.
	ttl   string
	ahead time.Duration
	// failAt, when set (before cut), has a cut renewal that comes within
	// a second of it answered then, not at once, as a gateway that times
	// out late; delay, how long a renewal passed on takes to get to the
	// server (a slow network).
	failAt time.Time
	delay  atomic.Int64 // a time.Duration
}

func (g *renewals) wrap(h http.Handler) http.Handler {
	next := h
	if g.ahead != 0 {
		next = g.shifted(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/refresh") {
			next.ServeHTTP(w, r)
			return
		}
		if g.cut.Load() {
			g.refused.Add(1)
			if wait := time.Until(g.failAt); wait > 0 && wait < time.Second {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
				}
			}
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
			return
		}
		if g.notFound.Load() {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if g.noFence.Load() {
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			delete(body, "fence")
			delete(body, "acquired") // a server from before fences has no later check either
			b, _ := json.Marshal(body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		if g.ttl != "" {
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			body["ttl"] = g.ttl
			b, _ := json.Marshal(body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		if d := time.Duration(g.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		g.sent.Add(1)
		next.ServeHTTP(w, r)
	})
}

// shifted gives every time in the answers to changes (PUT, POST) as a
// server whose clock is g.ahead ahead would, and reads those the requests
// send back (a hold's acquired) as it would; a GET is left as it is, for
// the test to read the true expiry.
func (g *renewals) shifted(h http.Handler) http.Handler {
	times := regexp.MustCompile(`"\d{4}-\d\d-\d\dT[^"]*"`)
	shift := func(s string, d time.Duration) string {
		return times.ReplaceAllStringFunc(s, func(q string) string {
			t, err := time.Parse(time.RFC3339Nano, q[1:len(q)-1])
			if err != nil {
				return q
			}
			return `"` + t.Add(d).Format(time.RFC3339Nano) + `"`
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			h.ServeHTTP(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		b = []byte(shift(string(b), -g.ahead))
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := shift(rec.Body.String(), g.ahead)
		if v := rec.Header().Get("Locker-Acquired-Checked"); v != "" {
			rec.Header().Set("Locker-Acquired-Checked", strings.Trim(shift(`"`+v+`"`, g.ahead), `"`))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		io.WriteString(w, body)
	})
}

// events records what a Keeper tells.
type events struct {
	mu  sync.Mutex
	got []client.KeepEvent
}

func (e *events) notify(ev client.KeepEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) count(t client.KeepEventType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.got {
		if ev.Type == t {
			n++
		}
	}
	return n
}

func keptServer(t *testing.T) (*renewals, *client.Client) {
	return keptServerWith(t, lockservice.Config{}, &renewals{})
}

func keptServerWith(t *testing.T, cfg lockservice.Config, g *renewals) (*renewals, *client.Client) {
	srv := newServer(t, serverConfig{svc: cfg, wrap: g.wrap})
	return g, newClient(t, client.Options{URL: srv.URL})
}

// keeping starts keeping l's hold of key "k" (holder the key) as o says,
// recording what it tells; it is stopped when the test ends.
func keeping(t *testing.T, c *client.Client, l *client.Lock, o client.KeepOptions) (*client.Keeper, *events) {
	t.Helper()
	ev := &events{}
	o.Notify = ev.notify
	k, err := c.Keep(context.Background(), l, "k", "", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	return k, ev
}

// ended waits for k to end by itself (the hold lost for sure), failing
// with why after 5s.
func ended(t *testing.T, k *client.Keeper, why string) {
	t.Helper()
	select {
	case <-k.Done():
	case <-time.After(5 * time.Second):
		t.Fatal(why)
	}
}

// TestKeepKeepsALeaseAlive: a hold with a 300ms lease kept for several
// lease lengths is still held, its lease renewed; Stop ends the renewals
// and leaves the hold to its lease.
func TestKeepKeepsALeaseAlive(t *testing.T) {
	t.Parallel()
	g, c := keptServer(t)
	ctx := context.Background()
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "h", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	k, err := c.Keep(ctx, l, "k", "h", client.KeepOptions{TTL: 300 * time.Millisecond, Notify: ev.notify})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	now, err := c.Get(ctx, "prod")
	if err != nil || now.LockedBy["h"] != 1 || now.Fence != l.Fence {
		t.Fatalf("after four lease lengths kept: %+v, %v; want still held by h once, fence %d", now, err, l.Fence)
	}
	if n := g.sent.Load(); n < 3 {
		t.Errorf("%d renewals in four lease lengths, want one every third of the lease", n)
	}
	if k.Err() != nil || len(ev.got) != 0 {
		t.Errorf("Err %v, events %+v; want none", k.Err(), ev.got)
	}
	select {
	case <-k.Lost():
		t.Fatal("Lost closed while the hold is kept")
	default:
	}
	k.Stop()
	sent := g.sent.Load()
	time.Sleep(400 * time.Millisecond)
	if g.sent.Load() != sent {
		t.Error("renewals went on after Stop")
	}
	if now, err := c.Get(ctx, "prod"); err != nil || !now.Free() {
		t.Errorf("a lease length after Stop: %+v, %v; want it run out", now, err)
	}
}

// TestKeepSaysWhenTheHoldIsForced: a forced release ends the keeping with
// a LostError carrying the server's ErrNotFound.
func TestKeepSaysWhenTheHoldIsForced(t *testing.T) {
	_, c := keptServer(t)
	ctx := context.Background()
	l, _ := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 300 * time.Millisecond})
	k, ev := keeping(t, c, l, client.KeepOptions{})
	if _, err := c.ForceUnlock(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	ended(t, k, "the keeper did not end after the hold was forced")
	<-k.Lost()
	var lost *client.LostError
	if err := k.Err(); !errors.As(err, &lost) || lost.Presumed || !errors.Is(err, client.ErrLost) || !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Err = %v; want a LostError, not presumed, matching ErrLost and ErrNotFound", err)
	}
	if lost.Lock != "prod" || lost.Fence != l.Fence || ev.count(client.KeepLost) != 1 || len(ev.got) != 1 {
		t.Errorf("LostError %+v, events %+v", lost, ev.got)
	}
}

// TestKeepPresumesLossInTime: while renewals fail, the hold is presumed
// lost before its lease can run out (so the work can stop before the lock
// is anyone else's); renewals go on, and when the server answers again
// with the hold still its, the loss is taken back.
func TestKeepPresumesLossInTime(t *testing.T) {
	t.Parallel()
	g, c := keptServer(t)
	ctx := context.Background()
	const lease = 2 * time.Second
	l, _ := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: lease})
	k, ev := keeping(t, c, l, client.KeepOptions{TTL: lease})
	start := k.Renewed()
	waitFor(t, func() bool { return k.Renewed() != start })
	g.cut.Store(true)
	renewed := k.Renewed()
	select {
	case <-k.Lost():
	case <-time.After(2 * lease):
		t.Fatal("not presumed lost while renewals failed for two lease lengths")
	}
	if at := time.Now(); !at.Before(renewed.Add(lease)) {
		t.Errorf("presumed lost %s after the last renewal, want before the lease of %s ran out", at.Sub(renewed), lease)
	}
	var lost *client.LostError
	if err := k.Err(); !errors.As(err, &lost) || !lost.Presumed || !errors.Is(err, client.ErrLost) || client.Ambiguous(err) == false {
		t.Fatalf("Err = %v; want a presumed LostError with the gateway's 502", err)
	}
	if lost.Left <= 0 || lost.Left > lease/10 || lost.Unrenewed < lease*8/10 {
		t.Errorf("LostError %+v: want under a tenth of the lease left", lost)
	}
	// Lost is closed before Notify is told of the loss.
	waitFor(t, func() bool { return ev.count(client.KeepLost) >= 1 })
	if ev.count(client.KeepRetrying) == 0 || ev.count(client.KeepLost) != 1 {
		t.Errorf("events %+v: want renewals failing, then one loss", ev.got)
	}
	retrying := ev.count(client.KeepRetrying)
	g.cut.Store(false)
	waitFor(t, func() bool { return ev.count(client.KeepRecovered) == 1 })
	if k.Err() != nil || ev.count(client.KeepRetrying) != retrying {
		t.Errorf("after the server answered again: Err %v, events %+v; want nil, no retries told while presumed lost", k.Err(), ev.got)
	}
	if now, _ := c.Get(ctx, "prod"); now.LockedBy["k"] != 1 {
		t.Errorf("lock after recovery: %+v, want still held", now)
	}
}

// TestKeepPresumesLossBeforeTheServerCanExpire: however the lease the
// keeper relies on was set, the hold is presumed lost before the server
// can give the lock to another: with no TTL given (the lease left,
// rounded up), when a renewal is granted less than the lease before it,
// and when the server's clock is ahead of the client's.
func TestKeepPresumesLossBeforeTheServerCanExpire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      lockservice.Config
		g        *renewals
		lock     time.Duration // the TTL taken
		keep     time.Duration // Keep's TTL
		renewals int           // that succeed first
	}{
		{name: "no TTL given", lock: 2400 * time.Millisecond, renewals: 1},
		{name: "no TTL given, none renewed", lock: 2400 * time.Millisecond},
		{name: "granted less", g: &renewals{ttl: "1s"}, lock: 3 * time.Second, keep: 3 * time.Second, renewals: 1},
		{name: "server clock ahead", cfg: lockservice.Config{MaxTTL: time.Second}, g: &renewals{ahead: 2 * time.Second}, lock: time.Hour, keep: time.Hour, renewals: 2},
		{name: "server clock ahead, none renewed", cfg: lockservice.Config{MaxTTL: time.Second}, g: &renewals{ahead: 2 * time.Second}, lock: time.Hour, keep: time.Hour},
		{name: "server default lease, clock ahead", cfg: lockservice.Config{DefaultTTL: time.Second}, g: &renewals{ahead: time.Hour}, renewals: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.g == nil {
				tc.g = &renewals{}
			}
			g, c := keptServerWith(t, tc.cfg, tc.g)
			ctx := context.Background()
			l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: tc.lock})
			if err != nil {
				t.Fatal(err)
			}
			if tc.renewals == 0 {
				g.cut.Store(true)
			}
			k, err := c.Keep(ctx, l, "k", "", client.KeepOptions{TTL: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Stop()
			if tc.renewals > 0 {
				waitFor(t, func() bool { return g.sent.Load() >= int32(tc.renewals) })
				g.cut.Store(true)
			}
			// Renewals are sent one at a time: once one is cut, none is
			// on its way to the server, and the lease the server has is
			// the last (a renewal that got past before the cut could
			// otherwise land after this read).
			waitFor(t, func() bool { return g.refused.Load() >= 1 })
			now, err := c.Get(ctx, "prod")
			if err != nil {
				t.Fatal(err)
			}
			expires := now.Holds["k"].Expires
			select {
			case <-k.Lost():
			case <-time.After(10 * time.Second):
				t.Fatal("not presumed lost")
			}
			var lost *client.LostError
			if !errors.As(k.Err(), &lost) || !lost.Presumed {
				t.Fatalf("Err = %v, want a presumed loss", k.Err())
			}
			// When the keeper decided (Unrenewed is measured then), not
			// when this goroutine ran again after it: on a loaded machine
			// (CI runs every package at once) that came 287 ms later.
			if at := k.Renewed().Add(lost.Unrenewed); !at.Before(expires) {
				t.Errorf("presumed lost %s after the server's lease ran out", at.Sub(expires))
			}
		})
	}
}

// TestKeepNeverRenewsAHoldTakenAfresh: a kept hold whose lease ran out
// while renewals failed, and that the same key and holder took again
// since, is lost: the other call's hold is not renewed in its place,
// whether the server checks the fence token (ErrNotFound) or predates
// that and answers with the new token.
func TestKeepNeverRenewsAHoldTakenAfresh(t *testing.T) {
	t.Parallel()
	for _, noFence := range []bool{false, true} {
		g, c := keptServer(t)
		ctx := context.Background()
		l, _ := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 300 * time.Millisecond})
		k, _ := keeping(t, c, l, client.KeepOptions{})
		g.cut.Store(true)
		<-k.Lost()
		waitFor(t, func() bool { now, err := c.Get(ctx, "prod"); return err == nil && now.Free() })
		again, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		g.noFence.Store(noFence)
		g.cut.Store(false)
		ended(t, k, fmt.Sprintf("noFence %v: the keeper went on after the lock was taken afresh", noFence))
		var lost *client.LostError
		err = k.Err()
		if !errors.As(err, &lost) || lost.Presumed {
			t.Fatalf("noFence %v: Err = %v, want a LostError for sure", noFence, err)
		}
		if noFence && (lost.TakenFence != again.Fence || lost.Fence != l.Fence) {
			t.Errorf("server without fenced renewals: %+v, want TakenFence %d", lost, again.Fence)
		}
		if !noFence && !errors.Is(err, client.ErrNotFound) {
			t.Errorf("Err = %v, want ErrNotFound", err)
		}
		now, _ := c.Get(ctx, "prod")
		if !noFence && !now.Holds["k"].Expires.Equal(again.Holds["k"].Expires) {
			t.Errorf("the other call's hold was renewed: expires %v, was %v", now.Holds["k"].Expires, again.Holds["k"].Expires)
		}
		k.Stop()
	}
}

// TestKeepTriesAgainAfterAProxys404: a 404 that is not the server's own
// answer (a proxy's page while a replica restarts) is a failed renewal,
// not a lost hold.
func TestKeepTriesAgainAfterAProxys404(t *testing.T) {
	g, c := keptServer(t)
	ctx := context.Background()
	l, _ := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 2 * time.Second})
	k, ev := keeping(t, c, l, client.KeepOptions{})
	g.notFound.Store(true)
	waitFor(t, func() bool { return ev.count(client.KeepRetrying) > 0 })
	g.notFound.Store(false)
	sent := g.sent.Load()
	waitFor(t, func() bool { return g.sent.Load() > sent })
	if k.Err() != nil || ev.count(client.KeepLost) != 0 {
		t.Fatalf("after a proxy's 404: Err %v, events %+v; want the hold kept", k.Err(), ev.got)
	}
}

// TestKeepLostToAnotherKey: a kept hold whose lease ran out while
// renewals failed, the lock since taken under another key, is lost for
// sure (ErrLocked) once the server answers.
func TestKeepLostToAnotherKey(t *testing.T) {
	g, c := keptServer(t)
	ctx := context.Background()
	l, _ := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 300 * time.Millisecond})
	k, _ := keeping(t, c, l, client.KeepOptions{})
	g.cut.Store(true)
	<-k.Lost()
	if _, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "other", Wait: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	g.cut.Store(false)
	ended(t, k, "the keeper went on after the lock was taken under another key")
	var lost *client.LostError
	if err := k.Err(); !errors.As(err, &lost) || lost.Presumed || !errors.Is(err, client.ErrLocked) {
		t.Fatalf("Err = %v, want a LostError for sure, matching ErrLocked", err)
	}
}

// TestKeepRefusesAHoldAlreadyLost: a hold whose lease ran out before Keep
// was called, the lock since taken by another, is a LostError from Keep.
func TestKeepRefusesAHoldAlreadyLost(t *testing.T) {
	_, c := keptServer(t)
	ctx := context.Background()
	l, _ := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 100 * time.Millisecond})
	if _, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "other", Wait: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	k, err := c.Keep(ctx, l, "k", "", client.KeepOptions{TTL: 2 * time.Second})
	var lost *client.LostError
	if k != nil || !errors.As(err, &lost) || lost.Presumed || !errors.Is(err, client.ErrLocked) {
		t.Fatalf("Keep of a hold lost before: %v, %v; want a LostError matching ErrLocked", k, err)
	}
}

// TestKeepRefusals: what Keep cannot keep.
func TestKeepRefusals(t *testing.T) {
	_, c := keptServer(t)
	ctx := context.Background()
	noTTL, _ := c.Lock(ctx, "a", client.LockOptions{Key: "k"})
	withTTL, _ := c.Lock(ctx, "b", client.LockOptions{Key: "k", Holder: "h", TTL: time.Minute})
	for _, tc := range []struct {
		name        string
		l           *client.Lock
		key, holder string
		ttl         time.Duration
		want        error
	}{
		{"no lease", noTTL, "k", "", 0, client.ErrNoLease},
		{"legacy", &client.Lock{Name: "c", Key: "k", LockedBy: map[string]int{"k": 1}, Legacy: true}, "k", "", 0, client.ErrNoLease},
		{"other holder", withTTL, "k", "", 0, client.ErrNotFound},
		{"other key", withTTL, "x", "h", 0, client.ErrNotFound},
		{"negative TTL", withTTL, "k", "h", -time.Second, client.ErrBadRequest},
	} {
		if k, err := c.Keep(ctx, tc.l, tc.key, tc.holder, client.KeepOptions{TTL: tc.ttl}); !errors.Is(err, tc.want) || k != nil {
			t.Errorf("%s: Keep = %v, %v; want %v", tc.name, k, err, tc.want)
		}
	}
}

// TestKeepTheLongestLease: a hold on the longest lease there is (a ttl of
// the largest duration, which a server without LOCKER_MAX_TTL grants),
// kept without a TTL of its own, is renewed for as long again, not cut to
// a second (rounding that lease up to whole seconds wrapped negative).
func TestKeepTheLongestLease(t *testing.T) {
	_, c := keptServer(t)
	ctx := context.Background()
	const longest = time.Duration(1<<63 - 1)
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: longest})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keeping(t, c, l, client.KeepOptions{})
	if k.Err() != nil {
		t.Fatal(k.Err())
	}
	now, err := c.Get(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(now.Expires); now.Fence != l.Fence || left < 24*time.Hour {
		t.Fatalf("after Keep's first renewal the hold has %s of its lease left (%+v); want the longest lease kept", left, now)
	}
}
