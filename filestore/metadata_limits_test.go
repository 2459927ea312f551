package filestore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestStoredMetadataReloadsWhateverItsEncodedSize: metadata the API
// accepted (within lock.ValidateMetadata's limits as sent) can take more
// room as stored — the log escapes <, > and & as \u003c, six bytes each;
// PostgreSQL writes 1e300 out in full, which locker migrate copies here —
// and a store must start again on what it acknowledged: recovery checks
// that stored metadata is JSON, not the input limits. Read back from the
// log and from a snapshot.
func TestStoredMetadataReloadsWhateverItsEncodedSize(t *testing.T) {
	html := json.RawMessage(`"` + strings.Repeat("<b>x</b>&", 2400) + `"`) // 21.6 KB, 64 KB escaped
	if err := lock.ValidateMetadata(html); err != nil {
		t.Fatalf("the API would refuse the test's metadata: %v", err)
	}
	// What PostgreSQL gives back for 1.8 KB of [1e300,...]: each number in
	// full. Written as locker migrate writes a lock, past the API's checks.
	full := json.RawMessage("[" + strings.Repeat("1"+strings.Repeat("0", 300)+",", 299) + "1]")
	deep := json.RawMessage(strings.Repeat("[", lock.MaxMetadataDepth) + strings.Repeat("]", lock.MaxMetadataDepth))
	if err := lock.ValidateMetadata(deep); err != nil {
		t.Fatalf("the API would refuse the test's metadata: %v", err)
	}
	metas := map[string]json.RawMessage{"html": html, "migrated": full, "deep": deep}

	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	for name, m := range metas {
		_, evs, err := s.Update(context.Background(), name, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.AddToPool(l, "p", m, env)
			if err != nil {
				t.Error(err)
			}
			return events
		})
		if err != nil || len(evs) == 0 {
			t.Fatalf("adding %s: %v, %d events", name, err, len(evs))
		}
	}
	check := func(s *Store, when string) {
		t.Helper()
		for name, m := range metas {
			l, ok := getT(t, s, name)
			if !ok || !sameValue(t, l.Metadata, m) {
				t.Fatalf("%s: %s's metadata is %d bytes, not the value sent (%d bytes)", when, name, len(l.Metadata), len(m))
			}
		}
	}
	closeT(t, s)
	if gens := segmentGens(t, path); len(gens) != 1 || gens[0] != 1 {
		t.Fatalf("log segments %v, want only the first", gens)
	}
	checkFromLogThenSnapshot(t, path, check)
}

// sameValue reports whether a and b are the same JSON value (the store
// gives metadata back as the same value, not byte for byte: compacted, and
// <, > and & escaped).
func sameValue(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%.60s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%.60s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}
