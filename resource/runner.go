package resource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
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
	// proxy says, when the environment names a proxy for the server's
	// URL (http_proxy, https_proxy: a Concourse worker may set them in
	// the container), that the requests go through it: "" otherwise.
	proxy string
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
	return &runner{src: src, c: c, log: log, proxy: proxyText(src.LockerURI)}, nil
}

// proxyText says which proxy the environment names for requests to raw
// (http.ProxyFromEnvironment, which the client's transport uses), without
// its password: "" when they go straight to the server.
func proxyText(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	if err != nil || p == nil {
		return ""
	}
	vars := "HTTP_PROXY or http_proxy"
	if u.Scheme == "https" {
		vars = "HTTPS_PROXY or https_proxy"
	}
	return fmt.Sprintf("through the proxy %s that the environment's %s names (a Concourse worker sets them for its containers); a server to be reached directly belongs in NO_PROXY or no_proxy", client.RedactURL(p.String()), vars)
}

// explain turns an error from the server into a message that says what to
// do about it.
func (r *runner) explain(err error) (explained error) {
	var (
		ce *client.ConnError
		wc *client.WaitCutError
	)
	if err != nil && r.proxy != "" && errors.As(err, &ce) {
		// The proxy is what could not be reached, or refused: the
		// client's message names only the server.
		defer func() { explained = fmt.Errorf("%w, %s", explained, r.proxy) }()
	}
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
		r.log.printf("%s: %v; trying again in %s", what, r.explain(err), d)
		if sleep(ctx, d) != nil {
			return err
		}
	}
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

// held is what holder has on a lock under key: its count, and the lock's
// fence while it has some (none with the original server).
type held struct {
	count int
	fence uint64
}

func heldOf(l *client.Lock, key, holder string) held {
	n := countOf(l, key, holder)
	if n == 0 || l.Legacy {
		return held{count: n}
	}
	return held{n, l.Fence}
}

// newer reports whether now shows a hold taken since before: a higher
// count, or a new fence (the lock was released and taken afresh under
// our key and holder since), as the client judges its read-backs.
func (now held) newer(before held) bool {
	return now.count > 0 && (now.count > before.count || now.fence != before.fence)
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
