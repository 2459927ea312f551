//go:build crashloop

// Crash loop: runs /tmp/crash-server under concurrent load (plain holds,
// leases, pool hand-outs, pool membership churn), SIGKILLs it at random
// moments, restarts it, and checks the model: every acknowledged change is
// there, an unanswered one made or not, no holder of a key that got no 200,
// fencing tokens above every token acknowledged before, memberships as
// acknowledged. Too slow for CI; see ../server for how to run it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	rounds  = flag.Int("rounds", 50, "")
	port    = flag.Int("port", 21100, "")
	dir     = flag.String("dir", "/tmp/crash-data", "")
	seed    = flag.Uint64("seed", uint64(time.Now().UnixNano()), "")
	nclient = flag.Int("clients", 8, "")
	maxKill = flag.Int("maxkill", 400, "ms")
)

type hold struct {
	Count   int       `json:"count"`
	Expires time.Time `json:"expires"`
}

type lockObj struct {
	Name     string          `json:"name"`
	Key      string          `json:"key"`
	LockedBy map[string]int  `json:"locked_by"`
	Fence    uint64          `json:"fence"`
	Holds    map[string]hold `json:"holds"`
	Pools    []string        `json:"pools"`
	Error    string          `json:"error"`
}

type hk struct{ lock, holder string }

var (
	gmu         sync.Mutex
	maxAcked    uint64 // highest fence in any acked answer
	failures    []string
	baseURL     string
	epochStart  uint64 // maxAcked at the start of the epoch (after restart)
	restartSeen = map[string]uint64{}
)

func fail(format string, args ...any) {
	gmu.Lock()
	defer gmu.Unlock()
	msg := fmt.Sprintf(format, args...)
	failures = append(failures, msg)
	fmt.Println("FAIL:", msg)
}

func ackFence(f uint64) {
	gmu.Lock()
	maxAcked = max(maxAcked, f)
	gmu.Unlock()
}

func curMax() uint64 { gmu.Lock(); defer gmu.Unlock(); return maxAcked }

type unknown struct {
	kind   string // put, del, lput, pool, add, rm
	k      hk
	before int
}

type client struct {
	id      int
	key     string
	plain   []string // holders without lease
	lh, ph  string   // lease holder, pool holder
	counts  map[hk]int
	expires map[hk]time.Time  // lease holds: acked expiry
	fences  map[string]uint64 // lock -> fence of our current holding period
	unk     *unknown
	ok      int
}

var plainLocks, members []string

func ours(c *client, l string) (n int, unsure bool) {
	for _, h := range append(append([]string{}, c.plain...), c.lh, c.ph) {
		k := hk{l, h}
		n += c.counts[k]
		if h == c.lh && c.counts[k] > 0 && time.Now().Add(100*time.Millisecond).After(c.expires[k]) {
			unsure = true
		}
	}
	return
}

func do(method, path string, body any) (int, lockObj, []byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, baseURL+path, bytes.NewReader(b))
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, lockObj{}, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, lockObj{}, nil, err
	}
	var l lockObj
	json.Unmarshal(raw, &l)
	return resp.StatusCode, l, raw, nil
}

var snaps, storeRefused int
var setupPending = true
var serverBin = flag.String("server", "/tmp/crash-server", "")
var idle = flag.Int("idle", 0, "idle held locks (bigger snapshots)")
var fillDir = flag.Bool("fill", false, "fill the disk now and then (dir must be a small tmpfs)")

var httpc = &http.Client{Timeout: 10 * time.Second}

func (c *client) run(stop chan struct{}, rnd *rand.Rand) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !c.step(rnd) {
			return
		}
	}
}

