package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// TestRemoveMemberWithHolder: RemoveMemberWith, forced and naming the
// holder, is refused (ErrLocked, with the lock) while another holder joined
// under the same key, and changes nothing; once the other released, it
// removes the member.
func TestRemoveMemberWithHolder(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	if _, err := c.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "build", Holder: "build-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "env-1", client.LockOptions{Key: "build", Holder: "other-job"}); err != nil {
		t.Fatal(err)
	}
	o := client.RemoveOptions{Force: true, Fence: m.Fence, Key: "build", Holder: "build-1"}
	_, err = c.RemoveMemberWith(ctx, "envs", "env-1", o)
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.LockedBy["other-job"] != 1 || !strings.Contains(ae.Message, `"other-job" x1`) {
		t.Fatalf("refusal: %+v", ae)
	}
	if l, err := c.Get(ctx, "env-1"); err != nil || len(l.LockedBy) != 2 || len(l.Pools) != 1 {
		t.Fatalf("the refused removal changed the member: %+v, %v", l, err)
	}
	if _, err := c.Unlock(ctx, "env-1", "build", "other-job"); err != nil {
		t.Fatal(err)
	}
	l, err := c.RemoveMemberWith(ctx, "envs", "env-1", o)
	if err != nil || !l.Free() || len(l.Pools) != 0 {
		t.Fatalf("removal held by build-1 alone: %+v, %v", l, err)
	}
}

// TestRemoveMemberWithSends: the condition goes in the query and the body
// (some proxies drop DELETE bodies), only with force; RemoveMemberFence
// and RemoveMember send what they always sent.
func TestRemoveMemberWithSends(t *testing.T) {
	type sent struct {
		query string
		body  map[string]any
	}
	var got []sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := sent{query: r.URL.RawQuery}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &s.body); err != nil {
				t.Errorf("body %s: %v", b, err)
			}
		}
		got = append(got, s)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Locker-Holder-Checked", "true") // a server that checks
		io.WriteString(w, `{"response":"removed","name":"m","key":"","locked_by":{},"state":"free","fence":7,"holds":{},"waiters":0}`)
	}))
	defer srv.Close()
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	calls := []func() error{
		func() error {
			_, err := c.RemoveMemberWith(ctx, "p", "m", client.RemoveOptions{Force: true, Fence: 7, Key: "build", Holder: "build-1"})
			return err
		},
		func() error {
			_, err := c.RemoveMemberWith(ctx, "p", "m", client.RemoveOptions{Force: true, Holder: "build-1"})
			return err
		},
		func() error { _, err := c.RemoveMemberFence(ctx, "p", "m", true, 7); return err },
		func() error { _, err := c.RemoveMember(ctx, "p", "m", false); return err },
		func() error {
			_, err := c.RemoveMemberWith(ctx, "p", "m", client.RemoveOptions{Holder: "build-1"})
			return err
		},
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	want := []sent{
		{"fence=7&force=true&key=build&locked_by=build-1", map[string]any{"force": true, "fence": 7.0, "key": "build", "locked_by": "build-1"}},
		{"force=true&locked_by=build-1", map[string]any{"force": true, "locked_by": "build-1"}},
		{"fence=7&force=true", map[string]any{"force": true, "fence": 7.0}},
		{"", nil},
		{"", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("sent %+v", got)
	}
	for i := range want {
		if got[i].query != want[i].query || mustMarshal(got[i].body) != mustMarshal(want[i].body) {
			t.Errorf("call %d sent %+v; want %+v", i, got[i], want[i])
		}
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRemoveMemberWithHolderNotChecked: a server from before the holder
// condition ignores the holder and key of a forced removal and forces
// every hold (simulated: its answer lacks Locker-Holder-Checked). Its 200
// cannot be taken as the check made: RemoveMemberWith returns the member
// as the server answered it together with an error matching
// ErrHolderNotChecked (and no other sentinel, and not Ambiguous). A
// removal that names no holder or key, or is not forced, asks for no
// check and gets no error; on a server that checks, none either.
func TestRemoveMemberWithHolderNotChecked(t *testing.T) {
	dropHeader := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(headerDropper{w}, r)
		})
	}
	old := newServer(t, serverConfig{wrap: dropHeader})
	c := newClient(t, client.Options{URL: old.URL})
	ctx := context.Background()
	for _, m := range []string{"env-1", "env-2", "env-3", "env-4"} {
		if _, err := c.AddMember(ctx, "envs", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	take := func(name, holder string) {
		t.Helper()
		if _, err := c.Lock(ctx, name, client.LockOptions{Key: "build", Holder: holder}); err != nil {
			t.Fatal(err)
		}
	}
	take("env-1", "build-1")
	l, err := c.RemoveMemberWith(ctx, "envs", "env-1", client.RemoveOptions{Force: true, Key: "build", Holder: "build-1"})
	if !errors.Is(err, client.ErrHolderNotChecked) || l == nil || !l.Free() || len(l.Pools) != 0 {
		t.Fatalf("RemoveMemberWith on a server without the check = %+v, %v; want the member and ErrHolderNotChecked", l, err)
	}
	for name, s := range sentinels {
		if errors.Is(err, s) {
			t.Errorf("errors.Is(%v, %s)", err, name)
		}
	}
	if client.Ambiguous(err) || errors.Is(err, client.ErrFenceNotChecked) {
		t.Errorf("%v: Ambiguous or ErrFenceNotChecked", err)
	}
	if !strings.Contains(err.Error(), `"env-1"`) || !strings.Contains(err.Error(), `"build-1"`) {
		t.Errorf("error %q does not say what was done", err)
	}
	take("env-2", "build")
	if _, err := c.RemoveMemberWith(ctx, "envs", "env-2", client.RemoveOptions{Force: true, Key: "build"}); !errors.Is(err, client.ErrHolderNotChecked) {
		t.Errorf("the key alone on a server without the check: %v, want ErrHolderNotChecked", err)
	}
	take("env-3", "build-1")
	if l, err := c.RemoveMemberWith(ctx, "envs", "env-3", client.RemoveOptions{Force: true, Fence: 0}); err != nil || !l.Free() {
		t.Errorf("a forced removal without holder or key: %+v, %v", l, err)
	}
	if _, err := c.RemoveMemberWith(ctx, "envs", "env-4", client.RemoveOptions{Holder: "build-1"}); err != nil {
		t.Errorf("a removal without force (holder ignored): %v", err)
	}

	srv := newServer(t, serverConfig{})
	c = newClient(t, client.Options{URL: srv.URL})
	if _, err := c.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	take("env-1", "build-1")
	if l, err := c.RemoveMemberWith(ctx, "envs", "env-1", client.RemoveOptions{Force: true, Key: "build", Holder: "build-1"}); err != nil || !l.Free() {
		t.Fatalf("RemoveMemberWith on a server that checks: %+v, %v", l, err)
	}
}

// headerDropper answers without Locker-Holder-Checked, as a server from
// before the holder condition.
type headerDropper struct{ http.ResponseWriter }

func (h headerDropper) WriteHeader(code int) {
	h.Header().Del("Locker-Holder-Checked")
	h.ResponseWriter.WriteHeader(code)
}

func (h headerDropper) Write(b []byte) (int, error) {
	h.Header().Del("Locker-Holder-Checked")
	return h.ResponseWriter.Write(b)
}
