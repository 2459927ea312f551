package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// logRecord is one captured log line: its level, message and attributes.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

// captureLog is a slog handler that keeps every record, and signals each
// whose message starts with one it was told to watch for.
type captureLog struct {
	mu      sync.Mutex
	records []logRecord
	watch   string
	seen    chan struct{}
}

func (h *captureLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureLog) WithGroup(string) slog.Handler            { return h }
func (h *captureLog) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value; return true })
	h.mu.Lock()
	h.records = append(h.records, rec)
	watch := h.watch
	h.mu.Unlock()
	if watch != "" && strings.HasPrefix(r.Message, watch) {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return nil
}

// matching returns the records whose message starts with prefix.
func (h *captureLog) matching(prefix string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range h.records {
		if strings.HasPrefix(r.msg, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (h *captureLog) reset(watch string) {
	h.mu.Lock()
	h.records, h.watch = nil, watch
	h.mu.Unlock()
}

// TestListenOutageIsLoggedOnceAMinute: while its database is away, a
// replica logged "listening for changes failed; retrying" at every retry,
// every 5 s for as long as the outage lasted (an operator review counted
// about 12 lines a minute). It logs the first failure at once, then at most
// once a minute (listenLogEvery) with the count of failures since, and once
// (INFO) when it listens again, with how long it was down and how many
// attempts failed.
func TestListenOutageIsLoggedOnceAMinute(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	p, _ := url.Parse(schemaURL)
	f := startFreezer(t, p.Host)
	b := make([]byte, 6)
	rand.Read(b)
	app := "locker_test_" + hex.EncodeToString(b)
	log := &captureLog{seen: make(chan struct{}, 1)}
	s, err := pgstore.Open(bg, withHost(t, schemaURL, f.addr())+"&application_name="+app, pgstore.Options{Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// outage takes the database away until at least min connections were
	// refused, then brings it back and waits for the replica to listen
	// again. It returns how many connections were refused.
	outage := func(min int) int {
		t.Helper()
		log.reset("listening for changes again")
		f.mu.Lock()
		f.refusing, f.refused = true, 0
		f.mu.Unlock()
		endSessions(t, app) // the LISTEN connection ends now
		for {
			f.mu.Lock()
			n := f.refused
			f.mu.Unlock()
			if n >= min {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		f.mu.Lock()
		f.refusing = false
		n := f.refused
		f.mu.Unlock()
		select {
		case <-log.seen:
		case <-time.After(30 * time.Second):
			t.Fatal("the replica did not log that it listens again")
		}
		return n
	}

	// Within a minute: the first failure alone is logged.
	refused := outage(12)
	failed := log.matching("listening for changes")
	var warns []logRecord
	for _, r := range failed {
		if r.level >= slog.LevelWarn {
			warns = append(warns, r)
		}
	}
	if len(warns) != 1 || warns[0].msg != "listening for changes failed; retrying" || warns[0].attrs["err"].String() == "" {
		t.Errorf("%d connections refused; warnings logged for listening: %+v, want the first failure alone", refused, warns)
	}
	back := log.matching("listening for changes again")
	if len(back) != 1 || back[0].level != slog.LevelInfo {
		t.Fatalf("logged on listening again: %+v, want one INFO line", back)
	}
	attempts := back[0].attrs["failed_attempts"]
	if attempts.Kind() != slog.KindInt64 || attempts.Int64() < 2 || attempts.Int64() > int64(refused) {
		t.Errorf("failed_attempts %v after %d connections refused (the pool's included), want from 2 to %d", attempts, refused, refused)
	}
	if d := back[0].attrs["down_for"]; d.Kind() != slog.KindDuration || d.Duration() <= 0 {
		t.Errorf("down_for %v, want how long listening was down", d)
	}

	// Past the interval: each later line counts the failures since the
	// line before; together they count every failure.
	pgstore.SetListenLogEvery(t, time.Nanosecond)
	refused = outage(8)
	warns = nil
	for _, r := range log.matching("listening for changes") {
		if r.level >= slog.LevelWarn {
			warns = append(warns, r)
		}
	}
	back = log.matching("listening for changes again")
	if len(warns) < 2 || len(back) != 1 {
		t.Fatalf("%d connections refused: logged %+v, then %+v", refused, warns, back)
	}
	if warns[0].msg != "listening for changes failed; retrying" {
		t.Errorf("first line %q", warns[0].msg)
	}
	total := int64(1)
	for _, w := range warns[1:] {
		n := w.attrs["failures_since_last_message"]
		if w.msg != "listening for changes still fails; retrying" || n.Kind() != slog.KindInt64 || n.Int64() < 1 || w.attrs["down_for"].Kind() != slog.KindDuration {
			t.Errorf("later line %q %v", w.msg, w.attrs)
			continue
		}
		total += n.Int64()
	}
	if got := back[0].attrs["failed_attempts"]; got.Kind() != slog.KindInt64 || got.Int64() != total {
		t.Errorf("the lines count %d failures, the INFO line %v", total, got)
	}
}
