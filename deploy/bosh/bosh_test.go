// Package bosh tests the BOSH job in jobs/locker: its templates are
// rendered the way the director renders them (testdata/render.rb, a small
// stand-in for BOSH's renderer: ERB with p, if_p and spec over the spec's
// defaults), and the rendered environment starts the real server.
package bosh

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const jobDir = "jobs/locker"

func needRuby(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ruby"); err != nil {
		t.Skip("ruby is needed to render BOSH templates (apt-get install -y ruby; .ci/run installs it)")
	}
}

// render renders one of the job's files with the given manifest properties
// (nested as in a manifest: {"locker": {"port": 1}}).
func render(t *testing.T, file string, props map[string]any) (string, error) {
	t.Helper()
	b, err := json.Marshal(props)
	if err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(t.TempDir(), "props.json")
	if err := os.WriteFile(pf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ruby", "testdata/render.rb", jobDir, file, pf).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

func mustRender(t *testing.T, file string, props map[string]any) string {
	t.Helper()
	out, err := render(t, file, props)
	if err != nil {
		t.Fatalf("rendering %s: %v", file, err)
	}
	return out
}

// envOf sources a rendered config/env in bash, as bin/locker does, and
// returns the variables it sets.
func envOf(t *testing.T, rendered string) map[string]string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(f, []byte(rendered), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `set -eu; set -a; source "$1"; set +a; env -0`, "bash", f)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sourcing the rendered env: %v\n%s", err, rendered)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"PATH", "PWD", "SHLVL", "_", "OLDPWD"} {
		delete(env, k)
	}
	return env
}

func sameEnv(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s=%q", what, k, v)
		}
	}
}

func TestSpecDeclaresTheProperties(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(jobDir, "spec"))
	if err != nil {
		t.Fatal(err)
	}
	// The original locker-boshrelease's names, and the new ones.
	for _, p := range []string{"locker.port", "locker.user", "locker.password", "locker.ssl_cert", "locker.ssl_key",
		"locker.data_dir", "locker.database_url", "locker.admin_user", "locker.readonly_user"} {
		if !strings.Contains(string(b), "\n  "+p+":") {
			t.Errorf("the job's spec does not declare %s", p)
		}
	}
	// Every template the spec names exists.
	needRuby(t)
	out, err := exec.Command("ruby", "-ryaml", "-rjson", "-e", `puts JSON.dump(YAML.safe_load(File.read(ARGV[0])))`, filepath.Join(jobDir, "spec")).Output()
	if err != nil {
		t.Fatalf("the spec is not YAML: %v", err)
	}
	var spec struct {
		Name      string            `json:"name"`
		Templates map[string]string `json:"templates"`
		Packages  []string          `json:"packages"`
	}
	if err := json.Unmarshal(out, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Name != "locker" || len(spec.Packages) != 1 || spec.Packages[0] != "locker" {
		t.Errorf("spec: name %q packages %v", spec.Name, spec.Packages)
	}
	for src := range spec.Templates {
		if _, err := os.Stat(filepath.Join(jobDir, "templates", src)); err != nil {
			t.Errorf("template %s: %v", src, err)
		}
	}
	if _, err := os.Stat("packages/locker/packaging"); err != nil {
		t.Error(err)
	}
}

func TestRenderDefaults(t *testing.T) {
	needRuby(t)
	sameEnv(t, "defaults", envOf(t, mustRender(t, "templates/env.erb", nil)), map[string]string{
		"PORT":                   "8910", // the original release's default
		"LOCKER_CONFIG":          "/var/vcap/store/locker/locks.yml",
		"LOCKER_LOG_FORMAT":      "text",
		"LOCKER_METRICS_PUBLIC":  "false",
		"LOCKER_MAX_CONNECTIONS": "4096",
	})
	bpm := mustRender(t, "templates/bpm.yml.erb", nil)
	for _, want := range []string{"executable: /var/vcap/jobs/locker/bin/locker", "persistent_disk: true", "open_files: 65536"} {
		if !strings.Contains(bpm, want) {
			t.Errorf("bpm.yml lacks %q:\n%s", want, bpm)
		}
	}
	if ctl := mustRender(t, "templates/locker.erb", nil); !strings.Contains(ctl, "mkdir -p '/var/vcap/store/locker'\n") ||
		!strings.Contains(ctl, "exec /var/vcap/packages/locker/bin/locker server") {
		t.Errorf("bin/locker:\n%s", ctl)
	}
	if cert := mustRender(t, "templates/ssl.crt.erb", nil); strings.TrimSpace(cert) != "" {
		t.Errorf("ssl.crt without a certificate: %q", cert)
	}
}

