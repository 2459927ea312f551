package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudfoundry-community/locker/lock"
)

// maxPayload keeps NOTIFY payloads under PostgreSQL's 8000-byte limit.
const maxPayload = 7000

// message is a NOTIFY payload: the events themselves, or — when they are too
// large — how many there are and the history id of the first (First), and
// listeners read them from the history. Version is the lock's version after
// the change (none: only the lock's wait queue changed), Lifetime the
// lifetime of the lock's row (order.go; none from an older Locker, which
// ignores it), Replica the replica that made it.
type message struct {
	Name     string       `json:"name"`
	Events   []lock.Event `json:"events,omitempty"`
	Count    int          `json:"count,omitempty"`
	First    int64        `json:"first,omitempty"`
	Version  int64        `json:"version,omitempty"`
	Lifetime int64        `json:"lifetime,omitempty"`
	Replica  string       `json:"replica,omitempty"`
}

func notification(m message) string {
	first := m.First // needed only without the events
	m.First = 0
	b, _ := json.Marshal(m)
	if len(b) > maxPayload {
		m.Count, m.Events, m.First = len(m.Events), nil, first
		b, _ = json.Marshal(m)
	}
	return string(b)
}

// ownSuffix is the end of every payload with which replica announces its
// changes: Replica is message's last field, and no payload that names
// another replica, or none, can end so. Listeners hear their own
// notifications too; by this end they drop them without decoding them.
func ownSuffix(replica string) string {
	b, _ := json.Marshal(replica) // a string always encodes
	return `,"replica":` + string(b) + "}"
}

// publish passes a committed change to this replica's watcher and
// announces it to the other replicas.
func (s *Store) publish(name string, lifetime, version, first int64, events []lock.Event) {
	s.order.deliver(name, lifetime, version, events)
	s.announce(notification(message{Name: name, Events: events, First: first, Version: version, Lifetime: lifetime, Replica: s.opts.Replica}))
}

// announce queues a NOTIFY payload for the notifier.
func (s *Store) announce(payload string) {
	s.mu.Lock()
	s.pending = append(s.pending, payload)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// notify sends the queued notifications, in order, each batch in one
// statement of its own transaction, until ctx ends; then once more.
// Notifications that cannot be sent (the database is down) are dropped
// after a retry: waiters on other replicas then find the change at their
// next poll.
func (s *Store) notify(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-s.kick:
		case <-ctx.Done():
			s.flush(context.Background())
			return
		}
		s.flush(ctx)
	}
}

// beforeNotify, set by tests only, runs as a replica's batch of
// notifications is about to be sent: announcements held up on their way.
var beforeNotify func(replica string)

func (s *Store) flush(ctx context.Context) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if beforeNotify != nil {
		beforeNotify(s.opts.Replica)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for try := 0; try < 2; try++ {
		_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, s.channelName(), batch)
		if err == nil {
			return
		}
		s.opts.Logger.Warn("announcing changes to other replicas failed", "err", err, "changes", len(batch))
		time.Sleep(100 * time.Millisecond)
	}
}

// listenLogEvery is how often, at most, a replica whose LISTEN connection
// cannot be made logs that it still cannot (a variable for tests): the
// first failure is logged at once, and every retry (each 5s at most) would
// fill the log for as long as the database is away.
var listenLogEvery = time.Minute

