package httpapi

// Request decoding: the body and query string of PUT, DELETE and refresh
// (and the pool routes), into a lockRequest. Responses are encoded in
// encode.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudfoundry-community/locker/internal/jsonscan"
	"github.com/cloudfoundry-community/locker/lock"
)

// maxBody is the largest request body accepted.
const maxBody = 1 << 20

// lockRequest is a PUT, DELETE or refresh request, from the JSON body and the
// query string. The holder has three spellings: lock_by (the seed's PUT),
// locked_by (the seed's DELETE) and requestor (the original clients).
type lockRequest struct {
	Key    string
	Holder string
	Wait   time.Duration
	TTL    time.Duration
	Force  bool
	// Fence, on a refresh, names the hold to renew by its fence token
	// (0: whichever the key and holder have); on a release, the hold to
	// give back (0: whichever the key and holder have); on a force
	// release, the holds to end (0: whatever holds the lock).
	Fence uint64
	// Acquired, on a release or refresh, names the hold meant by the time
	// it began (zero: whichever the key and holder have): within one
	// holding period (one fence) the same key and holder can have held
	// several holds, one after another.
	Acquired time.Time
	// Metadata is nil when the body had none (JSON null counts as none).
	Metadata json.RawMessage
}

// requestBody is the JSON body; every field is optional here.
type requestBody struct {
	Key       *string   `json:"key"`
	LockBy    *string   `json:"lock_by"`
	LockedBy  *string   `json:"locked_by"`
	Requestor *string   `json:"requestor"`
	Wait      *duration `json:"wait"`
	TTL       *duration `json:"ttl"`
	Force     *bool     `json:"force"`
	Fence     *uint64   `json:"fence"`
	Acquired  *string   `json:"acquired"`
	// Metadata is a pool member's metadata (PUT /pool/{pool}/{member}).
	Metadata json.RawMessage `json:"metadata"`
}

// duration decodes a Go duration string ("30s", "5m") or a number of seconds.
type duration time.Duration

// durationError is a bad duration in a valid JSON body.
type durationError struct{ err error }

func (e durationError) Error() string { return e.err.Error() }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := lock.ParseDuration(s)
		if err != nil {
			return durationError{err}
		}
		*d = duration(v)
		return nil
	}
	var secs json.Number
	if err := json.Unmarshal(b, &secs); err != nil {
		return durationError{errors.New(`a duration is a string such as "30s" or "5m", or a number of seconds`)}
	}
	v, err := lock.SecondsText(string(secs))
	if err != nil {
		return durationError{err}
	}
	*d = duration(v)
	return nil
}

// readBody reads r's body, up to maxBody bytes, as io.ReadAll does. A small
// body of a known length is read into a buffer of that length (and a byte
// to spare, to see its end): io.ReadAll starts with 512 bytes, where
// clients send a few tens, and that was a tenth of the garbage a lock
// request made. Larger ones grow as they arrive, as with io.ReadAll, so
// that a client cannot make the server set aside a megabyte by announcing
// one.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n > maxBody {
		// Announced over the limit: refused at once, not after reading a
		// megabyte, nor after LOCKER_READ_TIMEOUT when the client sends
		// no body until it is told to go on (Expect: 100-continue) or
		// sends none at all. net/http then closes the connection.
		return nil, &http.MaxBytesError{Limit: maxBody}
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	if n < 0 {
		// Of unknown length (chunked): its first smallBody bytes as
		// any, the rest, if any, under a place (largeBodies).
		head, err := io.ReadAll(io.LimitReader(body, smallBody+1))
		if err != nil || len(head) <= smallBody {
			return head, err
		}
		release, err := takeLargeBody(w, r)
		if err != nil {
			return nil, err
		}
		defer release()
		rest, err := io.ReadAll(body)
		return append(head, rest...), err
	}
	if n > smallBody {
		release, err := takeLargeBody(w, r)
		if err != nil {
			return nil, err
		}
		defer release()
		return io.ReadAll(body)
	}
	buf := make([]byte, n, n+1)
	for got := 0; got < len(buf); {
		m, err := body.Read(buf[got:])
		got += m
		if err == io.EOF {
			return buf[:got], nil // shorter than announced: what io.ReadAll gives
		}
		if err != nil {
			return nil, err
		}
	}
	m, err := body.Read(buf[n : n+1])
	switch {
	case m == 0 && err == io.EOF:
		return buf, nil
	case err != nil && err != io.EOF:
		return nil, err
	}
	rest, err := io.ReadAll(body) // longer than announced: read on
	return append(buf[:n+int64(m)], rest...), err
}

