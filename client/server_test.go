package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// realServer is a Locker server built from the real packages (file store,
// lock service, HTTP API) behind an httptest server.
type realServer struct {
	*httptest.Server
	svc  *lockservice.Service
	stop func()
}

type serverConfig struct {
	api httpapi.Config
	svc lockservice.Config
	tls bool
	// http2 serves HTTPS with HTTP/2 (tls alone serves HTTP/1.1).
	http2 bool
	wrap  func(http.Handler) http.Handler
}

// startServer starts a real server; call stop when done. It returns an error
// rather than taking a testing.TB so that the examples can use it too.
func startServer(cfg serverConfig) (*realServer, error) {
	dir, err := os.MkdirTemp("", "locker-client-test-")
	if err != nil {
		return nil, err
	}
	store, err := filestore.Open(filepath.Join(dir, "locks.yml"), filestore.Options{NoSync: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	svc := lockservice.New(store, cfg.svc)
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		store.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	var h http.Handler = httpapi.New(svc, cfg.api)
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	var srv *httptest.Server
	switch {
	case cfg.http2:
		srv = httptest.NewUnstartedServer(h)
		srv.EnableHTTP2 = true
		srv.StartTLS()
	case cfg.tls:
		srv = httptest.NewTLSServer(h)
	default:
		srv = httptest.NewServer(h)
	}
	return &realServer{Server: srv, svc: svc, stop: func() {
		svc.Close()
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		store.Close()
		os.RemoveAll(dir)
	}}, nil
}