// A password with every character a shell cares about.
const nastyPass = `p'a"s$s w\o` + "`rd`;$(id)!*"

func fullProps() map[string]any {
	return map[string]any{"locker": map[string]any{
		"port": 9000, "user": "concourse", "password": nastyPass,
		"admin_user": "ops", "admin_password": "adm1n'pw",
		"readonly_user": "viewer", "readonly_password": "l00k pw",
		"ssl_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "ssl_key": "-----BEGIN PRIVATE KEY-----\nS3CR3TKEY\n-----END PRIVATE KEY-----",
		"database_url":   "postgres://locker:db'pa$$@10.0.0.9:5432/locker?sslmode=require",
		"log_format":     "json",
		"metrics_public": true,
		"env":            map[string]any{"LOCKER_DEFAULT_TTL": "1h", "LOCKER_MAX_WAIT": "5m"},
	}}
}

func TestRenderEverything(t *testing.T) {
	needRuby(t)
	props := fullProps()
	env := envOf(t, mustRender(t, "templates/env.erb", props))
	sameEnv(t, "every property", env, map[string]string{
		"PORT":                   "9000",
		"LOCKER_DATABASE_URL":    "postgres://locker:db'pa$$@10.0.0.9:5432/locker?sslmode=require",
		"AUTH_USER":              "concourse",
		"AUTH_PASS":              nastyPass,
		"LOCKER_ADMIN_USER":      "ops",
		"LOCKER_ADMIN_PASS":      "adm1n'pw",
		"LOCKER_READONLY_USER":   "viewer",
		"LOCKER_READONLY_PASS":   "l00k pw",
		"SSL_CERT":               "/var/vcap/jobs/locker/config/ssl.crt",
		"SSL_KEY":                "/var/vcap/jobs/locker/config/ssl.key",
		"LOCKER_LOG_FORMAT":      "json",
		"LOCKER_METRICS_PUBLIC":  "true",
		"LOCKER_MAX_CONNECTIONS": "4096",
		"LOCKER_DEFAULT_TTL":     "1h",
		"LOCKER_MAX_WAIT":        "5m",
	})
	if key := mustRender(t, "templates/ssl.key.erb", props); !strings.Contains(key, "S3CR3TKEY") {
		t.Errorf("ssl.key: %q", key)
	}
	// With a database there is no data directory to create or mount.
	bpm := mustRender(t, "templates/bpm.yml.erb", props)
	if strings.Contains(bpm, "persistent_disk") || strings.Contains(bpm, "additional_volumes") {
		t.Errorf("bpm.yml with a database asks for a disk:\n%s", bpm)
	}
	if ctl := mustRender(t, "templates/locker.erb", props); strings.Contains(ctl, "mkdir") {
		t.Errorf("bin/locker with a database makes a data directory:\n%s", ctl)
	}

	// No secret outside config/env and the key file: not in monit, bpm.yml
	// or bin/locker (whose output is the job's log), which never traces
	// its commands either.
	secrets := []string{nastyPass, "adm1n'pw", "l00k pw", "S3CR3TKEY", "db'pa$$"}
	for _, file := range []string{"monit", "templates/bpm.yml.erb", "templates/locker.erb", "templates/ssl.crt.erb"} {
		out := mustRender(t, file, props)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s holds the secret %q:\n%s", file, s, out)
			}
		}
		if strings.Contains(out, "set -x") || strings.Contains(out, "xtrace") {
			t.Errorf("%s traces commands, secrets included, into the log", file)
		}
	}
}

func TestRenderDataDirOffThePersistentDisk(t *testing.T) {
	needRuby(t)
	props := map[string]any{"locker": map[string]any{"data_dir": "/var/vcap/data/locker"}}
	bpm := mustRender(t, "templates/bpm.yml.erb", props)
	if strings.Contains(bpm, "persistent_disk") || !strings.Contains(bpm, "- path: '/var/vcap/data/locker'\n    writable: true") {
		t.Errorf("bpm.yml for a data dir elsewhere:\n%s", bpm)
	}
	// BPM's persistent_disk is /var/vcap/store/<job> alone: another
	// directory of the store is a volume of its own (a docs review found
	// it left out of the process's mounts).
	for dir, disk := range map[string]bool{"/var/vcap/store/locker": true, "/var/vcap/store/locker/data": true, "/var/vcap/store/lockerdata": false, "/var/vcap/store/other": false} {
		bpm := mustRender(t, "templates/bpm.yml.erb", map[string]any{"locker": map[string]any{"data_dir": dir}})
		if got := strings.Contains(bpm, "persistent_disk: true"); got != disk || !disk && !strings.Contains(bpm, "- path: '"+dir+"'\n    writable: true") {
			t.Errorf("bpm.yml for data_dir %s:\n%s", dir, bpm)
		}
	}
	if env := envOf(t, mustRender(t, "templates/env.erb", props)); env["LOCKER_CONFIG"] != "/var/vcap/data/locker/locks.yml" {
		t.Errorf("LOCKER_CONFIG = %q", env["LOCKER_CONFIG"])
	}
}

