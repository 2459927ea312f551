package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pools
//
// A pool is a named group of interchangeable locks, its members: a set of
// test environments "aws-1", "aws-2", "aws-3", say. A job takes whichever
// member is free (AcquireFromPool), reads that member's metadata (the
// environment's settings, any JSON value), and releases it like any other
// lock, with UnlockFence (or Unlock) on the member's name. Members are ordinary locks: they
// keep keys, counts, shared holders, leases, fencing tokens and history, and
// one may be taken by name with Lock.

// ErrPoolsUnsupported: the server has no pools (it answers the pool routes
// with "no such route"): it is an older locker, without them.
var ErrPoolsUnsupported = errors.New("the server does not support pools")

// Pool is one pool and its members, as the server reports it.
type Pool struct {
	Name string `json:"name"`
	// Members are the pool's locks, sorted by name; each has Pools,
	// Metadata and, when free, FreeSince.
	Members []Lock `json:"members"`
	// Free is how many members are free, of Total.
	Free  int `json:"free"`
	Total int `json:"total"`
	// Waiters is how many requests wait for any member of the pool.
	Waiters int `json:"waiters"`
}

// Member returns the named member, or nil.
func (p *Pool) Member(name string) *Lock {
	for i := range p.Members {
		if p.Members[i].Name == name {
			return &p.Members[i]
		}
	}
	return nil
}

// wirePool is a pool as it comes over the wire: members keyed by name.
type wirePool struct {
	Name    string              `json:"name"`
	Members map[string]wireLock `json:"members"`
	Free    int                 `json:"free"`
	Total   int                 `json:"total"`
	Waiters int                 `json:"waiters"`
	// serverAhead is its members' Lock.ServerClock.
	serverAhead time.Duration
}

func (w *wirePool) servedAt(h http.Header, answered time.Time) {
	w.serverAhead = serverAheadOf(h, answered)
}

func (w *wirePool) pool(name string) Pool {
	p := Pool{Name: w.Name, Free: w.Free, Total: w.Total, Waiters: w.Waiters, Members: make([]Lock, 0, len(w.Members))}
	if p.Name == "" {
		p.Name = name
	}
	for n, m := range w.Members {
		m.serverAhead = w.serverAhead
		p.Members = append(p.Members, *m.lock(n))
	}
	sort.Slice(p.Members, func(i, j int) bool { return p.Members[i].Name < p.Members[j].Name })
	return p
}

