package resource

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
	"sort"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lock"
)

// runner runs one command against the configured server.
type runner struct {
	src *Source
	c   *client.Client
	log *logger
	// name is the lock's name, once known (see lockName).
	name string
	// cut is the last wait a proxy cut short (waitFailed): a step that
	// gives up at source.timeout says it, whatever ended its last request.
	cut error
}

func newRunner(src *Source, log *logger) (*runner, error) {
	c, err := client.New(client.Options{
		URL:                src.LockerURI,
		User:               src.Username,
		Pass:               src.Password,
		CACert:             []byte(src.CACert),
		InsecureSkipVerify: src.SkipSSLValidation,
		PollInterval:       src.RetryDelay,
		WaitChunk:          src.WaitChunk,
		UserAgent:          "locker-resource",
	})
	if err != nil {
		// parseSource has checked the URL and the certificate: this is
		// unexpected. The client's messages quote the URL without its
		// password.
		return nil, fmt.Errorf("cannot use source.locker_uri %s: %s", redactURL(src.LockerURI), strings.TrimPrefix(err.Error(), "locker client: "))
	}
	return &runner{src: src, c: c, log: log}, nil
}

// explain turns an error from the server into a message that says what to
// do about it.
func (r *runner) explain(err error) error {
	var (
		ce *client.ConnError
		wc *client.WaitCutError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wc):
		return &cutError{wc}
	case errors.As(err, &ce) && certTrouble(ce.Err):
		return fmt.Errorf("%w; if the server's certificate is signed by your own CA, put that CA's PEM in source.ca_cert (or, for a test server, set source.skip_ssl_validation: true)", err)
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("the locker server refused the credentials: %w; check source.username and source.password", err)
	case errors.Is(err, client.ErrForbidden):
		return fmt.Errorf("the locker server does not allow this: %w", err)
	case notARoute(err):
		return fmt.Errorf("%w: the lock's routes are not there; is source.locker_uri (%s) the locker server's base URL, such as https://locker.example.com:8910 (without a path, unless a proxy serves the locker under one)?", err, redactURL(r.src.LockerURI))
	}
	return err
}

// notARoute reports whether err is a 404 that says the route does not
// exist (Locker's "no such route", or a 404 from something that is not
// Locker), rather than Locker's 404 about a lock or pool.
func notARoute(err error) bool {
	var ae *client.APIError
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &ae) {
		return false
	}
	return !ae.FromLocker() || strings.HasPrefix(ae.Message, "no such route")
}

// cutError is a wait that a proxy's timeout likely cut short, explained
// for a pipeline: its remedy is source.wait_chunk, not the client's
// Options.WaitChunk that the client's error names.
type cutError struct{ wc *client.WaitCutError }

func (e *cutError) Unwrap() error { return e.wc }

func (e *cutError) Error() string {
	return e.wc.Explain("the resource", "set source.wait_chunk below it, e.g. wait_chunk: %s (see docs/concourse.md)")
}

// waitFailed is what a wait's loop says of err before it asks again: the
// error explained, and for a wait cut short, that the step lost its place
// in the server's queue (the server gave up the request the proxy cut).
func (r *runner) waitFailed(err error) string {
	msg := r.explain(err).Error()
	if errors.As(err, new(*client.WaitCutError)) {
		r.cut = err
		msg += "; this step lost its place in the server's queue"
	}
	return msg
}

// tlsTrouble reports whether a network error is about certificates or TLS
// (an https:// URL for a plain-HTTP server among them), which trying again
// will not fix.
func tlsTrouble(err error) bool {
	return certTrouble(err) || strings.Contains(client.Reason(err), "HTTPS")
}

// certTrouble reports whether a network error is about the server's
// certificate, which source.ca_cert may fix.
func certTrouble(err error) bool {
	reason := client.Reason(err)
	return strings.HasPrefix(reason, "TLS") || strings.Contains(reason, "x509") || strings.Contains(reason, "tls:")
}

// transient reports whether an error may go away by itself: the server
// could not be reached (for a reason other than TLS), or was unavailable.
func transient(err error) bool {
	var ce *client.ConnError
	var be *boshError
	switch {
	case errors.Is(err, client.ErrUnavailable):
		return true
	case errors.As(err, &ce):
		return !tlsTrouble(ce.Err)
	case errors.As(err, &be):
		return be.transient
	}
	return false
}

// backoff is the delay between attempts: 1s (or retry_delay if shorter),
// doubling up to retry_delay.
type backoff struct{ cur, max time.Duration }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = min(time.Second, b.max)
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retry calls fn until it succeeds, fails for good, or ctx ends, waiting
// with a back-off after transient failures. attempts > 0 bounds the calls.
func (r *runner) retry(ctx context.Context, what string, attempts int, fn func() error) error {
	b := backoff{max: r.src.RetryDelay}
	for n := 1; ; n++ {
		err := fn()
		if err == nil || !transient(err) || ctx.Err() != nil || (attempts > 0 && n >= attempts) {
			return err
		}
		d := b.next()
		r.log.printf("%s: %v; trying again in %s", what, err, d)
		if sleep(ctx, d) != nil {
			return err
		}
	}
}

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
		return "", &boshError{msg: fmt.Sprintf("cannot reach the BOSH director at %s (%s)", shown, reason), transient: true}
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
// a get of a resource with the same bosh_lock wrote, and returns the lock
// name it holds.
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
		if err != nil || strings.TrimSpace(string(b)) != strings.TrimSpace(boshLock) {
			continue
		}
		name, err := os.ReadFile(filepath.Join(dir, e.Name(), "name"))
		if err == nil && lock.ValidateName("name", string(name)) == nil {
			return string(name)
		}
	}
	return ""
}

