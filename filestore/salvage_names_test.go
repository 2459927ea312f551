package filestore

import (
	"slices"
	"testing"
)

// TestSalvageListsNoNameTheDamageMade: bytes that are not UTF-8 in a name
// are damage (a name is UTF-8 when it is written, and encoding/json writes
// any other byte escaped), so the name they make was never a lock's.
// Before, a record whose "loc" was overwritten with 0xff bytes was listed
// as "\ufffd\ufffd\ufffdk-083856", "not in the store", beside the real
// "lock-083856" an event of the same record still named.
func TestSalvageListsNoNameTheDamageMade(t *testing.T) {
	b := []byte(`{"lock":{"name":"` + "\xff\xff\xff" + `k-083856","key":"k"},"events":[{"type":"acquired","lock":"lock-083856","key":"k"}]}`)
	if got, want := lockNamesIn(b), []string{"lock-083856"}; !slices.Equal(got, want) {
		t.Errorf("lockNamesIn = %q, want %q", got, want)
	}
	// A name with characters beyond ASCII, written as they are, is kept.
	b = []byte(`{"lock":{"name":"ünïcødé/ロック 🔒","key":"k"}`)
	if got, want := lockNamesIn(b), []string{"ünïcødé/ロック 🔒"}; !slices.Equal(got, want) {
		t.Errorf("lockNamesIn = %q, want %q", got, want)
	}
}