// Pools returns every pool that has members, sorted by name.
func (c *Client) Pools(ctx context.Context) ([]Pool, error) {
	var m servedMap[wirePool]
	if err := c.poolDo(ctx, http.MethodGet, "/pools", nil, nil, 0, &m); err != nil {
		return nil, err
	}
	pools := make([]Pool, 0, len(m.m))
	for name, w := range m.m {
		w.serverAhead = m.serverAhead
		pools = append(pools, w.pool(name))
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
	return pools, nil
}

// Pool returns one pool; ErrNotFound when it has no members.
func (c *Client) Pool(ctx context.Context, pool string) (*Pool, error) {
	var w wirePool
	if err := c.poolDo(ctx, http.MethodGet, poolPath(pool), nil, nil, 0, &w); err != nil {
		return nil, err
	}
	p := w.pool(pool)
	return &p, nil
}

// AddMember makes the named lock a member of pool — creating it, free, if
// the server has never seen it — and sets its metadata, any JSON value of up
// to 64 KiB. With nil metadata, a member keeps the metadata it has. Adding a
// member that is in the pool already only updates its metadata; a held lock
// stays held.
func (c *Client) AddMember(ctx context.Context, pool, name string, metadata json.RawMessage) (*Lock, error) {
	body := map[string]json.RawMessage{}
	if metadata != nil {
		if !json.Valid(metadata) {
			return nil, errors.New("locker client: the metadata is not valid JSON")
		}
		body["metadata"] = metadata
	}
	var w wireLock
	if err := c.poolDo(ctx, http.MethodPut, memberPath(pool, name), nil, body, 0, &w); err != nil {
		return nil, err
	}
	return w.lock(name), nil
}

// RemoveMember takes the named lock out of pool. A held member is refused
// with ErrLocked (the *APIError's Lock says who holds it) unless force is
// set, which releases its holds first — when the server has an admin user,
// only the admin may force (others get ErrForbidden). Not a member:
// ErrNotFound. The lock itself, its history and its other pools remain.
func (c *Client) RemoveMember(ctx context.Context, pool, name string, force bool) (*Lock, error) {
	return c.RemoveMemberFence(ctx, pool, name, force, 0)
}

// RemoveMemberFence is RemoveMember whose force ends only the holds taken
// under the fence token fence (0: any): a member released and taken again
// since is refused with ErrLocked and left as it is. A server that predates
// the token ignores it.
func (c *Client) RemoveMemberFence(ctx context.Context, pool, name string, force bool, fence uint64) (*Lock, error) {
	return c.RemoveMemberWith(ctx, pool, name, RemoveOptions{Force: force, Fence: fence})
}

// RemoveOptions describe a removal of a pool member (RemoveMemberWith).
type RemoveOptions struct {
	// Force removes a held member, releasing its holds first.
	Force bool
	// The rest are conditions on a forced removal (ignored without
	// Force): the member is refused with ErrLocked (the *APIError's Lock
	// says who holds it) and left as it is unless they hold. Zero values
	// set none.
	//
	// Fence: only while the member is held under this fence token.
	Fence uint64
	// Key: only while the member is held under this key. Without a
	// Holder, the server takes the key for the holder too, as everywhere.
	Key string
	// Holder: only while every hold on the member is this holder's
	// (the seed API's locked_by). Holders sharing a key share its fence,
	// so Fence alone cannot tell a holder that joined since the member
	// was read; Holder can. A server that predates the condition ignores
	// Key and Holder and ends every hold; its answer does not say the
	// check was made, and RemoveMemberWith then returns
	// ErrHolderNotChecked with the member: read the member first (Get)
	// when the server may be older.
	Holder string
}

// RemoveMemberWith is RemoveMember with the options o: with o.Force and a
// condition (o.Fence, o.Key, o.Holder), only while the member's holds are
// those it names.
//
// A server that predates the holder condition ignores o.Key and o.Holder
// and ends every hold on the member, whoever's. Its answer does not say
// the check was made, so RemoveMemberWith then returns the member as the
// server answered it together with an error matching ErrHolderNotChecked:
// the removal was made, unchecked.
func (c *Client) RemoveMemberWith(ctx context.Context, pool, name string, o RemoveOptions) (*Lock, error) {
	var (
		q    url.Values
		body any
	)
	if o.Force {
		m := map[string]any{"force": true}
		q = url.Values{"force": {"true"}}
		if o.Fence != 0 {
			q.Set("fence", strconv.FormatUint(o.Fence, 10))
			m["fence"] = o.Fence
		}
		if o.Key != "" {
			q.Set("key", o.Key)
			m["key"] = o.Key
		}
		if o.Holder != "" {
			q.Set("locked_by", o.Holder)
			m["locked_by"] = o.Holder
		}
		body = m
	}
	var w wireLock
	if err := c.poolDo(ctx, http.MethodDelete, memberPath(pool, name), q, body, 0, &w); err != nil {
		return nil, err
	}
	l := w.lock(name)
	if o.Force && (o.Key != "" || o.Holder != "") && !w.holderChecked {
		holder, under := o.Holder, ""
		if holder == "" {
			holder = o.Key
		}
		if o.Key != "" {
			under = fmt.Sprintf(" under key %q", o.Key)
		}
		return l, fmt.Errorf("locker client: %w: it removed %q from pool %q and ended every hold on it, whoever's, without checking that they were all held by holder %q%s (%s)", ErrHolderNotChecked, name, pool, holder, under, l.Message)
	}
	return l, nil
}

// LockFromPool takes one hold on a free member of pool — the one free
// longest, so that use spreads evenly — in one request, like Lock: if every
// member is held it waits up to o.Wait (as the server allows, first come,
// first served with every waiter for its members, through a pool or by
// name) and then fails with ErrLocked. The
// returned Lock is the member, with its name, fencing token and metadata;
// give it back with UnlockFence(ctx, l.Name, o.Key, o.Holder, l.Fence),
// which leaves alone a hold of the same key and holder taken afresh after
// this one's lease ran out (Unlock would release it). A pool without
// members: ErrNotFound.
func (c *Client) LockFromPool(ctx context.Context, pool string, o LockOptions) (*Lock, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	q, body := o.request()
	var w wireLock
	if err := c.poolDo(ctx, http.MethodPut, poolPath(pool), q, body, o.Wait, &w); err != nil {
		return nil, err
	}
	return w.lock(""), nil
}

// AcquireFromPool takes one hold on a free member of pool, waiting as long
// as it takes: until ctx ends, or for o.Wait when it is set. It waits in the
// server's queue for the pool (first come, first served), asking again
// every Options.WaitChunk, and returns the member it got, with its name,
// fencing token and metadata.
//
// When o.Wait runs out, the error is the server's last refusal (ErrLocked).
// When ctx ends, the error matches ctx.Err() and, if the pool refused
// before, ErrLocked too. A pool without members is ErrNotFound at once; a
// server without pools, ErrPoolsUnsupported. An unavailable server
// (ErrUnavailable) is tried again with a back-off; other errors end
// AcquireFromPool at once. An unknown outcome, and a ctx that ends while a
// request is on its way, are settled as Acquire does, by reading the pool
// back: the member the server granted is returned or given back with
// o.OwnKey, and otherwise reported with ErrMaybeHeld. With o.Wait set, it
// gives up Options.AnswerGrace after o.Wait at the latest, as Acquire
// does (ErrNoAnswer).
func (c *Client) AcquireFromPool(ctx context.Context, pool string, o LockOptions) (*Lock, error) {
	return c.answerBound(ctx, o, func(ctx context.Context) (*Lock, error) { return c.acquireFromPool(ctx, pool, o) })
}

// acquireFromPool is AcquireFromPool without its bound.
func (c *Client) acquireFromPool(ctx context.Context, pool string, o LockOptions) (*Lock, error) {
	holder := o.Holder
	if holder == "" {
		holder = o.Key
	}
	look := func(ctx context.Context) (*Pool, map[string]ours, error) {
		p, err := c.Pool(ctx, pool)
		if unknownLock(err) {
			return &Pool{Name: pool}, map[string]ours{}, nil // no members yet
		}
		if err != nil {
			return nil, nil, err
		}
		m := map[string]ours{}
		for i := range p.Members {
			m[p.Members[i].Name] = oursOf(&p.Members[i], o.Key, holder)
		}
		return p, m, nil
	}
	start := time.Now()
	var granted grantedFunc
	var before map[string]ours
	first, err := c.lookFirst(ctx, fmt.Sprintf("a member of pool %q", pool), o, func(ctx context.Context) (err error) {
		_, before, err = look(ctx)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case first == unjudged:
		granted = cannotJudge
	case first == judged:
		granted = func(ctx context.Context) (*Lock, error) {
			p, now, err := look(ctx)
			if err != nil {
				return nil, err
			}
			for i := range p.Members {
				m := &p.Members[i]
				was, ok := before[m.Name]
				switch {
				case ok && now[m.Name].newer(was):
					return m, nil
				case !ok && now[m.Name].count > 0:
					// A member that joined since the wait began (how
					// waits for a pool often end), taken by our key and
					// holder after it joined?
					taken, err := c.takenSinceJoining(ctx, m.Name, pool, o.Key, holder)
					if err != nil {
						return nil, err // not known: not "not ours"
					}
					if taken {
						return m, nil
					}
				}
			}
			return nil, nil
		}
	}
	o.Wait = waitLeft(o.Wait, start)
	return c.waitFor(ctx, fmt.Sprintf("a member of pool %q", pool), o, false, granted,
		func(ctx context.Context, req LockOptions) (*Lock, error) { return c.LockFromPool(ctx, pool, req) })
}

// takenSinceJoining reports whether the lock's history shows key and
// holder taking it after it last joined pool (not a hold they had before
// it joined). A history too short to show the joining says no; one that
// cannot be read, its error.
func (c *Client) takenSinceJoining(ctx context.Context, name, pool, key, holder string) (bool, error) {
	h, err := c.History(ctx, name)
	if err != nil {
		return false, err
	}
	joined := -1
	for i, ev := range h {
		switch {
		case ev.Pool == pool && ev.Type == "removed":
			joined = -1
		case ev.Pool == pool && ev.Type == "added" && joined < 0:
			joined = i
		case joined >= 0 && ev.Type == "acquired" && ev.Key == key && ev.Holder == holder:
			return true, nil
		}
	}
	return false, nil
}

func poolPath(pool string) string { return "/pool/" + segment(pool) }

func memberPath(pool, name string) string {
	return poolPath(pool) + "/" + segment(name)
}

// poolDo is do for the pool routes: a server that does not know them gets
// ErrPoolsUnsupported instead of a puzzling ErrNotFound.
func (c *Client) poolDo(ctx context.Context, method, path string, q url.Values, body any, wait time.Duration, out any) error {
	err := c.do(ctx, method, path, q, body, wait, out)
	var ae *APIError
	if errors.As(err, &ae) && noSuchRoute(ae) {
		return &poolsUnsupportedError{url: c.base, api: ae}
	}
	return err
}

// noSuchRoute reports whether a 404 or 405 is the server not knowing the
// route at all (rather than a pool or member it does not have): this
// locker's "no such route" or "method ... is not allowed", or the plain
// text of Go's default 404 that the original locker answers with.
func noSuchRoute(ae *APIError) bool {
	switch ae.StatusCode {
	case http.StatusNotFound:
		return strings.HasPrefix(ae.Message, "no such route") || ae.Message == "404 page not found" || ae.Message == http.StatusText(http.StatusNotFound)
	case http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// poolsUnsupportedError is a pool request to a server without pools. It
// matches ErrPoolsUnsupported only, so that a caller that checks for
// ErrNotFound (no such pool) does not take it for an empty pool.
type poolsUnsupportedError struct {
	url string
	api *APIError
}

func (e *poolsUnsupportedError) Error() string {
	return fmt.Sprintf("the server at %s does not support pools: it answered %s %s with %q (HTTP %d); upgrade it to a locker with pools",
		e.url, e.api.Method, strings.TrimPrefix(e.api.URL, e.url), e.api.Message, e.api.StatusCode)
}

func (e *poolsUnsupportedError) Unwrap() error { return ErrPoolsUnsupported }
