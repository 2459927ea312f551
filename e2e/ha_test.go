package e2e

// High availability (issue 7): a consistency test in the style of Jepsen.
// Three replicas of the real binary share a private PostgreSQL instance;
// concurrent clients lock and unlock through all of them while one replica
// is killed with SIGKILL and restarted and the database is restarted. The
// recorded history is checked for linearizability against a sequential model
// of the lock rules (porcupine), and mutual exclusion and fencing are checked
// directly on the real-time intervals. Every test name here contains "HA":
// `go test ./e2e/ -run HA`.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// haPGBin is where the PostgreSQL server binaries are: those of the
// newest major version installed the Debian way (/usr/lib/postgresql/N/bin),
// so that a CI machine on another Debian release (trixie has 17, not 15)
// runs the HA tests rather than skipping them; "" when there are none.
var haPGBin = func() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestVersion {
			best, bestVersion = d, v
		}
	}
	return best
}()

// haPostgres is a PostgreSQL instance of the test's own, so that it can be
// restarted without disturbing other tests.
type haPostgres struct {
	t    *testing.T
	dir  string // owned by postgres: data directory, socket, log
	port int
	URL  string
}

// startHAPostgres initialises and starts a private instance, removed when
// the test ends. It needs root (initdb and postgres refuse to run as root,
// so they run as the postgres user through runuser) and the PostgreSQL
// binaries; without them the test is skipped and says which is missing.
func startHAPostgres(t *testing.T) *haPostgres {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to run a private PostgreSQL as the postgres user (running as uid %d)", os.Geteuid())
	}
	for _, bin := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(haPGBin, bin)); err != nil {
			t.Skipf("needs the PostgreSQL server binaries (/usr/lib/postgresql/N/bin; apt-get install -y postgresql): %v", err)
		}
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skipf("needs runuser to start PostgreSQL as the postgres user: %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("needs a postgres user to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "locker-ha-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	pg := &haPostgres{t: t, dir: dir, port: haFreePort(t)}
	pg.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	if out, err := pg.run("initdb", "-D", pg.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if out, err := pg.ctl("start"); err != nil {
		t.Fatalf("starting PostgreSQL: %v\n%s\n%s", err, out, pg.log())
	}
	t.Cleanup(func() { pg.ctl("stop", "-m", "immediate") })
	return pg
}

func (pg *haPostgres) data() string { return filepath.Join(pg.dir, "data") }

func (pg *haPostgres) log() string {
	b, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
	return string(b)
}

// run runs a PostgreSQL program as the postgres user.
func (pg *haPostgres) run(prog string, args ...string) (string, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(haPGBin, prog)}, args...)...)
	cmd.Dir = pg.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ctl runs pg_ctl action (start, stop, restart), waiting for it to finish.
func (pg *haPostgres) ctl(action string, args ...string) (string, error) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir)
	return pg.run("pg_ctl", append([]string{action, "-D", pg.data(), "-w", "-t", "60", "-l", filepath.Join(pg.dir, "log"), "-o", opts}, args...)...)
}

// The port is taken below Linux's ephemeral range (32768-60999), where
// the servers other tests start on port 0 never land: PostgreSQL's port
// stays its own while the test restarts it.
func haFreePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		port := 20000 + mrand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// haReplica is one replica of the binary; it can be killed and restarted (on
// a new port: clients read URL afresh for every request).
type haReplica struct {
	env []string
	url atomic.Pointer[string]
	srv atomic.Pointer[server]
}

func (r *haReplica) URL() string { return *r.url.Load() }

func (r *haReplica) start(t *testing.T) error {
	s, err := tryStartServer(t, r.env)
	if err != nil {
		return err
	}
	r.srv.Store(s)
	r.url.Store(&s.URL)
	return nil
}

// The model: the lock rules of package lock for PUT (no lease), DELETE,
// GET and forget (POST /lock/{name}/forget), one partition per lock. A
// forgotten lock is as one never seen; the fences of its next holders are
// checked by haCheckFences, which wants every new holding's token above
// those of all that returned before it, forgotten or not.

