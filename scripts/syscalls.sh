#!/bin/bash
# syscalls.sh — count the system calls a broker makes per delivered message,
# the figures of "Where the time goes" in docs/ARCHITECTURE.md.
#
#   scripts/syscalls.sh [-engine process|goroutine] [-n MESSAGES] [-subs N] [-qos Q] [-persistent]
#
# It starts bin/broker under `strace -f -c` (every process of the tree,
# workers included), connects N mosquitto_sub subscribers to one topic,
# publishes MESSAGES 64-byte messages with one mosquitto_pub as fast as it
# goes, waits until every subscriber has them all, stops the broker, and
# prints strace's table with a last column: calls per delivery. Connection
# set-up and shutdown are counted too, so use enough messages (the default
# 100,000) for them not to matter. strace slows every call: count with it,
# never time with it.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=process n=100000 subs=1 qos=0 persistent=
while [ $# -gt 0 ]; do
	case "$1" in
	-engine) engine=$2; shift 2 ;;
	-n) n=$2; shift 2 ;;
	-subs) subs=$2; shift 2 ;;
	-qos) qos=$2; shift 2 ;;
	-persistent) persistent=1; shift ;;
	*) echo "usage: $0 [-engine process|goroutine] [-n MESSAGES] [-subs N] [-qos Q] [-persistent]" >&2; exit 2 ;;
	esac
done
for tool in strace mosquitto_pub mosquitto_sub; do
	command -v "$tool" >/dev/null || { echo "$0: needs $tool (scripts/install-deps.sh installs the MQTT clients; apt-get install strace)" >&2; exit 1; }
done
[ -x bin/broker ] || make build >/dev/null

work=$(mktemp -d /tmp/forkmq-syscalls.XXXXXX)
port=$((20000 + RANDOM % 20000))
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "${strace_pid:-}" ] && kill -INT "$strace_pid" 2>/dev/null && wait "$strace_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

strace -f -c -o "$work/strace" bin/broker -engine "$engine" -listen "127.0.0.1:$port" \
	-state-dir "$work/state" -log-level warn -max-queued-messages 100000 2>"$work/broker.log" &
strace_pid=$!
for _ in $(seq 100); do
	mosquitto_pub -p "$port" -t syscalls/ready -m x 2>/dev/null && break
	sleep 0.1
done

session=(-c)
[ -n "$persistent" ] && session=(--disable-clean-session)
for i in $(seq "$subs"); do
	mosquitto_sub -p "$port" -i "sys-sub-$i" "${session[@]}" -q "$qos" -t syscalls/t -C "$n" >"$work/sub.$i" &
	pids+=($!)
done
sleep 1 # every SUBACK in: mosquitto_sub subscribes right after CONNACK

head -c 64 /dev/zero | tr '\0' x >"$work/line"; echo >>"$work/line"
{ yes "$(cat "$work/line")" || true; } | head -n "$n" >"$work/messages"
mosquitto_pub -p "$port" -q "$qos" -t syscalls/t -l <"$work/messages"

deadline=$((SECONDS + 120))
for i in $(seq "$subs"); do
	while [ "$(wc -l <"$work/sub.$i")" -lt "$n" ]; do
		[ $SECONDS -lt $deadline ] || { echo "$0: subscriber $i got $(wc -l <"$work/sub.$i") of $n; the broker's log:" >&2; tail -5 "$work/broker.log" >&2; exit 1; }
		sleep 0.2
	done
done
wait "${pids[@]}" 2>/dev/null || true
pids=()

# Stop the broker (strace passes SIGTERM on to it) and let strace report.
pkill -TERM -f "bin/broker -engine $engine -listen 127.0.0.1:$port" || true
wait "$strace_pid" 2>/dev/null || true
strace_pid=
deliveries=$((n * subs))
echo "engine $engine, $n messages of 64 B at QoS $qos to $subs subscriber(s)${persistent:+ (persistent sessions)}: $deliveries deliveries"
awk -v d="$deliveries" '
	/^%|^-/ { next }
	$NF == "total" { printf "%-24s %10d calls  %8.2f per delivery\n", "total", $4, $4/d; next }
	NF >= 5 { printf "%-24s %10d calls  %8.2f per delivery\n", $NF, $4, $4/d }
' "$work/strace" | sort -k2 -n -r | head -16
