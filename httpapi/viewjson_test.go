package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// sameAsMarshal checks that appendView writes exactly what encoding/json
// writes for the lock's view, or declines where encoding/json fails.
func sameAsMarshal(t *testing.T, l lock.Lock, waiters int) {
	t.Helper()
	want, werr := json.Marshal(viewOf(l, waiters))
	prefix := []byte("prefix")
	got, ok := appendView(prefix, &l, waiters)
	switch {
	case werr != nil && ok:
		t.Errorf("encoding/json fails (%v) but appendView wrote %s", werr, got)
	case werr == nil && !ok:
		t.Errorf("appendView declined a lock encoding/json encodes: %s", want)
	case !ok && string(got) != "prefix":
		t.Errorf("appendView declined but changed the buffer: %q", got)
	case ok && string(got) != "prefix"+string(want):
		t.Errorf("appendView wrote\n%s\nencoding/json\n%s", got[len("prefix"):], want)
	}
}

func TestAppendViewMatchesEncodingJSON(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	odd := []string{"plain", "prod deploy", "a/b", "<script>&amp;", `q"uo\te`, "tab\there", "nl\n", "ünïcödé 🔒", "line\u2028sep\u2029", "bad\xffutf8", "\x7f", "k"}
	var locks []lock.Lock
	locks = append(locks, lock.Lock{Name: "free"})
	for i, s := range odd {
		locks = append(locks, lock.Lock{Name: s, Key: odd[(i+1)%len(odd)], Fence: uint64(i), Since: t0,
			Holds: lock.HoldsOf(map[string]lock.Hold{s: {Count: i + 1, Acquired: t0}, "z" + s: {Count: 1, Acquired: t0.Add(time.Second), Expires: t0.Add(time.Hour)}})})
	}
	zones := []*time.Location{time.FixedZone("IST", 5*3600+1800), time.FixedZone("odd", -(3*3600 + 17)), time.FixedZone("x", 23*3600+59*60+59), time.FixedZone("y", -24*3600), time.FixedZone("z", 24*3600)}
	for _, z := range zones {
		locks = append(locks, lock.Lock{Name: "zoned", Key: "k", Fence: 7, Since: t0.In(z), Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 2, Acquired: t0.In(z), Expires: t0.Add(time.Minute).In(z)}})})
	}
	for _, y := range []int{-1, 0, 9999, 10000} {
		ty := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		locks = append(locks,
			lock.Lock{Name: "year", Key: "k", Since: ty, Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: t0}})},
			lock.Lock{Name: "year", Key: "k", Since: t0, Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: ty}})},
			lock.Lock{Name: "year", Key: "k", Since: t0, Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: t0, Expires: ty}})})
	}
	for _, meta := range []string{"", `{"az": "z1",  "n":[1, 2]}`, `"<b>&"`, `{"broken":`} {
		var m json.RawMessage
		if meta != "" {
			m = json.RawMessage(meta)
		}
		locks = append(locks,
			lock.Lock{Name: "member", FreeSince: t0, Pools: []string{"p1", "<p2>"}, Metadata: m},
			lock.Lock{Name: "member", Key: "k", Since: t0, Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: t0}}), Pools: []string{"p"}, Metadata: m},
			lock.Lock{Name: "not a member", Metadata: m, FreeSince: t0})
	}
	locks = append(locks, lock.Lock{Name: "member", FreeSince: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Pools: []string{"p"}})
	locks = append(locks, lock.Lock{Name: "wall-clock", Key: "k", Since: time.Now(), Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: time.Now()}})})
	for i, l := range locks {
		sameAsMarshal(t, l, i%3)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "ab<>&\"\\\x01\xc3\xa9\xe2\x80\xa8\xff z"
	str := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 3000 {
		l := lock.Lock{Name: str(), Key: str(), Fence: rng.Uint64()}
		if rng.IntN(3) > 0 {
			l.Since = t0.Add(time.Duration(rng.Int64N(1e15)))
			l.Holds = lock.HoldsOf(map[string]lock.Hold{})
			for range 1 + rng.IntN(4) {
				h := lock.Hold{Count: rng.IntN(1000) - 1, Acquired: t0.Add(-time.Duration(rng.Int64N(1e15)))}
				if rng.IntN(2) == 0 {
					h.Expires = t0.Add(time.Duration(rng.Int64N(1e12)))
				}
				l.Holds.Set(str(), h)
			}
		}
		sameAsMarshal(t, l, rng.IntN(5))
	}
}

