#!/bin/sh
# fuzz.sh runs every go test -fuzz target in the module for a while each
# (default 20s): the MQTT codec, topic validation, queue envelopes, and the
# decoders of files that other processes write (topic files, retained files).
set -eu
time=${1:-20s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' internal | while read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "fuzz: $pkg $target for $time"
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$time" "$pkg"
	done
done