type haInput struct {
	Op     string // "put", "delete", "get", "forget"
	Lock   string
	Key    string
	Holder string
	// Wait: the PUT waits in line up to this long. It may then be refused
	// while the lock is free, because earlier waiters with another key
	// come first: the model does not know the queue, so for such a PUT a
	// refusal only has to report the lock as it is.
	Wait time.Duration
}

type haOutput struct {
	Unknown bool   // no answer, or 5xx: the request may or may not have taken effect
	Status  int    // 200, 404, 423
	Key     string // the lock's key in the answer (for 423: who holds it)
	Holds   string // the lock's locked_by in the answer, canonical
	Fence   uint64
}

// haState is one lock: seen is false until a change was first written (GET
// answers 404 before); holds is canonical ("a=2,b=1").
type haState struct {
	Seen  bool
	Key   string
	Holds string
}

func haHolds(m map[string]int) string {
	names := make([]string, 0, len(m))
	for h, c := range m {
		if c != 0 {
			names = append(names, h)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, h := range names {
		parts[i] = fmt.Sprintf("%s=%d", h, m[h])
	}
	return strings.Join(parts, ",")
}

func haParseHolds(s string) map[string]int {
	m := map[string]int{}
	if s == "" {
		return m
	}
	for _, p := range strings.Split(s, ",") {
		h, c, _ := strings.Cut(p, "=")
		m[h], _ = strconv.Atoi(c)
	}
	return m
}

// haApply is lock.Acquire / lock.Release / a read, on the model's state: the
// next state and the status the server must answer with.
func haApply(s haState, in haInput) (haState, int) {
	switch in.Op {
	case "put":
		if s.Key != "" && s.Key != in.Key {
			return s, http.StatusLocked
		}
		holds := haParseHolds(s.Holds)
		holds[in.Holder]++
		return haState{Seen: true, Key: in.Key, Holds: haHolds(holds)}, http.StatusOK
	case "delete":
		if s.Key == "" {
			return s, http.StatusOK
		}
		if s.Key != in.Key {
			return s, http.StatusLocked
		}
		holds := haParseHolds(s.Holds)
		if holds[in.Holder] == 0 {
			return s, http.StatusOK
		}
		holds[in.Holder]--
		next := haState{Seen: true, Key: s.Key, Holds: haHolds(holds)}
		if next.Holds == "" {
			next.Key = ""
		}
		return next, http.StatusOK
	case "forget":
		switch {
		case !s.Seen:
			return s, http.StatusNotFound
		case s.Key != "":
			return s, http.StatusLocked
		}
		return haState{}, http.StatusOK // gone: as never seen
	default: // get
		if !s.Seen {
			return s, http.StatusNotFound
		}
		return s, http.StatusOK
	}
}

// haModel is nondeterministic: a request with an unknown outcome may have
// taken effect or not, so after it the lock is in either state (the checker
// keeps the set of states still possible, and every answer narrows it).
// Such a request may also take effect at any time after it was sent: its
// return time is the end of the history.
var haModel = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byLock := map[string][]porcupine.Operation{}
		var names []string
		for _, op := range history {
			name := op.Input.(haInput).Lock
			if _, ok := byLock[name]; !ok {
				names = append(names, name)
			}
			byLock[name] = append(byLock[name], op)
		}
		sort.Strings(names)
		var out [][]porcupine.Operation
		for _, n := range names {
			out = append(out, byLock[n])
		}
		return out
	},
	Init: func() []any { return []any{haState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(haState), input.(haInput), output.(haOutput)
		next, status := haApply(s, in)
		if out.Unknown {
			if next == s {
				return []any{s}
			}
			return []any{s, next}
		}
		if in.Wait > 0 && out.Status == http.StatusLocked {
			if out.Key != s.Key || out.Holds != s.Holds {
				return nil
			}
			return []any{s}
		}
		if in.Op == "forget" && out.Status == http.StatusLocked && s.Seen && s.Key == "" {
			// Free, but waited for (the model does not know the
			// queue): refused, the lock shown as it is.
			if out.Key != "" || out.Holds != "" {
				return nil
			}
			return []any{s}
		}
		if out.Status != status {
			return nil
		}
		// The answer shows the lock after the change (for a refusal: as
		// it is, held by another key).
		switch {
		case status == http.StatusNotFound:
		case status == http.StatusLocked:
			if out.Key != s.Key || out.Holds != s.Holds {
				return nil
			}
		default:
			if out.Key != next.Key || out.Holds != next.Holds {
				return nil
			}
		}
		return []any{next}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(haInput), output.(haOutput)
		res := "?"
		if !out.Unknown {
			res = fmt.Sprintf("%d key=%q {%s}", out.Status, out.Key, out.Holds)
		}
		op := in.Op
		if in.Wait > 0 {
			op += "(wait)"
		}
		return fmt.Sprintf("%s %s key=%s → %s", op, in.Lock, in.Key, res)
	},
	DescribeState: func(state any) string {
		s := state.(haState)
		if !s.Seen {
			return "never seen"
		}
		return fmt.Sprintf("key=%q {%s}", s.Key, s.Holds)
	},
}).ToModel()

