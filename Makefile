# The platform's everyday commands. `make test` needs nothing installed but
# Go; `make test-real` needs MariaDB on 127.0.0.1:3306 (root, empty password,
# database test) and Redis on 127.0.0.1:6379, as .ci/run sets them up.

GO      ?= go
PKG     := github.com/platform/platform
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X $(PKG)/internal/kernel.Version=$(VERSION)
BIN     ?= bin/platform

# Per test binary. CI passes TESTFLAGS=-count=1 so that no cached result is
# reused.
TEST_TIMEOUT ?= 15m
RACE_TIMEOUT ?= 20m
TESTFLAGS    ?=

# The real services of test-real; the DSN defaults, in kerneltest, to
# root@tcp(127.0.0.1:3306)/test.
TEST_REDIS_ADDR ?= 127.0.0.1:6379

# The variables that switch the test kernel from the embedded default to
# real services; test and race clear them so that they always run embedded.
REAL_ENV := PLATFORM_TEST_DATABASE_DRIVER PLATFORM_TEST_DATABASE_DSN PLATFORM_TEST_REDIS_ADDR
EMBEDDED := env $(foreach v,$(REAL_ENV),-u $(v))

.DEFAULT_GOAL := help
.PHONY: help test test-real race vet build run clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

test: ## Run every test on the embedded default (SQLite, in-process Redis)
	$(EMBEDDED) $(GO) test -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

# -p 1: every package's tests share the one MariaDB server and the one Redis
# (whose databases 1-15 they claim and flush), so packages run one at a time.
test-real: ## Run every test against the real MariaDB and Redis
	PLATFORM_TEST_DATABASE_DRIVER=mysql PLATFORM_TEST_REDIS_ADDR=$(TEST_REDIS_ADDR) \
		$(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

race: ## Run the kernel's tests with the race detector (embedded default)
	$(EMBEDDED) $(GO) test -race -timeout $(RACE_TIMEOUT) $(TESTFLAGS) ./internal/kernel/...

vet: ## Run go vet
	$(GO) vet ./...

build: ## Build a static binary (CGO_ENABLED=0) at bin/platform, or BIN=path
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/platform

run: ## Run the platform from source with the default config (serve on :8080)
	$(GO) run -ldflags "-X $(PKG)/internal/kernel.Version=$(VERSION)" ./cmd/platform $(ARGS)

clean: ## Remove the built binary
	rm -rf bin