// formBody reports whether a body that is not JSON reads as form data
// (key=k&lock_by=h) naming a field of the lock routes.
func formBody(raw []byte) bool {
	if bytes.ContainsAny(raw, "{}[]\"") {
		return false
	}
	q, err := url.ParseQuery(strings.TrimSpace(string(raw)))
	if err != nil {
		return false
	}
	for _, name := range queryFields {
		if q.Has(name) {
			return true
		}
	}
	return false
}

// smallBody is the largest announced body readBody sets a buffer aside for.
const smallBody = 4 << 10

// largeBodies bounds the request bodies over smallBody read at once, each
// holding a place while it is read. A body is read into memory whole, up
// to maxBody, and a client may take LOCKER_READ_TIMEOUT (30s) to send it:
// each connection could so hold up to a megabyte and more (a review: 400
// connections, each sending nearly 1 MiB and then nothing, took the
// server's heap to 480 MB; LOCKER_MAX_CONNECTIONS, 4096 by default, would
// have been 5 GB). Lock requests are a few tens of bytes and never wait for
// a place; past the bound, a large body (pool metadata, or padding) gets
// 503 and its connection is closed. A variable for tests.
var largeBodies = make(chan struct{}, 64)

// takeLargeBody takes a place in largeBodies for r's body and returns the
// function that gives it back; with none free, EUNAVAILABLE, and r's
// connection is closed after the answer (its body is left unread).
func takeLargeBody(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	places := largeBodies
	select {
	case places <- struct{}{}:
		return func() { <-places }, nil
	default:
		closeAfter(w, r)
		return nil, lock.Errorf(lock.EUNAVAILABLE, "too many request bodies over %d bytes are being received at once (limit %d); try again shortly", smallBody, cap(places))
	}
}

