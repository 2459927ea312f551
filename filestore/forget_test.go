package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// forgetM is lock.Forget as a mutation, its refusal in *ruleErr.
func forgetM(ruleErr *error) lock.Mutation {
	return func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.Forget(l, env)
		*ruleErr = err
		return events
	}
}

// TestForgetSurvivesCompaction: a forgotten lock is left out of the
// snapshots compaction writes, and stays gone after a restart that reads
// one; the fence counter keeps its tokens, so taking the name again gives
// a higher one.
func TestForgetSurvivesCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	opts := Options{CompactBytes: 1024, Now: clk.Now}
	s := openT(t, path, opts)
	old := acquire(t, s, "deploy-pr-123", "k", "ci", 0)
	release(t, s, "deploy-pr-123", "k", "ci")
	var ruleErr error
	if _, _, err := s.Update(context.Background(), "deploy-pr-123", forgetM(&ruleErr)); err != nil || ruleErr != nil {
		t.Fatalf("forget: %v, %v", err, ruleErr)
	}
	churn(t, s, "c", 200)
	compacted(t, s, path)
	snap, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(snap, []byte("deploy-pr-123")) {
		t.Fatal("the snapshot still holds the forgotten lock")
	}
	closeT(t, s)
	s = openT(t, path, opts)
	if l, ok := getT(t, s, "deploy-pr-123"); ok {
		t.Fatalf("the forgotten lock is back after a restart: %+v", l)
	}
	if l := acquire(t, s, "deploy-pr-123", "k", "ci", 0); l.Fence <= old.Fence {
		t.Fatalf("taken again: fence %d, had %d", l.Fence, old.Fence)
	}
}

// TestForgetRecordReadByOlderLocker: the log record of a forget is the
// free lock, with "forget": true beside it. A Locker from before forgetting
// decodes it with encoding/json into its own logRecord, which has no such
// field: it reads a free lock, which its checks accept, and keeps the
// record's fence counter. This one replays it as a deletion.
func TestForgetRecordReadByOlderLocker(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := lock.Lock{Name: "deploy-pr-123", Fence: 7}
	events, err := lock.Forget(&l, lock.Env{Now: now, Found: true})
	if err != nil {
		t.Fatal(err)
	}
	frame := appendRecordFrame(nil, &logRecord{Lock: toDisk(&l), Events: events, Fence: 9, Forget: lock.Forgets(events)})
	payload := frame[frameHeader:]

	// logRecord as it was before forgetting.
	type olderRecord struct {
		Lock   diskLock     `json:"lock"`
		Events []lock.Event `json:"events,omitempty"`
		Fence  uint64       `json:"fence"`
		Next   uint64       `json:"next,omitempty"`
	}
	var old olderRecord
	if err := json.Unmarshal(payload, &old); err != nil {
		t.Fatalf("an older Locker cannot decode the record %s: %v", payload, err)
	}
	if err := old.Lock.check(); err != nil || old.Lock.Key != "" || old.Lock.Name != "deploy-pr-123" || old.Fence != 9 {
		t.Fatalf("an older Locker reads %+v (check: %v): want the free lock and the counter", old, err)
	}

	var rec logRecord
	if err := decodeLogRecord(payload, &rec); err != nil || !rec.Forget || rec.Lock.Name != "deploy-pr-123" {
		t.Fatalf("this Locker reads %+v, %v: want a forget", rec, err)
	}
}

// TestForgetWriteFails: a forget whose write fails (the fsync) is refused,
// and the lock stays, in memory and, after a restart, on disk; tried again
// once the disk works, it is made.
func TestForgetWriteFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "pr-9", "k", "ci", 0)
	release(t, s, "pr-9", "k", "ci")
	syncFails, _ := failingLog(s)
	syncFails.Store(1)
	var ruleErr error
	if _, _, err := s.Update(context.Background(), "pr-9", forgetM(&ruleErr)); err == nil {
		t.Fatal("a forget whose fsync failed was answered as made")
	}
	if _, ok := getT(t, s, "pr-9"); !ok {
		t.Fatal("a forget whose write failed took the lock out of memory")
	}
	closeT(t, s)
	s = openT(t, path, Options{})
	if _, ok := getT(t, s, "pr-9"); !ok {
		t.Fatal("a forget whose write failed is on disk")
	}
	if _, _, err := s.Update(context.Background(), "pr-9", forgetM(&ruleErr)); err != nil || ruleErr != nil {
		t.Fatalf("forget tried again: %v, %v", err, ruleErr)
	}
	if _, ok := getT(t, s, "pr-9"); ok {
		t.Fatal("the forget tried again left the lock")
	}
}
