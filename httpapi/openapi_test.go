package httpapi_test

// Tests of the OpenAPI description: it is a well-formed OpenAPI 3 document,
// it documents exactly the routes that routes.go registers (so adding a route
// without documenting it fails here), and the server serves it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// oasRoute is one route registered in routes.go.
type oasRoute struct {
	Method string // GET, PUT, ...; "" for a pattern without a method (any)
	Path   string // in OpenAPI form: /lock/{name}
	Params []string
	Auth   bool // registered with s.handle (behind authentication)
}

func (r oasRoute) String() string {
	if r.Method == "" {
		return "(any method) " + r.Path
	}
	return r.Method + " " + r.Path
}

// oasRoutes parses the Go source of routes.go and returns every route it
// registers with s.handle(pattern, ...) or s.mux.Handle(pattern, ...). The
// catch-all "/" (the JSON 404/405) is not a route of the API.
//
// ServeMux patterns map to OpenAPI paths like this: a wildcard {name} or
// {name...} is the path parameter {name}; {$} (end of path) is dropped; a
// pattern ending in "/" (a subtree) is documented as that prefix followed by
// the path parameter {path}, e.g. "GET /ui/" is "/ui/{path}". A route
// registered twice (in two branches of an if) counts once, behind
// authentication if either registration is.
func oasRoutes(t *testing.T, src []byte) []oasRoute {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", src, 0)
	if err != nil {
		t.Fatalf("parsing routes.go: %v", err)
	}
	var routes []oasRoute
	// params are the parameter names of the function being walked: a helper
	// such as handle(pattern, h) forwards its own parameter, which is not a
	// route of its own.
	params := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if fn, ok := n.(*ast.FuncDecl); ok {
			params = map[string]bool{}
			for _, field := range fn.Type.Params.List {
				for _, name := range field.Names {
					params[name.Name] = true
				}
			}
			return true
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		var auth bool
		switch sel.Sel.Name {
		case "handle":
			auth = true
		case "Handle", "HandleFunc":
			if inner, ok := sel.X.(*ast.SelectorExpr); !ok || inner.Sel.Name != "mux" {
				return true
			}
		default:
			return true
		}
		if len(call.Args) == 0 {
			return true
		}
		if id, ok := call.Args[0].(*ast.Ident); ok && params[id.Name] {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("routes.go: %s is called with a pattern that is not a string literal; this test cannot check it against openapi.json", sel.Sel.Name)
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatalf("routes.go: pattern %s: %v", lit.Value, err)
		}
		if pattern == "/" {
			return true // the catch-all JSON 404/405
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", pattern
		}
		path = strings.TrimSpace(path)
		if !strings.HasPrefix(path, "/") {
			t.Errorf("routes.go: pattern %q has a host or no path; this test cannot check it against openapi.json", pattern)
			return true
		}
		r := oasRoute{Method: method, Auth: auth}
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "{path}"
		}
		r.Path = oasPathParam.ReplaceAllStringFunc(path, func(m string) string {
			name := strings.TrimSuffix(m[1:len(m)-1], "...")
			if name == "$" {
				return ""
			}
			r.Params = append(r.Params, name)
			return "{" + name + "}"
		})
		if i := slices.IndexFunc(routes, func(x oasRoute) bool { return x.Method == r.Method && x.Path == r.Path }); i >= 0 {
			routes[i].Auth = routes[i].Auth || r.Auth
			return true
		}
		routes = append(routes, r)
		return true
	})
	return routes
}

// oasPathParam matches a ServeMux wildcard: {name}, {name...} or {$}.
var oasPathParam = regexp.MustCompile(`\{[^{}]*\}`)

var oasMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// oasProblems compares the routes with the document's paths, both ways, and
// returns what does not match.
func oasProblems(routes []oasRoute, doc map[string]any) []string {
	var problems []string
	paths, _ := doc["paths"].(map[string]any)
	registered := map[string]bool{}
	for _, r := range routes {
		item, ok := paths[r.Path].(map[string]any)
		if !ok {
			problems = append(problems, r.String()+": registered in routes.go but openapi.json has no path "+strconv.Quote(r.Path))
			continue
		}
		method := strings.ToLower(r.Method)
		if method == "" {
			// Any method: document at least the ones it answers.
			for _, m := range oasMethods {
				if _, ok := item[m]; ok {
					registered[m+" "+r.Path] = true
					if method == "" {
						method = m
					}
				}
			}
		}
		registered[method+" "+r.Path] = true
		op, ok := item[method].(map[string]any)
		if !ok {
			problems = append(problems, strings.TrimSpace(r.String()+": registered in routes.go but openapi.json documents no "+method)+" operation on "+r.Path)
			continue
		}
		declared := oasPathParams(doc, item, op)
		for _, p := range r.Params {
			if !declared[p] {
				problems = append(problems, r.String()+": path parameter "+strconv.Quote(p)+" is not declared (in: path, required: true)")
			}
		}
		for p := range declared {
			if !slices.Contains(r.Params, p) {
				problems = append(problems, r.String()+": openapi.json declares path parameter "+strconv.Quote(p)+" that the route does not have")
			}
		}
		responses, _ := op["responses"].(map[string]any)
		if _, ok := responses["200"]; !ok {
			problems = append(problems, r.String()+": no 200 response documented")
		}
		if _, ok := responses["401"]; r.Auth && !ok {
			problems = append(problems, r.String()+": behind authentication (s.handle) but no 401 response is documented")
		}
	}
	for path, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range oasMethods {
			if _, ok := item[m]; ok && !registered[m+" "+path] {
				problems = append(problems, "openapi.json documents "+strings.ToUpper(m)+" "+path+" but routes.go registers no such route")
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// oasPathParams returns the names of the path parameters declared on a path
// item and its operation, following $refs.
func oasPathParams(doc, item, op map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, list := range []any{item["parameters"], op["parameters"]} {
		params, _ := list.([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				pm, _ = oasResolve(doc, ref).(map[string]any)
			}
			if pm["in"] == "path" && pm["required"] == true {
				if name, ok := pm["name"].(string); ok {
					out[name] = true
				}
			}
		}
	}
	return out
}

// oasResolve follows a local JSON pointer ("#/components/schemas/Lock");
// nil when it leads nowhere.
func oasResolve(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

func oasLoad(t *testing.T) (raw []byte, doc map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return raw, doc
}

func TestOpenAPIIsAnOpenAPI3Document(t *testing.T) {
	_, doc := oasLoad(t)
	version, _ := doc["openapi"].(string)
	if !regexp.MustCompile(`^3\.\d+\.\d+$`).MatchString(version) {
		t.Errorf(`"openapi" = %q, want 3.x.y`, version)
	}
	info, _ := doc["info"].(map[string]any)
	if title, _ := info["title"].(string); title == "" {
		t.Error(`info.title is missing`)
	}
	if v, _ := info["version"].(string); v == "" {
		t.Error(`info.version is missing`)
	}
	if paths, _ := doc["paths"].(map[string]any); len(paths) == 0 {
		t.Error(`"paths" is empty`)
	}
	// The schemas the API's answers are built from.
	for _, name := range []string{"Lock", "Hold", "LockResponse", "LockRequest", "Error", "Event", "History"} {
		if oasResolve(doc, "#/components/schemas/"+name) == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
	// Every $ref points at something.
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && oasResolve(doc, ref) == nil {
				t.Errorf("%s: $ref %q leads nowhere", where, ref)
			}
			for k, x := range v {
				walk(x, where+"/"+k)
			}
		case []any:
			for i, x := range v {
				walk(x, where+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
}

// TestOpenAPIDocumentsTheLeaseHeader: the answers that grant or renew a
// lease say how long in Locker-Lease (setLease), and the document says so
// (a review found it missing: clients are told to time leases by it).
func TestOpenAPIDocumentsTheLeaseHeader(t *testing.T) {
	_, doc := oasLoad(t)
	for _, op := range [][2]string{{"/lock/{name}", "put"}, {"/lock/{name}/refresh", "post"}, {"/pool/{pool}", "put"}} {
		path := "#/paths/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(op[0]) + "/" + op[1] + "/responses/200/headers/Locker-Lease"
		h, _ := oasResolve(doc, path).(map[string]any)
		if ref, ok := h["$ref"].(string); ok {
			h, _ = oasResolve(doc, ref).(map[string]any)
		}
		if d, _ := h["description"].(string); d == "" {
			t.Errorf("%s %s: its 200 answer does not document Locker-Lease", strings.ToUpper(op[1]), op[0])
		}
	}
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := oasRoutes(t, src)
	// The seed's routes at least: a parse that finds nothing must not pass.
	for _, want := range []string{"GET /locks", "PUT /lock/{name}", "DELETE /lock/{name}", "GET /openapi.json"} {
		if !slices.ContainsFunc(routes, func(r oasRoute) bool { return r.String() == want }) {
			t.Errorf("routes.go: found no %s among %v", want, routes)
		}
	}
	_, doc := oasLoad(t)
	for _, p := range oasProblems(routes, doc) {
		t.Error(p)
	}
}

// TestOpenAPICheckCatchesUndocumentedRoutes makes sure the check above can
// fail: a route added to routes.go without documentation, a documented route
// that does not exist, an undeclared path parameter.
func TestOpenAPICheckCatchesUndocumentedRoutes(t *testing.T) {
	_, doc := oasLoad(t)
	src := []byte(`package httpapi
func (s *Server) routes() {
	s.handle("GET /locks", s.handleList())
	s.handle("GET /lock/{name}/owners", nil)
	s.handle("GET /lock/{name...}", nil)
	if s.cfg.StatsPublic {
		s.mux.Handle("GET /stats", nil)
	} else {
		s.handle("GET /stats", nil)
	}
	s.handle("GET /files/", nil)
	s.mux.Handle("/nomethod/{$}", nil)
	s.mux.Handle("/", nil)
}
func (s *Server) handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }`)
	routes := oasRoutes(t, src)
	var parsed []string
	for _, r := range routes {
		parsed = append(parsed, fmt.Sprintf("%s %v auth=%v", r, r.Params, r.Auth))
	}
	wantParsed := []string{
		"GET /locks [] auth=true",
		"GET /lock/{name}/owners [name] auth=true",
		"GET /lock/{name} [name] auth=true",
		"GET /stats [] auth=true",
		"GET /files/{path} [path] auth=true",
		"(any method) /nomethod/ [] auth=false",
	}
	if !slices.Equal(parsed, wantParsed) {
		t.Errorf("parsed routes:\n%s\nwant:\n%s", strings.Join(parsed, "\n"), strings.Join(wantParsed, "\n"))
	}
	got := strings.Join(oasProblems(routes, doc), "\n")
	for _, want := range []string{
		`GET /lock/{name}/owners: registered in routes.go but openapi.json has no path "/lock/{name}/owners"`,
		`GET /stats: registered in routes.go but openapi.json has no path "/stats"`,
		`GET /files/{path}: registered in routes.go but openapi.json has no path "/files/{path}"`,
		`(any method) /nomethod/: registered in routes.go but openapi.json has no path "/nomethod/"`,
		`openapi.json documents PUT /lock/{name} but routes.go registers no such route`,
		`openapi.json documents GET /healthz but routes.go registers no such route`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not include %q; got:\n%s", want, got)
		}
	}
	// {name...} is the path parameter "name": GET /lock/{name} matches.
	if strings.Contains(got, "GET /lock/{name}:") {
		t.Errorf("GET /lock/{name...} should match the documented GET /lock/{name}; got:\n%s", got)
	}

	// An operation that leaves out its path parameter, and a route behind
	// authentication without a documented 401.
	var broken map[string]any
	raw, _ := json.Marshal(doc)
	json.Unmarshal(raw, &broken)
	item := broken["paths"].(map[string]any)["/lock/{name}/history"].(map[string]any)
	delete(item, "parameters")
	delete(broken["paths"].(map[string]any)["/locks"].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any), "401")
	got = strings.Join(oasProblems([]oasRoute{
		{Method: "GET", Path: "/lock/{name}/history", Params: []string{"name"}, Auth: true},
		{Method: "GET", Path: "/locks", Auth: true},
	}, broken), "\n")
	for _, want := range []string{
		`GET /lock/{name}/history: path parameter "name" is not declared`,
		`GET /locks: behind authentication (s.handle) but no 401 response is documented`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not include %q; got:\n%s", want, got)
		}
	}
}

// oasServer serves the real API over a real store.
func oasServer(t *testing.T, cfg httpapi.Config) *httptest.Server {
	t.Helper()
	store, err := filestore.Open(filepath.Join(t.TempDir(), "locks.yml"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	srv := httptest.NewServer(httpapi.New(svc, cfg))
	t.Cleanup(srv.Close)
	return srv
}

func oasGet(t *testing.T, url string, creds *httpapi.Credentials) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if creds != nil {
		req.SetBasicAuth(creds.User, creds.Pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestOpenAPIServed(t *testing.T) {
	want, _ := oasLoad(t)

	t.Run("without auth", func(t *testing.T) {
		srv := oasServer(t, httpapi.Config{})
		resp, body := oasGet(t, srv.URL+"/openapi.json", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		if !bytes.Equal(body, want) {
			t.Errorf("GET /openapi.json served %d bytes that differ from httpapi/openapi.json (%d bytes)", len(body), len(want))
		}
	})

	t.Run("with auth", func(t *testing.T) {
		creds := httpapi.Credentials{User: "ci", Pass: "secret"}
		srv := oasServer(t, httpapi.Config{Auth: creds})
		resp, body := oasGet(t, srv.URL+"/openapi.json", nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /openapi.json without credentials: %d %s, want 401", resp.StatusCode, body)
		}
		resp, body = oasGet(t, srv.URL+"/openapi.json", &creds)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("GET /openapi.json with credentials: %d, %d bytes; want 200 and the document", resp.StatusCode, len(body))
		}
	})
}
