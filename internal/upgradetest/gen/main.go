//go:build ignore

// Command gen writes an upgrade golden set with an older locker binary:
// a realistic data set through its HTTP API, then the data files (file
// store) or a SQL dump (PostgreSQL), and expected.json, the old server's own
// listing of what it holds. Run by hand, never by the test suite (see
// filestore/testdata/upgrade/README.md, pgstore/testdata/upgrade/README.md):
//
//	go run internal/upgradetest/gen/main.go -bin /tmp/locker-REV -rev REV -out filestore/testdata/upgrade/REV [-kill9]
//	go run internal/upgradetest/gen/main.go -bin /tmp/locker-REV -rev REV -out pgstore/testdata/upgrade/REV -db postgres://postgres@127.0.0.1:5432/locker_gen
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	bin   = flag.String("bin", "", "the older locker binary")
	rev   = flag.String("rev", "", "the commit it was built from")
	out   = flag.String("out", "", "directory for the golden set")
	db    = flag.String("db", "", "PostgreSQL URL of an empty database: the PostgreSQL store instead of the file store")
	kill9 = flag.Bool("kill9", false, "end the server with SIGKILL, leaving the log as a crash leaves it")
	port  = flag.Int("port", 21300, "port to listen on")
	trim  = flag.Bool("trim", false, "cut the zeros preallocated after a log segment's records (as on a file system without fallocate), to keep the set small")
	split = flag.Bool("segments", false, "bin is e2e/crashloop/server built at the old commit (the old store with a 16 KiB compaction threshold): leave the log in several segments, their snapshot failing")

	base      string
	serverLog io.Writer = io.Discard
	maxFence  uint64
	names     = map[string]bool{}
)

const long = "87600h" // ten years: the leases stay alive for the tests

func main() {
	flag.Parse()
	base = fmt.Sprintf("http://127.0.0.1:%d", *port)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "locker-gen-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	cfg := filepath.Join(work, "locks.json")
	if os.Getenv("GEN_VERBOSE") != "" {
		serverLog = os.Stderr
	}

	srv := start(cfg, "")
	forget := forgets()
	pools := phaseA(pools(), forget)
	if *split {
		// Every later snapshot fails (its temporary file cannot be
		// made), as on a full disk: the log stays in segments, each
		// begun by a compaction that did not finish.
		must(os.Mkdir(cfg+".tmp", 0o700))
		for i := 0; ; i++ {
			if segs, _ := filepath.Glob(cfg + ".log.*"); len(segs) >= 3 {
				break
			}
			call("PUT", fmt.Sprintf("/lock/split-%d", i%4), `{"key":"split","lock_by":"`+strings.Repeat("s", 40)+`"}`, 200)
			call("DELETE", fmt.Sprintf("/lock/split-%d", i%4), `{"key":"split","lock_by":"`+strings.Repeat("s", 40)+`"}`, 200)
		}
	} else if *db == "" {
		stop(srv, false)
		// A snapshot with locks in it takes a compaction, which takes
		// 64 MiB of log: churn two throwaway locks with long names (kept
		// short in history) until one has run.
		srv = start(cfg, "2")
		churn(cfg)
	}
	stop(srv, false)
	srv = start(cfg, "")
	phaseC(pools, forget)
	capture(pools)
	if *db != "" && !*kill9 {
		waiting := queue(pools, forget)
		stop(srv, false)
		waiting.Wait()
	} else {
		stop(srv, *kill9)
	}

	if *db == "" {
		files, _ := filepath.Glob(cfg + "*")
		for _, f := range files {
			if strings.HasSuffix(f, ".lock") || strings.HasSuffix(f, ".tmp") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				log.Fatal(err)
			}
			if *trim && strings.Contains(f, ".log.") {
				b = bytes.TrimRight(b, "\x00")
			}
			must(os.WriteFile(filepath.Join(*out, filepath.Base(f)), b, 0o644))
		}
	} else {
		dump()
	}
}

func pools() bool {
	resp := do("GET", "/pools", "")
	resp.Body.Close()
	return resp.StatusCode == 200
}

// forgets reports whether the server can forget a lock (POST
// /lock/NAME/forget): one that can answers a name it never saw with "no
// lock named"; an older one has no such route.
func forgets() bool {
	resp := do("POST", "/lock/gen-forget-probe/forget", "")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 404 && strings.Contains(string(b), "no lock named")
}

