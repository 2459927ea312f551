package resource

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lock"
)

// Defaults of the source's optional settings.
const (
	DefaultRetryDelay = 10 * time.Second
	// DefaultWaitChunk is the longest wait asked of the server in one
	// request when source.wait_chunk is not set: the client's default.
	DefaultWaitChunk = 5 * time.Minute
	// MinWaitChunk is the shortest source.wait_chunk, as the CLI's
	// --wait-chunk: proxies' timeouts are seconds, and shorter parts
	// only add requests.
	MinWaitChunk = client.MinWaitChunk
	// MinRetryDelay is the shortest source.retry_delay: it is the pause
	// between attempts and between polls, and a shorter one has a step
	// ask the server again and again in a tight loop while it is down.
	MinRetryDelay = 100 * time.Millisecond
)

// Source is the resource's configuration: the source of a resource in a
// pipeline. The fields are the original locker-resource's, plus retry_delay,
// timeout and wait_chunk.
type Source struct {
	// LockerURI is the server's base URL (locker_uri, required).
	LockerURI string
	// Username and Password are sent as HTTP basic auth.
	Username, Password string
	// CACert is PEM text: certificate authorities to trust, for the locker
	// server and the BOSH director, on top of the system's.
	CACert string
	// SkipSSLValidation turns off certificate verification, for the locker
	// server and the BOSH director.
	SkipSSLValidation bool
	// LockName is the lock; exactly one of LockName, BoshLock and Pool is
	// set.
	LockName string
	// BoshLock is a BOSH director's URL: the lock is named after the
	// director (the "name" of <BoshLock>/info).
	BoshLock string
	// Pool is a pool of locks: a put takes any free member (or a given
	// one), as Concourse's pool-resource does. Exactly one of LockName,
	// BoshLock and Pool is set.
	Pool string
	// RetryDelay is how long to wait between attempts when the server
	// cannot be reached, and how often to poll a server without blocking
	// waits: at least MinRetryDelay.
	RetryDelay time.Duration
	// Timeout bounds how long out waits for a lock, or retries an unlock;
	// zero means for ever.
	Timeout time.Duration
	// WaitChunk is the longest wait asked of the server in one request
	// (wait_chunk; the client's Options.WaitChunk): below the read (idle)
	// timeout of a proxy or load balancer in front of the server, which
	// otherwise cuts each longer request short. Zero: DefaultWaitChunk.
	WaitChunk time.Duration
}

// OutParams are the params of a put.
type OutParams struct {
	// Op is "lock" or "unlock" (lock_op).
	Op string
	// Key is the key to lock or unlock with.
	Key string
	// Holder is who holds the hold (locked_by, or lock_by); "" means the
	// key, as the server has it.
	Holder string
	// Release is what params.release_dir's directory shows (unlock only;
	// nil without it): the hold that the lock step was granted.
	Release *ReleaseDir
}

// ReleaseDir is the directory that an unlock's params.release_dir names:
// the put step that took the lock, whose implicit get wrote the lock's
// files there (name, fence, key, locked, holders, lock; see in). Like the
// pool's release: <dir>, it says which hold to give back: the one of the
// fence it shows, not one taken afresh since. (Not by the time its lock
// file shows the hold began: unlockFromDir says why.)
type ReleaseDir struct {
	// Dir is the directory as given, Path where it is.
	Dir, Path string
	// Name is its name file: the lock's name.
	Name string
	// Fence is its fence file, "" when it has none or it is empty (a get
	// from the original server).
	Fence string
	// Key, Locked and Holders are its key, locked and holders files;
	// HasKey, HasLocked and HasHolders say whether it has them.
	Key, Locked                   string
	Holders                       []string
	HasKey, HasLocked, HasHolders bool
}

// releaseDirHelp is what to set params.release_dir to.
const releaseDirHelp = "set it to the name of the put step that took the lock (lock_op: lock)"