// bpm.yml mounts the data directory named, whatever characters it holds:
// the path was written into the YAML unquoted, so that " #" started a
// comment (BPM mounted "/var/vcap/data/locker" while the server's
// LOCKER_CONFIG was under "/var/vcap/data/locker #2") and ": " made the
// file a map BPM refuses.
func TestRenderedBPMMountsTheDataDir(t *testing.T) {
	needRuby(t)
	for _, dir := range []string{"/var/vcap/data/locker #2", "/var/vcap/data/locker: x", "/var/vcap/data/'locker\"", "/var/vcap/data/[locker]"} {
		bpm := mustRender(t, "templates/bpm.yml.erb", map[string]any{"locker": map[string]any{"data_dir": dir}})
		f := filepath.Join(t.TempDir(), "bpm.yml")
		if err := os.WriteFile(f, []byte(bpm), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ruby", "-ryaml", "-rjson", "-e", `puts JSON.dump(YAML.safe_load(File.read(ARGV[0])))`, f).CombinedOutput()
		if err != nil {
			t.Errorf("data_dir %q: bpm.yml is not YAML: %v\n%s\n%s", dir, err, out, bpm)
			continue
		}
		var parsed struct {
			Processes []struct {
				AdditionalVolumes []struct {
					Path     string `json:"path"`
					Writable bool   `json:"writable"`
				} `json:"additional_volumes"`
			} `json:"processes"`
		}
		if err := json.Unmarshal(out, &parsed); err != nil {
			t.Errorf("data_dir %q: %v\n%s", dir, err, out)
			continue
		}
		if len(parsed.Processes) != 1 || len(parsed.Processes[0].AdditionalVolumes) != 1 ||
			parsed.Processes[0].AdditionalVolumes[0].Path != dir || !parsed.Processes[0].AdditionalVolumes[0].Writable {
			t.Errorf("data_dir %q: bpm.yml mounts %s\n%s", dir, out, bpm)
		}
	}
}

// An empty locker.database_url is no database, in every template: the
// file store, with its directory made and mounted (a review found env.erb
// choosing the file store while bpm.yml mounted no disk and bin/locker made
// no directory: "" is true in Ruby).
func TestRenderEmptyDatabaseURL(t *testing.T) {
	needRuby(t)
	for dir, mount := range map[string]string{"/var/vcap/store/locker": "persistent_disk: true", "/var/vcap/data/locker": "- path: '/var/vcap/data/locker'\n    writable: true"} {
		props := map[string]any{"locker": map[string]any{"database_url": "", "data_dir": dir}}
		env := envOf(t, mustRender(t, "templates/env.erb", props))
		if _, db := env["LOCKER_DATABASE_URL"]; db || env["LOCKER_CONFIG"] != dir+"/locks.yml" {
			t.Errorf("env for an empty database_url: %v", env)
		}
		if bpm := mustRender(t, "templates/bpm.yml.erb", props); !strings.Contains(bpm, mount) {
			t.Errorf("bpm.yml for an empty database_url and data_dir %s lacks %q:\n%s", dir, mount, bpm)
		}
		if ctl := mustRender(t, "templates/locker.erb", props); !strings.Contains(ctl, "mkdir -p '"+dir+"'\n") {
			t.Errorf("bin/locker for an empty database_url makes no data directory:\n%s", ctl)
		}
	}
}

// bin/locker makes the data directory named, whatever characters it holds
// (a review found "/var/vcap/store/locker/my data" made as two others).
func TestRenderedMkdirMakesTheDataDir(t *testing.T) {
	needRuby(t)
	root := t.TempDir()
	dir := filepath.Join(root, "my data", "it's $HOME;`id`")
	ctl := mustRender(t, "templates/locker.erb", map[string]any{"locker": map[string]any{"data_dir": dir}})
	var mkdir string
	for _, line := range strings.Split(ctl, "\n") {
		if strings.HasPrefix(line, "mkdir ") {
			mkdir = line
		}
	}
	if mkdir == "" {
		t.Fatalf("bin/locker makes no data directory:\n%s", ctl)
	}
	cmd := exec.Command("bash", "-c", "set -eu; "+mkdir)
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nowhere"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", mkdir, err, out)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("%s did not make %q: %v", mkdir, dir, err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "my data" {
		t.Errorf("%s made %v in %s, want only \"my data\"", mkdir, entries, root)
	}
}

// locker.metrics_public given as a string ("false", as a variable or a
// quoted value gives it) renders the server's setting it names: a review
// found any string, "false" included, rendered as LOCKER_METRICS_PUBLIC=true
// (every string is true in Ruby), serving /metrics without auth. What the
// server would refuse is refused at render time.
func TestRenderMetricsPublicAsString(t *testing.T) {
	needRuby(t)
	for v, want := range map[any]string{true: "true", false: "false", "true": "true", "false": "false", "TRUE": "TRUE", "0": "0", 1: "1"} {
		env := envOf(t, mustRender(t, "templates/env.erb", map[string]any{"locker": map[string]any{"metrics_public": v}}))
		if env["LOCKER_METRICS_PUBLIC"] != want {
			t.Errorf("metrics_public %#v: LOCKER_METRICS_PUBLIC=%q, want %q", v, env["LOCKER_METRICS_PUBLIC"], want)
		}
	}
	for _, v := range []any{"no", "", "yes", 2} {
		if _, err := render(t, "templates/env.erb", map[string]any{"locker": map[string]any{"metrics_public": v}}); err == nil || !strings.Contains(err.Error(), "locker.metrics_public must be true or false") {
			t.Errorf("metrics_public %#v: %v, want a refusal", v, err)
		}
	}
}

// A list in locker.env (LOCKER_TRUSTED_PROXIES and LOCKER_ALLOWED_HOSTS
// are lists, and YAML has lists) is the server's comma-separated value: it
// was rendered as Ruby prints an array, ["10.0.0.1", "10.0.0.2"], which the
// server refuses at start, once the deploy has stopped the old one.
func TestRenderEnvList(t *testing.T) {
	needRuby(t)
	env := envOf(t, mustRender(t, "templates/env.erb", map[string]any{"locker": map[string]any{"env": map[string]any{
		"LOCKER_TRUSTED_PROXIES": []any{"10.0.0.1", "10.0.1.0/24"},
		"LOCKER_ALLOWED_HOSTS":   []any{"locker.example.com"},
	}}}))
	if got := env["LOCKER_TRUSTED_PROXIES"]; got != "10.0.0.1,10.0.1.0/24" {
		t.Errorf("LOCKER_TRUSTED_PROXIES=%q", got)
	}
	if got := env["LOCKER_ALLOWED_HOSTS"]; got != "locker.example.com" {
		t.Errorf("LOCKER_ALLOWED_HOSTS=%q", got)
	}
	// A map means nothing to the server: refused at render time.
	if _, err := render(t, "templates/env.erb", map[string]any{"locker": map[string]any{"env": map[string]any{"LOCKER_MAX_WAIT": map[string]any{"m": 5}}}}); err == nil || !strings.Contains(err.Error(), "LOCKER_MAX_WAIT") {
		t.Errorf("a map in locker.env: %v, want a refusal naming it", err)
	}
}

func TestRenderRefusals(t *testing.T) {
	needRuby(t)
	for _, c := range []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{"user": "u"}, "locker.user and locker.password go together"},
		{map[string]any{"password": "p"}, "locker.user and locker.password go together"},
		{map[string]any{"ssl_cert": "x"}, "locker.ssl_cert and locker.ssl_key go together"},
		{map[string]any{"admin_password": "x"}, "locker.admin_user and locker.admin_password"},
		{map[string]any{"readonly_user": "r", "readonly_password": "x"}, "needs locker.user"},
		{map[string]any{"log_format": "xml"}, "text or json"},
		{map[string]any{"env": map[string]any{"BAD NAME": "x"}}, "not an environment variable name"},
		// What the server refuses at start, refused before the deploy
		// stops the old server (a review found them rendered).
		{map[string]any{"user": "ci", "password": "p", "admin_user": "ci", "admin_password": "q"}, "locker.admin_user is locker.user with another password"},
		{map[string]any{"user": "ci", "password": "p", "readonly_user": "ci", "readonly_password": "q"}, "locker.readonly_user must differ"},
		{map[string]any{"user": "ci", "password": "p", "admin_user": "ops", "admin_password": "q", "readonly_user": "ops", "readonly_password": "r"}, "locker.readonly_user must differ"},
		{map[string]any{"user": "c:i", "password": "p"}, "locker.user must not contain a colon"},
		{map[string]any{"admin_user": "o:ps", "admin_password": "p"}, "locker.admin_user must not contain a colon"},
	} {
		_, err := render(t, "templates/env.erb", map[string]any{"locker": c.props})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a refusal saying %q", c.props, err, c.want)
		}
	}
	// The admin as locker.user with the same password is one account,
	// which the server takes.
	if _, err := render(t, "templates/env.erb", map[string]any{"locker": map[string]any{"user": "ci", "password": "p", "admin_user": "ci", "admin_password": "p"}}); err != nil {
		t.Errorf("the admin as locker.user with its password: %v", err)
	}
	// Templates can read only what the spec declares, as under BOSH, so a
	// misspelt property in a template cannot pass these tests.
	job := t.TempDir()
	spec, err := os.ReadFile(filepath.Join(jobDir, "spec"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(job, "spec"), spec, 0o600)
	os.WriteFile(filepath.Join(job, "t.erb"), []byte(`<%= p("locker.pasword", "x") %>`), 0o600)
	pf := filepath.Join(job, "props.json")
	os.WriteFile(pf, []byte(`{}`), 0o600)
	if out, err := exec.Command("ruby", "testdata/render.rb", job, "t.erb", pf).CombinedOutput(); err == nil || !strings.Contains(string(out), "does not declare") {
		t.Errorf("an undeclared property was read: %v %s", err, out)
	}
}

