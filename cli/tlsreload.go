package cli

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certReloadEvery is how often, at most, a TLS handshake has the
// certificate and key files looked at for a change.
const certReloadEvery = 5 * time.Second

// certReloader serves the certificate and key in SSL_CERT and SSL_KEY, and
// reads them again when either file changed on disk (its modification
// time, size or identity: renewed in place, or replaced by a rename or a
// moved symlink), so that a renewed certificate needs no restart. The files
// are looked at during handshakes, at most once every certReloadEvery, by
// one handshake while the others go on with the certificate in use. A pair
// that does not load (a certificate written before its key, or a bad file)
// is logged once and the certificate in use kept, until the files change
// again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // held by the handshake that looks at the files
	checked time.Time
	stamps  [2]fileStamp // of the pair last tried, loaded or not
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	mtime time.Time
	size  int64
	file  os.FileInfo // for os.SameFile
}

func stampOf(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mtime: info.ModTime(), size: info.Size(), file: info}, nil
}

func (a fileStamp) same(b fileStamp) bool {
	return a.mtime.Equal(b.mtime) && a.size == b.size && a.file != nil && b.file != nil && os.SameFile(a.file, b.file)
}

// newCertReloader loads the pair, or fails as the start did before.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, checked: time.Now()}
	// Stamped before they are read: a change in between is read again.
	r.stamps[0], _ = stampOf(certFile)
	r.stamps[1], _ = stampOf(keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert.Store(&cert)
	return r, nil
}

// GetCertificate is the tls.Config's.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if r.mu.TryLock() {
		if time.Since(r.checked) >= certReloadEvery {
			r.checked = time.Now()
			r.reload()
		}
		r.mu.Unlock()
	}
	return r.cert.Load(), nil
}

// reload reads the pair again if either file changed since it was last
// tried. With r.mu held.
func (r *certReloader) reload() {
	c, cerr := stampOf(r.certFile)
	k, kerr := stampOf(r.keyFile)
	if cerr == nil && kerr == nil && c.same(r.stamps[0]) && k.same(r.stamps[1]) {
		return
	}
	if cerr != nil || kerr != nil {
		// Gone for a moment (a renewal that removes, then writes) or
		// for good: looked at again next time, said once.
		if r.stamps != [2]fileStamp{} {
			err := cerr
			if err == nil {
				err = kerr
			}
			r.log.Warn("SSL_CERT/SSL_KEY cannot be read: the certificate in use is kept until they can", "err", err)
		}
		r.stamps = [2]fileStamp{}
		return
	}
	r.stamps = [2]fileStamp{c, k}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("SSL_CERT/SSL_KEY changed but do not load: the certificate in use is kept; write a certificate and its key (it is tried again when either file changes)", "cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	r.cert.Store(&cert)
	attrs := []any{"cert", r.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	r.log.Info("loaded the renewed TLS certificate (SSL_CERT, SSL_KEY) for new connections", attrs...)
}
