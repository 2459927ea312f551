package lockservice

import "context"

type waitPlaceKey struct{}

// WithWaitPlace returns a context under which a request that is to wait
// (Acquire, AcquireFromPool with a wait) first takes a place with take: the
// HTTP server's way of keeping connections for requests that answer at
// once. take's error refuses the wait as a full queue does: a request that
// can have its hold at once still gets it, one that would have to wait
// gets the error. release gives the place back once the wait is over.
func WithWaitPlace(ctx context.Context, take func() (release func(), err error)) context.Context {
	return context.WithValue(ctx, waitPlaceKey{}, take)
}

// takeWaitPlace takes the place WithWaitPlace asks for, if any.
func takeWaitPlace(ctx context.Context) (release func(), err error) {
	take, _ := ctx.Value(waitPlaceKey{}).(func() (func(), error))
	if take == nil {
		return func() {}, nil
	}
	return take()
}
