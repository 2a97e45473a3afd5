# Go bindings (bindings/go): `make test-go`
#  1. go vet, and the package's tests under the race detector, built against
#     the checkout (the libwal_checkout build tag: include/ and
#     target/release); it prints how many tests passed and which were
#     skipped (under CI=true a skip fails);
#  2. a module of its own outside the checkout, as a user's would be: under
#     build/go/outside, a go.mod written here that requires the binding and
#     replaces it with the checkout's bindings/go, the program
#     bindings/go/testdata/outside/main.go, built with no build tag against
#     a `make install` prefix under build/go (pkg-config through
#     PKG_CONFIG_PATH) and run with no LD_LIBRARY_PATH; then the same module
#     vendored (`go mod vendor`, built with -mod=vendor).
# Go's caches live under build/go; no network (standard library only, the
# module proxy off). Go's build cache does not notice a changed C header
# outside the package (nor a changed pkg-config result), so CGO_CFLAGS
# carries the checksum of the wal.h each build uses: a new header (wal.h's
# structs grow in 0.2) recompiles the binding instead of reusing a stale
# object. Where Go is not installed it says so and succeeds,
# except under CI=true; .ci/run installs golang-go.
GO         ?= go
GO_DIR     := $(abspath $(BUILD))/go
GO_PREFIX  := $(GO_DIR)/prefix
GO_OUTSIDE := $(GO_DIR)/outside
GO_MODULE  := github.com/libwal/libwal/bindings/go
GO_ENV     := GOCACHE=$(GO_DIR)/cache GOPATH=$(GO_DIR)/path GOFLAGS= GOWORK=off \
              GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 CC="$(CC)"

# $(call go_cflags,HEADER): Go's default CGO_CFLAGS plus HEADER's checksum.
go_cflags = CGO_CFLAGS="-O2 -g -DGOWAL_WAL_H_CKSUM=$$(cksum < $(1) | cut -d' ' -f1)"

.PHONY: test-go
test-go: lib
ifeq ($(shell command -v $(GO)),)
	@$(CHECK_SKIP) test-go $(GO) "apt-get install golang-go"
else
	@mkdir -p $(GO_DIR)
	cd bindings/go && $(GO_ENV) $(call go_cflags,../../include/wal.h) $(GO) vet -tags libwal_checkout ./...
	@echo "cd bindings/go && go test -tags libwal_checkout -race -count=1 -v ./... > $(GO_DIR)/test.log"
	@cd bindings/go && $(GO_ENV) $(call go_cflags,../../include/wal.h) $(GO) test -tags libwal_checkout -race -count=1 -timeout 300s -v ./... \
	    > $(GO_DIR)/test.log 2>&1; rc=$$?; \
	  grep -E '^(--- FAIL|FAIL|ok|panic)' $(GO_DIR)/test.log; \
	  grep -E '^--- SKIP' -B1 $(GO_DIR)/test.log; \
	  echo "go test: $$(grep -c '^--- PASS' $(GO_DIR)/test.log) passed," \
	    "$$(grep -c '^--- SKIP' $(GO_DIR)/test.log) skipped," \
	    "$$(grep -c '^--- FAIL' $(GO_DIR)/test.log) failed (log: $(GO_DIR)/test.log)"; \
	  [ $$rc -eq 0 ] || { tail -n 50 $(GO_DIR)/test.log; exit $$rc; }; \
	  if [ "$(CI)" = true ] && grep -q '^--- SKIP' $(GO_DIR)/test.log; then \
	    echo "test-go: a Go test was skipped and CI=true: failing" >&2; exit 1; fi
	rm -rf $(GO_PREFIX) $(GO_OUTSIDE) $(GO_OUTSIDE)-vendor $(GO_DIR)/outside-log
	$(MAKE) --no-print-directory install PREFIX=$(GO_PREFIX) >/dev/null
	mkdir -p $(GO_OUTSIDE)
	cp bindings/go/testdata/outside/main.go $(GO_OUTSIDE)/
	printf 'module example.com/walcheck\n\ngo 1.19\n\nrequire %s v0.0.0\n\nreplace %s => %s\n' \
	    $(GO_MODULE) $(GO_MODULE) $(abspath bindings/go) > $(GO_OUTSIDE)/go.mod
	cp -r $(GO_OUTSIDE) $(GO_OUTSIDE)-vendor
	cd $(GO_OUTSIDE) && $(GO_ENV) $(call go_cflags,$(GO_PREFIX)/include/wal.h) PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig $(GO) build -o walcheck .
	cd $(GO_OUTSIDE)-vendor && $(GO_ENV) $(GO) mod vendor && \
	  $(GO_ENV) $(call go_cflags,$(GO_PREFIX)/include/wal.h) PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig $(GO) build -mod=vendor -o walcheck .
	cd / && env -u LD_LIBRARY_PATH $(GO_OUTSIDE)/walcheck $(GO_DIR)/outside-log $(GO_PREFIX) $(VERSION)
	cd / && env -u LD_LIBRARY_PATH $(GO_OUTSIDE)-vendor/walcheck $(GO_DIR)/outside-log-vendor $(GO_PREFIX) $(VERSION)
	rm -rf $(GO_DIR)/outside-log $(GO_DIR)/outside-log-vendor
endif

CHECK_EXTRA += test-go