// getLock reads the lock's state. A lock the server has never seen is free.
// With the original server, which has no GET /lock/<name>, it reads the
// lock from GET /locks.
func (r *runner) getLock(ctx context.Context, name string) (*client.Lock, error) {
	l, err := r.c.Get(ctx, name)
	if err == nil {
		return l, nil
	}
	var ae *client.APIError
	if !errors.As(err, &ae) || (ae.StatusCode != http.StatusNotFound && ae.StatusCode != http.StatusMethodNotAllowed) {
		return nil, err
	}
	if ae.StatusCode == http.StatusNotFound && strings.HasPrefix(ae.Message, "no lock named") {
		// This server knows GET /lock/<name>, and never saw the lock.
		return &client.Lock{Name: name, LockedBy: map[string]int{}, State: "free"}, nil
	}
	locks, err := r.c.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range locks {
		if locks[i].Name == name {
			return &locks[i], nil
		}
	}
	return &client.Lock{Name: name, LockedBy: map[string]int{}, State: "free", Legacy: true}, nil
}

// countOf is how many holds holder has on l under key.
func countOf(l *client.Lock, key, holder string) int {
	if l.Key != key {
		return 0
	}
	return l.LockedBy[holder]
}

// describe says who holds a lock, for messages.
func describe(l *client.Lock) string {
	if l.Free() {
		return "free"
	}
	s := fmt.Sprintf("held by key %q (holders: %s)", l.Key, holdersText(l, true))
	if !l.Since.IsZero() {
		s += " since " + l.Since.UTC().Format(time.RFC3339)
	}
	return s
}

// holdersText lists a lock's holders: `deploy-1 x2, deploy-2`, quoted
// (`"deploy-1" x2, "deploy-2"`) if quote.
func holdersText(l *client.Lock, quote bool) string {
	hs := l.Holders()
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h
		if quote {
			parts[i] = fmt.Sprintf("%q", h)
		}
		if n := l.LockedBy[h]; n > 1 {
			parts[i] += fmt.Sprintf(" x%d", n)
		}
	}
	return strings.Join(parts, ", ")
}

// versionOf is the version for a lock's state: it changes whenever the
// lock is taken or given back, by anyone, and only then. The fencing token
// grows each time the lock goes from free to held, so a state never comes
// back as an earlier version (the original server has no fencing token:
// there, the same holders give the same version).
func versionOf(l *client.Lock) Version {
	holders, _ := json.Marshal(sortedCounts(l.LockedBy))
	v := Version{"state": l.State, "key": l.Key, "holders": string(holders)}
	if v["state"] == "" {
		v["state"] = "free"
	}
	if !l.Legacy {
		v["fence"] = fmt.Sprint(l.Fence)
	}
	return v
}

// version is versionOf(l) for this resource: with bosh_lock, it also
// carries the lock's name (the director's), so that a get of it — the
// implicit get after an unlock, in a directory of its own — can read the
// lock while the director is down.
func (r *runner) version(l *client.Lock) Version {
	v := versionOf(l)
	if r.src.BoshLock != "" && r.name != "" {
		v["name"] = r.name
	}
	return v
}

// sortedCounts drops zero counts (json.Marshal sorts a map's keys).
func sortedCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for h, n := range m {
		if n > 0 {
			out[h] = n
		}
	}
	return out
}

func sameVersion(a, b Version) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// metadata is Concourse's list of name/value pairs.
type metadata []nameValue

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (m *metadata) add(name, value string) { *m = append(*m, nameValue{name, value}) }

// lockMetadata describes a lock's state.
func lockMetadata(l *client.Lock) metadata {
	var m metadata
	m.add("lock", l.Name)
	m.add("state", l.State)
	if !l.Free() {
		m.add("key", l.Key)
		m.add("holders", holdersText(l, false))
		if !l.Since.IsZero() {
			m.add("since", l.Since.UTC().Format(time.RFC3339))
		}
	}
	if !l.Legacy {
		m.add("fence", fmt.Sprint(l.Fence))
	}
	if !l.Expires.IsZero() {
		m.add("expires", l.Expires.UTC().Format(time.RFC3339))
	}
	return m
}

// response is what in and out print on stdout.
type response struct {
	Version  Version  `json:"version"`
	Metadata metadata `json:"metadata"`
}

// holderNames returns the sorted holder names of a count map.
func holderNames(m map[string]int) []string {
	var hs []string
	for h, n := range m {
		if n > 0 {
			hs = append(hs, h)
		}
	}
	sort.Strings(hs)
	return hs
}