// haHistory records operations with times in nanoseconds since start.
type haHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	meta  []string // replica and error of each op, for the logs
}

func (h *haHistory) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *haHistory) add(client int, in haInput, out haOutput, call, ret int64, meta string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret, Metadata: meta})
}

type haLockView struct {
	Key      string         `json:"key"`
	LockedBy map[string]int `json:"locked_by"`
	Fence    uint64         `json:"fence"`
}

type haBody struct {
	haLockView
	Error string      `json:"error"`
	Lock  *haLockView `json:"lock"`
}

// haHTTP sends the test's requests; each has its own timeout (5s, plus
// the time it asks to wait).
var haHTTP = &http.Client{}

// haDo sends one lock request through replica r and records it. sent is
// false when the request certainly never reached a server (the replica was
// down: connection refused), and then nothing is recorded.
func haDo(t *testing.T, h *haHistory, client int, r *haReplica, in haInput) (out haOutput, sent bool) {
	method := map[string]string{"put": http.MethodPut, "delete": http.MethodDelete, "get": http.MethodGet, "forget": http.MethodPost}[in.Op]
	path := "/lock/" + in.Lock
	if in.Op == "forget" {
		path += "/forget"
	}
	var body io.Reader
	if in.Op != "get" && in.Op != "forget" {
		fields := map[string]string{"key": in.Key, "lock_by": in.Holder, "locked_by": in.Holder}
		if in.Wait > 0 {
			fields["wait"] = in.Wait.String()
		}
		b, _ := json.Marshal(fields)
		body = strings.NewReader(string(b))
	}
	base := r.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second+in.Wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		t.Error(err)
		return out, false
	}
	call := h.now()
	resp, err := haHTTP.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	ret := h.now()
	var op *net.OpError
	if err != nil && errors.As(err, &op) && op.Op == "dial" {
		return out, false
	}
	meta := base
	switch {
	case err != nil:
		out.Unknown = true
		meta += " " + err.Error()
	case resp.StatusCode >= 500:
		out.Unknown = true
		meta += fmt.Sprintf(" %d %s", resp.StatusCode, raw)
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusLocked || resp.StatusCode == http.StatusNotFound:
		out.Status = resp.StatusCode
		var b haBody
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Errorf("%s %s: answer is not JSON (%v): %s", method, req.URL, err, raw)
			return out, false
		}
		v := b.haLockView
		if b.Lock != nil {
			v = *b.Lock
		}
		out.Key, out.Holds, out.Fence = v.Key, haHolds(v.LockedBy), v.Fence
	default:
		t.Errorf("%s %s %s: unexpected answer %d %s", method, req.URL, in.Key, resp.StatusCode, raw)
		return out, false
	}
	if in.Op == "get" && out.Unknown {
		return out, true // a read that failed tells nothing and changes nothing
	}
	if out.Unknown {
		ret = -1 // set to the end of the history: it may take effect any time
	}
	h.add(client, in, out, call, ret, meta)
	return out, true
}

// haRun starts six clients (haClient) on locks against replicas for runFor,
// recording into the history it returns. at sleeps until that fraction of
// the run (for the faults); wait waits for the clients to end.
func haRun(t *testing.T, replicas []*haReplica, locks []string, runFor time.Duration) (h *haHistory, at func(frac float64), wait func()) {
	h = &haHistory{start: time.Now()}
	deadline := h.start.Add(runFor)
	var wg sync.WaitGroup
	for c := 0; c < 6; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			haClient(t, c, h, replicas, locks, deadline)
		}()
	}
	at = func(frac float64) { time.Sleep(time.Until(h.start.Add(time.Duration(frac * float64(runFor))))) }
	return h, at, wg.Wait
}