// step does one request; false: stop (no answer).
func (c *client) step(rnd *rand.Rand) bool {
	r := rnd.IntN(100)
	switch {
	case r < 15:
		return c.poolAcquire()
	case r < 25:
		// release a pool member we hold
		for _, m := range members {
			if c.counts[hk{m, c.ph}] > 0 {
				return c.release(hk{m, c.ph})
			}
		}
		return c.poolAcquire()
	case r < 32:
		for _, l := range plainLocks {
			k := hk{l, c.lh}
			if c.counts[k] > 0 && time.Now().Add(300*time.Millisecond).Before(c.expires[k]) {
				return c.refresh(k, rnd)
			}
		}
		fallthrough
	default:
		l := plainLocks[rnd.IntN(len(plainLocks))]
		var h string
		lease := rnd.IntN(4) == 0
		if lease {
			h = c.lh
		} else {
			h = c.plain[rnd.IntN(len(c.plain))]
		}
		k := hk{l, h}
		if n, _ := ours(c, l); n > 0 && rnd.IntN(100) < 60 {
			if c.counts[k] == 0 {
				for _, hh := range append(append([]string{}, c.plain...), c.lh) {
					if c.counts[hk{l, hh}] > 0 {
						k = hk{l, hh}
					}
				}
			}
			return c.release(k)
		}
		return c.acquire(k, k.holder == c.lh, rnd)
	}
}

func (c *client) acquire(k hk, lease bool, rnd *rand.Rand) bool {
	body := map[string]any{"key": c.key, "lock_by": k.holder}
	if lease {
		body["ttl"] = fmt.Sprintf("%dms", 200+rnd.IntN(1500))
	}
	n0, unsure := ours(c, k.lock)
	before := c.counts[k]
	maxBefore := curMax()
	st, l, raw, err := do("PUT", "/lock/"+url.PathEscape(k.lock), body)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
		c.unk = &unknown{kind: "put", k: k, before: before}
		return false
	}
	switch st {
	case 200:
		got := l.LockedBy[k.holder]
		if lease {
			if got != before+1 && !(got == 1 && before > 0 && unsure) {
				fail("client %d PUT %v lease: count %d, before %d: %s", c.id, k, got, before, raw)
			}
			c.expires[k] = l.Holds[k.holder].Expires
		} else if got != before+1 {
			fail("client %d PUT %v: count %d, want %d: %s", c.id, k, got, before+1, raw)
		}
		c.counts[k] = got
		if l.Key != c.key {
			fail("client %d PUT %v: 200 but key %q: %s", c.id, k, l.Key, raw)
		}
		c.checkHolders(l, raw)
		c.newPeriodCheck(k.lock, n0, unsure, l.Fence, maxBefore, raw)
		ackFence(l.Fence)
		c.ok++
	case 423:
		if n0 > 0 && !unsure {
			fail("client %d PUT %v: 423 although we hold it (%d): %s", c.id, k, n0, raw)
		}
	case 507:
		storeRefused++
	case 503:
		if strings.Contains(string(raw), "may or may not") {
			c.unk = &unknown{kind: "put", k: k, before: before}
			return false
		}
		storeRefused++
	default:
		fail("client %d PUT %v: %d %s", c.id, k, st, raw)
	}
	return true
}

// checkHolders: every holder in an answer keyed by us is ours.
func (c *client) checkHolders(l lockObj, raw []byte) {
	for h := range l.LockedBy {
		if !strings.HasPrefix(h, fmt.Sprintf("c%d-", c.id)) {
			fail("client %d: lock %s keyed %s has foreign holder %s: %s", c.id, l.Name, l.Key, h, raw)
		}
	}
}

func (c *client) newPeriodCheck(lockName string, n0 int, unsure bool, fence, maxBefore uint64, raw []byte) {
	if n0 == 0 {
		if fence <= maxBefore {
			fail("client %d: new holding period of %s got fence %d, but fence %d was acknowledged before the request was sent: %s", c.id, lockName, fence, maxBefore, raw)
		}
		c.fences[lockName] = fence
	} else if !unsure {
		if f, ok := c.fences[lockName]; ok && f != fence {
			fail("client %d: re-entry of %s changed fence %d -> %d: %s", c.id, lockName, f, fence, raw)
		}
	} else {
		c.fences[lockName] = fence
	}
}

