package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Events follows every change on the server (GET /events, Server-Sent
// Events), calling fn with each event in order, until ctx ends (it returns
// ctx's error), fn returns an error (it returns that error) or the stream
// ends. A stream the server ends (one that fell behind, a replica that may
// have missed changes, a server stopping, or an end without a word) makes
// it return an error matching ErrStreamDropped: reconnect, and re-read the
// locks of interest since events may have been missed. A stream on which nothing arrives, not even
// the server's heartbeat, for Options.EventsIdle (a hung server, a cut
// network) ends with an ErrUnreachable error; the time fn takes does not
// count.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var idle atomic.Bool
	watchdog := time.AfterFunc(c.eventsIdle, func() { idle.Store(true); cancel() })
	defer watchdog.Stop()
	err := c.events(rctx, watchdog, fn)
	if idle.Load() && ctx.Err() == nil {
		return &ConnError{URL: c.base, Err: fmt.Errorf("nothing on the event stream, not even a heartbeat, for %s", c.eventsIdle)}
	}
	return err
}

// events is Events, resetting watchdog at each line.
func (c *Client) events(ctx context.Context, watchdog *time.Timer, fn func(Event) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, "/events", nil, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.connError(ctx, err, 0)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return c.apiError(req, resp, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var typ string
	var data strings.Builder
	for sc.Scan() {
		watchdog.Reset(c.eventsIdle)
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				if typ == "dropped" {
					var why struct {
						Error string `json:"error"`
					}
					if json.Unmarshal([]byte(data.String()), &why) != nil || why.Error == "" {
						why.Error = data.String()
					}
					return &droppedError{reason: why.Error}
				}
				var ev Event
				if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
					return fmt.Errorf("locker client: bad event from the server: %v", err)
				}
				// fn's time is not the stream's: a slow fn must not
				// pass for a dead connection.
				watchdog.Stop()
				err := fn(ev)
				watchdog.Reset(c.eventsIdle)
				if err != nil {
					return err
				}
			}
			typ = ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
			// A comment (heartbeat).
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return c.connError(ctx, err, 0)
	}
	return &droppedError{reason: "it ended the event stream without a reason"}
}
