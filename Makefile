# forkmq — build, run and test the process-per-client MQTT broker.
GO        ?= go
BIN       := bin
LISTEN    ?= :1883
STATE_DIR ?= $(CURDIR)/.state
ARGS      ?=

.PHONY: build run test test-short fuzz deps vet clean bench

# Both binaries are static (CGO_ENABLED=0): a worker never resolves names,
# and without the dynamic loader each of the thousands of worker processes
# costs about 140 KiB and a thread less, and starts 3–5 ms sooner (see
# docs/ARCHITECTURE.md, "Lean workers").
STATIC    := CGO_ENABLED=0
# The worker is built without the Green Tea garbage collector (Go 1.26's
# default): its span metadata touches a page more of every small-object
# span, about 50 KiB in every idle worker, thousands of them; a worker's heap
# stays under the first collection's 4 MiB goal, so the collector's speed
# does not matter there (docs/ARCHITECTURE.md, "Lean, quiet workers"). The
# experiment's name must go when Go drops the old collector.
WORKER_GOEXPERIMENT := GOEXPERIMENT=nogreenteagc

build:
	$(STATIC) $(GO) build -o $(BIN)/broker ./cmd/broker
	$(STATIC) $(WORKER_GOEXPERIMENT) $(GO) build -o $(BIN)/worker ./cmd/worker

run: build
	$(BIN)/broker -listen $(LISTEN) -state-dir $(STATE_DIR) $(ARGS)

# deps installs what the tests need when it is missing (Debian's MQTT clients).
deps:
	@scripts/install-deps.sh

# The end-to-end suite runs against both engines: the goroutine engine must
# pass the same behavioural tests (tests of what only processes have skip it).
FORKMQ_E2E_ENGINES ?= process,goroutine
export FORKMQ_E2E_ENGINES

# The benchmark is a module of its own (bench/go.mod: the plotting library
# stays out of the broker's dependencies); its unit tests run here too.
test: deps build vet
	$(GO) test -count=1 -timeout 12m ./...
	cd bench && $(GO) test -count=1 -timeout 5m ./...

test-short: build
	$(GO) test -count=1 -short ./...
	cd bench && $(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

# fuzz runs every decoder's fuzz target for FUZZTIME each.
FUZZTIME ?= 20s
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

# bench runs the architecture benchmark (about an hour; see bench/README.md):
# forkmq's two engines against mosquitto and mochi-mqtt, report and plots in
# bench/results/<timestamp>/. MQBENCH_ARGS passes flags, e.g. -quick.
bench:
	scripts/bench.sh $(MQBENCH_ARGS)

clean:
	rm -rf $(BIN) $(STATE_DIR)