func FuzzAppendView(f *testing.F) {
	f.Add("name", "key", "holder", int64(0), 1, int64(0), 0)
	f.Add("<a&b>", "k\"ey", "h\u2028", int64(1e18), -5, int64(-7), 2)
	f.Fuzz(func(t *testing.T, name, key, holder string, nanos int64, count int, expNanos int64, waiters int) {
		at := time.Unix(0, nanos).UTC()
		l := lock.Lock{Name: name, Key: key, Fence: uint64(count), Since: at,
			Holds: lock.HoldsOf(map[string]lock.Hold{holder: {Count: count, Acquired: at, Expires: time.Unix(0, expNanos)}})}
		sameAsMarshal(t, l, waiters)
	})
}

// TestListBodyUnchanged checks the whole GET /locks body against the
// encoding it had with encoding/json: every lock's name and view, in name
// order.
func TestListBodyUnchanged(t *testing.T) {
	store := memstore.New(memstore.Options{})
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	names := []string{"b", "a/b", "<x>", "ünï", "z z", "free-later"}
	for i, n := range names {
		for j := range i + 1 {
			if _, err := svc.Acquire(ctx, n, lock.Request{Key: "k", Holder: string(rune('a' + j)), TTL: time.Duration(j) * time.Hour}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := svc.Release(ctx, "free-later", "k", "a"); err != nil {
		t.Fatal(err)
	}
	api := New(svc, Config{})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/locks", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	locks, _ := svc.List(ctx)
	sort.Slice(locks, func(i, j int) bool { return locks[i].Name < locks[j].Name })
	var want bytes.Buffer
	want.WriteByte('{')
	for i, l := range locks {
		if i > 0 {
			want.WriteByte(',')
		}
		n, _ := json.Marshal(l.Name)
		v, _ := json.Marshal(viewOf(*l, svc.Waiters(l.Name)))
		want.Write(n)
		want.WriteByte(':')
		want.Write(v)
	}
	want.WriteString("}\n")
	if rec.Body.String() != want.String() {
		t.Fatalf("GET /locks\n%s\nwant\n%s", rec.Body.String(), want.String())
	}
}

// TestLockResponseUnchanged checks that the answer to a PUT or DELETE is
// byte for byte what writeJSON wrote with encoding/json.
func TestLockResponseUnchanged(t *testing.T) {
	store := memstore.New(memstore.Options{})
	svc := lockservice.New(store, lockservice.Config{})
	s := New(svc, Config{})
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 5, time.UTC)
	locks := []lock.Lock{
		{Name: "free"},
		{Name: `we"ird <name>`, Key: "k\\", Fence: 3, Since: t0, Holds: lock.HoldsOf(map[string]lock.Hold{"a": {Count: 2, Acquired: t0, Expires: t0.Add(time.Hour)}, "b": {Count: 1, Acquired: t0}})},
		{Name: "year", Key: "k", Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: t0}})},
		{Name: "member", FreeSince: t0, Pools: []string{"p"}, Metadata: json.RawMessage(`{"a": 1}`)},
	}
	for _, l := range locks {
		for _, msg := range []string{fmt.Sprintf("locked %q with key %q for %q (count %d)", l.Name, l.Key, "h", 1), "plain", "ünï <&>"} {
			want := httptest.NewRecorder()
			writeJSON(want, 200, lockResponse{Response: msg, lockView: s.view(l)})
			got := httptest.NewRecorder()
			s.writeLockResponse(got, msg, l)
			if got.Code != want.Code || got.Body.String() != want.Body.String() || fmt.Sprint(got.Header()) != fmt.Sprint(want.Header()) {
				t.Errorf("lock %q, %q:\n got %d %v %s\nwant %d %v %s", l.Name, msg, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		}
	}
}
