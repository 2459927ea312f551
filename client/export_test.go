package client

import "time"

// SetH2Ping sets how soon the client's own transport pings a silent
// HTTP/2 connection, and how long it waits for the answer, for the
// Clients made until the returned func restores them.
func SetH2Ping(after, timeout time.Duration) (restore func()) {
	a, t := h2PingAfter, h2PingTimeout
	h2PingAfter, h2PingTimeout = after, timeout
	return func() { h2PingAfter, h2PingTimeout = a, t }
}
