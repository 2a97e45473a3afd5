# Go bindings (bindings/go): `make test-go` runs go vet and the tests under
# the race detector against the library in target/release, then builds and
# runs the package's example against a libwal installed under build/go
# through pkg-config (the libwal_pkgconfig build tag). Go's caches live
# under build/go; no network (standard library only). Where Go is not
# installed it says so and succeeds; CI installs golang-go.
GO        ?= go
GO_PREFIX := $(abspath $(BUILD)/go/prefix)
GO_ENV    := GOCACHE=$(abspath $(BUILD)/go/cache) GOPATH=$(abspath $(BUILD)/go/path) \
             GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 CC="$(CC)"

.PHONY: test-go
test-go: lib
ifeq ($(shell command -v $(GO)),)
	@$(CHECK_SKIP) test-go $(GO) "apt-get install golang-go"
else
	cd bindings/go && $(GO_ENV) $(GO) vet ./...
	cd bindings/go && $(GO_ENV) $(GO) test -race -count=1 -timeout 300s ./...
	$(MAKE) --no-print-directory install PREFIX=$(GO_PREFIX) >/dev/null
	cd bindings/go && $(GO_ENV) PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig \
	    CGO_LDFLAGS="-Wl,-rpath,$(GO_PREFIX)/lib" \
	    $(GO) test -tags libwal_pkgconfig -count=1 -timeout 120s -run '^Example$$' ./...
endif

CHECK_EXTRA += test-go
