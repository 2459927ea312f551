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