// readReleaseDir reads, from the directory dir in outDir (the put's
// directory of build artifacts), the files that a get of this resource
// wrote. It returns the problems it met.
func readReleaseDir(dir, outDir string) (*ReleaseDir, []string) {
	d := &ReleaseDir{Dir: dir, Path: dir}
	what := fmt.Sprintf("params.release_dir is %q", dir)
	if !filepath.IsAbs(dir) {
		d.Path = filepath.Join(outDir, dir)
	}
	if st, err := os.Stat(d.Path); err != nil || !st.IsDir() {
		msg := fmt.Sprintf("%s, but there is no such directory in the build", what)
		if names := dirNames(outDir); len(names) > 0 {
			msg += " (there are: " + strings.Join(names, ", ") + ")"
		}
		return nil, []string{msg + ": " + releaseDirHelp}
	}
	var problems []string
	read := func(file string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(d.Path, file))
		switch {
		case err == nil:
			return string(b), true
		case file == "name" && errors.Is(err, os.ErrNotExist):
			problems = append(problems, fmt.Sprintf("%s, but %s has no name file: %s (its get writes the lock's name and fence there)", what, d.Path, releaseDirHelp))
		case !errors.Is(err, os.ErrNotExist):
			problems = append(problems, fmt.Sprintf("%s: cannot read its %s file: %v", what, file, err))
		}
		return "", false
	}
	if name, ok := read("name"); ok {
		d.Name = strings.TrimRight(name, "\r\n")
		if d.Name == "" {
			problems = append(problems, fmt.Sprintf("%s, but its name file is empty: %s", what, releaseDirHelp))
		} else if err := lock.ValidateName(fmt.Sprintf("the name in %s", filepath.Join(d.Path, "name")), d.Name); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if fence, ok := read("fence"); ok {
		d.Fence = strings.TrimSpace(fence)
		if _, err := strconv.ParseUint(d.Fence, 10, 64); d.Fence != "" && err != nil {
			problems = append(problems, fmt.Sprintf("%s, but its fence file holds %.40q, not a fencing token (a number): %s", what, d.Fence, releaseDirHelp))
		}
	}
	if key, ok := read("key"); ok {
		d.Key, d.HasKey = strings.TrimRight(key, "\r\n"), true
	}
	if locked, ok := read("locked"); ok {
		d.Locked, d.HasLocked = strings.TrimSpace(locked), true
	}
	if holders, ok := read("holders"); ok {
		d.HasHolders = true
		for _, h := range strings.Split(holders, "\n") {
			if h = strings.TrimRight(h, "\r"); h != "" {
				d.Holders = append(d.Holders, h)
			}
		}
	}
	return d, problems
}

// Version is a version of the resource: the state of its lock.
type Version map[string]string

// request is what Concourse sends on stdin.
type request struct {
	Source  json.RawMessage `json:"source"`
	Version json.RawMessage `json:"version"`
	Params  json.RawMessage `json:"params"`
}

// ConfigError lists what is wrong with a request, each problem with what to
// do about it.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0]
	}
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// fields reads a JSON object's fields one by one, noting every problem.
type fields struct {
	where    string // "source" or "params"
	m        map[string]json.RawMessage
	known    map[string]bool
	bad      map[string]bool // fields whose value was refused
	problems *[]string
}

func (f *fields) problem(format string, args ...any) {
	*f.problems = append(*f.problems, fmt.Sprintf(format, args...))
}

// raw returns a field's value, nil when absent or null.
func (f *fields) raw(name string) json.RawMessage {
	f.known[name] = true
	v, ok := f.m[name]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	return v
}

func jsonType(v json.RawMessage) string {
	switch t := bytes.TrimSpace(v); {
	case len(t) == 0:
		return "nothing"
	case t[0] == '"':
		return "a string"
	case t[0] == '{':
		return "an object"
	case t[0] == '[':
		return "a list"
	case t[0] == 't' || t[0] == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// str reads a string field; absent and null are "".
func (f *fields) str(name string) string {
	v := f.raw(name)
	if v == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		f.problem("%s.%s must be a string, not %s", f.where, name, jsonType(v))
		f.bad[name] = true
		return ""
	}
	return s
}

// text reads a field that names something (a lock, a key, a holder, a
// login) like str, but takes a number or a boolean as its text, as the
// original resource's jq -r did: in a pipeline's YAML, key: 42 or
// password: 12345678 is one.
func (f *fields) text(name string) string {
	if v := f.raw(name); v != nil {
		if t := jsonType(v); t == "a number" || t == "a boolean" {
			return string(bytes.TrimSpace(v))
		}
	}
	return f.str(name)
}

// boolean reads a boolean field, taking "true" and "false" in strings too.
func (f *fields) boolean(name string) bool {
	v := f.raw(name)
	if v == nil {
		return false
	}
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return b
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "1":
			return true
		case "false", "no", "0", "":
			return false
		}
		f.problem("%s.%s is %q: set it to true or false", f.where, name, s)
		return false
	}
	f.problem("%s.%s must be true or false, not %s", f.where, name, jsonType(v))
	return false
}

