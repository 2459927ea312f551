package cli

import (
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Env {
	return func(k string) string { return m[k] }
}

func TestHardeningConfig(t *testing.T) {
	base := map[string]string{"LOCKER_CONFIG": "/tmp/x.yml"}
	with := func(kv ...string) Env {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return envOf(m)
	}
	c, err := loadServerConfig(with())
	if err != nil {
		t.Fatal(err)
	}
	if c.maxConns != 4096 || c.readHeader != 10*time.Second || c.readBody != 30*time.Second || c.idle != 2*time.Minute ||
		c.authLimit.PerMinute != 10 || c.authLimit.TrustedProxies != nil || c.readOnly.Set() {
		t.Errorf("defaults: %+v", c)
	}
	c, err = loadServerConfig(with("LOCKER_MAX_CONNECTIONS", "20", "LOCKER_READ_HEADER_TIMEOUT", "2s", "LOCKER_READ_TIMEOUT", "3s",
		"LOCKER_IDLE_TIMEOUT", "4s", "LOCKER_AUTH_FAILURES_PER_MINUTE", "0", "LOCKER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,::1",
		"AUTH_USER", "u", "AUTH_PASS", "p", "LOCKER_READONLY_USER", "r", "LOCKER_READONLY_PASS", "rp",
		"LOCKER_ALLOWED_HOSTS", " Locker.Example.com., ,ops-locker,*.Ops.Example"))
	if err != nil {
		t.Fatal(err)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("::1/128")}
	if c.maxConns != 20 || c.readHeader != 2*time.Second || c.readBody != 3*time.Second || c.idle != 4*time.Second ||
		c.authLimit.PerMinute != 0 || !reflect.DeepEqual(c.authLimit.TrustedProxies, wantProxies) || c.readOnly.User != "r" || c.readOnly.Pass != "rp" ||
		!reflect.DeepEqual(c.allowedHosts, []string{"locker.example.com", "ops-locker", "*.ops.example"}) {
		t.Errorf("set: %+v", c)
	}
	for _, bad := range []struct {
		env  Env
		want string
	}{
		{with("LOCKER_MAX_CONNECTIONS", "0"), "LOCKER_MAX_CONNECTIONS"},
		{with("LOCKER_MAX_CONNECTIONS", "many"), "LOCKER_MAX_CONNECTIONS"},
		{with("LOCKER_READ_HEADER_TIMEOUT", "0s"), "LOCKER_READ_HEADER_TIMEOUT"},
		{with("LOCKER_READ_TIMEOUT", "10x"), "LOCKER_READ_TIMEOUT"},
		{with("LOCKER_READ_TIMEOUT", "0.5ns"), "LOCKER_READ_TIMEOUT"},
		{with("LOCKER_MAX_TTL", "0.5ns"), "LOCKER_MAX_TTL"},
		{with("LOCKER_MAX_WAIT", "-1"), "LOCKER_MAX_WAIT"},
		{with("LOCKER_IDLE_TIMEOUT", "-1m"), "LOCKER_IDLE_TIMEOUT"},
		{with("LOCKER_AUTH_FAILURES_PER_MINUTE", "-1"), "LOCKER_AUTH_FAILURES_PER_MINUTE"},
		{with("LOCKER_TRUSTED_PROXIES", "10.0.0.0/8,lb.example"), "LOCKER_TRUSTED_PROXIES"},
		{with("LOCKER_ALLOWED_HOSTS", "https://locker.example.com"), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_ALLOWED_HOSTS", "locker.example.com:3000"), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_ALLOWED_HOSTS", "*."), "LOCKER_ALLOWED_HOSTS"}, // *.${DOMAIN} with DOMAIN unset
		{with("LOCKER_ALLOWED_HOSTS", "foo.*.com"), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_ALLOWED_HOSTS", "*example.com"), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_ALLOWED_HOSTS", "*..com"), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_ALLOWED_HOSTS", ".example.com"), "LOCKER_ALLOWED_HOSTS"}, // ${SUB}.example.com with SUB unset
		{with("LOCKER_ALLOWED_HOSTS", "."), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_ALLOWED_HOSTS", "a.example.com.."), "LOCKER_ALLOWED_HOSTS"},
		{with("LOCKER_READONLY_USER", "r"), "LOCKER_READONLY_PASS"},
		{with("LOCKER_READONLY_USER", "r", "LOCKER_READONLY_PASS", "p"), "needs AUTH_USER"},
		{with("AUTH_USER", "u", "AUTH_PASS", "p", "LOCKER_READONLY_USER", "u", "LOCKER_READONLY_PASS", "x"), "must differ"},
	} {
		if _, err := loadServerConfig(bad.env); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("want a refusal naming %s, got %v", bad.want, err)
		}
	}
}

func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2, slog.New(slog.DiscardHandler))
	accepted := make(chan net.Conn, 10)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	for i := range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = i
	}
	var open []net.Conn
	for range 2 {
		select {
		case c := <-accepted:
			open = append(open, c)
		case <-time.After(10 * time.Second):
			t.Fatal("the first two connections were not accepted")
		}
	}
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with a cap of 2")
	case <-time.After(200 * time.Millisecond):
	}
	open[0].Close()
	open[0].Close() // a second Close frees nothing more
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	ln.Close()
	select {
	case <-acceptErr:
	case <-time.After(10 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}