// listen passes every change announced by any replica to the watcher, in
// commit order, reconnecting whenever the connection is lost. Waiters do not
// depend on it alone: the service also polls.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, listening chan<- struct{}) {
	defer s.wg.Done()
	var once sync.Once
	listened := false // once: a later connection follows a gap
	backoff := 100 * time.Millisecond
	// An outage is logged when the first attempt fails, then at most
	// once every listenLogEvery with the failures since (unlogged), and
	// once more when listening works again, with how long it was down.
	var (
		failures, unlogged  int
		downSince, loggedAt time.Time
	)
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			// Never ended for being idle (idle_session_timeout, from
			// PostgreSQL 14; an older server refuses the setting, which
			// changes nothing): each new connection ends the replica's
			// event streams. Both bounded: the watch starts after them.
			qctx, cancel := s.bounded(ctx)
			conn.Exec(qctx, "SET idle_session_timeout = 0")
			if s.nameBySchema {
				_, err = conn.Exec(qctx, nameConn, serverName)
			}
			if err == nil && !s.opts.Tool {
				// The server's presence (presenceLock), on this
				// connection for as long as it lasts: taken again on
				// each new one. Not taken only while another program
				// holds the key exclusively; the server still serves.
				var held bool
				if err = conn.QueryRow(qctx, presenceLock, presenceKey, serverName).Scan(&held); err == nil && !held {
					s.opts.Logger.Warn("another program holds the advisory lock by which locker migrate sees that this server runs; it may not see this one", "key", presenceKey)
				}
				// And this replica's own (replicaLock, queue.go): the
				// other replicas pass its waiters over while no session
				// holds it and it does not renew them. Not taken only
				// while another program holds the key exclusively, and
				// not taken again when that program lets it go (only
				// with the next connection): the others find it held
				// meanwhile (pg_locks shows that program's lock), then
				// not held, as for a replica whose LISTEN connection is
				// down, and pass its waiters over until they see it
				// renew them, about a heartbeat (watchReplicas).
				if err == nil {
					err = conn.QueryRow(qctx, replicaLock, replicaKey, s.opts.Replica).Scan(&held)
				}
			}
			if err == nil {
				_, err = conn.Exec(qctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
			}
			cancel()
		}
		if err != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			now := time.Now()
			if downSince.IsZero() {
				downSince = now
			}
			failures++
			unlogged++
			switch {
			case failures == 1:
				s.opts.Logger.Warn("listening for changes failed; retrying", "err", err, "in", backoff)
				unlogged, loggedAt = 0, now
			case now.Sub(loggedAt) >= listenLogEvery:
				s.opts.Logger.Warn("listening for changes still fails; retrying", "err", err, "in", backoff,
					"failures_since_last_message", unlogged, "down_for", now.Sub(downSince).Round(time.Millisecond))
				unlogged, loggedAt = 0, now
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if listened {
			// Notifications sent while the connection was down are lost:
			// tell the watcher that any lock may have changed.
			s.opts.Logger.Info("listening for changes again; changes made meanwhile may have gone unreported",
				"down_for", time.Since(downSince).Round(time.Millisecond), "failed_attempts", failures)
			s.emit("", nil)
		} else if failures > 0 {
			s.opts.Logger.Info("listening for changes now", "down_for", time.Since(downSince).Round(time.Millisecond), "failed_attempts", failures)
		}
		failures, unlogged, downSince = 0, 0, time.Time{}
		listened = true
		s.listening.Store(true)
		once.Do(func() { close(listening) })
		for {
			// A connection silent for ListenCheck is asked a round trip
			// (a ping, bounded by QueryTimeout): one that stalled without
			// an error (a proxy or network that stops passing packets but
			// keeps it open) would otherwise go unseen for as long as TCP
			// takes to give up, tens of minutes, with the replica's event
			// streams live and silent. It is made again, and the streams
			// told to read again (above). A deadline leaves the connection
			// usable (pgx's default context handling sets one).
			wctx, cancel := context.WithTimeout(ctx, s.opts.ListenCheck)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			if err == nil {
				s.deliver(ctx, n.Payload)
				continue
			}
			if ctx.Err() != nil || !pgconn.Timeout(err) {
				break
			}
			pctx, cancel := s.bounded(ctx)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.opts.Logger.Warn("the LISTEN connection did not answer; making it again", "err", err)
				}
				break
			}
		}
		s.listening.Store(false)
		downSince = time.Now()
		conn.Close(context.Background())
		if ctx.Err() == nil {
			// Until it is made again, other replicas' changes go
			// unreported: streams that went on as if live would show a
			// state that may be stale (a review found a replica cut off
			// from the database pinging its streams for the whole
			// outage). They are told now, and again once it is back.
			s.emit("", nil)
		}
	}
}

func (s *Store) deliver(ctx context.Context, payload string) {
	if strings.HasSuffix(payload, s.own) {
		return // this replica's own change: delivered when it committed
	}
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Name == "" {
		return
	}
	events := m.Events
	if len(events) == 0 && m.Count > 0 {
		var err error
		if events, err = s.announced(ctx, m); err != nil {
			// The change's events (too large to send inline) cannot be
			// read: its lock still changed, and any stream that missed it
			// must read again. The change came, at its version: the
			// lock's changes after it (a forget's: the lock made again)
			// are not held back for it.
			if ctx.Err() == nil {
				s.opts.Logger.Warn("reading the events of a change announced by another replica failed; event streams are told to read again", "lock", m.Name, "err", err)
				if m.Version != 0 {
					s.order.missed(m.Name, m.Lifetime, m.Version, errors.Is(err, errForgetTooLarge))
				} else {
					s.emit(m.Name, nil)
				}
				s.emit("", nil)
			}
			return
		}
	}
	if m.Version == 0 {
		s.emit(m.Name, events)
		return
	}
	s.order.deliver(m.Name, m.Lifetime, m.Version, events)
}

// announced reads from the history the events a message announced by
// reference. A replica of an older locker sends no First: then the lock's
// newest events stand in, which a later change may already have followed.
// A replica that numbers lifetimes (Lifetime) sends First with every
// change whose events are in the history: one without is a forget, whose
// history went with the lock; what the history holds now (nothing, or the
// events of the lock made again) is not its events.
func (s *Store) announced(ctx context.Context, m message) ([]lock.Event, error) {
	qctx, cancel := s.bounded(ctx)
	defer cancel()
	if m.First == 0 && m.Lifetime != 0 {
		return nil, errForgetTooLarge
	}
	if m.First == 0 {
		h, err := s.History(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		return h[max(0, len(h)-m.Count):], nil
	}
	// The change's events are the lock's first Count from First on, if
	// they are still there: a forget deletes them, and later changes trim
	// the oldest, and the lock's events after them (of a later change, or
	// of the lock made again) are not this change's.
	rows, err := s.pool.Query(qctx, `SELECT id, event FROM locker_history WHERE name = $1 AND id >= $2 ORDER BY id LIMIT $3`, m.Name, m.First, m.Count)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []lock.Event
	for rows.Next() {
		var (
			id int64
			b  []byte
			ev lock.Event
		)
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		if len(out) == 0 && id != m.First {
			return nil, errGoneFromHistory
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != m.Count {
		return nil, errGoneFromHistory
	}
	return out, nil
}

// errGoneFromHistory: the events of a change announced by reference were
// no longer in the history when read (its lock forgotten since, or its
// history trimmed by later changes).
var errGoneFromHistory = errors.New("the change's events are no longer in the history (the lock was forgotten since, or later changes trimmed them)")

// errForgetTooLarge: a forget's events, too large for a notification, are
// not in the history either (deleted with the lock).
var errForgetTooLarge = errors.New("a forget's events were too large for a notification, and its history is deleted with the lock")

// emit calls the watcher.
func (s *Store) emit(name string, events []lock.Event) {
	s.mu.Lock()
	fn := s.watch
	s.mu.Unlock()
	if fn != nil {
		fn(name, events)
	}
}
