# Two commands on a fresh machine: `make demo` and `make test`.
# Both first make sure a PostgreSQL is reachable (scripts/ensure-postgres.sh).

GO      ?= go
PGDSN    = $(shell ./scripts/ensure-postgres.sh)
PKGS     = ./...

.PHONY: test demo build fmt-check vet lint bench clean

build:
	$(GO) build -o bin/keyhole ./cmd/keyhole

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# staticcheck runs where it is installed (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2).
lint:
	@sc=$$(command -v staticcheck || echo "$$($(GO) env GOPATH)/bin/staticcheck"); \
	if [ -x "$$sc" ]; then echo "staticcheck ./..."; "$$sc" ./...; \
	else echo "staticcheck not installed: skipped (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"; fi

test: fmt-check vet lint
	@dsn="$(PGDSN)"; [ -n "$$dsn" ] || exit 1; \
	KEYHOLE_TEST_DSN="$$dsn" $(GO) test -race -count=1 -timeout 30m $(PKGS)

demo: build
	@dsn="$(PGDSN)"; [ -n "$$dsn" ] || exit 1; \
	KEYHOLE_TEST_DSN="$$dsn" $(GO) run ./examples/agent -keyhole bin/keyhole

# Benchmarks, for benchstat: -count=6 everywhere except the audit trail's
# verification of a generated 1,000,000-record trail (about 630 MB), run once.
bench:
	@dsn="$(PGDSN)"; [ -n "$$dsn" ] || exit 1; export KEYHOLE_TEST_DSN="$$dsn"; \
	{ $(GO) test -run '^$$' -bench . -benchmem -count=6 $$($(GO) list ./... | grep -v /audit$$) && \
	  $(GO) test -run '^$$' -bench Record -benchmem -count=6 ./audit && \
	  $(GO) test -run '^$$' -bench Verify -benchtime 1x -count=1 ./audit; } | tee bench.txt

clean:
	rm -rf bin bench.txt
