package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn, with
// key, and the key, as PEM to certFile and keyFile (each written in place,
// as a renewal tool that does not rename would); it returns the certificate.
func writeCert(t *testing.T, certFile, keyFile string, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert
}

// handshake connects to addr over TLS with cfg (InsecureSkipVerify: the
// tests look at the certificate themselves) and returns the connection's
// state.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	cfg.InsecureSkipVerify = true
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// TestServerTLSCipherSuites: over TLS 1.2 the server takes only the ECDHE
// suites with an AEAD (AES-GCM, ChaCha20-Poly1305), Mozilla's
// "intermediate"; CBC with SHA-1 or SHA-256, RSA key exchange, 3DES and
// RC4 are refused. TLS 1.3 works as before.
func TestServerTLSCipherSuites(t *testing.T) {
	good := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"ECDSA", ecKey}, {"RSA", rsaKey}} {
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			writeCert(t, certFile, keyFile, k.key, "locker e2e")
			s := startServer(t, []string{"SSL_CERT=" + certFile, "SSL_KEY=" + keyFile})
			addr := strings.TrimPrefix(s.URL, "https://")
			var suites []*tls.CipherSuite
			suites = append(suites, tls.CipherSuites()...)
			suites = append(suites, tls.InsecureCipherSuites()...)
			tried := 0
			for _, cs := range suites {
				if !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) || !strings.Contains(cs.Name, "_"+k.name+"_") && strings.Contains(cs.Name, "ECDHE") {
					continue // TLS 1.3's, or for the other kind of key
				}
				tried++
				st, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{cs.ID}})
				switch want := slices.Contains(good, cs.ID); {
				case want && err != nil:
					t.Errorf("%s over TLS 1.2: %v; want it taken", cs.Name, err)
				case !want && err == nil:
					t.Errorf("%s over TLS 1.2 was taken (%s); want it refused", cs.Name, tls.CipherSuiteName(st.CipherSuite))
				}
			}
			if tried < 8 {
				t.Fatalf("only %d suites tried", tried)
			}
			if st, err := handshake(addr, &tls.Config{MinVersion: tls.VersionTLS13}); err != nil || st.Version != tls.VersionTLS13 {
				t.Errorf("TLS 1.3: %v (version %x)", err, st.Version)
			}
			if st, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
				t.Errorf("TLS 1.1 was taken (version %x)", st.Version)
			}
			if err := s.Stop(); err != nil {
				t.Fatalf("SIGTERM: %v\n%s", err, s.Output())
			}
		})
	}
}

// TestServerTLSReloadsCertificate: a certificate renewed on disk while the
// server runs is served to new connections within seconds, without a
// restart; a certificate that does not go with the key (half a renewal) is
// logged and the one in use kept until the key follows.
func TestServerTLSReloadsCertificate(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writeCert(t, certFile, keyFile, key1, "first")
	s := startServer(t, []string{"SSL_CERT=" + certFile, "SSL_KEY=" + keyFile})
	addr := strings.TrimPrefix(s.URL, "https://")
	served := func() string {
		t.Helper()
		st, err := handshake(addr, &tls.Config{})
		if err != nil {
			t.Fatalf("handshake: %v\n%s", err, s.Output())
		}
		return st.PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("served %q at start; want first", cn)
	}

	// The new certificate first, its key not yet.
	next := t.TempDir()
	newCert, newKey := filepath.Join(next, "cert.pem"), filepath.Join(next, "key.pem")
	writeCert(t, newCert, newKey, key2, "second")
	copyFile(t, newCert, certFile)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(s.Output(), "SSL_CERT"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no word in the log of a certificate that does not go with the key:\n%s", s.Output())
		}
		if cn := served(); cn != "first" {
			t.Fatalf("served %q with a certificate that does not go with the key; want first, kept", cn)
		}
	}
	if !strings.Contains(s.Output(), "level=WARN") {
		t.Errorf("the failed reload is not logged at WARN:\n%s", s.Output())
	}

	// Then the key: the new pair is served.
	copyFile(t, newKey, keyFile)
	for deadline := time.Now().Add(20 * time.Second); served() != "second"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate is not served 20s after it was written:\n%s", s.Output())
		}
	}
	// And an HTTPS client that trusts only the new one works.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(b)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	if status, body := do(t, client, "PUT", s.URL+"/lock/renewed", `{"key":"k"}`); status != 200 {
		t.Fatalf("PUT with the renewed certificate: %d %s", status, body)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, s.Output())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
