package cli

import (
	"strings"
	"testing"
)

// A LOCKER_LISTEN whose port is not a port number is refused by the
// configuration, naming the variable (docs/deploy.md: a bad value stops
// the server at start with a message that names it), as PORT is; before,
// the listen failed with "listening on 127.0.0.1:99999: ... invalid port",
// which named no variable.
func TestListenPortChecked(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:x", "127.0.0.1:", "[::1]:70000"} {
		_, err := loadServerConfig(envOf(map[string]string{"LOCKER_CONFIG": "/tmp/x.yml", "LOCKER_LISTEN": listen}))
		if err == nil || !strings.Contains(err.Error(), "LOCKER_LISTEN") || !strings.Contains(err.Error(), listen) {
			t.Errorf("LOCKER_LISTEN=%s: got %v, want a refusal naming LOCKER_LISTEN and the value", listen, err)
		}
	}
	for listen, want := range map[string]string{"127.0.0.1": "127.0.0.1:3000", "127.0.0.1:0": "127.0.0.1:0", "[::1]:3001": "[::1]:3001", "::1": "[::1]:3000", ":3002": ":3002",
		// An IPv6 address as URLs write it, without a port: it was made
		// "[[::1]]:3000", and the listen failed with "missing port".
		"[::1]": "[::1]:3000", "[::]": "[::]:3000"} {
		c, err := loadServerConfig(envOf(map[string]string{"LOCKER_CONFIG": "/tmp/x.yml", "LOCKER_LISTEN": listen}))
		if err != nil || c.listen != want {
			t.Errorf("LOCKER_LISTEN=%s: listen %q, %v; want %q", listen, c.listen, err, want)
		}
	}
}