// phaseA: holds of every kind, fences moved, locks freed, pools, a lock
// forgotten (if the server can forget).
func phaseA(pools, forget bool) bool {
	for range 3 { // re-entered: count 3
		call("PUT", "/lock/deploy-prod", `{"key":"prod-7f3a","lock_by":"ci-worker-1","ttl":"`+long+`"}`, 200)
	}
	for _, h := range []string{"reader-1", "reader-2", "reader-3", "reader-2"} { // shared, reader-2 twice
		call("PUT", "/lock/db-migrations", `{"key":"readers","lock_by":"`+h+`","ttl":"`+long+`"}`, 200)
	}
	for i := range 5 { // the fence moves on with every holding period
		k := fmt.Sprintf(`{"key":"k-%d","lock_by":"h-%d"}`, i, i)
		call("PUT", "/lock/fence-mover", k, 200)
		call("DELETE", "/lock/fence-mover", k, 200)
	}
	call("PUT", "/lock/fence-mover", `{"key":"k-final","lock_by":"final"}`, 200)
	for range 2 { // held twice, then freed
		call("PUT", "/lock/freed-after-hold", `{"key":"gone","lock_by":"was-here"}`, 200)
	}
	for range 2 {
		call("DELETE", "/lock/freed-after-hold", `{"key":"gone","lock_by":"was-here"}`, 200)
	}
	call("PUT", "/lock/forced", `{"key":"stuck","lock_by":"dead-job"}`, 200)
	call("DELETE", "/lock/forced?force=true", "", 200)
	call("PUT", "/lock/"+escape("café ☕ ünïcode"), `{"key":"ключ","lock_by":"持有者"}`, 200)
	for _, n := range []string{"deploys/prod", "..", "what?#"} { // names a path must escape
		call("PUT", "/lock/"+escape(n), `{"key":"odd","lock_by":"odd-holder"}`, 200)
	}
	call("PUT", "/lock/leased", `{"key":"lease","lock_by":"renewer","ttl":"1000h"}`, 200)
	call("POST", "/lock/leased/refresh", `{"key":"lease","lock_by":"renewer","ttl":"`+long+`"}`, 200)
	call("PUT", "/lock/no-lease", `{"key":"forever"}`, 200)
	if forget {
		// Gone before the snapshot: taken again after it, with a
		// higher fence and a history of its second life only.
		call("PUT", "/lock/forgotten-early", `{"key":"first-life","lock_by":"early"}`, 200)
		call("DELETE", "/lock/forgotten-early", `{"key":"first-life","lock_by":"early"}`, 200)
		call("POST", "/lock/forgotten-early/forget", "", 200)
		// Forgotten after the snapshot (phaseC): one for good, one
		// taken again.
		for _, n := range []string{"forgotten", "forgotten-retaken"} {
			call("PUT", "/lock/"+n, `{"key":"first-life","lock_by":"before-forget"}`, 200)
			call("DELETE", "/lock/"+n, `{"key":"first-life","lock_by":"before-forget"}`, 200)
		}
	}
	for i := range 12 {
		ttl := ""
		if i%2 == 0 {
			ttl = `,"ttl":"` + long + `"`
		}
		call("PUT", fmt.Sprintf("/lock/batch-%02d", i), fmt.Sprintf(`{"key":"bk-%d","lock_by":"bh-%d"%s}`, i, i, ttl), 200)
	}
	if !pools {
		return false
	}
	call("PUT", "/pool/envs/env-1", `{"metadata":{"url":"https://env-1.example","size":3}}`, 200)
	call("PUT", "/pool/envs/env-2", `{"metadata":{"url":"https://env-2.example","size":5,"tags":["a","b"]}}`, 200)
	call("PUT", "/pool/envs/env-3", `{"metadata":{"nested":{"n":null,"f":1.5,"s":"<&>"}}}`, 200)
	call("PUT", "/pool/big/env-3", `{"metadata":{"nested":{"n":null,"f":1.5,"s":"<&>"}}}`, 200)
	call("PUT", "/pool/envs/env-4", `{"metadata":"plain string"}`, 200)
	call("DELETE", "/pool/envs/env-4", "", 200)
	call("PUT", "/pool/big/big-1", `{"metadata":{"cpus":64}}`, 200)
	call("PUT", "/pool/envs", `{"key":"deployer-a","lock_by":"pipeline-1","ttl":"`+long+`"}`, 200)
	return true
}

