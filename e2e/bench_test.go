package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchThroughTheBinary runs the benchmark harness as a user does: the
// built binary starts a server of its own (--spawn) and the ceiling server,
// drives both, and reports as JSON; then again with clients that pause
// between their changes (--think).
func TestBenchThroughTheBinary(t *testing.T) {
	type result struct {
		Target    string  `json:"target"`
		Ops       int64   `json:"ops"`
		Errors    int64   `json:"errors"`
		Think     string  `json:"think"`
		Ratio     float64 `json:"ceiling_ratio"`
		OpsPerSec float64 `json:"ops_per_sec"`
	}
	run := func(args ...string) []result {
		t.Helper()
		out, code := runLocker(t, nil, append([]string{"bench", "--spawn", "--duration", "300ms", "--concurrency", "2", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("locker bench %q: exit %d\n%s", args, code, out)
		}
		// Progress goes to stderr, which runLocker mixes in: the report
		// is the JSON object that starts a line.
		var rep struct {
			Results []result `json:"results"`
		}
		if err := json.NewDecoder(strings.NewReader(out[strings.Index(out, "\n{")+1:])).Decode(&rep); err != nil {
			t.Fatalf("locker bench %q: %v\n%s", args, err, out)
		}
		for _, r := range rep.Results {
			if r.Ops <= 0 || r.Errors != 0 || r.OpsPerSec <= 0 {
				t.Errorf("locker bench %q: %+v", args, r)
			}
		}
		return rep.Results
	}
	rs := run("--ceiling")
	if len(rs) != 2 || rs[0].Target != "locker" || rs[1].Target != "ceiling" || rs[0].Ratio <= 0 {
		t.Errorf("with --ceiling: %+v", rs)
	}
	rs = run("--think", "5ms")
	if len(rs) != 1 || rs[0].Think != "5ms" {
		t.Errorf("with --think: %+v", rs)
	}
}