// duration reads a duration as lock.ParseDuration takes it: Go syntax in a
// string ("30s", "5m"), or a number of seconds (30, or "30"). ok is false
// when absent or bad.
func (f *fields) duration(name, example string) (d time.Duration, ok bool) {
	v := f.raw(name)
	if v == nil {
		return 0, false
	}
	var secs json.Number
	var s string
	var err error
	switch {
	case json.Unmarshal(v, &s) == nil: // first: a json.Number takes "30" too
		if s = strings.TrimSpace(s); s == "" {
			return 0, false
		}
		d, err = lock.ParseDuration(s)
	case json.Unmarshal(v, &secs) == nil:
		d, err = lock.SecondsText(string(secs))
	default:
		f.problem("%s.%s must be a duration such as %q, not %s", f.where, name, example, jsonType(v))
		return 0, false
	}
	if err != nil {
		f.problem("%s.%s: %v", f.where, name, err)
		return 0, false
	}
	return d, true
}

// unknown returns the names of fields nobody read, sorted.
func (f *fields) unknown() []string {
	var names []string
	for name := range f.m {
		if !f.known[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func newFields(where string, v json.RawMessage, problems *[]string) *fields {
	f := &fields{where: where, m: map[string]json.RawMessage{}, known: map[string]bool{}, bad: map[string]bool{}, problems: problems}
	if v == nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return f
	}
	if err := json.Unmarshal(v, &f.m); err != nil {
		f.problem("%s must be an object (a map of settings), not %s", where, jsonType(v))
	}
	return f
}

// parseRequest decodes what Concourse sent on stdin.
func parseRequest(b []byte) (*request, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, &ConfigError{Problems: []string{"no request on standard input: Concourse sends a JSON object with \"source\" (and \"version\", \"params\"); to try the resource by hand, pipe one in"}}
	}
	var r request
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("the request on standard input is not a JSON object (%v)", err)}}
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		// Two requests, or a mangled one: acting on the first alone
		// could lock or unlock what was not meant.
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("the request on standard input goes on after its JSON object (%.40q): send one object", rest)}}
	}
	return &r, nil
}