// phaseC: changes after the snapshot, so that the log holds the rest.
func phaseC(pools, forget bool) {
	call("PUT", "/lock/deploy-prod", `{"key":"prod-7f3a","lock_by":"ci-worker-1","ttl":"`+long+`"}`, 200) // count 4
	call("DELETE", "/lock/db-migrations", `{"key":"readers","lock_by":"reader-3"}`, 200)
	call("DELETE", "/lock/fence-mover", `{"key":"k-final","lock_by":"final"}`, 200)
	call("PUT", "/lock/fence-mover", `{"key":"k-after-snapshot","lock_by":"later","ttl":"`+long+`"}`, 200)
	for i := range 3 {
		call("PUT", fmt.Sprintf("/lock/log-only-%d", i), fmt.Sprintf(`{"key":"lk-%d","lock_by":"lh-%d"}`, i, i), 200)
	}
	for i := range 4 {
		call("DELETE", fmt.Sprintf("/lock/batch-%02d", i), fmt.Sprintf(`{"key":"bk-%d","lock_by":"bh-%d"}`, i, i), 200)
	}
	if pools {
		call("PUT", "/pool/envs/env-2", `{"metadata":{"url":"https://env-2.example","size":6}}`, 200)
		call("PUT", "/pool/envs", `{"key":"deployer-b","lock_by":"pipeline-2","ttl":"`+long+`"}`, 200)
	}
	if forget {
		call("POST", "/lock/forgotten/forget", "", 200)
		call("POST", "/lock/forgotten-retaken/forget", "", 200)
		call("PUT", "/lock/forgotten-retaken", `{"key":"second-life","lock_by":"after-forget","ttl":"`+long+`"}`, 200)
		call("PUT", "/lock/forgotten-early", `{"key":"second-life","lock_by":"after-snapshot"}`, 200)
		call("DELETE", "/lock/forgotten-early", `{"key":"second-life","lock_by":"after-snapshot"}`, 200)
	}
	if pools && *db != "" {
		// Every member of envs held, for a waiter of the pool (queue).
		call("PUT", "/pool/envs", `{"key":"deployer-c","lock_by":"pipeline-3","ttl":"`+long+`"}`, 200)
	}
}

// queue puts requests in line for held locks and a pool, one after
// another, after the listing is captured, and returns when all of them
// wait. PostgreSQL only, whose queue is a table (the file store keeps it
// in memory). The server stops with them in line, as in a rolling
// restart: it answers them 503 and keeps their places in the table for a
// few seconds, for them to ask again elsewhere. Loaded later, those
// places ran out long ago: they are no waiters and must not stand in
// anyone's way, so the listing captured before they joined is what the
// new server must show. The WaitGroup is done when all have their 503.
func queue(pools, forget bool) *sync.WaitGroup {
	type waiter struct{ name, path, body string }
	w := func(name, key, holder string) waiter {
		return waiter{name, "/lock/" + escape(name), `{"key":"` + key + `","lock_by":"` + holder + `","wait":"1h"}`}
	}
	line := []waiter{
		w("deploy-prod", "prod-next", "ci-worker-2"),
		w("deploy-prod", "prod-later", "ci-worker-3"),
		w("db-migrations", "schema-change", "migrator"),
		w("db-migrations", "readers", "reader-4"), // the holders' key, behind another: waits too
		w("fence-mover", "k-next", "next"),
	}
	if forget {
		line = append(line, w("forgotten-retaken", "third-life", "waiting"))
	}
	if pools {
		line = append(line, waiter{"pool envs", "/pool/envs", `{"key":"deployer-d","lock_by":"pipeline-4","wait":"1h"}`})
	}
	var wg sync.WaitGroup
	for _, l := range line {
		was := waiters(l.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := do("PUT", l.path, l.body)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable {
				log.Fatalf("PUT %s %s, in line when the server stopped: %d %s, want 503", l.path, l.body, resp.StatusCode, b)
			}
		}()
		for deadline := time.Now().Add(30 * time.Second); waiters(l.name) != was+1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				log.Fatalf("PUT %s %s: not in line", l.path, l.body)
			}
		}
	}
	return &wg
}

// waiters is how many requests wait for the lock, or for "pool NAME".
func waiters(name string) int {
	var v struct {
		Waiters int `json:"waiters"`
	}
	if pool, ok := strings.CutPrefix(name, "pool "); ok {
		var pools map[string]json.RawMessage
		must(json.Unmarshal(get("/pools"), &pools))
		must(json.Unmarshal(pools[pool], &v))
	} else {
		must(json.Unmarshal(get("/lock/"+escape(name)), &v))
	}
	return v.Waiters
}

