package cli

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigWarnings: the settings a server starts with but warns about,
// each in one line that says what to do.
func TestConfigWarnings(t *testing.T) {
	all := &net.TCPAddr{IP: net.IPv6unspecified, Port: 3000}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 3000}
	public := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 3000}
	loop := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 3000}
	loop6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 3000}
	auth := []string{"AUTH_USER", "u", "AUTH_PASS", "p"}
	for _, c := range []struct {
		env  []string
		addr net.Addr
		tls  bool
		want []string // a part of each warning, in order
	}{
		{nil, all, false, []string{"no AUTH_USER"}},
		{nil, any4, true, []string{"no AUTH_USER"}},
		{nil, public, false, []string{"no AUTH_USER"}},
		{nil, loop, false, nil},
		{nil, loop6, false, nil},
		{auth, all, false, []string{"plain HTTP"}},
		{auth, public, false, []string{"plain HTTP"}},
		{auth, all, true, nil},
		{auth, loop, false, nil},
		{[]string{"LOCKER_ADMIN_USER", "a", "LOCKER_ADMIN_PASS", "p"}, all, false, []string{"no AUTH_USER", "plain HTTP"}},
		{[]string{"LOCKER_ADMIN_USER", "a", "LOCKER_ADMIN_PASS", "p"}, loop, false, nil},
		{[]string{"LOCKER_TRUSTED_PROXIES", "0.0.0.0/0"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "::/0"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "10.0.1.0/24, 2001:db8::/48, 192.0.2.7, ::1, 127.0.0.1"}, loop, false, nil},
		// Private ranges (where a lock server's clients live: the same
		// VPC, pod or Docker network) wider than one subnet, /24 or /64.
		{[]string{"LOCKER_TRUSTED_PROXIES", "10.0.0.0/8"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "10.0.0.0/16"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "172.17.0.0/16"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "192.168.0.0/23"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "100.64.0.0/16"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "127.0.0.0/8"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "fd00::/48"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "fd00:1:2:3::/64, 192.168.7.0/24, 100.64.3.0/24, 172.28.0.10"}, loop, false, nil},
		// Public ranges wider than a provider's load balancers need
		// (Google's front ends are a /16 and a /22), or a site's IPv6.
		{[]string{"LOCKER_TRUSTED_PROXIES", "35.191.0.0/16, 130.211.0.0/22"}, loop, false, nil},
		{[]string{"LOCKER_TRUSTED_PROXIES", "35.190.0.0/15"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "2001:db8::/47"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "2001:db8::/32"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		// IPv4-mapped: the IPv4 range they stand for.
		{[]string{"LOCKER_TRUSTED_PROXIES", "::ffff:0.0.0.0/96"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "::ffff:10.0.0.0/104"}, loop, false, []string{"LOCKER_TRUSTED_PROXIES"}},
		{[]string{"LOCKER_TRUSTED_PROXIES", "::ffff:10.0.1.0/120, ::ffff:192.0.2.7"}, loop, false, nil},
		{append([]string{"LOCKER_TRUSTED_PROXIES", "10.0.0.1,0.0.0.0/0"}, auth...), all, false, []string{"plain HTTP", "LOCKER_TRUSTED_PROXIES"}},
	} {
		m := map[string]string{"LOCKER_CONFIG": "/tmp/x.yml"}
		for i := 0; i < len(c.env); i += 2 {
			m[c.env[i]] = c.env[i+1]
		}
		cfg, err := loadServerConfig(envOf(m))
		if err != nil {
			t.Fatal(err)
		}
		ws := configWarnings(cfg, c.addr, c.tls)
		var got []string
		for _, w := range ws {
			got = append(got, w.msg)
			if strings.Contains(w.msg, "\n") {
				t.Errorf("a warning of more than one line: %q", w.msg)
			}
		}
		ok := len(got) == len(c.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.Contains(got[i], c.want[i])
		}
		if !ok {
			t.Errorf("env %q on %v (TLS %v): warnings %q; want %q", c.env, c.addr, c.tls, got, c.want)
		}
	}
}

// TestStartWarnsInTheLog: the server logs them at start (WARN) and starts
// all the same.
func TestStartWarnsInTheLog(t *testing.T) {
	for _, c := range []struct {
		listen string
		env    []string
		want   []string
	}{
		{"0.0.0.0:0", []string{"AUTH_USER", "u", "AUTH_PASS", "p", "LOCKER_TRUSTED_PROXIES", "0.0.0.0/0"},
			[]string{`level=WARN msg="credentials are set but served over plain HTTP`, `level=WARN msg="LOCKER_TRUSTED_PROXIES trusts a range wider`, "prefixes=0.0.0.0/0"}},
		{"0.0.0.0:0", nil, []string{`level=WARN msg="no AUTH_USER`}},
		{"127.0.0.1:0", nil, nil},
	} {
		// A small cap on connections: a machine's low open-files limit
		// would add its own warning (TestOpenFilesWarning).
		m := map[string]string{"LOCKER_CONFIG": filepath.Join(t.TempDir(), "locks.yml"), "LOCKER_LISTEN": c.listen, "LOCKER_MAX_CONNECTIONS": "64"}
		for i := 0; i < len(c.env); i += 2 {
			m[c.env[i]] = c.env[i+1]
		}
		ctx, cancel := context.WithCancel(context.Background())
		stdout, stderr := &syncBuffer{}, &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- Run(ctx, []string{"locker"}, envOf(m), stdout, stderr) }()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stdout.String(), "locker listening on"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the server did not start: %s", stderr.String())
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("the server stopped with %v\n%s", err, stderr.String())
		}
		log := stderr.String()
		for _, w := range c.want {
			if !strings.Contains(log, w) {
				t.Errorf("listening on %s with %q: the log does not say %q:\n%s", c.listen, c.env, w, log)
			}
		}
		if n := strings.Count(log, "level=WARN"); n != len(c.want)-strings.Count(strings.Join(c.want, "\n"), "prefixes=") {
			t.Errorf("listening on %s with %q: %d warnings:\n%s", c.listen, c.env, n, log)
		}
	}
}

// TestOpenFilesWarning: an open-files limit that LOCKER_MAX_CONNECTIONS
// would run into (with room for the store's own files) is warned of at
// start: past it the server takes no connection until one closes (a
// review reproduced that with ulimit -n 40).
func TestOpenFilesWarning(t *testing.T) {
	for _, c := range []struct {
		max   int
		limit uint64
		warn  bool
	}{
		{4096, 40, true},
		{4096, 4096, true},
		{4096, 4096 + openFilesMargin - 1, true},
		{4096, 4096 + openFilesMargin, false},
		{4096, 65536, false},
		{100, 1024, false},
		{4096, 0, false}, // unknown
	} {
		w := openFilesWarning(c.max, c.limit)
		if (w != nil) != c.warn {
			t.Errorf("LOCKER_MAX_CONNECTIONS=%d with %d open files: warning %v, want %v", c.max, c.limit, w, c.warn)
		}
		if w != nil && (!strings.Contains(w.msg, "LOCKER_MAX_CONNECTIONS") || !strings.Contains(w.msg, "LimitNOFILE")) {
			t.Errorf("the warning does not say what to do: %q", w.msg)
		}
	}
}