func (c *client) refresh(k hk, rnd *rand.Rand) bool {
	before := c.counts[k]
	st, l, raw, err := do("POST", "/lock/"+url.PathEscape(k.lock)+"/refresh", map[string]any{"key": c.key, "lock_by": k.holder, "ttl": fmt.Sprintf("%dms", 300+rnd.IntN(1500))})
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
		c.unk = &unknown{kind: "refresh", k: k, before: before}
		return false
	}
	switch st {
	case 200:
		if l.LockedBy[k.holder] != before {
			fail("client %d refresh %v: count %d before %d: %s", c.id, k, l.LockedBy[k.holder], before, raw)
		}
		c.expires[k] = l.Holds[k.holder].Expires
		c.ok++
	case 404, 423:
		c.counts[k] = 0 // expired meanwhile
	case 507, 503:
		storeRefused++
	default:
		fail("client %d refresh %v: %d %s", c.id, k, st, raw)
	}
	return true
}

func (c *client) release(k hk) bool {
	before := c.counts[k]
	st, l, raw, err := do("DELETE", "/lock/"+url.PathEscape(k.lock), map[string]any{"key": c.key, "locked_by": k.holder})
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
		c.unk = &unknown{kind: "del", k: k, before: before}
		return false
	}
	switch st {
	case 200:
		got := l.LockedBy[k.holder]
		if got != max(before-1, 0) && !(k.holder == c.lh && got == 0) {
			fail("client %d DELETE %v: count %d before %d: %s", c.id, k, got, before, raw)
		}
		c.counts[k] = got
		if n, _ := ours(c, k.lock); n == 0 {
			delete(c.fences, k.lock)
		}
		c.checkHolders(l, raw)
		c.ok++
	case 507:
		storeRefused++
	case 503:
		if strings.Contains(string(raw), "may or may not") {
			c.unk = &unknown{kind: "del", k: k, before: before}
			return false
		}
		storeRefused++
	case 423:
		// released after our lease expired and someone else took it
		if n, unsure := ours(c, k.lock); n > 0 && !unsure {
			fail("client %d DELETE %v: 423 though we hold it: %s", c.id, k, raw)
		}
		if k.holder == c.lh || k.holder == c.ph {
			// pool holder never leases; only the lease holder may expire
		}
		c.counts[k] = 0
	default:
		fail("client %d DELETE %v: %d %s", c.id, k, st, raw)
	}
	return true
}

func (c *client) poolAcquire() bool {
	maxBefore := curMax()
	st, l, raw, err := do("PUT", "/pool/pool", map[string]any{"key": c.key, "lock_by": c.ph})
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
		c.unk = &unknown{kind: "pool"}
		return false
	}
	switch st {
	case 200:
		k := hk{l.Name, c.ph}
		if n, _ := ours(c, l.Name); n != 0 {
			fail("client %d: pool handed out %s which we hold already: %s", c.id, l.Name, raw)
		}
		if l.LockedBy[c.ph] != 1 || l.Key != c.key || len(l.LockedBy) != 1 {
			fail("client %d: pool answer: %s", c.id, raw)
		}
		c.counts[k] = 1
		c.newPeriodCheck(l.Name, 0, false, l.Fence, maxBefore, raw)
		ackFence(l.Fence)
		c.ok++
	case 423, 404, 507:
	case 503:
		if strings.Contains(string(raw), "may or may not") {
			c.unk = &unknown{kind: "pool"}
			return false
		}
	default:
		fail("client %d pool: %d %s", c.id, st, raw)
	}
	return true
}

// pooler churns memberships of extra members in pool2 (never handed out
// by "pool"): add/remove.
type pooler struct {
	member map[string]bool // lock -> in pool2
	unk    *hk
}

var extra = []string{"x-0", "x-1", "x-2", "x-3"}

