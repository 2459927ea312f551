package httpapi_test

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
)

// TestBehindATrustedProxyHistoryAndLogsNameTheClient: behind a trusted
// proxy (LOCKER_TRUSTED_PROXIES), a force release's history names the
// client that X-Forwarded-For gives, not the proxy, and log lines say
// both; from any other peer the header is not believed.
func TestBehindATrustedProxyHistoryAndLogsNameTheClient(t *testing.T) {
	var logs syncBuffer
	s, _ := newHardenedStack(t, httpapi.Config{
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		AuthLimit: httpapi.AuthLimit{PerMinute: 10, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}},
	})
	xff := header("X-Forwarded-For", "203.0.113.7")
	for _, tc := range []struct {
		peer, by, remote string
	}{
		{"127.0.0.2", "anonymous@203.0.113.7", `remote="203.0.113.7 via 127.0.0.2:`},
		{"127.0.0.3", "anonymous@127.0.0.3:", `remote=127.0.0.3:`},
	} {
		c := clientFrom(tc.peer)
		s.sendFrom(c, "PUT", "/lock/x", `{"key":"k"}`, xff).expect(t, 200, "lock")
		s.sendFrom(c, "DELETE", "/lock/x?force=true", "", xff).expect(t, 200, "force")
		h := s.history(t, "x")
		if last := h[len(h)-1]; last.Type != "forced" || !strings.HasPrefix(last.By, tc.by) {
			t.Errorf("from %s: last history event = %+v, want forced by %s…", tc.peer, last, tc.by)
		}
		var line string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `msg="force release"`) {
				line = l
			}
		}
		if !strings.Contains(line, tc.remote) {
			t.Errorf("from %s: the force release's log line %q, want %s…", tc.peer, line, tc.remote)
		}
	}
}
