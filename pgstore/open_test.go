package pgstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// waitLogger is a logger that signals each "waiting for the database".
type waitLogger struct{ waiting chan struct{} }

func (h waitLogger) Enabled(context.Context, slog.Level) bool { return true }
func (h waitLogger) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h waitLogger) WithGroup(string) slog.Handler            { return h }
func (h waitLogger) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "waiting for the database" {
		select {
		case h.waiting <- struct{}{}:
		default:
		}
	}
	return nil
}

// withHost is url u with its host:port replaced.
func withHost(t *testing.T, u, hostPort string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = hostPort
	return p.String()
}

// TestOpenWaitsForTheDatabase: a replica that starts before its database
// (a whole deployment started at once) waits for it, as docs/ha.md says,
// instead of exiting at once (a docs review found it exited at once).
func TestOpenWaitsForTheDatabase(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	p, _ := url.Parse(schemaURL)
	f := startFreezer(t, p.Host)
	f.mu.Lock()
	f.refusing = true // connections are taken and closed: a database not up yet
	f.mu.Unlock()
	log := waitLogger{waiting: make(chan struct{}, 1)}
	opened := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 60*time.Second)
		defer cancel()
		s, err := pgstore.Open(ctx, withHost(t, schemaURL, f.addr()), pgstore.Options{Logger: slog.New(log)})
		if err == nil {
			_, _, err = s.Get(bg, "x")
			s.Close()
		}
		opened <- err
	}()
	select {
	case <-log.waiting:
	case err := <-opened:
		t.Fatalf("Open with the database away returned without waiting: %v", err)
	}
	f.mu.Lock()
	f.refusing = false // the database is up
	f.mu.Unlock()
	if err := <-opened; err != nil {
		t.Fatalf("Open once the database came up: %v", err)
	}
}

// TestOpenPreparesInTimeOfItsOwn: the time Open waits for the database
// (StartWait) is not taken from what preparing it needs once it answers: a
// replica whose migration waits (here on the migration lock, held as by
// another replica's migration) for longer than StartWait still opens. A
// review found one 30 s for both: a database up near the end of the wait
// failed the start with a bare "context deadline exceeded".
func TestOpenPreparesInTimeOfItsOwn(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	p, _ := url.Parse(schemaURL)
	f := startFreezer(t, p.Host)
	f.mu.Lock()
	f.refusing = true
	f.mu.Unlock()
	release := holdMigrationLock(t, schemaURL)
	const startWait = 1500 * time.Millisecond
	log := waitLogger{waiting: make(chan struct{}, 1)}
	opened := make(chan error, 1)
	go func() {
		s, err := pgstore.Open(bg, withHost(t, schemaURL, f.addr()), pgstore.Options{Logger: slog.New(log), StartWait: startWait})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	<-log.waiting
	f.mu.Lock()
	f.refusing = false // the database is up, and the migration waits
	f.mu.Unlock()
	time.Sleep(startWait + time.Second)
	select {
	case err := <-opened:
		t.Fatalf("Open returned while the migration lock was held: %v", err)
	default:
	}
	release()
	if err := <-opened; err != nil {
		t.Fatalf("Open once the migration lock was free: %v", err)
	}
}

// TestOpenGivesUp: a database that never comes up is waited for until the
// context ends, and the error says so; one that refuses us (no such
// database) is not waited for.
func TestOpenGivesUp(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there: connection refused
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	_, err = pgstore.Open(ctx, withHost(t, schemaURL, closed), pgstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "did not come up in time") {
		t.Fatalf("Open with nothing at the address: %v", err)
	}

	// Told to stop meanwhile (SIGTERM): said so, not "did not come up".
	stopCtx, stop := context.WithCancel(bg)
	time.AfterFunc(600*time.Millisecond, stop)
	_, err = pgstore.Open(stopCtx, withHost(t, schemaURL, closed), pgstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "stopped while waiting for the database") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Open stopped while waiting: %v", err)
	}

	p, _ := url.Parse(schemaURL)
	p.Path = "/locker_no_such_database"
	log := waitLogger{waiting: make(chan struct{}, 1)}
	ctx, cancel = context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	_, err = pgstore.Open(ctx, p.String(), pgstore.Options{Logger: slog.New(log)})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "did not come up") {
		t.Fatalf("Open of a database that does not exist: %v", err)
	}
	select {
	case <-log.waiting:
		t.Fatal("Open waited for a database that does not exist")
	default:
	}
}

// TestOpenRefusedCertificateIsNotWaitedFor: a server certificate that does
// not verify will not verify in a minute either: Open fails at once (a
// review saw it tried again for 30 s).
func TestOpenRefusedCertificateIsNotWaitedFor(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	probe, err := pgstore.Open(ctx, schemaURL+"&sslmode=require", pgstore.Options{})
	if err != nil {
		t.Skipf("the test database does not serve TLS: %v", err)
	}
	probe.Close()

	// A CA that signed nothing the server has.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the database's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	log := waitLogger{waiting: make(chan struct{}, 1)}
	ctx, cancel = context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	_, err = pgstore.Open(ctx, schemaURL+"&sslmode=verify-ca&sslrootcert="+url.QueryEscape(ca), pgstore.Options{Logger: slog.New(log)})
	if err == nil || strings.Contains(err.Error(), "did not come up") {
		t.Fatalf("Open with a CA that did not sign the server's certificate: %v", err)
	}
	select {
	case <-log.waiting:
		t.Fatalf("Open waited for a certificate to verify: %v", err)
	default:
	}
}

// holdMigrationLock takes the schema's migration lock (pgstore's
// migrateLockID) on a connection of its own, as another replica
// migrating the schema holds it; release gives it back.
func holdMigrationLock(t *testing.T, schemaURL string) (release func()) {
	t.Helper()
	other, err := pgx.Connect(bg, schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(bg) })
	const migrateLockID = 0x6c6f636b6572
	if _, err := other.Exec(bg, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := other.Exec(bg, `SELECT pg_advisory_unlock($1)`, migrateLockID); err != nil {
			t.Fatal(err)
		}
	}
}
