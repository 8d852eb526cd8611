#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# chainwatch-dp --pcap must report the same TLS flows (addresses, SNI, JA3/JA4, chain ids and
# certificates) as the offline chainwatch-scan, for every capture given, with 1 and 2 workers.
# With DP_INPUT=replay, the same through the in-memory replay (--replay FILE --replay-loops 1),
# which splits the capture by flow over the workers itself.
# With DP_KEYED=1, both run with the same --chain-key (a new random key), and every chain id
# must differ from chainwatch-scan's id of the same flow without the key.
# With DP_XXH3="DP SCAN", the dataplane runs with --xxh3 DP and chainwatch-scan with --xxh3 SCAN
# (e.g. "baseline wide"): both XXH3 builds must give the same ids.
# Usage: dp_compare.sh BUILD_DIR WORKERS CAPTURE_OR_DIR...   (a directory: every *.pcap, *.pcapng in it)
set -eu
build=$1; workers=$2; shift 2
caps=$(for a in "$@"; do
	if [ -d "$a" ]; then find "$a" -name '*.pcap' -o -name '*.pcapng'; else echo "$a"; fi
done | sort)
[ -n "$caps" ] || { echo "no captures given"; exit 1; }
set -- $caps
case ${DP_INPUT:-pcap} in
pcap) input=--pcap; loops= ;;
replay) input=--replay; loops="--replay-loops 1" ;;
*) echo "bad DP_INPUT '$DP_INPUT': pcap or replay"; exit 1 ;;
esac
dp=$build/chainwatch-dp; scan=$build/chainwatch-scan; evdump=$build/cw-evdump
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/evfields.sh"
fail=0; n=0; key=; keyed_ids=0; total=0; chains=0; dpx=; scanx=
if [ -n "${DP_XXH3:-}" ]; then
	read -r x_dp x_scan x_rest <<EOF
$DP_XXH3
EOF
	[ -n "$x_scan" ] && [ -z "$x_rest" ] || { echo "bad DP_XXH3 '$DP_XXH3': two names"; exit 1; }
	dpx="--xxh3 $x_dp"; scanx="--xxh3 $x_scan"
	"$scan" $scanx --version > /dev/null || { echo "FAIL: chainwatch-scan $scanx refused"; exit 1; }
fi
if [ "${DP_KEYED:-0}" = 1 ]; then
	(umask 077; head -c 32 /dev/urandom > "$tmp/key")
	key="--chain-key $tmp/key"
fi
# chain_id=... of each line, empty ids left out
ids() { sed -n 's/.* chain_id=\([0-9a-f]\{32\}\) .*/\1/p'; }
for cap in "$@"; do
	n=$((n + 1))
	inst="cmp$$-$n"
	"$scan" $key $scanx "$cap" 2>/dev/null | evfields > "$tmp/scan.txt" || true
	if [ -n "$key" ]; then
		"$scan" "$cap" 2>/dev/null | evfields | ids > "$tmp/plain.ids" || true
		ids < "$tmp/scan.txt" > "$tmp/keyed.ids"
		if [ "$(wc -l < "$tmp/plain.ids")" != "$(wc -l < "$tmp/keyed.ids")" ] ||
		   [ -n "$({ sort -u "$tmp/plain.ids"; sort -u "$tmp/keyed.ids"; } | sort | uniq -d)" ]; then
			echo "FAIL $cap: a chain id made with the key equals one made without it"; fail=1
		fi
		keyed_ids=$((keyed_ids + $(wc -l < "$tmp/keyed.ids")))
	fi
	rm -f "/dev/shm/chainwatch.$inst"
	"$evdump" --shm "$inst" --wait-done --timeout 60 > "$tmp/ev.txt" 2> "$tmp/evdump.err" &
	evpid=$!
	# One main lcore plus one per worker, floating over the CPUs there are.
	if ! "$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" --lcores "(0-$workers)@(0-$(($(nproc) - 1)))" -- \
		$input "$cap" $loops $key $dpx --instance "$inst" --workers "$workers" --flows 4096 --sessions 256 \
		--chains 4096 --blob-kib 1024 --quiet > "$tmp/dp.out" 2>&1; then
		echo "FAIL $cap: chainwatch-dp exited non-zero"; cat "$tmp/dp.out"; fail=1
	fi
	wait "$evpid" || { echo "FAIL $cap: cw-evdump failed"; cat "$tmp/evdump.err"; fail=1; }
	rm -rf "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$inst"
	evfields < "$tmp/ev.txt" > "$tmp/dp.txt"
	if ! cmp -s "$tmp/scan.txt" "$tmp/dp.txt"; then
		echo "FAIL $cap: dataplane and chainwatch-scan differ (< scan, > dataplane)"
		diff "$tmp/scan.txt" "$tmp/dp.txt" | head -20
		fail=1
	else
		echo "ok   $cap: $(wc -l < "$tmp/dp.txt") TLS flows"
	fi
	total=$((total + $(wc -l < "$tmp/scan.txt")))
	chains=$((chains + $(ids < "$tmp/scan.txt" | wc -l)))
done
# The comparison must have compared something: flows, and chain ids among their fields.
echo "compared: $total TLS flows, $chains with a chain id"
[ "$total" -gt 0 ] && [ "$chains" -gt 0 ] || { echo "FAIL: nothing compared"; fail=1; }
if [ -n "$key" ]; then
	echo "keyed: $keyed_ids chain ids, none equal to its unkeyed id"
	[ "$keyed_ids" -gt 0 ] || { echo "FAIL: no capture had a chain"; fail=1; }
fi
exit $fail
