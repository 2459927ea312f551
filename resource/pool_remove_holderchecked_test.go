package resource_test

import (
	"net/http"
	"strings"
	"testing"
)

// answersWithoutHolderCheck wraps a server so that its answers lack
// Locker-Holder-Checked, as a server from before the holder condition of
// a forced removal (which ignores the holder and key, and forces every
// hold).
func answersWithoutHolderCheck(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(noHolderCheck{w}, r)
	})
}

type noHolderCheck struct{ http.ResponseWriter }

func (w noHolderCheck) WriteHeader(code int) {
	w.Header().Del("Locker-Holder-Checked")
	w.ResponseWriter.WriteHeader(code)
}

func (w noHolderCheck) Write(b []byte) (int, error) {
	w.Header().Del("Locker-Holder-Checked")
	return w.ResponseWriter.Write(b)
}

// TestPoolRemoveHolderNotChecked: remove: of a member the directory's
// acquisition alone holds, on a server that does not say it checked the
// holder (one from before the condition): the removal was made (the read
// before it found the directory's hold alone, the only check such a
// server allows), so the put succeeds, and notes that the server did not
// check the holder, rather than failing a step whose change was made.
func TestPoolRemoveHolderNotChecked(t *testing.T) {
	s := startServer(t, serverOpts{wrap: answersWithoutHolderCheck})
	c := s.client(t, "", "")
	setup := newBuild(t, poolSource(s, "old"), "setup", 1, 1)
	setup.task("m", map[string]string{"name": "m1", "metadata": ""})
	setup.put("m", obj{"add": "m"})
	b := newBuild(t, poolSource(s, "old"), "deploy", 1, 501)
	b.put("env", obj{"claim": "m1"})

	r := b.startPut(obj{"remove": "env"}).wait()
	if r.code != 0 {
		t.Fatalf("remove: on a server without the holder check failed (exit %d):\n%s", r.code, r.stderr)
	}
	want := `note: the server does not check the holder of a forced removal (it predates that); "m1" was removed from pool "old" ending every hold on it, checked by the read before only (held by this directory's hold alone)`
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if p := getPool(t, c, "old"); p.Total != 0 {
		t.Fatalf("after the remove, the pool is %+v", p)
	}
}