func (p *pooler) run(stop chan struct{}, rnd *rand.Rand) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		m := extra[rnd.IntN(len(extra))]
		var st int
		var raw []byte
		var err error
		if p.member[m] {
			st, _, raw, err = do("DELETE", "/pool/pool2/"+m, map[string]any{})
		} else {
			st, _, raw, err = do("PUT", "/pool/pool2/"+m, map[string]any{"metadata": map[string]any{"n": rnd.IntN(1000)}})
		}
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				p.unk = &hk{m, ""}
			}
			return
		}
		if st == 507 || st == 503 && !strings.Contains(string(raw), "may or may not") {
			continue
		}
		if st == 503 {
			p.unk = &hk{m, ""}
			return
		}
		if st != 200 {
			fail("pooler %s: %d %s", m, st, raw)
			return
		}
		p.member[m] = !p.member[m]
		time.Sleep(time.Millisecond)
	}
}

type server struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	outMu  sync.Mutex
	listen chan struct{}
	exited chan struct{}
}

func start(data string) *server {
	cmd := exec.Command(*serverBin)
	compact := []int{2048, 8192, 65536}[rand.IntN(3)]
	cmd.Env = []string{"LOCKER_CONFIG=" + data, fmt.Sprintf("LISTEN=127.0.0.1:%d", *port), fmt.Sprintf("COMPACT_BYTES=%d", compact), "HISTORY=3"}
	s := &server{cmd: cmd, out: &bytes.Buffer{}, listen: make(chan struct{}), exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			s.outMu.Lock()
			s.out.WriteString(sc.Text() + "\n")
			s.outMu.Unlock()
			if sc.Text() == "listening" {
				once.Do(func() { close(s.listen) })
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(s.exited) }()
	return s
}

func (s *server) output() string { s.outMu.Lock(); defer s.outMu.Unlock(); return s.out.String() }

func (s *server) kill() { s.cmd.Process.Signal(syscall.SIGKILL); <-s.exited }

func getLocks() map[string]lockObj {
	resp, err := httpc.Get(baseURL + "/locks")
	if err != nil {
		fail("GET /locks: %v", err)
		return nil
	}
	defer resp.Body.Close()
	var m map[string]lockObj
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		fail("GET /locks decode: %v", err)
	}
	return m
}

func copyDir(src, dst string) {
	os.MkdirAll(dst, 0o700)
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600)
		}
	}
}

