package lockservice

import "context"

// Forgettable and ForgetInterval are the sweep's selection and pace, for
// tests.
var (
	Forgettable    = forgettable
	ForgetInterval = forgetInterval
)

// ForgetFree runs one sweep of Config.ForgetFreeAfter now, for tests that
// move a test clock rather than wait for the loop.
func (s *Service) ForgetFree(ctx context.Context) int { return s.forgetFree(ctx) }

// LeaseChecks returns how many locks the lease watcher has a check due for,
// and how many checks it keeps (left-over ones included), for tests that
// look for state kept after its lock is gone.
func (s *Service) LeaseChecks() (locks, kept int) {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	return len(s.leases.next), len(s.leases.due)
}

// QueueNames returns how many locks and pools have a wait queue on this
// server, kept places included.
func (s *Service) QueueNames() int {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	return len(s.queues.byName)
}

// LeaseSkews returns how many locks the lease watcher keeps a pause for,
// their leases having run out by this server's clock and not by the
// store's.
func (s *Service) LeaseSkews() int {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	return len(s.leases.skew)
}
