package httpapi

import (
	"log/slog"
	"net/http"
)

// remoteAddr is where a request comes from, for logs and history: the
// peer's address and port; or, when the peer is a trusted proxy
// (AuthLimit.TrustedProxies) that names the client in X-Forwarded-For,
// the client's address (a proxy does not say the client's port).
func (s *Server) remoteAddr(r *http.Request) string {
	if client, proxied, ok := clientAddr(r, s.cfg.AuthLimit.TrustedProxies); ok && proxied {
		return client.String()
	}
	return r.RemoteAddr
}

// remote is the log attribute that says where a request comes from:
// remote=ADDRESS:PORT, or, when a trusted proxy named the client,
// remote="CLIENT via PROXY:PORT".
func (s *Server) remote(r *http.Request) slog.Attr {
	if client, proxied, ok := clientAddr(r, s.cfg.AuthLimit.TrustedProxies); ok && proxied {
		return slog.String("remote", client.String()+" via "+r.RemoteAddr)
	}
	return slog.String("remote", r.RemoteAddr)
}