func main() {
	flag.Parse()
	fmt.Println("seed", *seed)
	rnd := rand.New(rand.NewPCG(*seed, 1))
	baseURL = fmt.Sprintf("http://127.0.0.1:%d", *port)
	os.RemoveAll(*dir)
	os.MkdirAll(*dir, 0o700)
	data := filepath.Join(*dir, "locks.yml")
	for i := 0; i < 12; i++ {
		plainLocks = append(plainLocks, fmt.Sprintf("lock-%02d", i))
	}
	for i := 0; i < 6; i++ {
		members = append(members, fmt.Sprintf("m-%d", i))
	}
	clients := make([]*client, *nclient)
	for i := range clients {
		clients[i] = &client{id: i, key: fmt.Sprintf("key-%d", i), plain: []string{fmt.Sprintf("c%d-a", i), fmt.Sprintf("c%d-b", i)},
			lh: fmt.Sprintf("c%d-l", i), ph: fmt.Sprintf("c%d-p", i), counts: map[hk]int{}, expires: map[hk]time.Time{}, fences: map[string]uint64{}}
	}
	pl := &pooler{member: map[string]bool{}}
	setup := true
	prevMax := uint64(0)
	for round := 0; round < *rounds; round++ {
		if ents, err := os.ReadDir(*dir); err == nil {
			segs := 0
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".tmp") {
					tmpSeen++
				}
				if strings.Contains(e.Name(), ".log.") && !strings.Contains(e.Name(), "dropped") {
					segs++
				}
			}
			if segs > 1 {
				multiSeg++
			}
		}
		s := start(data)
		// Now and then kill during start-up (recovery).
		if round > 0 && rnd.IntN(6) == 0 {
			time.Sleep(time.Duration(rnd.IntN(15)) * time.Millisecond)
			s.kill()
			s = start(data)
		}
		select {
		case <-s.listen:
		case <-s.exited:
			if *fillDir {
				fmt.Printf("round %d: server did not start on a full disk:\n%s\n", round, s.output())
				startRefusals++
				os.Remove(filepath.Join(*dir, "..", "filler"))
				round--
				continue
			}
			fmt.Printf("round %d: SERVER DID NOT START:\n%s\n", round, s.output())
			copyDir(*dir, *dir+"-failed")
			os.Exit(1)
		case <-time.After(30 * time.Second):
			fmt.Printf("round %d: start timeout:\n%s\n", round, s.output())
			os.Exit(1)
		}
		if setup {
			for _, m := range members {
				if st, _, raw, err := do("PUT", "/pool/pool/"+m, map[string]any{}); err != nil || st != 200 {
					fmt.Println("setup", st, string(raw), err)
					os.Exit(1)
				}
			}
			for i := 0; i < *idle; i++ {
				if st, _, raw, err := do("PUT", fmt.Sprintf("/lock/idle-%04d", i), map[string]any{"key": "idle", "lock_by": "idle"}); err != nil || st != 200 {
					fmt.Println("setup idle", st, string(raw), err)
					os.Exit(1)
				}
			}
			setup = false
			setupPending = false
		}
		obs := getLocks()
		check(round, clients, pl, obs, prevMax)
		if len(failures) > 0 {
			fmt.Println("server output:\n" + s.output())
			copyDir(*dir, *dir+"-failed")
			os.Exit(1)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range clients {
			crnd := rand.New(rand.NewPCG(rnd.Uint64(), 2))
			wg.Add(1)
			go func() { defer wg.Done(); c.run(stop, crnd) }()
		}
		prnd := rand.New(rand.NewPCG(rnd.Uint64(), 3))
		wg.Add(1)
		go func() { defer wg.Done(); pl.run(stop, prnd) }()
		if *fillDir {
			frnd := rand.New(rand.NewPCG(rnd.Uint64(), 4))
			wg.Add(1)
			go func() { defer wg.Done(); filler(stop, frnd) }()
		}
		time.Sleep(time.Duration(20+rnd.IntN(*maxKill)) * time.Millisecond)
		s.kill()
		close(stop)
		wg.Wait()
		prevMax = curMax()
		snaps += strings.Count(s.output(), "snapshot written")
		if len(failures) > 0 {
			fmt.Println("server output:\n" + s.output())
			os.Exit(1)
		}
		if strings.Contains(s.output(), "level=ERROR") || strings.Contains(s.output(), "level=WARN") {
			for _, line := range strings.Split(s.output(), "\n") {
				if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
					fmt.Printf("round %d: %s\n", round, line)
				}
			}
		}
	}
	total := 0
	for _, c := range clients {
		total += c.ok
	}
	fmt.Printf("store refusals %d, start refusals %d\n", storeRefused, startRefusals)
	fmt.Printf("restarts with a snapshot .tmp: %d, with several segments: %d\n", tmpSeen, multiSeg)
	fmt.Printf("snapshots written: %d\n", snaps)
	fmt.Printf("OK: %d rounds, %d acknowledged, max fence %d\n", *rounds, total, curMax())
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func check(round int, clients []*client, pl *pooler, obs map[string]lockObj, prevMax uint64) {
	now := time.Now()
	owner := map[string]*client{}
	for _, c := range clients {
		for _, h := range append(append([]string{}, c.plain...), c.lh, c.ph) {
			owner[h] = c
		}
	}
	// lock level
	var maxSeen uint64
	idleSeen := 0
	for name, l := range obs {
		maxSeen = max(maxSeen, l.Fence)
		if strings.HasPrefix(name, "idle-") {
			if l.LockedBy["idle"] != 1 || l.Key != "idle" {
				fail("round %d: idle lock %s: %+v", round, name, l)
			}
			idleSeen++
			continue
		}
		for h, n := range l.LockedBy {
			c := owner[h]
			if c == nil || n <= 0 || l.Key != c.key {
				fail("round %d: lock %s: holder %s count %d key %s", round, name, h, n, l.Key)
			}
		}
	}
	if !setupPending && idleSeen != *idle {
		fail("round %d: %d idle locks, want %d", round, idleSeen, *idle)
	}
	// holds
	for _, c := range clients {
		all := append(append([]string{}, plainLocks...), members...)
		poolUnknownUsed := false
		for _, name := range all {
			for _, h := range append(append([]string{}, c.plain...), c.lh, c.ph) {
				k := hk{name, h}
				got := obs[name].LockedBy[h]
				want := c.counts[k]
				allowed := []int{want}
				if c.unk != nil && c.unk.k == k {
					switch c.unk.kind {
					case "put":
						allowed = []int{c.unk.before, c.unk.before + 1}
						if h == c.lh {
							allowed = append(allowed, 0, 1)
						}
					case "refresh":
						allowed = []int{c.unk.before, 0}
					case "del":
						allowed = []int{c.unk.before, max(c.unk.before-1, 0)}
					}
				}
				if h == c.lh && want > 0 && now.Add(200*time.Millisecond).After(c.expires[k]) {
					allowed = append(allowed, 0)
				}
				if h == c.ph && c.unk != nil && c.unk.kind == "pool" && !poolUnknownUsed && got == want+1 {
					allowed = append(allowed, want+1)
					poolUnknownUsed = true
				}
				ok := false
				for _, a := range allowed {
					ok = ok || a == got
				}
				if !ok {
					fail("round %d: lock %s holder %s: server %d, model allows %v (unknown %+v)", round, name, h, got, allowed, c.unk)
				}
				if got > 0 {
					c.counts[k] = got
					c.expires[k] = obs[name].Holds[h].Expires
				} else {
					delete(c.counts, k)
				}
			}
			n, unsure := ours(c, name)
			if n == 0 {
				delete(c.fences, name)
			} else if f, ok := c.fences[name]; ok && !unsure && (c.unk == nil || c.unk.k.lock != name) && f != obs[name].Fence {
				fail("round %d: lock %s held by client %d since fence %d, server shows fence %d", round, name, c.id, f, obs[name].Fence)
			} else {
				c.fences[name] = obs[name].Fence
			}
		}
		c.unk = nil
	}
	// memberships
	for _, m := range extra {
		in := contains(obs[m].Pools, "pool2")
		if in != pl.member[m] && (pl.unk == nil || pl.unk.lock != m) {
			fail("round %d: %s in pool2: server %v, model %v", round, m, in, pl.member[m])
		}
		pl.member[m] = in
	}
	pl.unk = nil
	for _, m := range members {
		if !contains(obs[m].Pools, "pool") {
			fail("round %d: member %s left pool: %+v", round, m, obs[m])
		}
	}
	_ = sort.Strings
	_ = prevMax
	_ = maxSeen
}

var startRefusals, tmpSeen, multiSeg int

// filler fills the file system holding dir, now and then, and frees it.
func filler(stop chan struct{}, rnd *rand.Rand) {
	p := filepath.Join(*dir, "..", "filler")
	for {
		select {
		case <-stop:
			if rnd.IntN(2) == 0 {
				os.Remove(p) // sometimes the restart finds the disk full
			}
			return
		case <-time.After(time.Duration(rnd.IntN(100)) * time.Millisecond):
		}
		if rnd.IntN(2) == 0 {
			os.Remove(p)
			continue
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			continue
		}
		buf := make([]byte, 4096)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		f.Close()
	}
}
