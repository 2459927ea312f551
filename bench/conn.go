package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// conn is one keep-alive HTTP/1.1 client connection. The load generator
// needs its own CPU to stay small next to the server's on a 2-core machine,
// so it speaks HTTP/1.1 directly (request line, a few headers, a body;
// Content-Length or chunked responses) instead of going through net/http's
// client, whose per-request goroutine hand-offs cost about as much CPU as
// the server's handling. It is not safe for concurrent use: each worker
// has its own.
type conn struct {
	t    *endpoint
	c    net.Conn
	r    *bufio.Reader
	w    []byte // request being built
	body []byte // last response body (reused)
	// watched is the context of the requests on c; when it ends, unwatch's
	// function puts c's deadline in the past, which abandons the request
	// in flight.
	watched context.Context
	unwatch func() bool
	// sent says whether the last request was (perhaps partly) written: if
	// it failed after that, the server may have acted on it.
	sent bool
}

// endpoint is a server to talk to.
type endpoint struct {
	url     string // as given
	addr    string // host:port
	host    string // Host header
	base    string // the URL's path, escaped, without its last "/": the API's prefix
	tls     *tls.Config
	auth    string // "Basic ..." or ""
	timeout time.Duration
}

func newEndpoint(rawURL, user, pass string, insecure bool, caCert []byte) (*endpoint, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL // host:port, as the client takes it
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %v", rawURL, err)
	}
	e := &endpoint{url: rawURL, host: u.Host, base: strings.TrimRight(u.EscapedPath(), "/"), timeout: 60 * time.Second}
	switch u.Scheme {
	case "http":
		e.addr = hostPort(u, "80")
	case "https":
		e.addr = hostPort(u, "443")
		e.tls = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
		if len(caCert) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(caCert) {
				return nil, errors.New("the CA certificate has no PEM certificate in it")
			}
			e.tls.RootCAs = pool
		}
	default:
		return nil, fmt.Errorf("--url %q: use http:// or https://", rawURL)
	}
	if u.User != nil && user == "" {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	if user != "" {
		e.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	return e, nil
}

func hostPort(u *url.URL, def string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), def)
}

func (e *endpoint) newConn() *conn { return &conn{t: e} }

func (c *conn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if c.t.tls != nil {
		tlc := tls.Client(nc, c.t.tls)
		if err := tlc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return err
		}
		nc = tlc
	}
	c.c = nc
	if c.r == nil {
		c.r = bufio.NewReaderSize(nc, 32<<10)
	} else {
		c.r.Reset(nc)
	}
	return nil
}

// Close closes the connection.
func (c *conn) Close() {
	if c.unwatch != nil {
		c.unwatch()
		c.watched, c.unwatch = nil, nil
	}
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// aLongTimeAgo is a deadline that has passed: it ends a read or write at
// once.
var aLongTimeAgo = time.Unix(1, 0)

// watch makes the end of ctx abandon the request in flight on c.c.
func (c *conn) watch(ctx context.Context) {
	if c.watched == ctx {
		return
	}
	if c.unwatch != nil && !c.unwatch() {
		// The last request's context ended: its function may have put
		// the deadline in the past, even after this request sets it.
		c.Close()
	}
	c.watched, c.unwatch = nil, nil
	if c.c == nil {
		return
	}
	nc := c.c
	c.watched, c.unwatch = ctx, context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
}

// response is what do returns: the status and, unless discarded, the body
// (valid until the next request on the connection).
type response struct {
	status int
	body   []byte
	size   int64
}

var errProtocol = errors.New("malformed HTTP response")

// do sends one request and reads its response. path must be escaped
// already; it follows the endpoint URL's path, if any (a server behind a
// proxy, at http://host/prefix/). With discard, the body of a 2xx response is counted but not
// kept. The end of ctx
// abandons the request (and returns ctx's cause), as does no answer
// within the endpoint's timeout. A failed request closes the connection;
// the next one dials again.
func (c *conn) do(ctx context.Context, method, path string, body []byte, discard bool) (response, error) {
	c.sent = false
	resp, err := c.try(ctx, method, path, body, discard)
	if err != nil {
		c.Close()
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx)
		case errors.As(err, &ne) && ne.Timeout():
			err = fmt.Errorf("no answer within %s", c.t.timeout)
		}
	}
	return resp, err
}