// haClient locks and unlocks like a deploy script: take a lock (retrying
// while it is held), sometimes re-enter it or look at it, release it fully,
// sometimes forget it (as a pipeline done with a per-branch lock would;
// refused while another client holds or waits for it), move on — each
// request through a random replica. Each client has its own
// key; after a request with an unknown outcome it cleans up (releases under
// that key until nothing is held) and takes a new key, so that a request
// still in flight can never release a hold the client believes it has.
func haClient(t *testing.T, id int, h *haHistory, replicas []*haReplica, locks []string, deadline time.Time) {
	rnd := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	gen := 0
	key := func() string { return fmt.Sprintf("c%d.%d", id, gen) }
	send := func(op, name string) (haOutput, bool) {
		// PUTs on the last lock wait in line: the shared queue and
		// the hand-over between replicas are under test too.
		in := haInput{Op: op, Lock: name, Key: key(), Holder: key()}
		if op == "put" && name == locks[len(locks)-1] {
			in.Wait = 2 * time.Second
		}
		for time.Now().Before(deadline) {
			out, sent := haDo(t, h, id, replicas[rnd.IntN(len(replicas))], in)
			if sent {
				return out, true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return haOutput{}, false
	}
	pause := func(max time.Duration) { time.Sleep(time.Duration(rnd.Int64N(int64(max)))) }
	// cleanup releases everything the current key might hold on name.
	cleanup := func(name string) {
		for time.Now().Before(deadline) {
			out, ok := send("delete", name)
			if !ok {
				break
			}
			if out.Unknown {
				pause(500 * time.Millisecond)
				continue
			}
			if out.Status == http.StatusLocked || haParseHolds(out.Holds)[key()] == 0 {
				break
			}
		}
		gen++
	}
	for time.Now().Before(deadline) {
		name := locks[rnd.IntN(len(locks))]
		count := 0
		// Try for a while, then go for another lock (a waiting PUT is
		// one try).
		giveUp := time.Now().Add(2 * time.Second)
		for count == 0 && time.Now().Before(giveUp) && time.Now().Before(deadline) {
			out, ok := send("put", name)
			switch {
			case !ok:
			case out.Unknown:
				cleanup(name)
				pause(200 * time.Millisecond)
			case out.Status == http.StatusOK:
				count = haParseHolds(out.Holds)[key()]
			default:
				pause(20 * time.Millisecond)
			}
		}
		for count > 0 && time.Now().Before(deadline) {
			pause(10 * time.Millisecond)
			op := "delete"
			switch x := rnd.IntN(10); {
			case x < 2:
				op = "put"
			case x < 4:
				op = "get"
			}
			out, ok := send(op, name)
			switch {
			case !ok:
			case out.Unknown:
				cleanup(name)
				count = 0
				pause(200 * time.Millisecond)
			case out.Status == http.StatusOK:
				count = haParseHolds(out.Holds)[key()]
			default:
				t.Errorf("client %d: %s %s with key %s while holding it: %d key %q {%s}", id, op, name, key(), out.Status, out.Key, out.Holds)
				return
			}
		}
		if rnd.IntN(3) == 0 {
			// Any answer may be right (another client may hold it,
			// wait for it, or have forgotten it): the model checks.
			send("forget", name)
		}
		pause(10 * time.Millisecond)
	}
}

func TestHAConsistencyJepsen(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	runFor := 24 * time.Second
	if testing.Short() {
		runFor = 8 * time.Second
	}
	pg := startHAPostgres(t)
	replicas := make([]*haReplica, 3)
	errs := make(chan error, len(replicas))
	// All at once: they create the schema together.
	for i := range replicas {
		replicas[i] = &haReplica{env: []string{"LOCKER_DATABASE_URL=" + pg.URL}}
		go func(r *haReplica) { errs <- r.start(t) }(replicas[i])
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		if t.Failed() {
			for i, r := range replicas {
				t.Logf("replica %d output:\n%s", i, haTail(r.srv.Load().Output(), 4000))
			}
			t.Logf("PostgreSQL log:\n%s", haTail(pg.log(), 4000))
		}
	}()

	locks := []string{"ha-a", "ha-b", "ha-wait"}
	h, at, wait := haRun(t, replicas, locks, runFor)

	// The faults, at fixed points of the run.
	at(0.25)
	killed := replicas[1]
	killed.srv.Load().Kill() // clients keep sending to it: refused while it is down
	t.Logf("%.1fs: replica 1 killed with SIGKILL", time.Since(h.start).Seconds())
	at(0.40)
	if err := killed.start(t); err != nil {
		t.Errorf("restarting replica 1: %v", err)
	} else {
		t.Logf("%.1fs: replica 1 restarted at %s", time.Since(h.start).Seconds(), killed.URL())
	}
	at(0.60)
	t.Logf("%.1fs: restarting PostgreSQL", time.Since(h.start).Seconds())
	if out, err := pg.ctl("restart", "-m", "fast"); err != nil {
		t.Errorf("restarting PostgreSQL: %v\n%s", err, out)
	}
	dbBack := h.now()
	t.Logf("%.1fs: PostgreSQL is back", time.Since(h.start).Seconds())
	wait()
	runEnd := h.now()

	haVerify(t, h, replicas, locks, dbBack, runEnd, true)
}

// haCheckExclusion checks mutual exclusion directly and returns the
// violations and the number of holding intervals. A key certainly holds a
// lock from the return of a PUT granted to it until the call of its client's
// next DELETE under that key (no other request can release it: no leases, no
// forced releases, and a client never reuses a key after a request with an
// unknown outcome). Two such intervals of different keys on one lock must
// not overlap.
func haCheckExclusion(ops []porcupine.Operation, end int64) (violations []string, intervals int) {
	type interval struct {
		key        string
		start, end int64
	}
	byClientLock := map[string][]porcupine.Operation{}
	for _, op := range ops {
		in := op.Input.(haInput)
		if in.Op == "get" {
			continue
		}
		k := in.Lock + "/" + in.Key
		byClientLock[k] = append(byClientLock[k], op)
	}
	held := map[string][]interval{}
	for _, seq := range byClientLock {
		sort.Slice(seq, func(i, j int) bool { return seq[i].Call < seq[j].Call })
		for i, op := range seq {
			in, out := op.Input.(haInput), op.Output.(haOutput)
			if in.Op != "put" || out.Unknown || out.Status != http.StatusOK {
				continue
			}
			iv := interval{key: in.Key, start: op.Return, end: end}
			for _, later := range seq[i+1:] {
				if later.Input.(haInput).Op == "delete" {
					iv.end = later.Call
					break
				}
			}
			held[in.Lock] = append(held[in.Lock], iv)
		}
	}
	for name, ivs := range held {
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].start < ivs[j].start })
		for i, a := range ivs {
			for _, b := range ivs[i+1:] {
				if b.start >= a.end {
					break
				}
				if a.key != b.key {
					violations = append(violations, fmt.Sprintf("mutual exclusion broken on %s: key %s held it from %.3fs to %.3fs and key %s from %.3fs",
						name, a.key, float64(a.start)/1e9, float64(a.end)/1e9, b.key, float64(b.start)/1e9))
				}
			}
		}
		intervals += len(ivs)
	}
	return violations, intervals
}

