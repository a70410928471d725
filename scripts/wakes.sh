#!/bin/bash
# wakes.sh — what each worker role costs per message at the seed's paced
# load (50 publishers + 50 subscribers, one QoS 1 message a second each):
# wake-ups (voluntary context switches, every thread of the process),
# preemptions (involuntary ones: a process woken on the same core that
# ran first), CPU and system calls, per process and second — which is per message, since
# each client handles one a second. The figures of "Where the time goes" in
# docs/ARCHITECTURE.md for the seed.
#
#   scripts/wakes.sh [-bin DIR] [-window SECONDS]
#
# It runs the benchmark's seed case (bin/mqbench, under the e2e lock) with
# the broker started through this script, which waits until every client
# has its two workers, then samples /proc (schedstat, context switches of
# every thread) and counts system calls with `perf stat --per-thread` over
# the window, and prints one line per role: the publishers' routers and
# deliverers, the subscribers' routers and deliverers, the $SYS worker,
# the pool's idle workers, workers still starting (no title yet) and the
# supervisor. A process started in the window counts from its start: the
# pool's refill shows in idle and starting.
set -euo pipefail

if [ "${1:-}" = --wrap ]; then
	# The broker wrapper: wakes.sh --wrap OUT WINDOW BROKER ARGS...
	out=$2 window=$3
	shift 3
	"$@" &
	broker=$!
	snap() { # pid tid role cpu_ns voluntary nonvoluntary, one line per thread
		local p t role cmd ns v nv k val rest
		for p in $broker $(pgrep -P $broker); do
			mapfile -d '' cmd <"/proc/$p/cmdline" 2>/dev/null || continue
			set -- ${cmd[@]+${cmd[0]}} # a title is one argument: "forkmq: ROLE CLIENT REMOTE"
			case "${1:-} ${2:-}" in
			"forkmq: router" | "forkmq: deliverer")
				role=$2-pub
				case "${3:-}" in *-s[0-9]*) role=$2-sub ;; esac ;;
			forkmq:*) role=${2:-worker} ;;
			*) role=starting ;; # a worker not yet in the pool (no title yet)
			esac
			[ "$p" = "$broker" ] && role=supervisor
			for t in /proc/$p/task/*; do
				read -r ns rest <"$t/schedstat" 2>/dev/null || continue
				v=0 nv=0
				while read -r k val; do
					case $k in
					voluntary_ctxt_switches:) v=$val ;;
					nonvoluntary_ctxt_switches:) nv=$val ;;
					esac
				done <"$t/status"
				echo "$p ${t##*/} $role $ns $v $nv"
			done
		done
	}
	(
		for _ in $(seq 300); do
			[ "$(pgrep -P $broker | wc -l)" -ge 200 ] && break
			sleep 0.1
		done
		sleep 1 # past the warm-up
		date +%s.%N >"$out/t0"
		snap >"$out/before"
		ulimit -n 20000
		events=raw_syscalls:sys_enter
		for call in epoll_pwait futex nanosleep read write mq_timedsend mq_timedreceive recvfrom; do
			events+=,syscalls:sys_enter_$call
		done
		perf stat --per-thread -x, -o "$out/perf" -e "$events" -p "$( (echo $broker; pgrep -P $broker) | paste -sd,)" -- sleep "$window" 2>"$out/perf.err" || true
		snap >"$out/after"
		date +%s.%N >"$out/t1"
	) &
	wait $broker
	exit
fi

cd "$(dirname "$0")/.."
bin=bin window=5
while [ $# -gt 0 ]; do
	case "$1" in
	-bin) bin=$2; shift 2 ;;
	-window) window=$2; shift 2 ;;
	*) echo "usage: $0 [-bin DIR] [-window SECONDS]" >&2; exit 2 ;;
	esac
done
command -v perf >/dev/null || { echo "$0: needs perf (Debian's linux-perf)" >&2; exit 1; }
bin=$(cd "$bin" && pwd)
[ -x "$bin/mqbench" ] || { echo "$0: build $bin/mqbench first: (cd bench && go build -o ../bin/mqbench ./cmd/mqbench)" >&2; exit 1; }
out=$(mktemp -d /tmp/forkmq-wakes.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT
self=$(pwd)/scripts/wakes.sh
flock /tmp/forkmq-e2e.lock "$bin/mqbench" -bin "$bin" -repo . -allow-dirty -force -quick -reps 1 \
	-broker "sampled=$self --wrap $out $window $bin/broker -listen 127.0.0.1:{port} -state-dir {dir}/state -max-clients 250 -max-accept-rate 0 -log-level warn" \
	-brokers sampled -scenarios seed -cases 50pub -out "$out/bench" >"$out/bench.log" 2>&1 ||
	{ echo "$0: the benchmark failed:" >&2; tail -5 "$out/bench.log" >&2; exit 1; }
[ -s "$out/after" ] || { echo "$0: no sample (did every client connect?); see $out" >&2; exit 1; }

awk -v window="$window" -v snapdt="$(echo "$(cat "$out/t1") - $(cat "$out/t0")" | bc)" '
	FILENAME ~ /before$/ { ns[$2] = $4; v[$2] = $5; nv[$2] = $6; next }
	FILENAME ~ /after$/ {
		role[$2] = $3; procs[$3 " " $1] = 1
		if ($2 in ns) { cpu[$3] += ($4 - ns[$2]) / 1000; wakes[$3] += $5 - v[$2]; preempt[$3] += $6 - nv[$2] }
		else { cpu[$3] += $4 / 1000; wakes[$3] += $5; preempt[$3] += $6 } # started in the window
		next
	}
	FILENAME ~ /perf$/ {
		n = split($0, f, ","); if (n < 4 || f[1] ~ /^#/ || f[1] == "") next
		tid = f[1]; sub(/.*-/, "", tid); if (!(tid in role)) next
		ev = f[4]; sub(/^(raw_)?syscalls:sys_enter_?/, "", ev); if (ev == "") ev = "all"
		calls[role[tid] " " ev] += f[2]; evs[ev] = 1
		next
	}
	END {
		for (k in procs) { split(k, a, " "); nproc[a[1]]++ }
		printf "per process and second (one message each), over %ss:\n", window
		printf "%-15s %5s %8s %7s %7s %7s", "role", "procs", "CPU µs", "wakes", "preempt", "calls"
		ne = 0; for (e in evs) if (e != "all") names[++ne] = e
		for (i = 1; i <= ne; i++) printf " %9.9s", names[i]; printf "\n"
		for (r in nproc) {
			n = nproc[r]
			printf "%-15s %5d %8.1f %7.2f %7.2f %7.2f", r, n, cpu[r] / snapdt / n, wakes[r] / snapdt / n, preempt[r] / snapdt / n, calls[r " all"] / window / n
			for (i = 1; i <= ne; i++) printf " %9.2f", calls[r " " names[i]] / window / n
			printf "\n"; tcpu += cpu[r]
		}
		printf "broker CPU: %.2f %% of a core\n", tcpu / snapdt / 1e4
	}' "$out/before" "$out/after" "$out/perf"
