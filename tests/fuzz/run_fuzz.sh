#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs one libFuzzer target for a fixed time from seeds built out of the reference captures.
# Usage: run_fuzz.sh FUZZER MKSEEDS SECONDS [REGRESSION_DIR [ARTIFACT_DIR]]
# A crash input is kept in ARTIFACT_DIR (default: the build's fuzz-artifacts) for the regressions.
set -euo pipefail
fuzzer=$1 mkseeds=$2 secs=$3 regress=${4:-} keep=${5:-fuzz-artifacts}
name=$(basename "$fuzzer")
work=$(mktemp -d "${TMPDIR:-/tmp}/cw-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/session" "$work/hello" "$work/artifacts"
"$mkseeds" "$work/session" "$work/hello" tests/data/conformance/ja4/pcap/*.pcap* \
	tests/data/conformance/s2n-tls/*/*.pcap* tests/data/conformance/zeek/traces/*.pcap 2>/dev/null || true
case "$name" in
fuzz_session) corpus=$work/session ;;
*) corpus=$work/hello ;;
esac
seeds=$(find "$corpus" -type f | wc -l)
[ "$seeds" -gt 0 ] || { echo "no seeds built for $name" >&2; exit 1; }
# Every crash input found earlier must stay fixed.
if [ -n "$regress" ] && [ -d "$regress" ]; then
	mapfile -t crashes < <(find "$regress" -type f ! -name '.keep')
	if [ ${#crashes[@]} -gt 0 ]; then
		"$fuzzer" "${crashes[@]}"
	fi
fi
rc=0
"$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$corpus" > "$work/log" 2>&1 || rc=$?
tail -25 "$work/log"
if [ $rc -ne 0 ]; then
	mkdir -p "$keep"
	cp "$work"/artifacts/* "$keep"/ 2>/dev/null || true
	echo "$name: FAILED (exit $rc); crash inputs kept in $keep: add them to $regress" >&2
	exit 1
fi
echo "$name: seeds=$seeds seconds=$secs: clean"