func churn(cfg string) {
	pad := func(s string, n int) string { return s + strings.Repeat("x", n-len(s)) }
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := url.PathEscape(pad(fmt.Sprintf("churn-%d-", g%2), 500))
			body := fmt.Sprintf(`{"key":%q,"lock_by":%q}`, pad("churn-key-", 500), pad(fmt.Sprintf("churner-%d-", g), 500))
			for !stopped.Load() {
				call("PUT", "/lock/"+name, body, 200)
				call("DELETE", "/lock/"+name, body, 200)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		segs, _ := filepath.Glob(cfg + ".log.*")
		fi, err := os.Stat(cfg)
		if len(segs) == 1 && !strings.HasSuffix(segs[0], ".log.1") && err == nil && fi.Size() > 1000 {
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("no compaction")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped.Store(true)
	wg.Wait()
}

func capture(pools bool) {
	exp := map[string]any{"rev": *rev}
	exp["locks"] = get("/locks")
	one := map[string]any{}
	hist := map[string]any{}
	for n := range names {
		one[n] = get("/lock/" + escape(n))
		hist[n] = get("/lock/" + escape(n) + "/history")
	}
	exp["lock"], exp["history"] = one, hist
	if pools {
		exp["pools"] = get("/pools")
	}
	exp["max_fence"] = maxFence
	b, err := json.MarshalIndent(exp, "", " ")
	must(err)
	must(os.WriteFile(filepath.Join(*out, "expected.json"), append(b, '\n'), 0o644))
}

func get(path string) json.RawMessage {
	resp := do("GET", path, "")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return json.RawMessage(fmt.Sprintf(`{"status":%d}`, resp.StatusCode))
	}
	return b
}

var mu sync.Mutex

func do(method, path, body string) *http.Response {
	req, _ := http.NewRequest(method, base+path, bytes.NewBufferString(body))
	req.SetBasicAuth("admin", "admin-pass")
	resp, err := http.DefaultClient.Do(req)
	must(err)
	return resp
}

func call(method, path, body string, want int) {
	resp := do(method, path, body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		log.Fatalf("%s %s %s: %d %s", method, path, body, resp.StatusCode, b)
	}
	var v struct {
		Name  string `json:"name"`
		Fence uint64 `json:"fence"`
	}
	json.Unmarshal(b, &v)
	mu.Lock()
	maxFence = max(maxFence, v.Fence)
	if v.Name != "" && !strings.HasPrefix(v.Name, "churn-") && !strings.HasPrefix(v.Name, "split-") {
		names[v.Name] = true
	}
	mu.Unlock()
}

func start(cfg, history string) *exec.Cmd {
	cmd := exec.Command(*bin, "server")
	cmd.Env = append(os.Environ(), "LOCKER_LISTEN="+strings.TrimPrefix(base, "http://"),
		"LOCKER_ADMIN_USER=admin", "LOCKER_ADMIN_PASS=admin-pass")
	if *split {
		cmd.Env = append(os.Environ(), "LISTEN="+strings.TrimPrefix(base, "http://"), "COMPACT_BYTES=16384", "HISTORY="+history)
	}
	if *db != "" {
		cmd.Env = append(cmd.Env, "LOCKER_DATABASE_URL="+*db)
	} else {
		cmd.Env = append(cmd.Env, "LOCKER_CONFIG="+cfg)
	}
	if history != "" {
		cmd.Env = append(cmd.Env, "LOCKER_HISTORY="+history)
	}
	cmd.Stderr = serverLog
	must(cmd.Start())
	for range 100 {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatal("server did not start")
	return nil
}

func stop(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	cmd.Process.Signal(sig)
	cmd.Wait()
}

func dump() {
	b, err := exec.Command("pg_dump", "--no-owner", "--no-privileges", "--inserts", "--schema=public", *db).Output()
	must(err)
	// Unqualified, so that a test loads it into a schema of its own.
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "set_config('search_path'") || strings.HasPrefix(l, "CREATE SCHEMA") ||
			strings.HasPrefix(l, "COMMENT ON SCHEMA") || strings.HasPrefix(l, "\\restrict") || strings.HasPrefix(l, "\\unrestrict") {
			continue
		}
		keep = append(keep, strings.ReplaceAll(l, "public.", ""))
	}
	must(os.WriteFile(filepath.Join(*out, "dump.sql"), []byte(strings.Join(keep, "\n")), 0o644))
}

// escape escapes a lock name for a path, dots too (Go's server would
// clean /lock/.. away).
func escape(n string) string {
	return strings.ReplaceAll(url.PathEscape(n), ".", "%2E")
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