// decodeLockRequest reads the body (optional) and the query string. Body
// fields win; the query fills in what the body leaves out (some clients and
// proxies drop DELETE bodies). The holder defaults to the key.
func decodeLockRequest(w http.ResponseWriter, r *http.Request) (lockRequest, error) {
	var body requestBody
	raw, err := readBody(w, r)
	if err != nil {
		if lock.ErrorCode(err) == lock.EUNAVAILABLE {
			return lockRequest{}, err // no place to read it in
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return lockRequest{}, lock.Errorf(lock.ETOOLARGE, "request body is over %d bytes", maxBody)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read timeout (LOCKER_READ_TIMEOUT) ran out
			// while the body trickled in.
			return lockRequest{}, lock.Errorf(lock.ETIMEOUT, "the request body did not arrive in time; nothing was changed")
		}
		return lockRequest{}, lock.Errorf(lock.EINVALID, "reading the request body: %v", err)
	}
	if err := decodeBody(raw, &body); err != nil {
		if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") && lock.ErrorCode(err) == lock.EINVALID {
			// A compressed body reads as bytes that are not UTF-8, or
			// not JSON: say why, which "not valid UTF-8" did not.
			return lockRequest{}, lock.Errorf(lock.EINVALID, "%s (the body was sent with Content-Encoding: %s, which the server does not decode; send it uncompressed)", lock.ErrorMessage(err), ce)
		}
		if lock.ErrorCode(err) == lock.EINVALID && formBody(raw) {
			// curl -d key=k: the fields are right, their encoding is
			// not, which "invalid character 'k'" did not say.
			return lockRequest{}, lock.Errorf(lock.EINVALID, `%s (the body looks like form data, such as key=...; send the fields as a JSON object, such as {"key":"..."}, or in the URL, ?key=...)`, lock.ErrorMessage(err))
		}
		return lockRequest{}, err
	}
	// Not r.URL.Query(), which drops a pair it cannot parse (a ';', a
	// bad %-escape) without a word: "ttl=1s;x" would be a hold with no
	// lease at all.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return lockRequest{}, lock.Errorf(lock.EINVALID, "query string: %v", err)
	}
	// Nor q.Get's first value of several: "?ttl=1s&ttl=-5" would pass
	// with its second value unread, and "?ttl=&ttl=5m" would ask for no
	// lease at all.
	for _, name := range queryFields {
		if n := len(q[name]); n > 1 {
			return lockRequest{}, lock.Errorf(lock.EINVALID, "query string has %q %s; send each parameter once", name, times(n))
		}
	}
	var req lockRequest
	req.Key = first(body.Key, q, "key")
	req.Holder = first(body.LockBy, q, "lock_by")
	for _, alt := range []struct {
		v *string
		n string
	}{{body.LockedBy, "locked_by"}, {body.Requestor, "requestor"}} {
		if req.Holder == "" {
			req.Holder = first(alt.v, q, alt.n)
		}
	}
	if req.Holder == "" {
		req.Holder = req.Key
	}
	for _, d := range []struct {
		body *duration
		name string
		dst  *time.Duration
	}{{body.Wait, "wait", &req.Wait}, {body.TTL, "ttl", &req.TTL}} {
		// A query value is checked even where the body's wins: a typo
		// never passes unnoticed.
		if v := q.Get(d.name); v != "" {
			if *d.dst, err = lock.ParseDuration(v); err != nil {
				return req, lock.Errorf(lock.EINVALID, "%s: %v", d.name, err)
			}
		}
		if d.body != nil {
			*d.dst = time.Duration(*d.body)
		}
	}
	if len(body.Metadata) > 0 && string(body.Metadata) != "null" {
		req.Metadata = body.Metadata
	}
	if v := q.Get("force"); v != "" {
		if req.Force, err = strconv.ParseBool(v); err != nil {
			return req, lock.Errorf(lock.EINVALID, "force must be true or false, not %q", v)
		}
	}
	if body.Force != nil {
		req.Force = *body.Force
	}
	if v := q.Get("fence"); v != "" {
		if req.Fence, err = strconv.ParseUint(v, 10, 64); err != nil {
			return req, lock.Errorf(lock.EINVALID, "fence must be a fence token (a whole number), not %q", v)
		}
	}
	if body.Fence != nil {
		req.Fence = *body.Fence
	}
	// As for durations, a query value is checked even where the body's
	// wins.
	if req.Acquired, err = parseAcquired(q.Get("acquired"), true); err != nil {
		return req, err
	}
	if body.Acquired != nil {
		if req.Acquired, err = parseAcquired(*body.Acquired, false); err != nil {
			return req, err
		}
	}
	return req, nil
}

// parseAcquired reads the time a hold began, as the lock's holds show it
// (RFC 3339, any precision, any zone); "" is none. inQuery: v came from
// the query string, where a "+" (a zone east of UTC) reads as a space.
func parseAcquired(v string, inQuery bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		e := lock.Errorf(lock.EINVALID, `acquired must be the time the hold began, as the lock's holds show it (RFC 3339, such as "2026-11-25T23:21:03.833Z"), not %q`, v)
		if inQuery && strings.Contains(v, " ") {
			// "...+02:00" sent as it is arrives as "... 02:00", and
			// the time quoted back does not show why.
			e.Message += `: in a query string a "+" reads as a space; write the zone's + as %2B (or send the time in UTC, with Z, or in the body)`
		}
		return time.Time{}, e
	}
	return t, nil
}

