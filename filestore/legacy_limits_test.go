package filestore

import (
	"path/filepath"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestLegacyHoldsThisServerCanEnd: converting the original locker's file,
// a count above lock.MaxCount (where docs/api.md says counts stop) is
// taken as lock.MaxCount, and a holder with an empty name (which the API
// cannot name: an empty holder is the key) becomes the key's holder, so
// that the key's own release ends it.
func TestLegacyHoldsThisServerCanEnd(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       map[string]int // holder → count
	}{
		{"largest int64", `{"a":{"key":"k","locked_by":{"h":9223372036854775807,"i":1}}}`, map[string]int{"h": lock.MaxCount, "i": 1}},
		{"just past", `{"a":{"key":"k","locked_by":{"h":9007199254740992}}}`, map[string]int{"h": lock.MaxCount}},
		{"at the limit", `{"a":{"key":"k","locked_by":{"h":9007199254740991}}}`, map[string]int{"h": lock.MaxCount}},
		{"empty holder", `{"a":{"key":"k","locked_by":{"":2}}}`, map[string]int{"k": 2}},
		{"empty holder and the key", `{"a":{"key":"k","locked_by":{"":1,"k":2,"h":1}}}`, map[string]int{"k": 3, "h": 1}},
		{"both at the limit", `{"a":{"key":"k","locked_by":{"":9007199254740991,"k":9223372036854775807}}}`, map[string]int{"k": lock.MaxCount}},
		{"empty holder at zero", `{"a":{"key":"k","locked_by":{"":0,"h":1}}}`, map[string]int{"h": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			writeFile(t, path, []byte(tt.file))
			s := openT(t, path, Options{})
			l, ok := getT(t, s, "a")
			if !ok || l.Key != "k" || len(l.Holds) != len(tt.want) {
				t.Fatalf("converted: %+v", l)
			}
			for h, c := range tt.want {
				if got := l.Holds.Get(h).Count; got != c {
					t.Errorf("holder %q: count %d, want %d", h, got, c)
				}
			}
			if c, ok := tt.want["k"]; ok && c < 10 {
				for range c {
					release(t, s, "a", "k", "k")
				}
				if l, _ := getT(t, s, "a"); l.Holds.Get("k").Count != 0 {
					t.Fatalf("after the key's releases: %+v", l)
				}
			}
		})
	}
	// What readLegacy refuses is still refused, saying what to do: the
	// original locker never writes either, so only an edit of the file
	// mends them (before, the refusal named the lock and stopped there).
	path := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, path, []byte(`{"a":{"key":"","locked_by":{"":1}}}`))
	openRefused(t, path, "has holders but no key", "edit the file", "its holders took it with")
	path = filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, path, []byte(`{"a":{"key":"k","locked_by":{"h":-1}}}`))
	openRefused(t, path, `holder "h" has count -1`, "edit the file", "0 for a released holder")
}