// haCheckFences checks fencing tokens and returns the violations and the
// number of new holdings: a PUT that took a free lock (its holder's count is
// 1: keys are not shared here) got a token no other such PUT got, greater
// than those of every such PUT that returned before it was called — across
// locks and replicas.
func haCheckFences(ops []porcupine.Operation) (violations []string, holdings int) {
	var fresh []porcupine.Operation
	for _, op := range ops {
		in, out := op.Input.(haInput), op.Output.(haOutput)
		if in.Op == "put" && !out.Unknown && out.Status == http.StatusOK && haParseHolds(out.Holds)[in.Holder] == 1 {
			fresh = append(fresh, op)
		}
	}
	seen := map[uint64]haInput{}
	for _, op := range fresh {
		f := op.Output.(haOutput).Fence
		if prev, dup := seen[f]; dup {
			violations = append(violations, fmt.Sprintf("fence %d was given twice: %+v and %+v", f, prev, op.Input))
		}
		seen[f] = op.Input.(haInput)
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].Return < fresh[j].Return })
	for i, a := range fresh {
		for _, b := range fresh[i+1:] {
			if a.Return < b.Call && a.Output.(haOutput).Fence >= b.Output.(haOutput).Fence {
				violations = append(violations, fmt.Sprintf("fence went backwards: %+v got %d and returned before %+v, which got %d, was sent",
					a.Input, a.Output.(haOutput).Fence, b.Input, b.Output.(haOutput).Fence))
			}
		}
	}
	return violations, len(fresh)
}

