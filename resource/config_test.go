package resource

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSourceDefaultsAndForms(t *testing.T) {
	src, warnings, err := parseSource(json.RawMessage(`{"locker_uri":"https://l.example.com:8910/","lock_name":"x"}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("parseSource: %v %v", err, warnings)
	}
	if src.RetryDelay != DefaultRetryDelay || src.Timeout != 0 || src.WaitChunk != 0 || src.SkipSSLValidation {
		t.Errorf("defaults: %+v", src)
	}

	// The forms pipelines use: nulls (as generated pipelines send for
	// ca_cert), booleans in strings, durations as numbers of seconds.
	src, warnings, err = parseSource(json.RawMessage(`{"locker_uri":"http://10.0.0.1:8910","bosh_lock":"https://10.0.0.6:25555",
		"lock_name":null,"ca_cert":null,"username":"u","password":"p","skip_ssl_validation":"true","retry_delay":2.5,"timeout":"90","wait_chunk":"45s"}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("parseSource: %v %v", err, warnings)
	}
	if !src.SkipSSLValidation || src.RetryDelay != 2500*time.Millisecond || src.Timeout != 90*time.Second || src.WaitChunk != 45*time.Second || src.BoshLock != "https://10.0.0.6:25555" || src.LockName != "" {
		t.Errorf("parsed %+v", src)
	}

	// The shortest wait_chunk, and a number of seconds; "" is the
	// default, as for the other durations.
	for in, want := range map[string]time.Duration{`"1s"`: time.Second, `60`: time.Minute, `"90"`: 90 * time.Second, `""`: 0, `null`: 0} {
		src, _, err := parseSource(json.RawMessage(`{"locker_uri":"http://l","lock_name":"x","wait_chunk":` + in + `}`))
		if err != nil || src.WaitChunk != want {
			t.Errorf("wait_chunk %s: %v, %v; want %s", in, src, err, want)
		}
	}

	// The shortest retry_delay, in both forms.
	for in, want := range map[string]time.Duration{`"100ms"`: MinRetryDelay, `0.1`: MinRetryDelay, `"1s"`: time.Second} {
		src, _, err := parseSource(json.RawMessage(`{"locker_uri":"http://l","lock_name":"x","retry_delay":` + in + `}`))
		if err != nil || src.RetryDelay != want {
			t.Errorf("retry_delay %s: %v, %v; want %s", in, src, err, want)
		}
	}
	for _, in := range []string{`"99ms"`, `"1ns"`, `0.001`} {
		if _, _, err := parseSource(json.RawMessage(`{"locker_uri":"http://l","lock_name":"x","retry_delay":` + in + `}`)); err == nil || !strings.Contains(err.Error(), "source.retry_delay is") {
			t.Errorf("retry_delay %s: %v, want refused as too short", in, err)
		}
	}

	_, warnings, err = parseSource(json.RawMessage(`{"locker_uri":"http://l","lock_name":"x","retry-delay":"1s","password":"secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"ignoring unknown setting source.retry-delay", "source.password is set but source.username is not: no credentials are sent"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q: %v", want, warnings)
		}
	}
	// A URL with a password and no user sends none either.
	_, warnings, err = parseSource(json.RawMessage(`{"locker_uri":"http://:pw@l","lock_name":"x","password":"pw"}`))
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "no credentials are sent") {
		t.Errorf("password beside a URL password without a user: %v %v", warnings, err)
	}
	// With credentials in the URL, those are sent (not "none").
	_, warnings, err = parseSource(json.RawMessage(`{"locker_uri":"http://ci:pw@l","lock_name":"x","password":"other"}`))
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "the credentials in source.locker_uri are sent, and source.password is ignored") {
		t.Errorf("password beside URL credentials: %v %v", warnings, err)
	}
}

func TestParseSourceReportsEveryProblem(t *testing.T) {
	_, _, err := parseSource(json.RawMessage(`{"locker_uri":"ftp://h","retry_delay":"soon","timeout":-1}`))
	ce, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("error %v", err)
	}
	msg := ce.Error()
	for _, want := range []string{`source.locker_uri "ftp://h" has scheme "ftp"`, "source.lock_name is missing", `source.retry_delay: bad duration "soon"`, "source.timeout: duration of -1 seconds must not be negative"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestParseOutParams(t *testing.T) {
	for _, tc := range []struct {
		in     string
		holder string
	}{
		{`{"lock_op":"lock","key":"k","locked_by":"h"}`, "h"},
		{`{"lock_op":"lock","key":"k","lock_by":"h"}`, "h"},
		{`{"lock_op":"unlock","key":"k","lock_by":"h","locked_by":"h"}`, "h"},
		{`{"lock_op":"unlock","key":"k"}`, ""},
	} {
		p, warnings, err := parseOutParams(json.RawMessage(tc.in), t.TempDir())
		if err != nil || len(warnings) != 0 {
			t.Errorf("%s: %v %v", tc.in, err, warnings)
			continue
		}
		if p.Key != "k" || p.Holder != tc.holder {
			t.Errorf("%s: %+v", tc.in, p)
		}
	}
	_, warnings, err := parseOutParams(json.RawMessage(`{"lock_op":"lock","key":"k","lock_with":"x"}`), t.TempDir())
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "params.lock_with") || !strings.Contains(warnings[0], "release_dir") {
		t.Errorf("unknown param: %v %v", err, warnings)
	}
	// release_dir is for unlock: with lock, a warning, and not read.
	_, warnings, err = parseOutParams(json.RawMessage(`{"lock_op":"lock","key":"k","release_dir":"nowhere"}`), t.TempDir())
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "params.release_dir is for lock_op: unlock") {
		t.Errorf("release_dir with lock: %v %v", err, warnings)
	}
	// A fence that is not a number.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "l"), 0o755)
	os.WriteFile(filepath.Join(dir, "l", "name"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "l", "fence"), []byte("seven"), 0o644)
	_, _, err = parseOutParams(json.RawMessage(`{"lock_op":"unlock","key":"k","release_dir":"l"}`), dir)
	if err == nil || !strings.Contains(err.Error(), `params.release_dir is "l", but its fence file holds "seven", not a fencing token`) {
		t.Errorf("a bad fence: %v", err)
	}
	// No name file.
	os.Remove(filepath.Join(dir, "l", "name"))
	_, _, err = parseOutParams(json.RawMessage(`{"lock_op":"unlock","key":"k","release_dir":"l"}`), dir)
	if err == nil || !strings.Contains(err.Error(), "has no name file") {
		t.Errorf("no name file: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pa55@host:1/x": `"https://***@host:1/x"`,
		"https://u:pa/ss@host:1":     `"https://***@host:1"`,
		"https://host:1/a@b":         `"https://***@b"`, // more than needed, never less
		"http://u:p@w@host":          `"http://***@host"`,
		"no-scheme":                  `"no-scheme"`,
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestVersionOf(t *testing.T) {
	// Versions are plain strings (Concourse's rule), and free and held
	// states of one fencing period differ.
	p := `{"fence":"3","holders":"{}","key":"","state":"free"}`
	var v Version
	if err := json.Unmarshal([]byte(p), &v); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(v, Version{"fence": "3", "holders": "{}", "key": "", "state": "free"}) {
		t.Errorf("a version read from JSON differs from the same version built")
	}
	if maps.Equal(v, Version{"fence": "3", "holders": "{}", "key": ""}) {
		t.Errorf("versions with different fields are the same")
	}
}

// TestConfigErrorsLeaveOutURLPasswords: the messages themselves leave out a
// password in a bad URL (the logger's redaction is a second line of
// defence, tested through the binary).
func TestConfigErrorsLeaveOutURLPasswords(t *testing.T) {
	const pass = "Pa55-w0rd"
	for _, uri := range []string{
		"https://ci:" + pass + "@h?x=1",
		"ftp://ci:" + pass + "@h",
		"https://ci:" + pass + "@h:99999",
		"https://ci:" + pass + "/x@h",
		"https://ci:" + pass + "@",
	} {
		for _, field := range []string{"locker_uri", "bosh_lock"} {
			raw, _ := json.Marshal(map[string]string{"locker_uri": "http://l", field: uri})
			_, _, err := parseSource(raw)
			if err == nil {
				t.Errorf("%s %s: no error", field, uri)
				continue
			}
			if strings.Contains(err.Error(), pass) || !strings.Contains(err.Error(), "***@") {
				t.Errorf("%s %s: %v", field, uri, err)
			}
		}
	}
}

// TestRedact: the logs' second line of defence blanks a secret where it
// stands on its own, not inside a longer word: with the README's password
// "test", "smoke-tests" stays as it is.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ line, secret, want string }{
		{"key smoke-tests, for a test server", "test", "key smoke-tests, for a *** server"},
		{"https://ci:test@host", "test", "https://ci:***@host"},
		{"password test.", "test", "password ***."},
		{"latest-test", "test", "latest-***"},
		{"testing", "test", "testing"},
		{"p@ss! and p@ss!", "p@ss!", "*** and ***"},
		{"wrong user name", "wrong", "*** user name"},
		{"ünïcødé", "nïc", "ünïcødé"},
	} {
		if got := redact(tc.line, tc.secret); got != tc.want {
			t.Errorf("redact(%q, %q) = %q, want %q", tc.line, tc.secret, got, tc.want)
		}
	}
}

// TestSecretsInNumericPassword: a password that YAML made a number
// (password: 12345678), which parseSource takes as its text and sends, is
// one of the secrets the logs blank out too.
func TestSecretsInNumericPassword(t *testing.T) {
	for _, tc := range []struct{ req, secret string }{
		{`{"source":{"password":12345678}}`, "12345678"},
		{`{"source":{"password":"p@ss-word"}}`, "p@ss-word"},
		{`{"source":{"password":1234.5e3}}`, "1234.5e3"},
	} {
		if got := secretsIn([]byte(tc.req)); !slices.Contains(got, tc.secret) {
			t.Errorf("secretsIn(%s) = %q: lacks %q", tc.req, got, tc.secret)
		}
	}
}
