package e2e

import (
	"context"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestClientTLSAuthAgainstBinary uses the client package and the CLI against
// the built server with HTTPS, basic auth and an admin user.
func TestClientTLSAuthAgainstBinary(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	certFile, keyFile, cert := selfSignedCert(t)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	s := startServer(t, []string{
		"SSL_CERT=" + certFile, "SSL_KEY=" + keyFile,
		"AUTH_USER=ci", "AUTH_PASS=secret",
		"LOCKER_ADMIN_USER=root", "LOCKER_ADMIN_PASS=toor",
	})
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("server URL %s", s.URL)
	}
	ctx := context.Background()
	newC := func(o client.Options) *client.Client {
		t.Helper()
		o.URL = s.URL
		c, err := client.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	user := newC(client.Options{CACert: certPEM, User: "ci", Pass: "secret"})
	l, err := user.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "deploy-a", TTL: time.Minute})
	if err != nil || l.Fence != 1 || l.Holds["deploy-a"].Expires.IsZero() {
		t.Fatalf("Lock over HTTPS: %+v %v", l, err)
	}

	_, err = newC(client.Options{User: "ci", Pass: "secret"}).List(ctx)
	if !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("without the CA: %v", err)
	}
	if _, err := newC(client.Options{InsecureSkipVerify: true, User: "ci", Pass: "secret"}).Get(ctx, "prod"); err != nil {
		t.Fatalf("skip-verify: %v", err)
	}
	if _, err := newC(client.Options{CACert: certPEM, User: "ci", Pass: "wrong"}).Get(ctx, "prod"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := user.ForceUnlock(ctx, "prod"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("force as the user: %v", err)
	}
	admin := newC(client.Options{CACert: certPEM, User: "root", Pass: "toor"})
	if l, err := admin.ForceUnlock(ctx, "prod"); err != nil || !l.Free() {
		t.Fatalf("force as the admin: %+v %v", l, err)
	}
	h, err := user.History(ctx, "prod")
	if err != nil || len(h) != 2 || h[1].Type != "forced" || h[1].By != "root" {
		t.Fatalf("history: %+v %v", h, err)
	}

	// Blocking acquire over HTTPS: handed over when released.
	if _, err := user.Lock(ctx, "db", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := user.Acquire(ctx, "db", client.LockOptions{Key: "b", Wait: time.Minute})
		got <- err
	}()
	cliWait(t, "the acquire waits", func() bool { l, err := user.Get(ctx, "db"); return err == nil && l.Waiters == 1 })
	if _, err := user.Unlock(ctx, "db", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	// The CLI: CA from a file, from the variable's PEM text, or no check.
	env := []string{"LOCKER_URL=" + s.URL, "LOCKER_USER=ci", "LOCKER_PASS=secret"}
	for _, extra := range [][]string{
		{"--ca-cert", certFile},
		{"--insecure"},
	} {
		if stdout, stderr, code, _ := cliExec(env, append([]string{"status", "db"}, extra...)...); code != 0 || !strings.Contains(stdout, "key 'b'") {
			t.Fatalf("status %q: exit %d\n%s%s", extra, code, stdout, stderr)
		}
	}
	if stdout, stderr, code, _ := cliExec(append(env, "LOCKER_CA_CERT="+string(certPEM)), "ls"); code != 0 || !strings.Contains(stdout, "db ") {
		t.Fatalf("LOCKER_CA_CERT as PEM: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code, _ := cliExec(append(env, "LOCKER_CA_CERT="+certFile), "unlock", "db", "--force"); code != 1 || !strings.Contains(stderr, "not allowed: only the admin user") {
		t.Fatalf("force as the user: exit %d %s", code, stderr)
	}
	if stdout, stderr, code, _ := cliExec(append(env, "LOCKER_INSECURE=true"), "unlock", "db", "--force", "--user", "root", "--pass", "toor"); code != 0 || !strings.Contains(stdout, "force-released") {
		t.Fatalf("force as the admin: exit %d %s%s", code, stdout, stderr)
	}
	_, stderr, code, _ := cliExec(env, "ls")
	if code != 1 || !strings.Contains(stderr, "cannot reach locker at "+s.URL+" (TLS: the server's certificate is signed by an unknown authority); give the CA certificate with --ca-cert FILE") {
		t.Fatalf("untrusted: exit %d %s", code, stderr)
	}
	_, stderr, code, _ = cliExec([]string{"LOCKER_URL=" + s.URL, "LOCKER_INSECURE=1"}, "ls")
	if code != 1 || !strings.Contains(stderr, "the server refused the credentials") {
		t.Fatalf("no credentials: exit %d %s", code, stderr)
	}
}

// TestClientKeepAgainstBinary: the client's keeper keeps a hold whose lease
// the server capped (LOCKER_MAX_TTL) alive for several of its lengths, and
// says it is lost when an operator forces the lock.
func TestClientKeepAgainstBinary(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, []string{"LOCKER_MAX_TTL=1s"})
	ctx := context.Background()
	c, err := client.New(client.Options{URL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Keep(ctx, l, "k", "deploy", client.KeepOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	time.Sleep(3500 * time.Millisecond)
	if now, err := c.Get(ctx, "prod"); err != nil || now.LockedBy["deploy"] != 1 || k.Err() != nil {
		t.Fatalf("after three and a half lengths of a 1s lease kept: %+v, %v, keeper: %v", now, err, k.Err())
	}
	if out, code := runLocker(t, []string{"LOCKER_URL=" + s.URL}, "unlock", "prod", "--force"); code != 0 {
		t.Fatalf("locker unlock --force: %d %s", code, out)
	}
	select {
	case <-k.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the keeper did not notice the forced release")
	}
	if err := k.Err(); !errors.Is(err, client.ErrLost) || !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Err = %v, want ErrLost and ErrNotFound", err)
	}
}
