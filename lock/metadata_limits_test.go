package lock_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

func nested(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

// TestMetadataDepthLimit: new metadata nests at most MaxMetadataDepth
// arrays and objects, so that what carries it (a log record, a snapshot
// entry, an answer) can always be decoded; brackets inside strings do not
// count.
func TestMetadataDepthLimit(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    string
		ok   bool
	}{
		{"at the limit", nested(lock.MaxMetadataDepth, "1"), true},
		{"objects at the limit", strings.Repeat(`{"a":`, lock.MaxMetadataDepth) + "1" + strings.Repeat("}", lock.MaxMetadataDepth), true},
		{"one past", nested(lock.MaxMetadataDepth+1, ""), false},
		{"objects one past", strings.Repeat(`{"a":`, lock.MaxMetadataDepth+1) + "1" + strings.Repeat("}", lock.MaxMetadataDepth+1), false},
		{"brackets in strings", `["` + strings.Repeat(`[{`, 500) + `\"[[[", "\\"]`, true},
		{"past encoding/json's own limit", nested(10001, ""), false},
		{"wide, not deep", "[" + strings.Repeat(nested(50, "1")+",", 100) + "1]", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := lock.ValidateMetadata(json.RawMessage(tt.m))
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateMetadata: %v, want accepted %v", err, tt.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), "levels deep; the limit is 100") || codeOf(t, err) != lock.EINVALID) {
				t.Fatalf("ValidateMetadata: %v (%s)", err, codeOf(t, err))
			}
		})
	}
}

// TestStoredMetadataHasNoInputLimits: the size and depth limits are for
// input; metadata a store holds is only checked to be JSON without NUL, so
// a store whose encoding made it longer than it came (escapes of <, > and
// &; PostgreSQL's 1e300 written out in full), or an older version's deeper
// metadata, still loads.
func TestStoredMetadataHasNoInputLimits(t *testing.T) {
	escaped := `"` + strings.Repeat(`\u003cb\u003ex\u003c/b\u003e\u0026`, 2000) + `"`
	digits := "[" + strings.Repeat("1"+strings.Repeat("0", 300)+",", 300) + "1]"
	for name, m := range map[string]string{
		"escaped past the size limit": escaped,
		"numbers written out":         digits,
		"deeper than the limit":       nested(9999, "1"),
	} {
		if len(m) <= lock.MaxMetadata && name != "deeper than the limit" {
			t.Fatalf("%s: only %d bytes", name, len(m))
		}
		if err := lock.CheckMetadata(json.RawMessage(m)); err != nil {
			t.Errorf("%s: CheckMetadata: %v", name, err)
		}
	}
	if err := lock.CheckMetadata(json.RawMessage(`"a\u0000"`)); err == nil {
		t.Error("CheckMetadata accepted NUL")
	}
	if err := lock.ValidateMetadata(json.RawMessage(escaped)); err == nil || !strings.Contains(err.Error(), "the limit is 65536") {
		t.Errorf("ValidateMetadata of %d bytes: %v", len(escaped), err)
	}
}

// TestAddToPoolSameValueStoredLongerIsNoChange: metadata a store gives
// back longer than it came (escaped) is the same value: sending it again
// changes nothing and records nothing.
func TestAddToPoolSameValueStoredLongerIsNoChange(t *testing.T) {
	sent := `"` + strings.Repeat("<b>x</b>&", 2400) + `"`
	stored := `"` + strings.Repeat(`\u003cb\u003ex\u003c/b\u003e\u0026`, 2400) + `"`
	if lock.ValidateMetadata(json.RawMessage(sent)) != nil || len(stored) <= lock.MaxMetadata {
		t.Fatal("the test's metadata is not what it should be")
	}
	l := lock.Lock{Name: "m", Pools: []string{"p"}, Metadata: json.RawMessage(stored), FreeSince: t0}
	if events, _ := lock.AddToPool(&l, "p", json.RawMessage(sent), newEnv().env(t0)); len(events) != 0 || string(l.Metadata) != stored {
		t.Errorf("adding the same value again: %d events, metadata of %d bytes", len(events), len(l.Metadata))
	}
}
