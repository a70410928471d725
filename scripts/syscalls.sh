#!/bin/bash
# syscalls.sh — count what a broker does per delivered message: system calls
# (in all and the main ones), context switches and CPU time, the figures of
# "Where the time goes" in docs/ARCHITECTURE.md.
#
#   scripts/syscalls.sh [-engine process|goroutine|mosquitto] [-n MESSAGES] [-subs N] [-qos Q] [-persistent]
#
# It starts the broker under `perf stat` (every process of the tree, workers
# included; kernel tracepoints, so the broker runs at nearly full speed and
# batches as it would), connects N mosquitto_sub subscribers to one topic,
# publishes MESSAGES 64-byte messages with one mosquitto_pub as fast as it
# goes, waits until every subscriber has them all, stops the broker and
# prints each count divided by the deliveries. Start-up, connections and
# shutdown are counted too: use enough messages (default 100,000). The
# machine should be quiet; nothing is pinned, so the figures are counts,
# not a benchmark (that is bench/).
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
	*) echo "usage: $0 [-engine process|goroutine|mosquitto] [-n MESSAGES] [-subs N] [-qos Q] [-persistent]" >&2; exit 2 ;;
	esac
done
for tool in perf mosquitto_pub mosquitto_sub; do
	command -v "$tool" >/dev/null || { echo "$0: needs $tool (scripts/install-deps.sh installs the MQTT clients; perf is in Debian's linux-perf)" >&2; exit 1; }
done
bin=${BIN:-bin} # BIN=dir measures another build
[ -x "$bin/broker" ] || make build >/dev/null

work=$(mktemp -d /tmp/forkmq-syscalls.XXXXXX)
port=$((20000 + RANDOM % 20000))
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "${perf_pid:-}" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

events=raw_syscalls:sys_enter,context-switches,task-clock
for call in read write writev mq_timedsend mq_timedreceive epoll_pwait futex nanosleep sendfile64 openat; do
	events+=,syscalls:sys_enter_$call
done
if [ "$engine" = mosquitto ]; then
	chmod 755 "$work"
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$port" >"$work/mosquitto.conf"
	broker=(mosquitto -c "$work/mosquitto.conf")
else
	broker=("$bin/broker" -engine "$engine" -listen "127.0.0.1:$port" -state-dir "$work/state" -log-level warn -sys-interval 0)
fi
perf stat -x, -o "$work/perf" -e "$events" -- "${broker[@]}" 2>"$work/broker.log" &
perf_pid=$!
for _ in $(seq 100); do
	mosquitto_pub -p "$port" -t syscalls/ready -m x 2>/dev/null && break
	sleep 0.1
done

session=()
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

# Stop the broker (perf passes SIGTERM on to it) and let perf report.
pkill -TERM -f "^${broker[*]}" || true
wait "$perf_pid" 2>/dev/null || true
perf_pid=
deliveries=$((n * subs))
echo "$engine, $n messages of 64 B at QoS $qos to $subs subscriber(s)${persistent:+ (persistent sessions)}: $deliveries deliveries"
awk -F, -v d="$deliveries" '
	$3 == "raw_syscalls:sys_enter" { printf "%-28s %10.2f per delivery\n", "system calls", $1/d; next }
	$3 == "context-switches" { printf "%-28s %10.2f per delivery\n", "context switches", $1/d; next }
	$3 == "task-clock" { printf "%-28s %10.2f µs per delivery\n", "CPU", $1*1000/d; next }
	$3 ~ /^syscalls:sys_enter_/ && $1 > 0 { sub("syscalls:sys_enter_", "", $3); printf "  %-26s %10.3f per delivery\n", $3, $1/d }
' "$work/perf"
