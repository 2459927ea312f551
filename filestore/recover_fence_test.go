package filestore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRecoveryKeepsRecordFences: each log record carries the fence counter
// as it was when the record was written (logRecord.Fence), besides the
// lock's own token. The counter can be above every token in the log — it
// was raised past a token legible in a dropped tail, or past tokens whose
// records were lost, and the segment that was to carry the raise could not
// be started — and then only the records written after the raise carry it.
// Recovery must take the highest of them, whatever the order of the
// records, and must not confuse it with the lock's token: each lock keeps
// its own. A recovery that ignored rec.Fence would hand out token 3 again
// after 9 was handed out; one that kept the last record's counter, or the
// last lock's token, would go back too.
func TestRecoveryKeepsRecordFences(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	a := acquire(t, s, "a", "k", "h", 0)
	b := acquire(t, s, "b", "kb", "h", 0)
	if a.Fence != 1 || b.Fence != 2 {
		t.Fatalf("grants got fences %d and %d; want 1 and 2", a.Fence, b.Fence)
	}
	closeT(t, s)

	gens := segmentGens(t, path)
	seg := segmentPath(path, gens[len(gens)-1])
	_, end := logFrames(t, seg)
	if err := os.Truncate(seg, int64(end)); err != nil {
		t.Fatal(err)
	}
	// Changes that hand out no token (a second hold of each lock, under
	// its key), written while the counter stood above every token: the
	// highest (9) in the middle, a lower one after it, and the last record
	// that of the lock with the lowest token.
	a2 := a
	a2.Holds = slices.Clone(a.Holds)
	a2.Holds.Set("h2", a.Holds.Get("h"))
	b2 := b
	b2.Holds = slices.Clone(b.Holds)
	b2.Holds.Set("h2", b.Holds.Get("h"))
	var tail []byte
	for _, rec := range []logRecord{
		{Lock: toDisk(&b2), Fence: 5},
		{Lock: toDisk(&b2), Fence: 9},
		{Lock: toDisk(&b2), Fence: 7},
		{Lock: toDisk(&a2), Fence: 6},
	} {
		tail = appendFrame(tail, mustJSON(rec))
	}
	appendToFile(t, seg, tail)

	check := func(s *Store, when string) {
		t.Helper()
		if got := s.Fence(); got != 9 {
			t.Errorf("%s: fence counter %d; records written with it at 9", when, got)
		}
		for name, want := range map[string]uint64{"a": 1, "b": 2} {
			l, ok := getT(t, s, name)
			if !ok || l.Fence != want || len(l.Holds) != 2 {
				t.Errorf("%s: lock %s %+v (found %v); want its own token %d and both holds", when, name, l, ok, want)
			}
		}
	}
	s = openT(t, path, Options{})
	check(s, "after recovery")
	if c := acquire(t, s, "c", "kc", "h", 0); c.Fence != 10 {
		t.Errorf("the next grant got fence %d; want 10, above every counter in the log", c.Fence)
	}
	closeT(t, s)
	s = openT(t, path, Options{})
	defer closeT(t, s)
	if got := s.Fence(); got != 10 {
		t.Errorf("after a second restart: fence counter %d; want 10", got)
	}
}
