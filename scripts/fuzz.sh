#!/bin/sh
# fuzz.sh runs every go test -fuzz target in the module for a while each
# (default 20s): the MQTT codec, topic validation, queue envelopes, and the
# decoders of files that other processes write (topic files, retained files).
#
# A target fails the run when it finds something: a failing input written to
# testdata/fuzz/<target>/, or any failure but one. That one is Go's fuzzing
# coordinator reporting "context deadline exceeded" at the end of -fuzztime
# with no input written: a race inside the coordinator (its stop compares the
# deadline's error against its workers' context before that context has been
# cancelled), never a finding, and not rare here (one target in about 13
# per run on this machine). Such a target runs again, up to twice more; it
# fails if every run fails.
set -eu
time=${1:-20s}
cd "$(dirname "$0")/.."

# inputs DIR lists the failing inputs saved for a target (none if no DIR).
inputs() {
	ls "$1" 2>/dev/null | sort || true
}

# fuzz PKG TARGET runs one target; 0 passed, 1 found something, 2 only the
# coordinator's deadline race.
fuzz() {
	dir="$1/testdata/fuzz/$2"
	before=$(inputs "$dir")
	out=$(mktemp)
	rc=0
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$time" "$1" >"$out" 2>&1 || rc=$?
	cat "$out"
	if [ "$rc" -eq 0 ]; then
		rm -f "$out"
		return 0
	fi
	after=$(inputs "$dir")
	race=1
	[ "$before" = "$after" ] || race=0
	grep -q '^    context deadline exceeded$' "$out" || race=0
	[ "$(grep -c -- '--- FAIL' "$out")" -eq 1 ] || race=0
	rm -f "$out"
	[ "$race" -eq 1 ] && return 2
	return 1
}

failed=0
for file in $(grep -rl --include='*_test.go' '^func Fuzz' internal); do
	pkg="./$(dirname "$file")"
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "fuzz: $pkg $target for $time"
		status=0
		fuzz "$pkg" "$target" || status=$?
		for again in 1 2; do
			[ "$status" -eq 2 ] || break
			echo "fuzz: $target: the coordinator's deadline race, no input saved; again ($again of 2)"
			status=0
			fuzz "$pkg" "$target" || status=$?
		done
		if [ "$status" -ne 0 ]; then
			echo "fuzz: $target FAILED"
			failed=1
		fi
	done
done
exit "$failed"
