package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFlagErrorsNameFlagsAsDocumented: a bad flag value or an unknown flag
// is reported with the two dashes every help text and doc writes (--wait),
// not the flag package's one (-wait).
func TestFlagErrorsNameFlagsAsDocumented(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lock", "x", "--wait", "abc"}, `for flag --wait`},
		{[]string{"lock", "x", "--nope"}, `not defined: --nope`},
		{[]string{"bench", "--runs", "x"}, `for flag --runs`},
		{[]string{"server", "--nope"}, `not defined: --nope`},
	} {
		var out, errb bytes.Buffer
		err := Run(context.Background(), append([]string{"locker"}, tc.args...), func(string) string { return "" }, &out, &errb)
		if err == nil {
			t.Errorf("locker %s: no error", strings.Join(tc.args, " "))
			continue
		}
		if got := errb.String() + err.Error(); !strings.Contains(got, tc.want) || strings.Contains(got, "flag -"+strings.TrimPrefix(tc.want[strings.LastIndex(tc.want, "--"):], "--")) {
			t.Errorf("locker %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
