package httpapi_test

import (
	"fmt"
	"testing"
)

// TestPoolRemoveHolderChecked: a forced removal that names a holder (or a
// key, which the holder defaults to) answers 200 with the header
// Locker-Holder-Checked: true, which a server from before the holder
// condition (that ignores it and forces every hold) does not send; on a
// free member too (the condition held: nothing to force). A forced removal
// without a holder or key, one without force (the condition is ignored)
// and a refusal carry none.
func TestPoolRemoveHolderChecked(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, m := range []string{"m1", "m2", "m3", "m4", "m5"} {
		s.addMember(t, "p", m, "")
	}
	const header = "Locker-Holder-Checked"
	checked := func(what string, r reply, want bool) {
		t.Helper()
		got, ok := r.Header[header]
		if want && (len(got) != 1 || got[0] != "true") {
			t.Errorf("%s: %s = %q, want \"true\"", what, header, got)
		}
		if !want && ok {
			t.Errorf("%s: says %s: %q", what, header, got)
		}
	}
	m1 := s.take(t, "p", "build", "build-1")
	s.do("PUT", "/lock/m1?key=build&lock_by=other-job", "").expect(t, 200, "other-job joins m1")
	checked("a refusal", s.do("DELETE", "/pool/p/m1?force=true&locked_by=build-1", "").expect(t, 423, "refused: other-job holds m1 too"), false)
	s.release(t, "m1", "build", "other-job")
	checked("holder, key and fence in the query",
		s.do("DELETE", fmt.Sprintf("/pool/p/m1?force=true&fence=%d&key=build&locked_by=build-1", m1.Fence), "").expect(t, 200, "remove m1"), true)

	s.take(t, "p", "k2", "h2")
	checked("holder in the body", s.do("DELETE", "/pool/p/m2", `{"force":true,"locked_by":"h2"}`).expect(t, 200, "remove m2"), true)

	s.take(t, "p", "k3", "k3")
	checked("key alone (the holder is the key)", s.do("DELETE", "/pool/p/m3?force=true&key=k3", "").expect(t, 200, "remove m3"), true)

	checked("a free member", s.do("DELETE", "/pool/p/m4?force=true&locked_by=h4", "").expect(t, 200, "remove free m4"), true)

	s.take(t, "p", "k5", "h5")
	checked("force without holder or key", s.do("DELETE", "/pool/p/m5?force=true", "").expect(t, 200, "remove m5"), false)
	s.addMember(t, "p", "m5", "")
	checked("a holder without force", s.do("DELETE", "/pool/p/m5?locked_by=h5", "").expect(t, 200, "remove free m5 without force"), false)
}
