// Package deploy tests the deployment files: the server's Dockerfile, the
// docker-compose file with its load balancer, and the systemd unit. (The
// BOSH job is tested in deploy/bosh.) There is no container engine on the
// development machines, so the image is not built here: the Dockerfile is
// checked for what docs/deploy.md promises of it.
package deploy

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudfoundry-community/locker/metrics"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// instructions returns the Dockerfile's instructions of the last stage, one
// per entry, continuation lines joined.
func instructions(dockerfile string) (stages [][]string) {
	var cur strings.Builder
	for _, line := range strings.Split(dockerfile, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		ins := cur.String()
		cur.Reset()
		if strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], ins)
		}
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := instructions(read(t, "../Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, then the image)", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), stages[1]
	for _, want := range []string{"CGO_ENABLED=0", "go build", "cli.Version=${VERSION}", "cli.Commit=${COMMIT}"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	has := func(prefix string) string {
		for _, ins := range final {
			if strings.HasPrefix(ins, prefix) {
				return ins
			}
		}
		t.Errorf("the image has no %s instruction", prefix)
		return ""
	}
	if from := has("FROM "); !strings.Contains(from, "static") {
		t.Errorf("base image %q: want a minimal static one", from)
	}
	if user := has("USER "); strings.Contains(user, "root") || strings.HasPrefix(strings.Fields(user)[1], "0") {
		t.Errorf("%q: the server must not run as root", user)
	}
	if vol := has("VOLUME "); !strings.Contains(vol, "/data") {
		t.Errorf("%q: the data must be in a volume at /data", vol)
	}
	if env := has("ENV "); !strings.Contains(env, "LOCKER_CONFIG=/data/") {
		t.Errorf("%q: LOCKER_CONFIG must point into the volume", env)
	}
	if exp := has("EXPOSE "); !strings.Contains(exp, "3000") {
		t.Errorf("%q", exp)
	}
	if hc := has("HEALTHCHECK "); !strings.Contains(hc, `"healthcheck"`) {
		t.Errorf("%q: want the binary's own health check (GET /healthz)", hc)
	}
	if ep := has("ENTRYPOINT "); !strings.Contains(ep, "/usr/local/bin/locker") {
		t.Errorf("%q", ep)
	}
	// The volume's mount point belongs to the user the server runs as.
	copied := false
	for _, ins := range final {
		if strings.HasPrefix(ins, "COPY ") && strings.Contains(ins, "--chown=65532:65532") && strings.HasSuffix(ins, " /data") {
			copied = true
		}
	}
	if !copied {
		t.Error("/data is not created owned by the non-root user")
	}
	if ign := read(t, "../.dockerignore"); !strings.Contains(ign, ".git") {
		t.Error(".dockerignore does not leave out .git")
	}
}

// yamlToJSON parses a YAML file with Ruby's YAML (Psych, aliases allowed).
func yamlToJSON(t *testing.T, path string, v any) {
	t.Helper()
	if _, err := exec.LookPath("ruby"); err != nil {
		t.Skip("ruby is needed to parse YAML here (apt-get install -y ruby; .ci/run installs it)")
	}
	out, err := exec.Command("ruby", "-ryaml", "-rjson", "-e",
		`puts JSON.dump(YAML.safe_load(File.read(ARGV[0]), aliases: true))`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v\n%s", path, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatal(err)
	}
}

func TestDockerCompose(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image       string            `json:"image"`
			Build       any               `json:"build"`
			Environment map[string]string `json:"environment"`
			Volumes     []string          `json:"volumes"`
			Ports       []string          `json:"ports"`
			DependsOn   any               `json:"depends_on"`
			Networks    any               `json:"networks"`
		} `json:"services"`
	}
	yamlToJSON(t, "../docker-compose.yml", &compose)
	pg, ok := compose.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres") {
		t.Fatalf("no PostgreSQL service: %+v", compose.Services)
	}
	var replicas []string
	for name, s := range compose.Services {
		if s.Build == nil {
			continue
		}
		replicas = append(replicas, name)
		url := s.Environment["LOCKER_DATABASE_URL"]
		if !strings.HasPrefix(url, "postgres://") || !strings.Contains(url, "@postgres:5432/") {
			t.Errorf("%s: LOCKER_DATABASE_URL %q does not point at the postgres service", name, url)
		}
		if s.Environment["AUTH_PASS"] == "" || s.Environment["AUTH_USER"] == "" {
			t.Errorf("%s: no credentials", name)
		}
		if s.Environment["LOCKER_TRUSTED_PROXIES"] == "" {
			t.Errorf("%s: the load balancer is not trusted to name clients", name)
		}
	}
	if len(replicas) != 2 {
		t.Errorf("Locker replicas %v, want 2", replicas)
	}
	lb, ok := compose.Services["lb"]
	if !ok || !strings.HasPrefix(lb.Image, "nginx") || len(lb.Ports) == 0 {
		t.Fatalf("no nginx load balancer with a published port: %+v", lb)
	}
	var conf string
	for _, v := range lb.Volumes {
		if src, _, ok := strings.Cut(v, ":"); ok && strings.HasSuffix(src, ".conf") {
			conf = read(t, filepath.Join("..", src))
		}
	}
	if conf == "" {
		t.Fatal("the load balancer's configuration file is not mounted from the repository")
	}
	for _, name := range replicas {
		if !strings.Contains(conf, "server "+name+":3000") {
			t.Errorf("nginx does not send to %s", name)
		}
	}
	for _, want := range []string{"X-Forwarded-For $proxy_add_x_forwarded_for", "proxy_buffering off", "proxy_read_timeout 15m", "proxy_next_upstream off;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	// nginx's fixed address is the one the replicas trust.
	lbAddr := regexp.MustCompile(`ipv4_address: (\S+)`).FindStringSubmatch(read(t, "../docker-compose.yml"))
	if lbAddr == nil || compose.Services[replicas[0]].Environment["LOCKER_TRUSTED_PROXIES"] != lbAddr[1] {
		t.Errorf("LOCKER_TRUSTED_PROXIES is not the load balancer's address %v", lbAddr)
	}
}

