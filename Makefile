# Locker's build, test and release targets. `make help` lists them.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
OUT     ?= locker
IMAGE   ?= locker:$(VERSION)
FUZZTIME ?= 20s
BENCH_PKGS ?= ./filestore/ ./httpapi/ ./lock/ ./lockservice/
# Release builds do not record the build machine's paths.
TRIMPATH ?= -trimpath

PKG     := github.com/cloudfoundry-community/locker
LDFLAGS := -s -w -X $(PKG)/cli.Version=$(VERSION) -X $(PKG)/cli.Commit=$(COMMIT)

.PHONY: help build test race ci lint bench fuzz image clean

help:
	@echo "make build   static binary ./locker with the version and commit (VERSION=, COMMIT=, OUT=)"
	@echo "make test    go test ./..."
	@echo "make race    go test -race -count=1 ./... (CI's test phase; PostgreSQL tests need LOCKER_TEST_DATABASE_URL)"
	@echo "make ci      .ci/run: lint, build, the race tests with PostgreSQL, fuzzing (installs what it needs)"
	@echo "make lint    gofmt and go vet"
	@echo "make bench   the benchmarks of the store, the rules, the service and the HTTP layer"
	@echo "make fuzz    each fuzzer for FUZZTIME (default 20s)"
	@echo "make image   the server's container image (IMAGE=, needs docker)"

build:
	CGO_ENABLED=0 go build $(TRIMPATH) -ldflags "$(LDFLAGS)" -o $(OUT) .

test:
	go test ./...

race:
	go test -race -count=1 ./...

ci:
	bash .ci/run

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not formatted (gofmt -w):"; echo "$$unformatted"; exit 1; fi
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchmem $(BENCH_PKGS)

fuzz:
	.ci/fuzz $(FUZZTIME)

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

clean:
	rm -f locker
