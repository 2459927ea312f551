package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrNoForget: the server has no POST /lock/{name}/forget (a Locker from
// before it, or the original locker): nothing was forgotten. It matches
// ErrBadRequest too.
var ErrNoForget = errors.New("the server cannot forget locks (it predates POST /lock/{name}/forget)")

// Forget removes the named lock from the server, with its history, so that
// it is no longer listed: for locks named per branch or pull request, once
// they are done with. Only a free lock that nobody waits for and that is
// in no pool: held or waited for, ErrLocked (the *APIError's Lock says who
// holds it); a pool member, ErrBadRequest (409: remove it from its pools
// first, RemoveMember); a name the server does not hold (never seen, or
// forgotten already), ErrNotFound; when the server has an admin user and
// this is not it, ErrForbidden. It returns the lock's last state (free,
// its last fence). Taken again, the lock gets a higher fence than it had.
func (c *Client) Forget(ctx context.Context, name string) (*Lock, error) {
	var w wireLock
	if err := c.do(ctx, http.MethodPost, lockPath(name)+"/forget", nil, nil, 0, &w); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound && strings.HasPrefix(ae.Message, "no such route") {
			return nil, &noForgetError{err}
		}
		return nil, err
	}
	return w.lock(name), nil
}

// noForgetError is ErrNoForget, with the server's answer.
type noForgetError struct{ answer error }

func (e *noForgetError) Error() string {
	return fmt.Sprintf("locker client: %v: %v", ErrNoForget, e.answer)
}

func (e *noForgetError) Is(target error) bool {
	return target == ErrNoForget || target == ErrBadRequest
}