// haReport fails the test with the first violations found.
func haReport(t *testing.T, what string, violations []string) {
	t.Helper()
	for i, v := range violations {
		if i == 10 {
			t.Errorf("%s: and %d more", what, len(violations)-10)
			break
		}
		t.Errorf("%s: %s", what, v)
	}
}

// The checkers themselves: each must catch what it is there for.
func TestHACheckersCatchViolations(t *testing.T) {
	put := func(lockName, key string) haInput { return haInput{Op: "put", Lock: lockName, Key: key, Holder: key} }
	waitPut := func(lockName, key string) haInput {
		return haInput{Op: "put", Lock: lockName, Key: key, Holder: key, Wait: time.Second}
	}
	del := func(lockName, key string) haInput {
		return haInput{Op: "delete", Lock: lockName, Key: key, Holder: key}
	}
	get := func(lockName string) haInput { return haInput{Op: "get", Lock: lockName} }
	forget := func(lockName string) haInput { return haInput{Op: "forget", Lock: lockName} }
	notFound := haOutput{Status: http.StatusNotFound}
	ok := func(key, holds string, fence uint64) haOutput {
		return haOutput{Status: http.StatusOK, Key: key, Holds: holds, Fence: fence}
	}
	locked := func(key, holds string) haOutput { return haOutput{Status: http.StatusLocked, Key: key, Holds: holds} }
	unknown := haOutput{Unknown: true}
	op := func(client int, in haInput, out haOutput, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
	}
	const inf = 1000
	for _, tc := range []struct {
		name                  string
		ops                   []porcupine.Operation
		linearizable          bool
		exclusionOK, fencesOK bool
	}{
		{"lock, unlock, lock by another key", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(1, put("x", "b"), ok("b", "b=1", 2), 40, 50),
			op(1, get("x"), ok("b", "b=1", 2), 60, 70),
		}, true, true, true},
		{"two keys granted the same lock", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(1, put("x", "b"), ok("b", "b=1", 2), 20, 30),
			op(0, del("x", "a"), ok("", "", 1), 40, 50),
		}, false, false, true},
		{"a read that misses a finished release", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(1, get("x"), ok("a", "a=1", 1), 40, 50),
		}, false, true, true},
		{"a refusal while the lock is free", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(1, put("x", "b"), locked("a", "a=1"), 40, 50),
		}, false, true, true},
		{"a waiting lock refused while free (others queued first)", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(1, waitPut("x", "b"), locked("", ""), 40, 50),
			op(2, waitPut("x", "c"), ok("c", "c=1", 2), 40, 60),
		}, true, true, true},
		{"a waiting lock refused with a wrong view of the lock", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(1, waitPut("x", "b"), locked("a", "a=1"), 40, 50),
		}, false, true, true},
		{"re-entry counted", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, put("x", "a"), ok("a", "a=2", 1), 20, 30),
			op(0, del("x", "a"), ok("a", "a=1", 1), 40, 50),
			op(1, put("x", "b"), locked("a", "a=1"), 60, 70),
		}, true, true, true},
		{"re-entry not counted", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, put("x", "a"), ok("a", "a=2", 1), 20, 30),
			op(0, del("x", "a"), ok("", "", 1), 40, 50),
		}, false, true, true},
		{"an unknown lock that took effect later", []porcupine.Operation{
			op(0, put("x", "a"), unknown, 0, inf),
			op(1, put("x", "b"), ok("b", "b=1", 1), 10, 20),
			op(1, del("x", "b"), ok("", "", 1), 30, 40),
			op(2, get("x"), ok("a", "a=1", 2), 50, 60),
		}, true, true, true},
		{"an unknown lock that never took effect", []porcupine.Operation{
			op(0, put("x", "a"), unknown, 0, inf),
			op(1, put("x", "b"), ok("b", "b=1", 1), 10, 20),
			op(1, get("x"), ok("b", "b=1", 1), 30, 40),
		}, true, true, true},
		{"an unknown unlock cannot explain a lock granted twice", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=2", 1), 0, 10),
			op(0, del("x", "a"), unknown, 20, inf),
			op(1, put("x", "b"), ok("b", "b=1", 2), 30, 40),
		}, false, true, true},
		{"forgotten, then taken again with a higher fence", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(0, forget("x"), ok("", "", 1), 40, 50),
			op(1, get("x"), notFound, 60, 70),
			op(1, forget("x"), notFound, 80, 90),
			op(1, put("x", "b"), ok("b", "b=1", 2), 100, 110),
		}, true, true, true},
		{"a forgotten lock read back", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(0, forget("x"), ok("", "", 1), 40, 50),
			op(1, get("x"), ok("", "", 1), 60, 70),
		}, false, true, true},
		{"a held lock forgotten", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(1, forget("x"), ok("", "", 1), 20, 30),
			op(2, put("x", "b"), ok("b", "b=1", 2), 40, 50),
		}, false, false, true},
		{"a free lock's forget refused (waited for)", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(1, forget("x"), locked("", ""), 40, 50),
			op(1, get("x"), ok("", "", 1), 60, 70),
		}, true, true, true},
		{"a lock never seen refused as waited for", []porcupine.Operation{
			op(1, forget("x"), locked("", ""), 40, 50),
		}, false, true, true},
		{"an unknown forget that took effect", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 1), 0, 10),
			op(0, del("x", "a"), ok("", "", 1), 20, 30),
			op(0, forget("x"), unknown, 40, inf),
			op(1, get("x"), notFound, 60, 70),
		}, true, true, true},
		{"taken again after a forget with a lower fence", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 5), 0, 10),
			op(0, del("x", "a"), ok("", "", 5), 20, 30),
			op(0, forget("x"), ok("", "", 5), 40, 50),
			op(1, put("x", "b"), ok("b", "b=1", 3), 60, 70),
		}, true, true, false},
		{"fence reused", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 5), 0, 10),
			op(1, put("y", "b"), ok("b", "b=1", 5), 0, 10),
		}, true, true, false},
		{"fence backwards in real time", []porcupine.Operation{
			op(0, put("x", "a"), ok("a", "a=1", 5), 0, 10),
			op(1, put("y", "b"), ok("b", "b=1", 4), 20, 30),
		}, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(haModel, tc.ops); got != tc.linearizable {
				t.Errorf("porcupine: linearizable %v, want %v", got, tc.linearizable)
			}
			if v, _ := haCheckExclusion(tc.ops, inf); (len(v) == 0) != tc.exclusionOK {
				t.Errorf("exclusion check: %q, want ok %v", v, tc.exclusionOK)
			}
			if v, _ := haCheckFences(tc.ops); (len(v) == 0) != tc.fencesOK {
				t.Errorf("fence check: %q, want ok %v", v, tc.fencesOK)
			}
		})
	}
}

func haTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// haVerify ends a run of haClients against replicas: every replica must
// be ready again, each one's view of every lock joins the history, every
// lock is released and taken through every replica (waiting in line); then
// the history is checked for mutual exclusion, fencing and (porcupine)
// linearizability against the lock rules. faultEnd is when the last fault
// ended, runEnd when the clients stopped (history times); wantUnknown
// asks that some request had an unknown outcome (the faults hit).
func haVerify(t *testing.T, h *haHistory, replicas []*haReplica, locks []string, faultEnd, runEnd int64, wantUnknown bool) {
	t.Helper()
	// Every replica recovers by itself and reports ready; then each one's
	// view of every lock goes into the history too.
	for i, r := range replicas {
		ready := false
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(r.URL() + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = true
					break
				}
			}
		}
		if !ready {
			t.Fatalf("replica %d is not ready 30s after the faults", i)
		}
	}
	for _, name := range locks {
		for i, r := range replicas {
			if out, sent := haDo(t, h, 100+i, r, haInput{Op: "get", Lock: name}); !sent || out.Unknown {
				t.Errorf("replica %d: reading %s after recovery failed", i, name)
			}
		}
	}
	// And every lock can be taken through every replica again, waiting in
	// line: first release what is still held (by clients stopped at the
	// deadline, or by a request with an unknown outcome that took effect
	// after its client gave up on it).
	for _, name := range locks {
		for round := 0; ; round++ {
			out, sent := haDo(t, h, 100, replicas[0], haInput{Op: "get", Lock: name})
			if !sent || out.Unknown {
				t.Fatalf("reading %s after the faults failed", name)
			}
			if out.Key == "" {
				break
			}
			if round == 20 {
				t.Fatalf("%s is still held by %q {%s} after 20 rounds of releases", name, out.Key, out.Holds)
			}
			for holder, n := range haParseHolds(out.Holds) {
				for range n {
					haDo(t, h, 100, replicas[0], haInput{Op: "delete", Lock: name, Key: out.Key, Holder: holder})
				}
			}
		}
		for i, r := range replicas {
			key := fmt.Sprintf("final-%d", i)
			if out, sent := haDo(t, h, 100+i, r, haInput{Op: "put", Lock: name, Key: key, Holder: key, Wait: 30 * time.Second}); !sent || out.Status != http.StatusOK {
				t.Fatalf("replica %d: taking %s after the faults (waiting up to 30s): %+v", i, name, out)
			}
			haDo(t, h, 100+i, r, haInput{Op: "delete", Lock: name, Key: key, Holder: key})
		}
	}

	end := h.now() + 1
	ops := h.ops
	var puts, dels, gets, forgets, forgot, unknown, acquired int
	afterFaults := map[string]int{}
	for i := range ops {
		in, out := ops[i].Input.(haInput), ops[i].Output.(haOutput)
		if ops[i].Return < 0 {
			ops[i].Return = end
			unknown++
		}
		switch in.Op {
		case "put":
			puts++
			if out.Status == http.StatusOK {
				acquired++
				if ops[i].Call > faultEnd && ops[i].Call < runEnd {
					afterFaults[in.Lock]++
				}
			}
		case "delete":
			dels++
		case "forget":
			forgets++
			if out.Status == http.StatusOK {
				forgot++
			}
		default:
			gets++
		}
	}
	t.Logf("history: %d operations (%d PUT, %d of them granted; %d DELETE; %d GET; %d forget, %d of them done), %d with an unknown outcome", len(ops), puts, acquired, dels, gets, forgets, forgot, unknown)
	t.Logf("locks granted between the end of the faults and the end of the run: %v", afterFaults)
	if acquired < 50 {
		t.Errorf("only %d locks were granted: the run did too little to show anything", acquired)
	}
	if forgot == 0 {
		t.Errorf("no lock was forgotten: the run did not test taking a forgotten lock again")
	}
	if wantUnknown && unknown == 0 {
		t.Errorf("no request had an unknown outcome: the faults did not hit the clients")
	}

	v, n := haCheckExclusion(ops, end)
	haReport(t, "mutual exclusion", v)
	t.Logf("mutual exclusion: %d holding intervals checked, %d violations", n, len(v))
	v, n = haCheckFences(ops)
	haReport(t, "fencing", v)
	t.Logf("fencing: %d new holdings checked, %d violations", n, len(v))

	res, info := porcupine.CheckOperationsVerbose(haModel, ops, 2*time.Minute)
	switch res {
	case porcupine.Ok:
		t.Logf("linearizable: porcupine found a linearization of all %d operations", len(ops))
	default:
		f, err := os.CreateTemp("", "locker-ha-porcupine-*.html")
		if err == nil {
			f.Close()
			if err := porcupine.VisualizePath(haModel, info, f.Name()); err == nil {
				t.Logf("porcupine's visualization of the history: %s", f.Name())
			}
		}
		t.Fatalf("porcupine: the history is %s (not shown linearizable against the lock rules)", res)
	}
}
