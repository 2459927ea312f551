package pgstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestTerminatedSessionsAreNotErrors: after the database ended the store's
// sessions (a restart, pg_terminate_backend), the pool still holds their
// connections, idle; the next reads and changes must get new ones, not
// answer 503 once for each dead connection.
func TestTerminatedSessionsAreNotErrors(t *testing.T) {
	s, app := namedStore(t)
	for round := 0; round < 3; round++ {
		fillPool(s) // several connections in the pool, idle
		endSessions(t, app)
		if _, _, err := s.Get(bg, "x"); err != nil {
			t.Errorf("round %d: Get after the sessions were ended: %v", round, err)
		}
		if _, err := s.List(bg); err != nil {
			t.Errorf("round %d: List: %v", round, err)
		}
		if _, err := s.History(bg, "x"); err != nil {
			t.Errorf("round %d: History: %v", round, err)
		}
		if _, _, err := s.Update(bg, "x", takeK); err != nil {
			t.Errorf("round %d: Update: %v", round, err)
		}
	}
}

// TestTerminatedSessionsAreNotErrorsForQueueReads: so too for the reads
// of the wait queue and the database's clock, which a pool request or a
// waiting one makes first: after a database restart, each dead connection
// failed one of them with a 503 saying that a change may have been made
// (an HA review's pool requests, right after pg_terminate_backend).
func TestTerminatedSessionsAreNotErrorsForQueueReads(t *testing.T) {
	s, app := namedStore(t)
	reads := map[string]func() error{
		"Ahead":  func() error { _, err := s.Ahead(bg, "x", 0); return err },
		"Counts": func() error { _, err := s.Counts(bg); return err },
		"Now":    func() error { _, err := s.Now(bg); return err },
	}
	for name, read := range reads {
		fillPool(s) // several connections in the pool, idle
		endSessions(t, app)
		if err := read(); err != nil {
			t.Errorf("%s after the sessions were ended: %v", name, err)
		}
	}
}

// TestListenGapIsReported: when the store's LISTEN connection is lost and
// made again, notifications sent meanwhile are gone: the watcher is told
// (an empty name) that any lock may have changed, so that event streams
// end and their clients read again (a black-box review found a dashboard
// left "live" and stale after a database blip).
func TestListenGapIsReported(t *testing.T) {
	s, app := namedStore(t)
	gaps := gapsOf(s)
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gaps:
		t.Fatal("a gap reported before any connection was lost")
	default:
	}
	endSessions(t, app)
	select {
	case <-gaps:
	case <-time.After(30 * time.Second):
		t.Fatal("no gap reported after the LISTEN connection was ended")
	}
}

// TestStalledListenIsMadeAgain: a LISTEN connection that stops delivering
// without an error (a network that stops passing packets and keeps the
// connection open) is noticed by the ping a silent connection is sent, and made
// again, and the watcher told that changes may have been missed (a
// review found event streams live and silent for as long as TCP takes to
// give up).
func TestStalledListenIsMadeAgain(t *testing.T) {
	t.Parallel()
	s, f := behindFreezer(t)
	gaps := gapsOf(s)
	// A live connection, pinged when silent: no gap.
	select {
	case <-gaps:
		t.Fatal("a gap reported while the connection delivers")
	case <-time.After(1500 * time.Millisecond):
	}
	f.freeze() // every open connection stalls; new ones pass
	frozen := time.Now()
	select {
	case <-gaps:
		t.Logf("made again %v after the freeze", time.Since(frozen).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("a stalled LISTEN connection was not made again")
	}
	f.cut() // the stalled connections end, so that Close need not wait for them
}

// TestListenLossIsReportedAtOnce: when the LISTEN connection is lost and
// cannot be made again (the database out of reach), the watcher is told
// at once that changes may go unreported, not only once it is back.
func TestListenLossIsReportedAtOnce(t *testing.T) {
	s, f := behindFreezer(t)
	gaps := gapsOf(s)
	if err := s.Reporting(); err != nil {
		t.Fatalf("Reporting while listening: %v", err)
	}
	f.down() // every connection ends, and no new one is let through
	select {
	case <-gaps:
	case <-time.After(30 * time.Second):
		t.Fatal("no gap reported while the LISTEN connection cannot be made")
	}
	// And new event streams are refused until it is back.
	if err := s.Reporting(); lock.ErrorCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("Reporting with the LISTEN connection down: %v", err)
	}
}