// TestDockerComposeAnyPassword: the compose file put POSTGRES_PASSWORD into
// the URL it builds (postgres://locker:${POSTGRES_PASSWORD}@postgres...),
// where @ : / # % and the like break it (an operator review). The
// replicas read the database as pgx does (pgxpool.ParseConfig, as
// pgstore.Open) what compose makes of their environment with such a
// password: it reaches the database as it is.
func TestDockerComposeAnyPassword(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build       any               `json:"build"`
			Environment map[string]string `json:"environment"`
		} `json:"services"`
	}
	yamlToJSON(t, "../docker-compose.yml", &compose)
	const password = `p@ss:w/o#r%d?&= 'x\`
	// ${POSTGRES_PASSWORD}, ${POSTGRES_PASSWORD:?...}: what compose
	// substitutes.
	subst := regexp.MustCompile(`\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}`)
	replicas := 0
	for name, s := range compose.Services {
		if s.Build == nil {
			continue
		}
		replicas++
		for k, v := range s.Environment {
			if strings.HasPrefix(k, "PG") {
				t.Setenv(k, subst.ReplaceAllLiteralString(v, password))
			}
		}
		url := subst.ReplaceAllLiteralString(s.Environment["LOCKER_DATABASE_URL"], password)
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Errorf("%s: LOCKER_DATABASE_URL with POSTGRES_PASSWORD %q: %v", name, password, err)
			continue
		}
		c := cfg.ConnConfig
		if c.Host != "postgres" || c.Port != 5432 || c.User != "locker" || c.Database != "locker" || c.Password != password {
			t.Errorf("%s: POSTGRES_PASSWORD %q: connects to host %q port %d as %q to %q with password %q", name, password, c.Host, c.Port, c.User, c.Database, c.Password)
		}
	}
	if replicas == 0 {
		t.Fatal("no Locker replicas")
	}
}

func TestSystemdUnit(t *testing.T) {
	unit := read(t, "systemd/locker.service")
	for _, want := range []string{
		"ExecStart=/usr/local/bin/locker server",
		"DynamicUser=yes", "StateDirectory=locker", "Environment=LOCKER_CONFIG=/var/lib/locker/locks.yml",
		"ProtectSystem=strict", "ReadWritePaths=/var/lib/locker", "NoNewPrivileges=yes", "PrivateTmp=yes",
		"ProtectHome=yes", "CapabilityBoundingSet=\n", "KillSignal=SIGTERM", "\nEnvironmentFile=/etc/locker/locker.env\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	// ProcSubset=pid hides /proc/stat, where the process collector reads
	// the boot time: /metrics then silently lacks process_start_time_seconds,
	// which tells restarts apart (a review reproduced it with a proc mounted
	// subset=pid).
	if m := regexp.MustCompile(`(?m)^ProcSubset=pid`).FindString(unit); m != "" {
		t.Errorf("%s: process_start_time_seconds would be missing from /metrics", m)
	}
	// A missing settings file must stop the service: "-" would have it
	// start without AUTH_USER/AUTH_PASS, open to anyone on every interface.
	if m := regexp.MustCompile(`(?m)^EnvironmentFile=-.*`).FindString(unit); m != "" {
		t.Errorf("%s: a missing file would be ignored, and the server start without authentication", m)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed: the unit is not verified")
	}
	// systemd-analyze checks that ExecStart exists: point it at a binary
	// that does.
	dir := t.TempDir()
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "locker.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/locker", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for locker.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
		t.Errorf("exposure level %s, want 2.0 or less (systemd's \"OK\"):\n%s", m[1], out)
	}
}

// TestPrometheusRules: the alert rules docs/deploy.md shows are those of
// deploy/prometheus/locker-rules.yml, and every Locker metric the file
// names is one the server exports: a renamed gauge would leave an alert
// that never fires. (promtool is not on the development machines; the file
// was checked with `promtool check rules` by hand.)
func TestPrometheusRules(t *testing.T) {
	rules := read(t, "prometheus/locker-rules.yml")
	doc := read(t, "../docs/deploy.md")
	exprs := regexp.MustCompile(`(?m)^\s+expr: (.+)$`)
	inDoc := exprs.FindAllStringSubmatch(doc, -1)
	inFile := exprs.FindAllStringSubmatch(rules, -1)
	if len(inDoc) == 0 || len(inDoc) != len(inFile) {
		t.Fatalf("docs/deploy.md shows %d rules, the file has %d", len(inDoc), len(inFile))
	}
	for i := range inDoc {
		if inDoc[i][1] != inFile[i][1] {
			t.Errorf("rule %d: docs/deploy.md has %q, the file %q", i, inDoc[i][1], inFile[i][1])
		}
	}

	m := metrics.New()
	m.WatchLocks(func() (metrics.LockStats, error) { return metrics.LockStats{}, nil })
	m.WatchLeaseClock(func() time.Duration { return 0 })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exported := rec.Body.String()
	for _, e := range inFile {
		for _, name := range regexp.MustCompile(`locker_[a-z_]+`).FindAllString(e[1], -1) {
			if !strings.Contains(exported, "\n"+name+" ") {
				t.Errorf("the rule %q names %s, which the server does not export", e[1], name)
			}
		}
	}
}
