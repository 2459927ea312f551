package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one load run's shape: how many clients do lock/unlock cycles, on
// which locks, for how long.
type Load struct {
	Duration    time.Duration `json:"-"`
	Concurrency int           `json:"concurrency"`
	// Locks is the number of distinct lock names the clients cycle over;
	// 0 means one per client (each client its own lock).
	Locks int `json:"locks,omitempty"`
	// Shared makes every client use the same key (with its own holder
	// name), so that clients sharing a lock never refuse each other.
	Shared bool `json:"shared,omitempty"`
	// Contended puts every client on one lock, each with its own key, and
	// measures the hand-off from one holder's release to the next one's
	// acquire.
	Contended bool `json:"contended,omitempty"`
	// Wait is sent as ?wait= with every PUT: a blocking wait for a held
	// lock instead of a 423 at once.
	Wait time.Duration `json:"-"`
	// Think makes each client pause a random time up to Think after each
	// lock and each unlock, as clients doing work between their changes
	// do, instead of sending the next at once.
	Think time.Duration `json:"-"`
}

// loadResult is what one load run measured.
type loadResult struct {
	ops, cycles, errors, refused int64
	elapsed                      time.Duration
	latency                      Latency
	handoff                      *Latency
	errorSamples                 []string
}

// acqRel is when a hold was taken or given back, as the client saw it
// (after reading the 200), with the hold's fence token.
type acqRel struct {
	fence uint64
	at    time.Time
}

// errorLog keeps the count and the first few messages of errors.
type errorLog struct {
	mu      sync.Mutex
	n       atomic.Int64
	samples []string
}

func (e *errorLog) add(format string, args ...any) {
	e.n.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.samples) < 5 {
		e.samples = append(e.samples, fmt.Sprintf(format, args...))
	}
}

// warmupTimeout bounds the cycle each client makes before the clock
// starts: a server that does not answer it fails the run.
var warmupTimeout = 15 * time.Second

// giveBackTimeout bounds the release of a lock a client may hold when its
// cycle was cut short; after a warm-up that got no answer, the shorter
// warmGiveBackTimeout (the server is most likely not answering at all).
const (
	giveBackTimeout     = 10 * time.Second
	warmGiveBackTimeout = 2 * time.Second
)

