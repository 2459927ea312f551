package resource_test

import (
	"net"
	"strings"
	"testing"
)

// TestUnreachableProxySaysSo: a Concourse worker may set http_proxy and
// https_proxy in the resource's container, and the requests to the locker
// server go through that proxy unless no_proxy names the server. When the
// proxy cannot be reached, or refuses, the step's message names the proxy
// (without its password) and where it came from: "cannot reach locker at
// http://locker.example (connection refused)" alone sent the pipeline's
// author to a server that was never asked.
func TestUnreachableProxySaysSo(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: the proxy refuses connections
	source := obj{"locker_uri": "http://locker.example:8910", "lock_name": "prod", "retry_delay": "100ms", "timeout": "1s"}
	env := []string{"HTTP_PROXY=http://proxyuser:proxysecret@" + addr, "NO_PROXY=other.example"}
	for _, c := range []struct {
		cmd    string
		params obj
	}{
		{"check", nil},
		{"out", lockParams("deploy", "")},
	} {
		args := []string{c.cmd}
		if c.cmd == "out" {
			args = append(args, t.TempDir())
		}
		p := startEnv(t, binary, request(source, c.params, nil), env, args...)
		r := p.wait()
		if r.code == 0 {
			t.Fatalf("%s succeeded through a proxy that is not there:\n%s", c.cmd, r.stderr)
		}
		for _, want := range []string{"through the proxy http://***@" + addr, "HTTP_PROXY", "NO_PROXY"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.cmd, want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "proxysecret") {
			t.Errorf("%s: stderr shows the proxy's password:\n%s", c.cmd, r.stderr)
		}
	}
}

// TestUnreachableProxyForTheDirectorSaysSo: the same for bosh_lock's
// director, asked its name through the environment's proxy.
func TestUnreachableProxyForTheDirectorSaysSo(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	source := obj{"locker_uri": "http://127.0.0.1:1", "bosh_lock": "http://director.example:25555", "retry_delay": "100ms"}
	env := []string{"HTTP_PROXY=http://proxyuser:proxysecret@" + addr}
	r := startEnv(t, binary, request(source, nil, nil), env, "check").wait()
	if r.code == 0 {
		t.Fatalf("check succeeded through a proxy that is not there:\n%s", r.stderr)
	}
	for _, want := range []string{"cannot reach the BOSH director", "through the proxy http://***@" + addr, "NO_PROXY"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "proxysecret") {
		t.Errorf("stderr shows the proxy's password:\n%s", r.stderr)
	}
}
