package pgstore

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
)

// maxPayload keeps NOTIFY payloads under PostgreSQL's 8000-byte limit.
const maxPayload = 7000

// message is a NOTIFY payload: the events themselves, or — when they are too
// large — only the lock's name, and listeners read its newest history.
type message struct {
	Name   string       `json:"name"`
	Events []lock.Event `json:"events,omitempty"`
	Count  int          `json:"count,omitempty"`
}

func notification(name string, events []lock.Event) string {
	b, _ := json.Marshal(message{Name: name, Events: events})
	if len(b) > maxPayload {
		b, _ = json.Marshal(message{Name: name, Count: len(events)})
	}
	return string(b)
}

// listen passes every change announced by any replica to the watcher, in
// commit order, reconnecting whenever the connection is lost. Waiters do not
// depend on it alone: the service also polls.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, listening chan<- struct{}) {
	defer s.wg.Done()
	var once sync.Once
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+s.channel)
		}
		if err != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			s.opts.Logger.Warn("listening for changes failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		once.Do(func() { close(listening) })
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			s.deliver(ctx, n.Payload)
		}
		conn.Close(context.Background())
	}
}

func (s *Store) deliver(ctx context.Context, payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Name == "" {
		return
	}
	events := m.Events
	if len(events) == 0 && m.Count > 0 {
		h, err := s.History(ctx, m.Name)
		if err != nil {
			return
		}
		events = h[max(0, len(h)-m.Count):]
	}
	s.mu.Lock()
	fn := s.watch
	s.mu.Unlock()
	if fn != nil {
		fn(m.Name, events)
	}
}
