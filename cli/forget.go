package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudfoundry-community/locker/client"
)

const forgetHelp = `Usage: locker forget NAME [--json]

Removes lock NAME and its history from the server, so that it is no longer
listed (locker list, GET /locks, the dashboard): for locks named per branch
or pull request (deploy-pr-123), once the branch is done with. A lock that
was once held is otherwise listed as free for ever.

Only a free lock that nobody waits for and that is in no pool can be
forgotten. A held lock, or one that requests wait for, exits 3 and is left
as it is; a pool member is refused (remove it from its pools first:
locker pool rm POOL NAME); a lock the server does not know exits 1. When the
server has an admin user (LOCKER_ADMIN_USER), only that user may forget.
Fencing tokens come from one counter for the whole server, which only goes
up: whoever takes NAME again gets a higher token than it ever had.

  --json    print the lock's last state (free, its last fence) as JSON
`

func runForget(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("forget", forgetHelp, env, stdout, stderr)
	asJSON := c.fs.Bool("json", false, "")
	name, err := c.parseOne(args, "lock name")
	if err != nil {
		return c.usage(err)
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	l, err := cl.Forget(ctx, name)
	var ae *client.APIError
	switch {
	case err != nil && client.Ambiguous(err):
		// Sent, and perhaps done: asking again is harmless (a lock
		// forgotten already is not found), but the outcome is unknown.
		msg, _ := explain(err)
		fmt.Fprintf(c.stderr, "locker %s: %s; the answer was lost on the way, and the lock may have been forgotten: see '%s'\n", c.name, msg, shown(suggest([]string{"status"}, name)))
		return ExitError{Code: exitError}
	case errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil && !ae.Lock.Free():
		fmt.Fprintf(c.stderr, "locker %s: %s: only a free lock can be forgotten; nothing was forgotten\n", c.name, heldBy(ae.Lock))
		return ExitError{Code: exitHeld}
	case err != nil:
		return c.fail(err)
	}
	if *asJSON {
		return c.wrote(writeJSONTo(stdout, l), "the lock was forgotten")
	}
	_, err = fmt.Fprintf(stdout, "forgot '%s' and its history\n", shown(name))
	return c.wrote(err, "the lock was forgotten")
}