// behindFreezer opens a store on a new schema through a freezer, with a
// LISTEN connection pinged after 200ms of silence; it is closed when the
// test ends.
func behindFreezer(t *testing.T) (*pgstore.Store, *freezer) {
	t.Helper()
	u, err := url.Parse(pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	f := startFreezer(t, u.Host)
	u.Host = f.addr()
	s, err := pgstore.Open(bg, u.String(), pgstore.Options{ListenCheck: 200 * time.Millisecond, QueryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f
}

// freezer is a TCP proxy whose open connections can be frozen: they stay
// open and pass nothing more, while connections made afterwards pass
// (unless it is down: then none do).
type freezer struct {
	ln       net.Listener
	mu       sync.Mutex
	epoch    int
	refusing bool
	refused  int // connections taken and closed while refusing
	frozen   int // connections of an epoch below it are frozen
	done     chan struct{}
	cutC     chan struct{}
	once     sync.Once
}

// cut ends the frozen connections.
func (f *freezer) cut() { f.once.Do(func() { close(f.cutC) }) }

func startFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, done: make(chan struct{}), cutC: make(chan struct{})}
	t.Cleanup(func() { close(f.done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			refusing := f.refusing
			if refusing {
				f.refused++
			}
			f.mu.Unlock()
			if refusing {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			epoch := f.epoch
			f.mu.Unlock()
			go f.pipe(c, up, epoch)
			go f.pipe(up, c, epoch)
			go func() { // cut ends it even when nothing passes
				select {
				case <-f.cutC:
					f.mu.Lock()
					frozen := epoch < f.frozen
					f.mu.Unlock()
					if frozen {
						c.Close()
						up.Close()
					}
				case <-f.done:
				}
			}()
		}
	}()
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

// down ends every connection and lets no new one through.
func (f *freezer) down() {
	f.mu.Lock()
	f.refusing = true
	f.mu.Unlock()
	f.freeze()
	f.cut()
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.epoch++
	f.frozen = f.epoch
	f.mu.Unlock()
}

func (f *freezer) pipe(from, to net.Conn, epoch int) {
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		f.mu.Lock()
		stalled := epoch < f.frozen
		f.mu.Unlock()
		if stalled {
			select { // hold the connection open, passing nothing
			case <-f.done:
			case <-f.cutC:
			}
			from.Close()
			return
		}
		if n > 0 {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestListenSurvivesIdleSessionTimeout: a database (or role) with
// idle_session_timeout would end the LISTEN connection every period, and
// each new one ends the replica's event streams; the LISTEN connection
// turns the setting off for itself.
func TestListenSurvivesIdleSessionTimeout(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t) + "&options=-c%20idle_session_timeout%3D500"
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gaps := gapsOf(s)
	select {
	case <-gaps:
		t.Fatal("the LISTEN connection was ended for being idle")
	case <-time.After(2 * time.Second):
	}
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatalf("a change with idle pooled connections ended: %v", err)
	}
}

// TestListenWatchIgnoresAFullPool: every pooled connection busy behind a
// table lock says nothing about the LISTEN connection, which has its own
// and answers: no gap is reported (a review found every stream dropped
// each few seconds while the pool was full, with heartbeats sent through
// the pool).
func TestListenWatchIgnoresAFullPool(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t) + "&pool_max_conns=2"
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{ListenCheck: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}
	gaps := gapsOf(s)
	u, _ := url.Parse(dbURL)
	q := u.Query()
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	blocker, err := pgx.Connect(bg, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(bg)
	tx, err := blocker.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, "LOCK TABLE locker_locks IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(bg, fmt.Sprintf("busy-%d", i), takeK)
		}()
	}
	time.Sleep(500 * time.Millisecond) // the updates take both connections
	// Meanwhile the readiness check says what it is, not that the
	// database is out of reach (found by a HA review).
	if err := s.Ready(bg); err == nil || !strings.Contains(err.Error(), "all 2 of this server's connections to the lock database are busy") {
		t.Errorf("Ready with every connection busy: %v", err)
	}
	tx.Rollback(bg)
	wg.Wait()
	if n := len(gaps); n > 0 {
		t.Fatalf("%d gaps reported while the pool was full and the LISTEN connection fine", n)
	}
}

// gapsOf receives a value each time s tells its watcher that changes may
// have gone unreported (an empty lock name).
func gapsOf(s *pgstore.Store) <-chan struct{} {
	gaps := make(chan struct{}, 100)
	s.Watch(func(name string, events []lock.Event) {
		if name == "" {
			gaps <- struct{}{}
		}
	})
	return gaps
}

// namedStore opens a store in a new schema whose sessions carry an
// application name of their own, returned for endSessions.
func namedStore(t *testing.T) (*pgstore.Store, string) {
	t.Helper()
	s, app, _ := namedStoreAt(t)
	return s, app
}

// namedStoreAt is namedStore, and the URL of its schema (search_path set
// to it), for a connection of the test's own to the store's tables.
func namedStoreAt(t *testing.T) (s *pgstore.Store, app, url string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	app = "locker_test_" + hex.EncodeToString(b)
	url = pgtest.Schema(t)
	s, err := pgstore.Open(bg, url+"&application_name="+app, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, app, url
}

// endSessions ends the database sessions of the store named app, as a
// restart or pg_terminate_backend would.
func endSessions(t *testing.T, app string) {
	t.Helper()
	conn, err := pgx.Connect(bg, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var n int
	if err := conn.QueryRow(bg, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminating the store's sessions: %d, %v", n, err)
	}
}
