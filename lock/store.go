package lock

import (
	"context"
	"time"
)

// Mutation changes one lock under the store's serialization for that lock.
// l is the lock's current state (a free, zero-holds lock named name when the
// store has never seen it), already a private copy. The mutation returns the
// events that describe its change; with no events the store writes nothing.
// Whatever the mutation reports to its caller (a conflict, say) it keeps in
// its own closure: the store only persists. A store may call a mutation more
// than once for one Update (when another server changed the lock meanwhile,
// it reads the lock again and retries): only the last call counts, so a
// mutation sets what it reports rather than adding to it.
type Mutation func(l *Lock, env Env) []Event

// Store keeps locks. Implementations: filestore (the default, one process) and
// pgstore (several replicas on PostgreSQL).
type Store interface {
	// Update applies m to the named lock atomically and durably: when it
	// returns nil, the change is on stable storage. It returns the lock's
	// state after the change and the events recorded. On error nothing
	// changed.
	Update(ctx context.Context, name string, m Mutation) (Lock, []Event, error)
	// Get returns the named lock's committed state; ok is false for a name
	// never seen.
	Get(ctx context.Context, name string) (l Lock, ok bool, err error)
	// List returns every lock's committed state, in no particular order.
	// The locks may be the store's own committed values, shared with
	// other readers: read them, never change them (Clone first).
	List(ctx context.Context) ([]*Lock, error)
	// ListPool returns the committed state of every lock that is a member
	// of pool, in no particular order, as List does (shared: read only).
	// It finds them without reading every lock, so that taking a pool's
	// member costs the same however many other locks the store keeps.
	ListPool(ctx context.Context, pool string) ([]*Lock, error)
	// History returns the lock's recent events, oldest first.
	History(ctx context.Context, name string) ([]Event, error)
	// Watch registers fn to be called with every committed change to a
	// lock, in commit order for each lock, whoever made it (another replica
	// included). events may be empty: the lock's wait queue changed on
	// another replica. An empty name means changes may have gone by
	// unreported (a replica's notifications were cut off for a while):
	// any lock may have changed. fn must not block. Call it before the
	// first Update.
	Watch(fn func(name string, events []Event))
	// Ready reports whether the store can take writes.
	Ready(ctx context.Context) error
	// Close flushes and releases the store.
	Close() error
}

// Reporter is implemented by a store that hears of other servers' changes
// through a connection that can be lost (pgstore's LISTEN). Reporting
// returns an error while it cannot hear of them: an event stream started
// then would look live and miss them.
type Reporter interface {
	Reporting() error
}

// Clock is implemented by a store whose clock decides leases and is not
// the server's own (a database that replicas share): Now is the store's
// time. The service asks it where a decision made by its own clock could
// be wrong by the skew, such as whether any member of a pool is free.
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}

// WaitQueue keeps the requests waiting for each lock in arrival order. A
// store shared by several servers (pgstore) implements it so that fair
// queueing holds across them; for a store that does not, the service keeps
// the queue in memory. A store that implements it reads the lock's queue
// with the lock on every Update and passes it to the mutation as Env.Queue,
// so that a change sees who waits without a read of its own.
type WaitQueue interface {
	// Join puts a waiter at the end of the lock's queue and returns its
	// ticket (never 0); or, when a waiter with the same key and holder left
	// the lock's queue keeping its place and the place is still kept, gives
	// it that place and ticket back.
	Join(ctx context.Context, name string, w Waiter) (Ticket, error)
	// Leave takes the waiter out of the queue. With keep > 0 (its wait ran
	// out, and a client asking again in parts comes straight back), its
	// place is kept for that long for a Join by the same key and holder;
	// meanwhile it is not a live waiter.
	Leave(ctx context.Context, name string, t Ticket, keep time.Duration) error
	// Ahead returns the live waiters queued before ticket t, oldest first;
	// every live waiter when t is 0.
	Ahead(ctx context.Context, name string, t Ticket) ([]Waiter, error)
	// Counts returns the number of live waiters of each lock that has any.
	Counts(ctx context.Context) (map[string]int, error)
}

// WaitAges is implemented by a WaitQueue that knows when each waiter took
// its place in line (pgstore, for every replica's waiters): the metrics'
// oldest wait then covers them all, as the waiter count does.
type WaitAges interface {
	// Waiting returns the number of live waiters and how long the one
	// that took its place first has waited, by the store's clock (a kept
	// place taken back keeps its start); 0 when none waits.
	Waiting(ctx context.Context) (n int, longest time.Duration, err error)
}

// Ticket is a waiter's place in a WaitQueue.
type Ticket uint64

// Queued is a waiter and its place in a WaitQueue.
type Queued struct {
	Ticket Ticket
	Waiter
}
