package resource

// The lock named after a BOSH director (source.bosh_lock): asking the
// director its name, and the files that keep it for later steps.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lock"
)

// lockName resolves the lock's name: lock_name, or the BOSH director's name.
// dir, when set, is the put's directory of build artifacts: if the director
// cannot be reached, the name a get of this resource wrote there earlier in
// the build is used.
func (r *runner) lockName(ctx context.Context, attempts int, dir string) (string, error) {
	if r.name != "" {
		return r.name, nil
	}
	if r.src.LockName != "" {
		r.name = r.src.LockName
		return r.name, nil
	}
	var name string
	what := "reading the BOSH director's name from " + redactURL(strings.TrimRight(r.src.BoshLock, "/")+"/info")
	err := r.retry(ctx, what, attempts, func() error {
		var err error
		name, err = r.boshName(ctx)
		if err != nil && dir != "" && transient(err) {
			if cached := cachedBoshName(dir, r.src.BoshLock); cached != "" {
				r.log.printf("%s: %v; using the name %q that a get of this resource wrote earlier in the build", what, err, cached)
				name, err = cached, nil
			}
		}
		return err
	})
	if err != nil {
		return "", err
	}
	r.log.printf("using the BOSH director's name %q as the lock name", name)
	r.name = name
	return name, nil
}

// boshError is a failure to learn a BOSH director's name.
type boshError struct {
	msg       string
	transient bool
	tls       bool   // the certificate could not be verified
	cause     string // for tls: what failed, in short
}

func (e *boshError) Error() string { return e.msg }

// boshName asks the director for its name: GET <bosh_lock>/info, which needs
// no credentials. Its certificate is checked as the locker server's is, with
// source.ca_cert and source.skip_ssl_validation — except that, as the
// original resource never checked it (curl -k), a director whose
// certificate cannot be verified while no ca_cert is given is still asked,
// with a warning: existing pipelines keep working.
func (r *runner) boshName(ctx context.Context) (string, error) {
	name, err := r.boshInfo(ctx, r.src.SkipSSLValidation)
	var be *boshError
	if errors.As(err, &be) && be.tls && strings.TrimSpace(r.src.CACert) == "" && !r.src.SkipSSLValidation {
		r.log.printf("warning: %s; reading its name without checking the certificate, as the original resource did. To check it, add the director's CA to source.ca_cert", be.cause)
		return r.boshInfo(ctx, true)
	}
	return name, err
}

func (r *runner) boshInfo(ctx context.Context, skipVerify bool) (string, error) {
	base := strings.TrimRight(r.src.BoshLock, "/")
	shown := redactURL(base + "/info")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify}
	if strings.TrimSpace(r.src.CACert) != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM([]byte(r.src.CACert))
		cfg.RootCAs = pool
	}
	tr.TLSClientConfig = cfg
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/info", nil)
	if err != nil {
		return "", &boshError{msg: fmt.Sprintf("source.bosh_lock %s is not a usable URL", redactURL(r.src.BoshLock))}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "locker-resource")
	resp, err := hc.Do(req)
	if err != nil {
		reason := client.Reason(err)
		if tlsTrouble(err) {
			return "", &boshError{tls: true, cause: fmt.Sprintf("the BOSH director's certificate at %s could not be verified (%s)", shown, reason), msg: fmt.Sprintf("cannot read the BOSH director's name from %s (%s); BOSH directors usually have a certificate signed by their own CA: add that CA's PEM to source.ca_cert (it may hold several certificates), or set source.skip_ssl_validation: true", shown, reason)}
		}
		msg := fmt.Sprintf("cannot reach the BOSH director at %s (%s)", shown, reason)
		if p := proxyText(base); p != "" {
			msg += ", " + p
		}
		return "", &boshError{msg: msg, transient: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &boshError{msg: fmt.Sprintf("cannot read the BOSH director's answer from %s (%s)", shown, client.Reason(err)), transient: true}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &boshError{
			msg:       fmt.Sprintf("the BOSH director at %s answered %s; is source.bosh_lock the director's URL (such as https://10.0.0.6:25555)?", shown, resp.Status),
			transient: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
		}
	}
	var info struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", &boshError{msg: fmt.Sprintf("the answer from %s is not a BOSH director's info (%v); is source.bosh_lock the director's URL?", shown, err)}
	}
	if info.Name == nil || *info.Name == "" {
		return "", &boshError{msg: fmt.Sprintf("the BOSH director's info at %s has no \"name\" to use as the lock name", shown)}
	}
	if err := lock.ValidateName("the BOSH director's name", *info.Name); err != nil {
		return "", &boshError{msg: fmt.Sprintf("%s (from %s)", err.Error(), shown)}
	}
	return *info.Name, nil
}

// Files that in writes to tell, later in the build, which director a lock
// was named after.
const boshLockFile = "bosh_lock"

// cachedBoshName looks in a put's directory of build artifacts for one that
// a get of a resource with the same bosh_lock wrote (its bosh_lock file
// holds the URL without the password), and returns the lock name it holds.
func cachedBoshName(dir, boshLock string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), boshLockFile))
		// The get writes the URL without its password; one from before
		// that wrote it whole.
		if got := strings.TrimSpace(string(b)); err != nil || got != client.RedactURL(strings.TrimSpace(boshLock)) && got != strings.TrimSpace(boshLock) {
			continue
		}
		name, err := os.ReadFile(filepath.Join(dir, e.Name(), "name"))
		if err == nil && lock.ValidateName("name", string(name)) == nil {
			return string(name)
		}
	}
	return ""
}