// parseSource checks the source and returns it with the defaults applied.
// Warnings are things that work but are probably not what was meant.
func parseSource(raw json.RawMessage) (src *Source, warnings []string, err error) {
	var problems []string
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil, &ConfigError{Problems: []string{"source is missing: configure the resource's source with at least locker_uri and lock_name (or bosh_lock, or pool)"}}
	}
	f := newFields("source", raw, &problems)
	lockerURI, boshLock := strings.TrimSpace(f.str("locker_uri")), strings.TrimSpace(f.str("bosh_lock"))
	src = &Source{
		LockerURI:         withScheme(lockerURI),
		Username:          f.text("username"),
		Password:          f.text("password"),
		CACert:            f.str("ca_cert"),
		SkipSSLValidation: f.boolean("skip_ssl_validation"),
		LockName:          f.text("lock_name"),
		BoshLock:          withScheme(boshLock),
		Pool:              f.text("pool"),
		RetryDelay:        DefaultRetryDelay,
	}
	if d, ok := f.duration("retry_delay", "10s"); ok {
		switch {
		case d <= 0:
			problems = append(problems, "source.retry_delay must be more than zero, such as \"10s\" (or leave it out for the default, 10s)")
		case d < MinRetryDelay:
			problems = append(problems, fmt.Sprintf("source.retry_delay is %s: too short; give at least %s, such as \"10s\" (or leave it out for the default, 10s): it is the pause between attempts, and a shorter one has the step ask the server again and again in a tight loop", d, MinRetryDelay))
		default:
			src.RetryDelay = d
		}
	}
	if d, ok := f.duration("timeout", "1h"); ok {
		src.Timeout = d // zero: for ever
	}
	if d, ok := f.duration("wait_chunk", "45s"); ok {
		if d < MinWaitChunk {
			problems = append(problems, fmt.Sprintf("source.wait_chunk is %s: too short; give at least %s, below the read (idle) timeout of the proxy or load balancer in front of the server, such as \"45s\" for one of 60s (or leave it out for the default, 5m)", d, MinWaitChunk))
		} else {
			src.WaitChunk = d
		}
	}

	switch {
	case f.bad["locker_uri"]:
	case src.LockerURI == "":
		msg := "source.locker_uri is missing: set it to the locker server's URL, such as https://locker.example.com:8910"
		if _, ok := f.m["uri"]; ok {
			msg += " (source.uri is pool-resource's git repository; Locker needs no repository, only its server's URL in locker_uri)"
		}
		problems = append(problems, msg)
	default:
		if msg := checkURL(src.LockerURI); msg != "" {
			problems = append(problems, fmt.Sprintf("source.locker_uri %s %s", redactURL(src.LockerURI), msg))
		} else if mistypedScheme(lockerURI) {
			problems = append(problems, fmt.Sprintf("source.locker_uri %s %s", redactURL(lockerURI), mistypedSchemeHelp))
		}
	}
	if src.LockName != "" && src.BoshLock != "" && src.Pool == "" {
		// The original resource used lock_name when both were set.
		warnings = append(warnings, "source has both lock_name and bosh_lock: using lock_name, as the original resource did; remove bosh_lock")
		src.BoshLock = ""
	}
	var set []string
	for _, s := range []struct{ name, value string }{{"lock_name", src.LockName}, {"bosh_lock", src.BoshLock}, {"pool", src.Pool}} {
		if s.value != "" {
			set = append(set, s.name)
		}
	}
	switch {
	case f.bad["lock_name"] || f.bad["bosh_lock"] || f.bad["pool"]:
	case len(set) > 1:
		which := "both " + set[0] + " and " + set[1]
		if len(set) == 3 {
			which = "lock_name, bosh_lock and pool"
		}
		problems = append(problems, "source has "+which+": set only one of them (lock_name names the lock; bosh_lock names it after a BOSH director; pool names a pool of locks, of which a put takes any free one)")
	case len(set) == 0:
		problems = append(problems, "source.lock_name is missing: set it to the name of the lock (or set bosh_lock to a BOSH director's URL to use the director's name, or pool to take any free lock of a pool)")
	case src.LockName != "":
		if err := lock.ValidateName("source.lock_name", src.LockName); err != nil {
			problems = append(problems, err.Error())
		}
	case src.Pool != "":
		if err := lock.ValidateName("source.pool", src.Pool); err != nil {
			problems = append(problems, err.Error())
		}
	default:
		shown, msg := src.BoshLock, checkURL(src.BoshLock)
		if msg == "" && mistypedScheme(boshLock) {
			shown, msg = boshLock, mistypedSchemeHelp // as given, without the http:// put in front
		}
		if msg != "" {
			problems = append(problems, fmt.Sprintf("source.bosh_lock %s %s (it is the BOSH director's URL, such as https://10.0.0.6:25555)", redactURL(shown), msg))
		}
	}
	if strings.TrimSpace(src.CACert) != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(src.CACert)) {
		problems = append(problems, "source.ca_cert has no PEM certificate in it: paste the CA certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----")
	}
	if strings.Contains(src.Username, ":") {
		problems = append(problems, "source.username must not contain a colon: HTTP basic auth splits the user name from the password at the first one, so the server could never take it (nor can it have such a user: its AUTH_USER may not contain one either)")
	} else if u, err := url.Parse(src.LockerURI); src.Username == "" && err == nil && u.User != nil && strings.Contains(u.User.Username(), ":") {
		problems = append(problems, "the user name in source.locker_uri must not contain a colon (%3A): HTTP basic auth splits the user name from the password at the first one, so the server could never take it")
	}
	if src.Password != "" && src.Username == "" {
		if u, err := url.Parse(src.LockerURI); err == nil && u.User != nil && u.User.Username() != "" {
			warnings = append(warnings, "source.password is set but source.username is not: the credentials in source.locker_uri are sent, and source.password is ignored")
		} else {
			warnings = append(warnings, "source.password is set but source.username is not: no credentials are sent")
		}
	}
	for _, name := range f.unknown() {
		warnings = append(warnings, fmt.Sprintf("ignoring unknown setting source.%s (known: %s)", name, strings.Join(sourceFields, ", ")))
	}
	if len(problems) > 0 {
		return nil, warnings, &ConfigError{Problems: problems}
	}
	return src, warnings, nil
}

// sourceFields are the source's settings, for messages.
var sourceFields = []string{"locker_uri", "username", "password", "ca_cert", "skip_ssl_validation", "lock_name", "bosh_lock", "pool", "retry_delay", "timeout", "wait_chunk"}

// withScheme gives a URL written without a scheme ("locker:8910") the
// http:// that curl, which the original resource used, assumed.
func withScheme(raw string) string {
	if raw == "" || strings.Contains(raw, "://") {
		return raw
	}
	return "http://" + raw
}

