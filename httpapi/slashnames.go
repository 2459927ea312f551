package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Go's ServeMux reads a path segment that is only an escaped slash ("%2F")
// as a trailing slash, so a lock, pool or pool member named "/" would match
// no route: PUT /lock/%2F got 404, and such a lock converted from the
// original locker's file could never be released. routeSlashNames routes
// such a segment as slashStandIn, which unescapes to "/\x00" (never a valid
// name: it holds a control character), and withSlashNames gives the
// handlers "/" and the request its own URL back.
const slashStandIn = "%2F%00"

// slashNamesKey marks a request routed with stand-ins: its value is the
// request's own URL. A client that sends the stand-in itself gets no mark,
// and its name "/\x00" is refused as invalid.
type slashNamesKey struct{}

// routeSlashNames returns r, or a copy to route instead when its path has
// a segment that is only an escaped slash.
func routeSlashNames(r *http.Request) *http.Request {
	esc := r.URL.EscapedPath()
	if !strings.Contains(esc, "%2F") && !strings.Contains(esc, "%2f") {
		return r
	}
	segs := strings.Split(esc, "/")
	changed := false
	for i, seg := range segs {
		if strings.EqualFold(seg, "%2F") {
			segs[i], changed = slashStandIn, true
		}
	}
	if !changed {
		return r
	}
	raw := strings.Join(segs, "/")
	path, err := url.PathUnescape(raw)
	if err != nil {
		return r
	}
	r2 := r.WithContext(context.WithValue(r.Context(), slashNamesKey{}, r.URL))
	u := *r.URL
	u.Path, u.RawPath = path, raw
	r2.URL = &u
	return r2
}

// withSlashNames undoes routeSlashNames for the handler h.
func withSlashNames(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if own, ok := r.Context().Value(slashNamesKey{}).(*url.URL); ok {
			for _, wildcard := range []string{"name", "pool", "member"} {
				if r.PathValue(wildcard) == "/\x00" {
					r.SetPathValue(wildcard, "/")
				}
			}
			r.URL = own
		}
		h.ServeHTTP(w, r)
	})
}