// cycles runs lock/unlock cycles against ep with l's shape: every client
// does PUT then DELETE on its lock(s) until l.Duration has passed. Each
// request answered 200 is one op, timed; the others are errors, or
// refusals (423), counted apart. prefix names the locks.
//
// Each client first makes one cycle, unmeasured, with no wait: the server
// must answer it as expected (200, or 423 for a lock another client
// holds), within warmupTimeout, or the run fails with what it answered. A
// client whose cycle is cut short (ctx ends, or the connection fails after
// a PUT was sent) gives back the lock it may hold, with cfg's cleanup
// context.
func cycles(ctx context.Context, cfg Config, ep *endpoint, l Load, prefix string) (loadResult, error) {
	c := max(l.Concurrency, 1)
	nLocks := l.Locks
	if nLocks <= 0 {
		nLocks = c
	}
	if l.Contended {
		nLocks = 1
	}
	var (
		errs       errorLog
		refused    atomic.Int64
		mu         sync.Mutex
		lats       [][]time.Duration
		acqs, rels []acqRel
		ops, cyc   atomic.Int64
		ready      sync.WaitGroup
		done       sync.WaitGroup
		start      = make(chan struct{})
		deadline   time.Time    // set before start is closed
		began      time.Time    // set before start is closed
		lastEnd    atomic.Int64 // nanoseconds since began, by the monotonic clock
		warmErr    error
		warmOnce   sync.Once
		// interrupted says once that clients give back their locks
		// after ctx ended.
		interrupted sync.Once
		// lost is the locks clients could not give back: a command
		// that frees each.
		lost   []string
		lostMu sync.Mutex
	)
	wctx, wcancel := context.WithTimeoutCause(ctx, warmupTimeout, fmt.Errorf("no answer within %s", warmupTimeout))
	defer wcancel()
	// The first failure is the run's. The other clients' warm-ups are
	// left to end by themselves (they are answered, or time out, like
	// it): cut short, they might hold their locks.
	warmFailed := func(err error) { warmOnce.Do(func() { warmErr = err }) }
	worker := func(i int) {
		defer done.Done()
		cn := ep.newConn()
		defer cn.Close()
		key, holder := "c"+strconv.Itoa(i), "c"+strconv.Itoa(i)
		if l.Shared {
			key = "bench"
		}
		var names []string
		if nLocks < c {
			names = []string{lockName(prefix, i%nLocks)}
		} else {
			for j := i; j < nLocks; j += c {
				names = append(names, lockName(prefix, j))
			}
		}
		putBody := mustBody(map[string]string{"key": key, "lock_by": holder})
		delBody := mustBody(map[string]string{"key": key, "locked_by": holder})
		query := ""
		if l.Wait > 0 {
			query = "?wait=" + url.QueryEscape(l.Wait.String())
		}
		puts := make([]string, len(names))
		dels := make([]string, len(names))
		for j, n := range names {
			dels[j] = "/lock/" + url.PathEscape(n)
			puts[j] = dels[j] + query
		}
		lat := make([]time.Duration, 0, 1<<14)
		var myAcq, myRel []acqRel
		// giveBack releases lock j, which the client may hold: its cycle
		// was cut short. A 423 says another key holds it: not this client.
		giveBack := func(j int, timeout time.Duration) {
			if ctx.Err() != nil {
				interrupted.Do(func() {
					cfg.note("interrupted: releasing the locks the clients may hold (interrupt again to give up)")
				})
			}
			gctx, cancel := cfg.cleanupContext(ctx, timeout)
			defer cancel()
			resp, err := cn.do(gctx, "DELETE", dels[j], delBody, true)
			if err == nil && (resp.status == 200 || resp.status == 423) {
				return
			}
			if err == nil {
				err = errors.New(answer(resp))
			}
			lostMu.Lock()
			lost = append(lost, fmt.Sprintf("locker unlock %q --key %q --holder %q   # %v", names[j], key, holder, err))
			lostMu.Unlock()
		}
		// think pauses as the client's work between its changes would,
		// never past the run's end.
		think := func() {
			if l.Think <= 0 {
				return
			}
			d := min(rand.N(l.Think), time.Until(deadline))
			if d <= 0 {
				return
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		// warmUp is one cycle before the clock starts: it connects, and
		// checks that the server answers as expected.
		warmUp := func() error {
			resp, err := cn.do(wctx, "PUT", dels[0], putBody, true)
			switch {
			case err != nil:
				if cn.sent {
					giveBack(0, warmGiveBackTimeout)
				}
				return fmt.Errorf("PUT %s: %v", names[0], err)
			case resp.status == 423:
				return nil // another client's lock (--locks, --contended)
			case resp.status != 200:
				return fmt.Errorf("PUT %s: %s", names[0], answer(resp))
			}
			resp, err = cn.do(wctx, "DELETE", dels[0], delBody, true)
			switch {
			case err != nil:
				giveBack(0, warmGiveBackTimeout)
				return fmt.Errorf("DELETE %s: %v", names[0], err)
			case resp.status != 200:
				giveBack(0, warmGiveBackTimeout)
				return fmt.Errorf("DELETE %s: %s", names[0], answer(resp))
			}
			return nil
		}
		// cycle is one measured lock and unlock: only the requests
		// answered 200 are operations, timed.
		cycle := func(j int) {
			t0 := time.Now()
			resp, err := cn.do(ctx, "PUT", puts[j], putBody, !l.Contended)
			t1 := time.Now()
			switch {
			case err != nil:
				if cn.sent {
					giveBack(j, giveBackTimeout)
				}
				if ctx.Err() == nil {
					errs.add("PUT %s: %v", names[j], err)
					time.Sleep(10 * time.Millisecond) // a server that is down: do not spin
				}
				return
			case resp.status == 423:
				refused.Add(1)
				return
			case resp.status != 200:
				errs.add("PUT %s: %s", names[j], answer(resp))
				return
			}
			lat = append(lat, t1.Sub(t0))
			ops.Add(1)
			var fence uint64
			if l.Contended {
				fence = fenceOf(resp.body)
				myAcq = append(myAcq, acqRel{fence, t1})
			}
			think()
			t1 = time.Now()
			resp, err = cn.do(ctx, "DELETE", dels[j], delBody, true)
			t2 := time.Now()
			switch {
			case err != nil:
				giveBack(j, giveBackTimeout)
				if ctx.Err() == nil {
					errs.add("DELETE %s: %v", names[j], err)
				}
				return
			case resp.status != 200:
				errs.add("DELETE %s: %s", names[j], answer(resp))
				// Still held: the next PUT would take a second count,
				// left on the server after the run.
				giveBack(j, giveBackTimeout)
				return
			}
			lat = append(lat, t2.Sub(t1))
			ops.Add(1)
			cyc.Add(1)
			if l.Contended {
				myRel = append(myRel, acqRel{fence, t2})
			}
			think()
		}
		if err := warmUp(); err != nil {
			warmFailed(err)
		}
		ready.Done()
		<-start
		for j := 0; ; j = (j + 1) % len(names) {
			if ctx.Err() != nil || warmErr != nil || !time.Now().Before(deadline) {
				break
			}
			cycle(j)
		}
		end := int64(time.Since(began))
		for {
			old := lastEnd.Load()
			if end <= old || lastEnd.CompareAndSwap(old, end) {
				break
			}
		}
		mu.Lock()
		lats = append(lats, lat)
		acqs = append(acqs, myAcq...)
		rels = append(rels, myRel...)
		mu.Unlock()
	}
	ready.Add(c)
	done.Add(c)
	for i := range c {
		go worker(i)
	}
	ready.Wait()
	began = time.Now()
	deadline = began.Add(l.Duration)
	close(start)
	done.Wait()
	if len(lost) > 0 {
		sort.Strings(lost)
		cfg.note("%d of the clients may still hold their lock, with no lease (releasing it failed); free them with these, adding --url %s:\n  %s",
			len(lost), redact(ep.url), strings.Join(lost, "\n  "))
	}
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	if warmErr != nil {
		return loadResult{}, fmt.Errorf("warm-up (a cycle per client before measuring): %v", warmErr)
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r := loadResult{
		ops: ops.Load(), cycles: cyc.Load(), errors: errs.n.Load(), refused: refused.Load(),
		elapsed: time.Duration(lastEnd.Load()), latency: summarize(all), errorSamples: errs.samples,
	}
	if l.Contended {
		r.handoff = handoffs(acqs, rels)
	}
	return r, nil
}

// handoffs pairs each acquisition of the one contended lock with the
// release of the hold before it: holds follow each other in fence order
// (each one goes from free to held, so it gets a new token). The hand-off
// is from the client reading the release's 200 to the next holder's client
// reading its PUT's 200; 0 when the next holder's client read its 200
// first.
func handoffs(acqs, rels []acqRel) *Latency {
	if len(acqs) < 2 {
		return nil
	}
	relAt := make(map[uint64]time.Time, len(rels))
	for _, r := range rels {
		if r.fence != 0 {
			relAt[r.fence] = r.at
		}
	}
	sort.Slice(acqs, func(i, j int) bool { return acqs[i].fence < acqs[j].fence })
	var ds []time.Duration
	for i := 1; i < len(acqs); i++ {
		prev := acqs[i-1].fence
		if prev == 0 {
			continue
		}
		if at, ok := relAt[prev]; ok {
			// The server may answer the release and the next PUT at
			// once, and the next holder's client read its 200 first:
			// the hand-off was over by the release's 200.
			ds = append(ds, max(acqs[i].at.Sub(at), 0))
		}
	}
	if len(ds) == 0 {
		return nil
	}
	l := summarize(ds)
	return &l
}

// fenceOf reads "fence" from a lock response; 0 when there is none (a
// server without fencing tokens).
func fenceOf(body []byte) uint64 {
	i := bytes.Index(body, []byte(`"fence":`))
	if i < 0 {
		return 0
	}
	rest := body[i+len(`"fence":`):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, _ := strconv.ParseUint(string(rest[:j]), 10, 64)
	return n
}

func lockName(prefix string, i int) string { return prefix + strconv.Itoa(i) }

func mustBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// answer describes an unexpected answer: its status, and the server's
// explanation (the "error" of a Locker error, or the text of another
// server's), cut short.
func answer(resp response) string {
	status := fmt.Sprintf("status %d", resp.status)
	if st := http.StatusText(resp.status); st != "" {
		status += " (" + st + ")"
	}
	if text := errorText(resp.body); text != "" {
		return status + ": " + text
	}
	return status
}

// errorText is the explanation in an error response's body: its JSON
// "error" field, or else its first line, at most 200 bytes; nothing for
// an HTML page.
func errorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	text := string(bytes.TrimSpace(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		text = e.Error
	} else if strings.HasPrefix(text, "<") {
		return ""
	}
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = strings.TrimSpace(text[:i]) + " ..."
	}
	if len(text) > 200 {
		text = strings.ToValidUTF8(text[:200], "") + "..."
	}
	return text
}

// prefill takes holds on locks from..to-1 (named prefix+i) with conc
// connections, as fast as the server allows, or gives them back (method
// DELETE). Each is held under one key, prefillKey. It stops at the first
// error. It returns how many requests succeeded, and the end of the range
// it sent requests for (from..tried-1; some perhaps unanswered).
func prefill(ctx context.Context, ep *endpoint, prefix string, from, to, conc int, method string) (done, tried int, err error) {
	if to <= from {
		return 0, from, nil
	}
	var next, ok atomic.Int64
	next.Store(int64(from))
	var errs errorLog
	body := mustBody(map[string]string{"key": prefillKey, "lock_by": prefillKey})
	if method == "DELETE" {
		body = mustBody(map[string]string{"key": prefillKey, "locked_by": prefillKey})
	}
	var wg sync.WaitGroup
	for range min(conc, to-from) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn := ep.newConn()
			defer cn.Close()
			for ctx.Err() == nil && errs.n.Load() == 0 {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				resp, err := cn.do(ctx, method, "/lock/"+url.PathEscape(lockName(prefix, i)), body, true)
				switch {
				case err != nil:
					errs.add("%s %s: %v", method, lockName(prefix, i), err)
				case resp.status != 200:
					errs.add("%s %s: %s", method, lockName(prefix, i), answer(resp))
				default:
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	done, tried = int(ok.Load()), min(int(next.Load()), to)
	if err := ctx.Err(); err != nil {
		return done, tried, err
	}
	if errs.n.Load() > 0 {
		return done, tried, errors.New(errs.samples[0])
	}
	return done, tried, nil
}
