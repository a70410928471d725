#!/usr/bin/env bash
# bench.sh — the architecture benchmark behind `make bench`.
#
# Installs mosquitto (Debian's package) when missing, builds forkmq
# (bin/broker, bin/worker), mochi-mqtt (bin/mochi, from the separate module
# in bench/mochi) and the harness (bin/mqbench, from the benchmark's own
# module in bench/), then runs mqbench, which writes bench/results/<timestamp>/. Arguments, or MQBENCH_ARGS, go to
# mqbench: scripts/bench.sh -quick, scripts/bench.sh -smoke,
# scripts/bench.sh -brokers mosquitto,mochi -scenarios throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if ! command -v mosquitto >/dev/null 2>&1; then
	echo "bench: installing mosquitto" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: mosquitto is missing and installing it needs root (apt-get install mosquitto)" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
	# Where an init system runs, the package starts a system-wide broker;
	# the benchmark starts its own, so stop that one.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
		systemctl stop mosquitto
		systemctl disable --quiet mosquitto || true
	elif [ -x /etc/init.d/mosquitto ] && /etc/init.d/mosquitto status >/dev/null 2>&1; then
		/etc/init.d/mosquitto stop >/dev/null
	fi
fi

echo "bench: building forkmq, mochi and mqbench" >&2
mkdir -p bin
# What the binaries are built from, for mqbench to check against the tree
# it measures (Go's own VCS stamp may be turned off by GOFLAGS).
rev=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- . ':(exclude)bench/results' 2>/dev/null)" ]; then
	rev="$rev+modified"
fi
# Static, and the worker without the Green Tea collector, as the Makefile
# builds them (a lean worker, see docs/ARCHITECTURE.md).
CGO_ENABLED=0 "$GO" build -o bin/broker ./cmd/broker
CGO_ENABLED=0 GOEXPERIMENT=nogreenteagc "$GO" build -o bin/worker ./cmd/worker
(cd bench && "$GO" build -o ../bin/mqbench ./cmd/mqbench)
(cd bench/mochi && "$GO" build -o ../../bin/mochi .)
echo "$rev" > bin/BUILD_REVISION

if [ "$#" -eq 0 ] && [ -n "${MQBENCH_ARGS:-}" ]; then
	# shellcheck disable=SC2086 # word splitting of the flags is intended
	set -- $MQBENCH_ARGS
fi
exec bin/mqbench -bin bin "$@"