func (c *conn) try(ctx context.Context, method, path string, body []byte, discard bool) (response, error) {
	c.watch(ctx)
	if c.c == nil {
		if err := c.dial(ctx); err != nil {
			return response{}, err
		}
		c.watch(ctx)
	}
	w := c.w[:0]
	w = append(w, method...)
	w = append(w, ' ')
	w = append(w, c.t.base...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, c.t.host...)
	w = append(w, "\r\nUser-Agent: locker-bench\r\n"...)
	if c.t.auth != "" {
		w = append(w, "Authorization: "...)
		w = append(w, c.t.auth...)
		w = append(w, "\r\n"...)
	}
	if body != nil {
		w = append(w, "Content-Type: application/json\r\nContent-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	c.w = w
	c.c.SetDeadline(time.Now().Add(c.t.timeout))
	// After the deadline is set: ctx's end from here on puts it in the
	// past.
	if err := ctx.Err(); err != nil {
		return response{}, err
	}
	c.sent = true
	if _, err := c.c.Write(w); err != nil {
		return response{}, err
	}
	return c.readResponse(method, discard)
}

func (c *conn) readResponse(method string, discard bool) (response, error) {
	var resp response
	line, err := c.line()
	if err != nil {
		return resp, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return resp, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	resp.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return resp, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	// An error's body is kept: it says why.
	discard = discard && resp.status/100 == 2
	length := int64(-1)
	chunked, closeAfter := false, line[7] == '0' // HTTP/1.0 closes by default
	for {
		line, err := c.line()
		if err != nil {
			return resp, err
		}
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			return resp, fmt.Errorf("%w: header %q", errProtocol, line)
		}
		name, value := line[:i], bytes.TrimSpace(line[i+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return resp, fmt.Errorf("%w: Content-Length %q", errProtocol, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				closeAfter = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				closeAfter = false
			}
		}
	}
	c.body = c.body[:0]
	switch {
	case method == "HEAD" || resp.status == 204 || resp.status == 304 || (resp.status >= 100 && resp.status < 200):
	case chunked:
		for {
			line, err := c.line()
			if err != nil {
				return resp, err
			}
			if i := bytes.IndexByte(line, ';'); i >= 0 {
				line = line[:i]
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil || n < 0 {
				return resp, fmt.Errorf("%w: chunk size %q", errProtocol, line)
			}
			if n == 0 {
				for { // trailers
					line, err := c.line()
					if err != nil {
						return resp, err
					}
					if len(line) == 0 {
						break
					}
				}
				break
			}
			if err := c.readBody(n, discard, &resp); err != nil {
				return resp, err
			}
			if line, err := c.line(); err != nil || len(line) != 0 {
				return resp, fmt.Errorf("%w: no CRLF after a chunk", errProtocol)
			}
		}
	case length >= 0:
		if err := c.readBody(length, discard, &resp); err != nil {
			return resp, err
		}
	default:
		// Body until the server closes the connection.
		closeAfter = true
		if err := c.readBody(-1, discard, &resp); err != nil {
			return resp, err
		}
	}
	resp.body = c.body
	if closeAfter {
		c.Close()
	}
	return resp, nil
}

// readBody reads n bytes of body (n < 0: until EOF).
func (c *conn) readBody(n int64, discard bool, resp *response) error {
	switch {
	case n >= 0 && discard:
		got, err := c.r.Discard(int(n))
		resp.size += int64(got)
		return noEOF(err)
	case n >= 0:
		start := len(c.body)
		c.body = slices.Grow(c.body, int(n))[:start+int(n)]
		got, err := io.ReadFull(c.r, c.body[start:])
		resp.size += int64(got)
		return noEOF(err)
	case discard:
		got, err := io.Copy(io.Discard, c.r)
		resp.size += got
		return err
	default:
		buf := bytes.NewBuffer(c.body)
		got, err := buf.ReadFrom(c.r)
		c.body = buf.Bytes()
		resp.size += got
		return err
	}
}

// noEOF turns an EOF in the middle of a body into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// line reads one CRLF-terminated line, without the CRLF.
func (c *conn) line() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: line too long", errProtocol)
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
