package pgstore

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestOwnNotificationsAreKnownByTheirEnd: a listener drops its own
// replica's payloads by their end, without decoding them. That must agree
// with decoding them: every payload notification makes for this replica
// ends with ownSuffix, and none made for another replica, or for none,
// does, however the names are spelled.
func TestOwnNotificationsAreKnownByTheirEnd(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	events := []lock.Event{{Type: "acquired", Lock: "prod", Key: "k", Holder: "h", Count: 1, Fence: 7, Time: at}}
	big := []lock.Event{{Type: "acquired", Lock: "prod", Key: strings.Repeat("k", maxPayload), Time: at}}
	replicas := []string{"a", "ab", "b", "host-123-0a1b2c3d", `we"ird\<&>`, "ünï", `"}`, ""} // valid UTF-8, as Open requires
	messages := []message{
		{Name: "prod", Events: events, Version: 3},
		{Name: "prod", Events: big, Version: 4}, // too large: only a count
		{Name: "prod"},                          // a wake without events
		{Name: `replica":"a"}`, Version: 1},
	}
	for _, me := range replicas {
		own := ownSuffix(me)
		for _, from := range replicas {
			for _, m := range messages {
				m.Replica = from
				payload := notification(m)
				var decoded message
				if err := json.Unmarshal([]byte(payload), &decoded); err != nil {
					t.Fatalf("payload %s: %v", payload, err)
				}
				mine := decoded.Replica != "" && decoded.Replica == me
				if got := strings.HasSuffix(payload, own); got != mine {
					t.Errorf("replica %q, payload %s: ends with %s = %v, but it is from %q", me, payload, own, got, decoded.Replica)
				}
			}
		}
	}
}

// A replica name must be valid UTF-8: JSON would change its invalid bytes
// on the way, and its own notifications would no longer end as it expects.
func TestOpenRefusesAReplicaNameOfInvalidUTF8(t *testing.T) {
	_, err := Open(context.Background(), "postgres://127.0.0.1:1/none", Options{Replica: "a\xff"})
	if err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("Open: %v, want a refusal of the name", err)
	}
}

// TestUnreadableAnnouncementIsAGap: a change announced by reference (its
// events too large for a notification) whose events cannot be read from
// the history (here the table is locked past the query timeout) is not
// dropped without a word: the watcher is told that any lock may have
// changed, so event streams read again (found by a review).
func TestUnreadableAnnouncementIsAGap(t *testing.T) {
	dbURL := pgtest.Schema(t)
	s, err := Open(context.Background(), dbURL, Options{QueryTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gaps := make(chan struct{}, 10)
	s.Watch(func(name string, events []lock.Event) {
		if name == "" {
			gaps <- struct{}{}
		}
	})
	ctx := context.Background()
	blocker, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(ctx)
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE locker_history IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	sender, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(ctx)
	payload := notification(message{Name: "big", Count: 1, First: 1, Version: 1, Replica: "another"})
	if _, err := sender.Exec(ctx, "SELECT pg_notify($1, $2)", s.channelName(), payload); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gaps:
	case <-time.After(10 * time.Second):
		t.Fatal("an announced change whose events could not be read went unreported")
	}
}
