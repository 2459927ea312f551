package cli

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// The server sends metadata with <, > and & escaped (\u003c, Go's JSON
// encoding of HTML characters): the one-line summary in pool add and pool
// ls shows them as the characters they are, as typed, not as their
// escapes. An escaped backslash before u003c stays as it is.
func TestMetadataSummaryHTMLCharacters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"url": "http://h/?a=1&b=<2>"}`, `{"url":"http://h/?a=1&b=<2>"}`},
		{`{"url":"http://h/?a=1\u0026b=\u003c2\u003E"}`, `{"url":"http://h/?a=1&b=<2>"}`},
		{`["\\u003c", "\\\u003c", "\"\u0026"]`, `["\\u003c","\\<","\"&"]`},
		{`{"x": "\u001b[2J"}`, `{"x":"\u001b[2J"}`},
	} {
		if got := metadataSummary(json.RawMessage(tc.in), 80); got != tc.want {
			t.Errorf("metadataSummary(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}

	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	locker(t, ctx, env, "pool", "add", "envs", "e1", "--metadata", `{"url":"http://h/?a=1&b=2"}`).
		want(t, 0, `^'e1' is a member of pool 'envs' \(free\); metadata: \{"url":"http://h/\?a=1&b=2"\}\n$`, `^$`)
	locker(t, ctx, env, "pool", "ls").want(t, 0, `(?m)^envs +1/1 +e1 +free +- +- +- +\{"url":"http://h/\?a=1&b=2"\}$`, `^$`)
}