// TestRenderedEnvStartsTheServer: the rendered settings, sourced as
// bin/locker sources them, start the real server, which then asks for the
// rendered credentials over HTTPS with the rendered certificate.
func TestRenderedEnvStartsTheServer(t *testing.T) {
	needRuby(t)
	bin := filepath.Join(t.TempDir(), "locker")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jobRoot := t.TempDir() // stands for /var/vcap/jobs/locker
	dataDir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	props := map[string]any{"locker": map[string]any{
		"port": 0, "user": "concourse", "password": nastyPass, "data_dir": dataDir,
		"ssl_cert": certPEM, "ssl_key": keyPEM,
	}}
	for file, dst := range map[string]string{"templates/env.erb": "config/env", "templates/ssl.crt.erb": "config/ssl.crt", "templates/ssl.key.erb": "config/ssl.key"} {
		out := strings.ReplaceAll(mustRender(t, file, props), "/var/vcap/jobs/locker", jobRoot)
		os.MkdirAll(filepath.Join(jobRoot, "config"), 0o700)
		if err := os.WriteFile(filepath.Join(jobRoot, dst), []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctl := mustRender(t, "templates/locker.erb", props)
	ctl = strings.ReplaceAll(ctl, "/var/vcap/jobs/locker", jobRoot)
	ctl = strings.ReplaceAll(ctl, "/var/vcap/packages/locker/bin/locker", bin)
	script := filepath.Join(jobRoot, "locker")
	if err := os.WriteFile(script, []byte(ctl), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LOCKER_LISTEN=127.0.0.1"}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "locker listening on "); ok {
				urlc <- rest
			}
		}
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(20 * time.Second):
		t.Fatalf("the server did not start with the rendered env:\n%s", stderr.String())
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("serving %s, want HTTPS with the rendered certificate", url)
	}
	client := tlsClient(t, certPEM)
	for _, c := range []struct {
		user, pass string
		status     int
	}{{"concourse", nastyPass, 200}, {"concourse", "wrong", 401}, {"", "", 401}} {
		req, _ := http.NewRequest("PUT", url+"/lock/bosh", strings.NewReader(`{"key":"k"}`))
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("PUT as %q: %d, want %d", c.user, resp.StatusCode, c.status)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "locks.yml")); err != nil {
		t.Errorf("no locks.yml in the data dir: %v", err)
	}
	if strings.Contains(stderr.String(), nastyPass) {
		t.Errorf("the job's log holds the password:\n%s", stderr.String())
	}
}

// selfSigned returns a certificate for 127.0.0.1 and its key, as PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "locker bosh test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// tlsClient trusts only certPEM.
func tlsClient(t *testing.T, certPEM string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(certPEM)) {
		t.Fatal("bad certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
