package httpapi

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// routeCleanPath returns r, or a copy whose path has no empty and no dot
// segments when r's has some: //lock/x, as a base URL that ends in "/"
// makes, or /lock/./x. Go's ServeMux would answer those with a redirect
// to the clean path whose Location escaped the path a second time
// (//lock/a%20b to /lock/a%2520b: a client that followed took the lock
// "a%20b"), with an empty body that a client that does not follow
// (curl without -L) took for a success. A name is one segment (a "/" in
// one is sent as %2F, and %2E%2E is the name ".."), so cleaning the path as
// sent never changes a name: the request is served as if sent clean.
func routeCleanPath(r *http.Request) *http.Request {
	esc := r.URL.EscapedPath()
	clean := cleanPath(esc)
	if clean == esc {
		return r
	}
	p, err := url.PathUnescape(clean)
	if err != nil {
		return r
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath = p, clean
	r2.URL = &u
	return r2
}

// cleanPath is path.Clean for a request's path, as ServeMux has it: rooted,
// and a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
