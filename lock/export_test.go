package lock

import "encoding/json"

// SameJSONForTest exposes sameJSON to the package's external tests.
func SameJSONForTest(a, b string) bool { return sameJSON(json.RawMessage(a), json.RawMessage(b)) }
