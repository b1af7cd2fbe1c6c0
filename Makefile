# The two commands of the README:
#   make run    the gateway with the shipped config.toml in front of the
#               bundled example upstream (Ctrl-C stops both)
#   make test   formatting, vet, the race-enabled test suite (unit and
#               end-to-end against the real binary, real upstreams and a
#               real redis-server when installed) and a brief fuzz run
.PHONY: run test check fuzz bench build

GO ?= go
FUZZTIME ?= 5s

build:
	$(GO) build -o bin/cobaltgw .
	$(GO) build -o bin/example-upstream ./examples/upstream

run: build
	@trap 'kill $$up 2>/dev/null' EXIT INT TERM; \
	./bin/example-upstream -listen 127.0.0.1:9000 & up=$$!; \
	./bin/cobaltgw -config config.toml

check:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" >&2; exit 1)
	$(GO) vet ./...

test: check
	$(GO) test -race -count=1 ./...
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
