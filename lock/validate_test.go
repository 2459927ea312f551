package lock_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

func TestHasLoneSurrogate(t *testing.T) {
	tests := []struct {
		json string
		want bool
	}{
		{`"plain"`, false},
		{`"\u00e9\u4e2d"`, false},
		{`"\ud83d\ude00"`, false}, // a pair: U+1F600
		{`"\uD83D\uDE00"`, false}, // upper-case hex
		{`"a\ud83d\ude00b\udbff\udfff"`, false},
		{`"\ud800"`, true}, // a first half alone
		{`"\udc00"`, true}, // a second half alone
		{`"a\ud800b"`, true},
		{`"\ud800\u0041"`, true},       // followed by another escape
		{`"\ud800\ud800\udc00"`, true}, // two first halves, then a second
		{`"\ude00\ud83d"`, true},       // the halves the wrong way round
		{`"\ud800\\udc00"`, true},      // an escaped backslash between them
		{`"\\ud800"`, false},           // a backslash, then the text ud800
		{`"\\\ud800"`, true},
		{`"\\\\ud800"`, false},
		{`{"k":["\ud83d\ude00","\udfff"]}`, true},
		{`["\ud83d"]`, true}, // cut off by the end of the string
	}
	for _, tt := range tests {
		if !json.Valid([]byte(tt.json)) {
			t.Fatalf("%s is not valid JSON", tt.json)
		}
		if got := lock.HasLoneSurrogate([]byte(tt.json)); got != tt.want {
			t.Errorf("HasLoneSurrogate(%s) = %v, want %v", tt.json, got, tt.want)
		}
	}
}

// TestMetadataChecks: new metadata must be valid UTF-8 without halves of
// surrogate pairs; metadata already stored (by a version that let them
// in) still passes CheckMetadata, so its file loads.
func TestMetadataChecks(t *testing.T) {
	tests := []struct {
		name      string
		m         string
		validate  bool // ValidateMetadata accepts it
		storedOK  bool // CheckMetadata accepts it
		errorText string
	}{
		{"object", `{"region":"eu","n":1}`, true, true, ""},
		{"a pair", `"\ud83d\ude00"`, true, true, ""},
		{"invalid UTF-8", "{\"a\":\"\xff\xfe\"}", false, true, "not valid UTF-8"},
		{"half a pair", `{"a":"\ud800"}`, false, true, "surrogate"},
		{"NUL", `"a\u0000b"`, false, false, "NUL"},
		{"not JSON", `{"a":}`, false, false, "not valid JSON"},
		// Portable JSON (RFC 7493): one value a key, numbers a double holds.
		{"a key twice", `{"a":1,"b":2,"a":3}`, false, true, `the key "a" twice`},
		{"a key twice, nested", `[{"x":{"a":[{"b":1}],"a":{}}}]`, false, true, `the key "a" twice`},
		{"a key in two objects", `{"a":{"a":1},"b":[{"a":2},{"a":3}],"c":{"b":{}}}`, true, true, ""},
		{"keys that differ by an escape", `{"a":1,"\u0061":2}`, false, true, `the key "a" twice`},
		{"the largest double", `[1.7976931348623157e308,-1.7976931348623157E+308,5e-324]`, true, true, ""},
		{"a number past a double", `{"n":1e400}`, false, true, "1e400, which a double cannot hold"},
		{"a number past a double, negative", `[-2e308]`, false, true, "double"},
		{"a number too small for a double", `[1e-400]`, false, true, "1e-400, which a double cannot hold"},
		{"zeros", `[0,-0,0.0,0e-999,-0.000E+5,0E1000,0e-1000]`, true, true, ""},
		{"a zero with a huge exponent", `[0e-17000]`, false, true, "exponent is beyond"},
		{"a zero with a huger exponent", `[0E+99999999999999999999]`, false, true, "exponent is beyond"},
		{"a number of 100 characters", `[1.` + strings.Repeat("1", 98) + `]`, true, true, ""},
		{"a number of 101 characters", `[1.` + strings.Repeat("1", 99) + `]`, false, true, "101 characters; the limit is 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lock.ValidateMetadata(json.RawMessage(tt.m))
			if (err == nil) != tt.validate {
				t.Errorf("ValidateMetadata: %v, want accepted %v", err, tt.validate)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errorText) {
				t.Errorf("ValidateMetadata: %q does not say %q", err, tt.errorText)
			}
			if err != nil && codeOf(t, err) != lock.EINVALID {
				t.Errorf("ValidateMetadata: code %q", codeOf(t, err))
			}
			if err := lock.CheckMetadata(json.RawMessage(tt.m)); (err == nil) != tt.storedOK {
				t.Errorf("CheckMetadata: %v, want accepted %v", err, tt.storedOK)
			}
		})
	}
}
