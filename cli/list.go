package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

const listHelp = `Usage: locker list [--json]   (alias: ls)

Lists every lock on the server: its state (free, held by one holder, or
shared by several under one key), key, holders with their counts, how long it
has been held, when its first lease runs out, its fencing token, and how many
requests wait for it.

  --json    print the locks as JSON, an object keyed by lock name, in the
            shape of the server's GET /locks
`

func runList(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("list", listHelp, env, stdout, stderr)
	asJSON := c.fs.Bool("json", false, "")
	pos, _, err := c.parse(args, false)
	if err != nil {
		return c.usage(err)
	}
	if len(pos) > 0 {
		return c.usage(fmt.Errorf("list takes no arguments (got %q); see 'locker status NAME' for one lock", pos))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	locks, err := cl.List(ctx)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		m := make(map[string]client.Lock, len(locks))
		for _, l := range locks {
			m[l.Name] = l
		}
		return writeJSONTo(stdout, m)
	}
	if len(locks) == 0 {
		_, err := fmt.Fprintln(stdout, "no locks")
		return err
	}
	now := time.Now()
	if len(locks) > 0 {
		// One answer, one Date: the server's present, by which its
		// times were written (its lease clock may be off this
		// machine's clock for hours after a step of its own).
		now = now.Add(locks[0].ServerClock())
	}
	return writeTable(stdout, locks, now)
}

// writeTable prints locks as an aligned table. Its error is the writer's: a
// result that could not be written fails the command.
func writeTable(w io.Writer, locks []client.Lock, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tKEY\tHOLDERS\tHELD FOR\tEXPIRES IN\tFENCE\tWAITERS")
	for _, l := range locks {
		key, holders, heldFor, expires, fence := "-", "-", "-", "-", "-"
		if !l.Free() {
			key = shown(l.Key)
			holders = holderCounts(&l)
			if !l.Since.IsZero() {
				heldFor = human(now.Sub(l.Since))
			}
			if !l.Expires.IsZero() {
				expires = humanLeft(l.Expires.Sub(now))
			}
		}
		if l.Fence > 0 {
			fence = fmt.Sprint(l.Fence)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", shown(l.Name), shown(l.State), key, holders, heldFor, expires, fence, l.Waiters)
	}
	return tw.Flush()
}

// holderCounts is "a x2, b x1".
func holderCounts(l *client.Lock) string {
	var parts []string
	for _, h := range l.Holders() {
		parts = append(parts, fmt.Sprintf("%s x%d", shown(h), l.LockedBy[h]))
	}
	return strings.Join(parts, ", ")
}

const statusHelp = `Usage: locker status NAME [--json]

Shows one lock: its state, key, each holder with its count, when it took the
lock and when its lease runs out, the fencing token and the number of
waiters. A lock that was never used is shown as free.

  --json    print the lock as JSON, as the server's GET /lock/NAME gives it
            (a lock never used, which the server does not know, in the
            shape of a free lock: name, key "", locked_by {}, state "free",
            fence 0, holds {}, waiters 0; exit 0)
`

func runStatus(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("status", statusHelp, env, stdout, stderr)
	asJSON := c.fs.Bool("json", false, "")
	name, err := c.parseOne(args, "lock name")
	if err != nil {
		return c.usage(err)
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	l, err := getLock(ctx, cl, name)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		return writeJSONTo(stdout, l)
	}
	return writeStatus(stdout, l, time.Now().Add(l.ServerClock()))
}

// getLock reads one lock; a lock the server never saw is a free lock. With a
// server that has no GET /lock/NAME (the original locker), it looks in the
// list.
func getLock(ctx context.Context, cl *client.Client, name string) (*client.Lock, error) {
	l, err := cl.Get(ctx, name)
	if err == nil || !errors.Is(err, client.ErrNotFound) {
		return l, err
	}
	locks, lerr := cl.List(ctx)
	if lerr != nil {
		return nil, err
	}
	for _, l := range locks {
		if l.Name == name {
			return &l, nil
		}
	}
	// Holds empty, not nil: the shape of a free lock the server knows.
	return &client.Lock{Name: name, State: "free", LockedBy: map[string]int{}, Holds: map[string]client.Hold{}}, nil
}

func writeStatus(w io.Writer, l *client.Lock, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "lock:\t%s\n", shown(l.Name))
	if l.Free() {
		fmt.Fprintf(tw, "state:\tfree\n")
	} else {
		fmt.Fprintf(tw, "state:\t%s (key '%s')\n", shown(l.State), shown(l.Key))
		if !l.Since.IsZero() {
			fmt.Fprintf(tw, "held for:\t%s (since %s)\n", human(now.Sub(l.Since)), clock(l.Since, now))
		}
		for i, h := range l.Holders() {
			label := ""
			if i == 0 {
				label = "holders:"
			}
			line := fmt.Sprintf("%s x%d", shown(h), l.LockedBy[h])
			if hold, ok := l.Holds[h]; ok {
				line += fmt.Sprintf(", since %s", clock(hold.Acquired, now))
				if hold.Expires.IsZero() {
					line += ", no lease"
				} else {
					line += fmt.Sprintf(", lease ends in %s", humanLeft(hold.Expires.Sub(now)))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\n", label, line)
		}
	}
	if l.Fence > 0 {
		fmt.Fprintf(tw, "fence:\t%d\n", l.Fence)
	}
	if !l.Legacy {
		fmt.Fprintf(tw, "waiters:\t%d\n", l.Waiters)
	}
	return tw.Flush()
}

const historyHelp = `Usage: locker history NAME [--json]

Shows a lock's recent changes, oldest first: acquired, released, refreshed,
expired (a lease ran out), forced (an operator released it), and for a pool
member added and removed (with the pool), with the holder, key, count after
the change and fencing token.

  --json    print the events as a JSON array
`

func runHistory(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("history", historyHelp, env, stdout, stderr)
	asJSON := c.fs.Bool("json", false, "")
	name, err := c.parseOne(args, "lock name")
	if err != nil {
		return c.usage(err)
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	events, err := cl.History(ctx, name)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		if events == nil {
			events = []client.Event{}
		}
		return writeJSONTo(stdout, events)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tHOLDER\tKEY\tCOUNT\tFENCE\tBY")
	for _, ev := range events {
		by := ev.By
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), shown(ev.Type), shown(ev.Holder), shown(ev.Key), ev.Count, ev.Fence, shown(by))
	}
	return tw.Flush()
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
