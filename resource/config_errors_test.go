package resource_test

import (
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
)

// TestBadConfig: every bad source or params fails with a message that says
// what to fix, before a single request reaches the server.
func TestBadConfig(t *testing.T) {
	s := startServer(t, serverOpts{})
	good := func() obj { return obj{"locker_uri": s.URL, "lock_name": "l"} }
	with := func(k string, v any) obj {
		o := good()
		if v == nil {
			delete(o, k)
		} else {
			o[k] = v
		}
		return o
	}
	lock := obj{"lock_op": "lock", "key": "k"}
	long := strings.Repeat("x", 513)

	for _, tc := range []struct {
		name  string
		cmd   string
		stdin string
		want  []string
	}{
		{"empty stdin", "check", "", []string{"no request on standard input"}},
		{"not JSON", "check", "{source:", []string{"the request on standard input is not a JSON object"}},
		{"too large", "check", `{"source":{"junk":"` + strings.Repeat("x", 17<<20) + `"}}`, []string{"the request on standard input is over 16 MiB: too large"}},
		{"no source", "check", `{"version":null}`, []string{"source is missing"}},
		{"more after the request", "check", string(request(good(), nil, nil)) + ` {"x":1}`, []string{`the request on standard input goes on after its JSON object ("{\"x\":1}"): send one object`}},
		{"source not an object", "check", `{"source":"x"}`, []string{"source must be an object"}},
		{"no locker_uri", "check", string(request(with("locker_uri", nil), nil, nil)), []string{"source.locker_uri is missing: set it to the locker server's URL"}},
		{"locker_uri with another scheme", "check", string(request(with("locker_uri", "ftp://h:1"), nil, nil)), []string{`has scheme "ftp": use https:// or http://`}},
		{"locker_uri without host", "check", string(request(with("locker_uri", "http://:8910"), nil, nil)), []string{"has no host"}},
		{"locker_uri with a query", "check", string(request(with("locker_uri", s.URL+"?x=1"), nil, nil)), []string{"must not have a query"}},
		{"locker_uri without the scheme's colon", "check", string(request(with("locker_uri", "https//ci:s3cret@localhost"), nil, nil)), []string{`has an "@" outside a user part`}},
		// Taken for a host named "https" (http:// put in front, as for a
		// URL without a scheme), they were retried as a server that
		// cannot be reached: a lock step waited for ever.
		{"locker_uri with one slash after the scheme", "check", string(request(with("locker_uri", "https:/locker.example:8910"), nil, nil)), []string{`source.locker_uri "https:/locker.example:8910" has a mistyped scheme: write it like https://host:port`}},
		{"locker_uri without the scheme's colon, no user", "check", string(request(with("locker_uri", "https//locker.example:8910"), nil, nil)), []string{`source.locker_uri "https//locker.example:8910" has a mistyped scheme: write it like https://host:port`}},
		{"bosh_lock with one slash after the scheme", "check", string(request(obj{"locker_uri": s.URL, "bosh_lock": "https:/10.0.0.6:25555"}, nil, nil)), []string{`source.bosh_lock "https:/10.0.0.6:25555" has a mistyped scheme`}},
		{"locker_uri with a bad port", "check", string(request(with("locker_uri", "http://h:99999"), nil, nil)), []string{`has port "99999"`}},
		{"locker_uri not a string", "check", string(request(with("locker_uri", 8910), nil, nil)), []string{"source.locker_uri must be a string, not a number"}},
		{"lock_name a list", "check", string(request(with("lock_name", []string{"l"}), nil, nil)), []string{"source.lock_name must be a string, not a list"}},
		{"both lock_name and pool", "check", string(request(with("pool", "p"), nil, nil)), []string{"source has both lock_name and pool: set only one of them"}},
		{"neither lock_name nor bosh_lock", "check", string(request(with("lock_name", nil), nil, nil)), []string{"source.lock_name is missing", "bosh_lock"}},
		{"empty lock_name", "check", string(request(with("lock_name", ""), nil, nil)), []string{"source.lock_name is missing"}},
		{"lock_name too long", "check", string(request(with("lock_name", long), nil, nil)), []string{"source.lock_name is 513 bytes long; the limit is 512"}},
		{"lock_name with a control character", "check", string(request(with("lock_name", "a\x01b"), nil, nil)), []string{"source.lock_name must not contain control characters"}},
		{"bad bosh_lock", "check", string(request(obj{"locker_uri": s.URL, "bosh_lock": "ftp://10.0.0.6:25555"}, nil, nil)), []string{`source.bosh_lock "ftp://10.0.0.6:25555" has scheme "ftp"`}},
		// HTTP basic auth splits the user from the password at the first
		// colon: such a user never logs in (the server refuses it as its
		// AUTH_USER), and the 401 said only to check them.
		{"username with a colon", "check", string(request(with("username", "ci:user"), nil, nil)), []string{"source.username must not contain a colon"}},
		{"ca_cert without a certificate", "check", string(request(with("ca_cert", "not a cert"), nil, nil)), []string{"source.ca_cert has no PEM certificate in it"}},
		{"skip_ssl_validation not a boolean", "check", string(request(with("skip_ssl_validation", "maybe"), nil, nil)), []string{`source.skip_ssl_validation is "maybe": set it to true or false`}},
		{"retry_delay not a duration", "check", string(request(with("retry_delay", "soon"), nil, nil)), []string{`source.retry_delay: bad duration "soon": use Go syntax such as "30s" or "5m", or a number of seconds`}},
		{"retry_delay zero", "check", string(request(with("retry_delay", "0s"), nil, nil)), []string{"source.retry_delay must be more than zero"}},
		// Below 100ms the step asks the server again in a tight loop.
		{"retry_delay a nanosecond", "check", string(request(with("retry_delay", "1ns"), nil, nil)), []string{`source.retry_delay is 1ns: too short; give at least 100ms, such as "10s" (or leave it out for the default, 10s)`}},
		{"retry_delay under the floor, in seconds", "out", string(request(with("retry_delay", 0.05), lock, nil)), []string{`source.retry_delay is 50ms: too short; give at least 100ms`}},
		{"timeout negative", "check", string(request(with("timeout", "-5m"), nil, nil)), []string{`source.timeout: duration "-5m" must not be negative`}},
		// Rounded to nothing it would mean "for ever".
		{"timeout under a nanosecond", "check", string(request(with("timeout", "0.5ns"), nil, nil)), []string{`source.timeout: duration "0.5ns" is shorter than a nanosecond`}},
		{"timeout a list", "check", string(request(with("timeout", []int{1}), nil, nil)), []string{"source.timeout must be a duration such as \"1h\", not a list"}},
		// wait_chunk: at least 1s, as the CLI's --wait-chunk; for put
		// (which waits) and the others alike.
		{"wait_chunk too short", "out", string(request(with("wait_chunk", "200ms"), lock, nil)), []string{`source.wait_chunk is 200ms: too short; give at least 1s, below the read (idle) timeout of the proxy or load balancer in front of the server, such as "45s"`}},
		{"wait_chunk zero", "check", string(request(with("wait_chunk", 0), nil, nil)), []string{"source.wait_chunk is 0s: too short; give at least 1s"}},
		{"wait_chunk not a duration", "out", string(request(with("wait_chunk", "45"+"sec"), lock, nil)), []string{`source.wait_chunk: bad duration "45sec"`}},
		{"wait_chunk negative", "check", string(request(with("wait_chunk", "-1m"), nil, nil)), []string{`source.wait_chunk: duration "-1m" must not be negative`}},
		{"wait_chunk a boolean", "check", string(request(with("wait_chunk", true), nil, nil)), []string{`source.wait_chunk must be a duration such as "45s", not a boolean`}},
		{"several problems at once", "check", string(request(obj{"locker_uri": "ftp://nope", "retry_delay": "x"}, nil, nil)), []string{"source.locker_uri", "source.lock_name is missing", "source.retry_delay"}},
		{"version not an object", "check", `{"source":` + string(mustJSON(good())) + `,"version":"v1"}`, []string{"version must be an object"}},

		{"in without a directory", "in", string(request(good(), nil, nil)), []string{"in needs the directory to write to"}},

		{"no params", "out", string(request(good(), nil, nil)), []string{"params are missing: a put needs params.lock_op (lock or unlock) and params.key"}},
		{"no lock_op", "out", string(request(good(), obj{"key": "k"}, nil)), []string{"params.lock_op is missing: set it to lock or unlock"}},
		{"unknown lock_op", "out", string(request(good(), obj{"key": "k", "lock_op": "grab"}, nil)), []string{`params.lock_op is "grab": set it to lock or unlock`}},
		{"no key", "out", string(request(good(), obj{"lock_op": "lock"}, nil)), []string{"params.key is missing: set it to the key to lock with"}},
		{"no key to unlock", "out", string(request(good(), obj{"lock_op": "unlock"}, nil)), []string{"params.key is missing: set it to the key to unlock with"}},
		{"empty key", "out", string(request(good(), obj{"lock_op": "lock", "key": ""}, nil)), []string{"params.key is empty"}},
		{"key not a string", "out", string(request(good(), obj{"lock_op": "lock", "key": []int{7}}, nil)), []string{"params.key must be a string, not a list"}},
		{"key too long", "out", string(request(good(), obj{"lock_op": "lock", "key": long}, nil)), []string{"params.key is 513 bytes long"}},
		{"locked_by with a control character", "out", string(request(good(), obj{"lock_op": "lock", "key": "k", "locked_by": "a\nb"}, nil)), []string{"params.locked_by must not contain control characters"}},
		{"release_dir empty", "out", string(request(good(), obj{"lock_op": "unlock", "key": "k", "release_dir": ""}, nil)), []string{"params.release_dir is empty: set it to the name of the put step that took the lock (lock_op: lock)"}},
		{"release_dir not a string", "out", string(request(good(), obj{"lock_op": "unlock", "key": "k", "release_dir": true}, nil)), []string{"params.release_dir must be a string, not a boolean"}},
		{"release_dir not in the build", "out", string(request(good(), obj{"lock_op": "unlock", "key": "k", "release_dir": "prod-lock"}, nil)), []string{`params.release_dir is "prod-lock", but there is no such directory in the build: set it to the name of the put step that took the lock (lock_op: lock)`}},
		{"params not an object", "out", `{"source":` + string(mustJSON(good())) + `,"params":["lock"]}`, []string{"params must be an object"}},
		{"bad source for out", "out", string(request(with("lock_name", nil), lock, nil)), []string{"source.lock_name is missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.requests.Load()
			args := []string{}
			if tc.cmd == "out" {
				args = append(args, t.TempDir())
			}
			r := start(t, binary, []byte(tc.stdin), append([]string{tc.cmd}, args...)...).wait()
			if r.code == 0 {
				t.Fatalf("exit 0; stdout %s", r.stdout)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			// A value of the wrong type is not also reported missing.
			if strings.Contains(r.stderr, "must be a string") && (strings.Contains(r.stderr, "is missing") || strings.Contains(r.stderr, "is empty")) {
				t.Errorf("stderr contradicts itself:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
			if n := s.requests.Load() - before; n != 0 {
				t.Errorf("%d request(s) reached the server", n)
			}
		})
	}

	// Other commands.
	r := run(t, nil, "frobnicate")
	if r.code == 0 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d\n%s", r.code, r.stderr)
	}
}

// TestBadConfigKeepsCredentialsOut: a bad locker_uri with credentials in it
// is reported without them.
func TestBadConfigKeepsCredentialsOut(t *testing.T) {
	const pass = "Pa55-w0rd-in-url"
	for _, uri := range []string{
		"https://ci:" + pass + "@locker.example.com:8910?x=1",
		"ftp://ci:" + pass + "@locker.example.com",
		"https://ci:" + pass + "@locker.example.com:99999",
		"https://ci:" + pass + "/x@locker.example.com", // an unescaped / in the password
		"https//ci:" + pass + "@locker.example.com",    // the scheme's colon missing
	} {
		r := run(t, request(obj{"locker_uri": uri, "lock_name": "l"}, nil, nil), "check")
		if r.code == 0 {
			t.Errorf("%s: exit 0", uri)
		}
		if strings.Contains(r.stderr, pass) || !strings.Contains(r.stderr, "://***@") {
			t.Errorf("stderr for a bad URL:\n%s", r.stderr)
		}
	}
}

// TestOriginalConfigsAccepted: source and params that the original,
// jq-and-curl resource took keep working: numbers and booleans where it
// read text (YAML's key: 42, password: 12345678), a locker_uri without a
// scheme (curl's http://), lock_name with bosh_lock (it used lock_name),
// locked_by with lock_by (it read only locked_by).
func TestOriginalConfigsAccepted(t *testing.T) {
	s := startServer(t, serverOpts{auth: httpapi.Credentials{User: "ci", Pass: "12345678"}})
	c := s.client(t, "ci", "12345678")
	source := obj{"locker_uri": strings.TrimPrefix(s.URL, "http://"), "username": "ci", "password": 12345678, "lock_name": 2024, "bosh_lock": "https://10.0.0.6:25555"}

	r := mustRun(t, request(source, obj{"lock_op": "lock", "key": 42, "locked_by": 7, "lock_by": "ignored"}, nil), "out", t.TempDir())
	for _, want := range []string{"using lock_name, as the original resource did", `using locked_by, as the original resource did`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks the warning %q:\n%s", want, r.stderr)
		}
	}
	if l := get(t, c, "2024"); l.Key != "42" || l.LockedBy["7"] != 1 || len(l.LockedBy) != 1 {
		t.Fatalf("lock 2024 after the put: %+v; want key 42 held by 7", l)
	}
	mustRun(t, request(source, obj{"lock_op": "unlock", "key": 42, "locked_by": 7}, nil), "out", t.TempDir())
	if l := get(t, c, "2024"); l.State != "free" {
		t.Fatalf("lock 2024 after the unlock: %+v", l)
	}
}