// mistypedScheme reports whether raw, a URL as given, starts with a scheme
// that lost a slash or its colon (https:/host, https//host): withScheme
// would take it for a URL without a scheme, and its host for "https".
func mistypedScheme(raw string) bool {
	if strings.Contains(raw, "://") {
		return false
	}
	lower := strings.ToLower(raw)
	for _, p := range []string{"http:", "https:", "http/", "https/"} {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	return false
}

const mistypedSchemeHelp = "has a mistyped scheme: write it like https://host:port"

// checkURL says what is wrong with a server URL, "" if nothing.
func checkURL(raw string) string {
	if !strings.Contains(raw, "://") {
		return "has no scheme: start it with https:// or http://"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a URL: write it like https://host:port"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("has scheme %q: use https:// or http://", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "has no host: write it like https://host:port"
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?"):
		return "must not have a query (?...) or fragment (#...): give only the server's base URL"
	case strings.Contains(u.Host+u.Path, "@"):
		// A user part that did not parse as one (https//user:pass@host,
		// its colon missing).
		return "has an \"@\" outside a user part: write it like https://user:password@host:port"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("has port %q: use a number from 1 to 65535", p)
		}
	}
	return ""
}

// redactURL quotes a URL for a message without the password it may carry
// (client.RedactURL).
func redactURL(raw string) string { return strconv.Quote(client.RedactURL(raw)) }

// parseOutParams checks a put's params.
func parseOutParams(raw json.RawMessage, outDir string) (p *OutParams, warnings []string, err error) {
	var problems []string
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil, &ConfigError{Problems: []string{"params are missing: a put needs params.lock_op (lock or unlock) and params.key"}}
	}
	f := newFields("params", raw, &problems)
	p = &OutParams{Op: strings.TrimSpace(f.str("lock_op")), Key: f.text("key"), Holder: holderParam(f, &warnings)}
	switch p.Op {
	case "lock", "unlock":
	case "":
		if f.bad["lock_op"] {
			break
		}
		problems = append(problems, "params.lock_op is missing: set it to lock or unlock")
	default:
		problems = append(problems, fmt.Sprintf("params.lock_op is %q: set it to lock or unlock", p.Op))
	}
	if p.Key == "" && !f.bad["key"] {
		if _, given := f.m["key"]; given {
			problems = append(problems, "params.key is empty: set it to the key to "+opOr(p.Op)+" with (holders with the same key share the lock)")
		} else {
			problems = append(problems, "params.key is missing: set it to the key to "+opOr(p.Op)+" with (holders with the same key share the lock)")
		}
	} else if p.Key != "" {
		if err := lock.ValidateName("params.key", p.Key); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if raw := f.raw("release_dir"); raw != nil {
		switch p.Op {
		case "lock":
			warnings = append(warnings, "params.release_dir is for lock_op: unlock (the directory of the put step that took the lock, whose hold to give back): ignoring it")
		case "unlock":
			dir := f.str("release_dir")
			switch {
			case f.bad["release_dir"]:
			case strings.TrimSpace(dir) == "":
				problems = append(problems, "params.release_dir is empty: "+releaseDirHelp+", or leave it out to release by key and holder")
			default:
				var more []string
				p.Release, more = readReleaseDir(dir, outDir)
				problems = append(problems, more...)
			}
		}
	}
	for _, name := range f.unknown() {
		warnings = append(warnings, fmt.Sprintf("ignoring unknown setting params.%s (known: lock_op, key, locked_by, lock_by, release_dir)", name))
	}
	if len(problems) > 0 {
		return nil, warnings, &ConfigError{Problems: problems}
	}
	return p, warnings, nil
}

// holderParam reads params.locked_by, which the original README also spells
// lock_by, and checks it. The original resource read only locked_by, so
// that one wins when both are set.
func holderParam(f *fields, warnings *[]string) string {
	lockedBy, lockBy := f.text("locked_by"), f.text("lock_by")
	holder := lockBy
	switch {
	case lockedBy != "" && lockBy != "" && lockedBy != lockBy:
		*warnings = append(*warnings, fmt.Sprintf("params has both locked_by (%q) and lock_by (%q): using locked_by, as the original resource did; keep one", lockedBy, lockBy))
		holder = lockedBy
	case lockedBy != "":
		holder = lockedBy
	}
	if holder != "" {
		if err := lock.ValidateName("params.locked_by", holder); err != nil {
			f.problem("%s", err.Error())
		}
	}
	return holder
}

func opOr(op string) string {
	if op == "unlock" {
		return "unlock"
	}
	return "lock"
}

// parseVersion reads the version Concourse sent; nil when none.
func parseVersion(raw json.RawMessage) (Version, error) {
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("version must be an object, not %s", jsonType(raw))}}
	}
	v := Version{}
	for k, x := range m {
		switch x := x.(type) {
		case string:
			v[k] = x
		case nil:
		default:
			b, _ := json.Marshal(x)
			v[k] = string(b)
		}
	}
	return v, nil
}
