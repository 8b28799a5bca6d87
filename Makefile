# Portier's entry points. `make test` is what CI runs (.ci/run).
GO ?= go
FUZZTIME ?= 20s
# Per-package limit: every package should finish well under a minute.
TEST_TIMEOUT ?= 5m

.PHONY: build test vet bench fuzz clean

build:
	$(GO) build -o bin/portier ./cmd/portier

# Installs the real peers the tests talk to (curl, nginx, haproxy), then vets
# and runs every test under the race detector.
test:
	./scripts/install-test-deps.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

vet:
	$(GO) vet ./...

# Side-by-side run against nginx, HAProxy, Caddy and httputil.ReverseProxy;
# QUICK=1 make bench for a two-minute run.
bench:
	./bench/compare.sh

# Runs every FuzzXxx target for FUZZTIME each (go test -fuzz takes one target
# of one package at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
		done; \
	done

clean:
	rm -rf bin
	$(GO) clean -testcache
