package pgstore_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestUnreachableDatabaseErrorsSayNoMore: while the database cannot be
// reached, what a client reads of each failure (lock.ErrorSummary: the
// API's answer) says what happened and what to do, without the driver's
// error, which names the database's address, user and name (a review read
// "failed to connect to `user=postgres database=...`: 127.0.0.1:43040" in
// 503s of PUT and GET /locks); the full message, for the log, keeps them.
// A change that could not reach the database before writing says it was
// not made.
func TestUnreachableDatabaseErrorsSayNoMore(t *testing.T) {
	s, f := behindFreezer(t)
	if _, _, err := s.Update(bg, "held", takeK); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.addr())
	f.down()

	check := func(what string, err error, says ...string) {
		t.Helper()
		if lock.ErrorCode(err) != lock.EUNAVAILABLE {
			t.Errorf("%s: %v, want unavailable", what, err)
			return
		}
		summary := lock.ErrorSummary(err)
		for _, secret := range []string{port, "127.0.0.1", "user=", "database=", "dial"} {
			if strings.Contains(summary, secret) {
				t.Errorf("%s: a client reads %q, which has %q", what, summary, secret)
			}
		}
		for _, want := range says {
			if !strings.Contains(summary, want) {
				t.Errorf("%s: a client reads %q, want it to say %q", what, summary, want)
			}
		}
		if !strings.Contains(lock.ErrorMessage(err), port) {
			t.Errorf("%s: the message for the log, %q, lost the details", what, lock.ErrorMessage(err))
		}
		// Marked "maybe made" exactly when it says so.
		if m := strings.Contains(summary, "may or may not have been made"); lock.MaybeMade(err) != m {
			t.Errorf("%s: %q: lock.MaybeMade = %v, want %v", what, summary, !m, m)
		}
	}

	_, _, err := s.Update(bg, "x", takeK)
	check("Update", err, "the lock database is unavailable", "the change was not made", "try again")
	if lock.Unsure(err) {
		t.Errorf("Update that could not reach the database is unsure: %v", err)
	}
	_, _, err = s.Get(bg, "held")
	check("Get", err, "the lock database is unavailable", "try again")
	_, err = s.List(bg)
	check("List", err, "the lock database is unavailable", "try again")
	_, err = s.ListPool(bg, "p")
	check("ListPool", err, "the lock database is unavailable", "try again")
	_, err = s.History(bg, "held")
	check("History", err, "the lock database is unavailable", "try again")
	_, err = s.Now(bg)
	check("Now", err, "the lock database is unavailable", "try again")
	_, err = s.Ahead(bg, "held", 0)
	check("Ahead", err, "the lock database is unavailable", "try again")
	_, err = s.Counts(bg)
	check("Counts", err, "the lock database is unavailable", "try again")
	_, err = s.Join(bg, "held", lock.Waiter{Key: "k2", Holder: "k2"})
	check("Join", err, "the lock database is unavailable", "may or may not have been made", "check the lock")
	err = s.Leave(bg, "held", 1, time.Second)
	check("Leave", err, "the lock database is unavailable", "may or may not have been made", "check the lock")
}