// refuseAcquired refuses "acquired" on a request that does not release or
// renew one hold (a PUT, a forced release, the pool routes): it would read
// as a condition that nothing checks.
func (req lockRequest) refuseAcquired(what string) error {
	if req.Acquired.IsZero() {
		return nil
	}
	return lock.Errorf(lock.EINVALID, `"acquired" names the hold a release or refresh is meant for; %s names none`, what)
}

// queryFields are the query parameters decodeLockRequest reads.
var queryFields = []string{"key", "lock_by", "locked_by", "requestor", "wait", "ttl", "force", "fence", "acquired"}

// times says n times in words: "twice", "3 times".
func times(n int) string {
	if n == 2 {
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

// decodeBody decodes a request body (none is an empty body). The bodies
// clients send, an object of a few strings ({"key":"...","lock_by":"..."}),
// are read by hand (fastBody); anything else goes to encoding/json, so a
// body decodes exactly as encoding/json decodes it (FuzzDecodeBody checks
// this). With 8 clients, encoding/json's decoder was 7% of the server's
// CPU, for bodies of 40 bytes (docs/benchmarks.md).
func decodeBody(raw []byte, body *requestBody) error {
	// A UTF-8 byte-order mark ahead of the JSON is skipped, as RFC 8259
	// (section 8.1) lets a parser do: it means nothing, and editors on
	// Windows save one, so "curl --data-binary @body.json" sends it.
	raw = bytes.TrimPrefix(raw, utf8BOM)
	if !utf8.Valid(raw) {
		if bytes.HasPrefix(raw, []byte{0xff, 0xfe}) || bytes.HasPrefix(raw, []byte{0xfe, 0xff}) {
			return lock.Errorf(lock.EINVALID, "request body is UTF-16 (it starts with a UTF-16 byte-order mark); send it as UTF-8")
		}
		// encoding/json would read each bad byte as U+FFFD: two keys
		// that differ would be one.
		return lock.Errorf(lock.EINVALID, "request body is not valid UTF-8")
	}
	if fastBody(raw, body) {
		return nil
	}
	*body = requestBody{}
	return slowBody(raw, body)
}

// utf8BOM is U+FEFF, the byte-order mark, in UTF-8.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// slowBody decodes a body with encoding/json.
func slowBody(raw []byte, body *requestBody) error {
	start := bytes.TrimLeft(raw, " \t\r\n")
	if len(start) == 0 {
		return nil
	}
	if kind := notAnObject(start); kind != "" {
		// encoding/json would say `field "" has the wrong type (array)`.
		return lock.Errorf(lock.EINVALID, `request body is not a JSON object but %s: the body must be an object, such as {"key":"..."}`, kind)
	}
	if err := checkFieldNames(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(body); err != nil {
		var de durationError
		if errors.As(err, &de) {
			return lock.Errorf(lock.EINVALID, "request body: %v", de.err)
		}
		return lock.Errorf(lock.EINVALID, "request body is not a JSON object: %v", cleanJSONError(err))
	}
	// Not dec.More(): it reports false for a stray ']' or '}'.
	if len(bytes.Trim(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return lock.Errorf(lock.EINVALID, "request body has data after the JSON object")
	}
	if lock.HasLoneSurrogate(raw) {
		// Decoded as U+FFFD, like a bad byte.
		return lock.Errorf(lock.EINVALID, `request body holds a \u escape of half a UTF-16 surrogate pair, which is no character`)
	}
	return nil
}

// bodyFields are the names of requestBody's fields, as its tags spell them.
var bodyFields = func() []string {
	var names []string
	t := reflect.TypeFor[requestBody]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}()

// checkFieldNames refuses what encoding/json would take without a word in
// a body: a field twice (the last one wins: {"key":"a","key":"b"} is key
// b), also when spelt in two cases ({"key":"a","Key":"b"}). A field's
// name in another case alone ("KEY", "Key", even "\u212aey" with the
// Kelvin sign) is still that field, as it was for the original server
// (encoding/json too), so a client that worked with it keeps working.
// Fields the API does not know are ignored, repeated or not. A body that
// is not valid JSON is left to encoding/json, whose error says where.
func checkFieldNames(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var problem error
	seen := make(map[string]string, len(bodyFields)) // field: as spelt first
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil
		}
		if problem != nil {
			continue // the first is reported, once the JSON is known to be valid
		}
		for _, f := range bodyFields {
			if !strings.EqualFold(name, f) {
				continue
			}
			first, twice := seen[f]
			switch {
			case twice && first == name:
				problem = lock.Errorf(lock.EINVALID, "request body has the field %q twice; send each field once", name)
			case twice:
				problem = lock.Errorf(lock.EINVALID, "request body has the field %q twice, as %s and %s; send each field once", f, strconv.QuoteToASCII(first), strconv.QuoteToASCII(name))
			default:
				seen[f] = name
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil // not valid JSON after all
	}
	return problem
}

// notAnObject names the JSON value that b (without leading whitespace)
// starts with when it is one that cannot be an object: an array, a string,
// a number or a boolean. It returns "" for an object, null (which counts as
// an empty object) and anything else, which encoding/json words.
func notAnObject(b []byte) string {
	switch c := b[0]; {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	case bytes.HasPrefix(b, []byte("true")) || bytes.HasPrefix(b, []byte("false")):
		return "a boolean"
	}
	return ""
}

// fastBody decodes a body that is one object whose members are among
// "key", "lock_by", "locked_by", "requestor", "wait" and "ttl", each at
// most once, spelt in lower case, with strings without escapes for values
// (and valid durations for wait and ttl). It reports false for anything
// else, leaving body partly filled in.
func fastBody(raw []byte, body *requestBody) bool {
	d := jsonscan.New(raw)
	return d.Object(true, func(name []byte) bool {
		s, _, ok := d.RawString()
		if !ok {
			return false
		}
		switch string(name) {
		case "key":
			body.Key = newString(s)
		case "lock_by":
			body.LockBy = newString(s)
		case "locked_by":
			body.LockedBy = newString(s)
		case "requestor":
			body.Requestor = newString(s)
		case "wait":
			body.Wait, ok = newDuration(s)
		case "ttl":
			body.TTL, ok = newDuration(s)
		case "acquired":
			body.Acquired = newString(s)
		default:
			return false
		}
		return ok
	}) && d.End()
}

func newString(b []byte) *string {
	s := string(b)
	return &s
}

// newDuration parses b as duration.UnmarshalJSON parses a string; a bad
// one is left to encoding/json's path, which words the error.
func newDuration(b []byte) (*duration, bool) {
	v, err := lock.ParseDuration(string(b))
	if err != nil {
		return nil, false
	}
	d := duration(v)
	return &d, true
}

// requireKey refuses a request without a key.
func (req lockRequest) requireKey() error {
	if req.Key == "" {
		return lock.Errorf(lock.EINVALID, `missing "key": send {"key": "..."} in the body or ?key=... in the URL`)
	}
	return nil
}

func first(v *string, q url.Values, name string) string {
	if v != nil && *v != "" {
		return *v
	}
	return q.Get(name)
}

// cleanJSONError keeps decoder errors short and free of Go type names.
func cleanJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + strconv.Quote(te.Field) + " has the wrong type (" + te.Value + ")"
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

// decodeKeyedRequest is decodeLockRequest for a request that must name a
// key.
func decodeKeyedRequest(w http.ResponseWriter, r *http.Request) (lockRequest, error) {
	req, err := decodeLockRequest(w, r)
	if err == nil {
		err = req.requireKey()
	}
	return req, err
}

// hold is the hold req asks for.
func (req lockRequest) hold() lock.Request {
	return lock.Request{Key: req.Key, Holder: req.Holder, TTL: req.TTL}
}
