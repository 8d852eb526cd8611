#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# One net_pcap port with one RX queue per capture (rx_pcap= once per file): chainwatch-dp picks
# rss mode on its own, one worker per queue, and must report every TLS flow of every capture, as
# chainwatch-scan finds them in each file. The benchmark's multi-worker runs (tools/bench/scale.sh)
# use this layout.
# Usage: dp_pcap_queues.sh BUILD_DIR CAPTURE CAPTURE...
set -eu
build=$1; shift
[ $# -ge 2 ] || { echo "give two or more captures"; exit 1; }
dp=$build/chainwatch-dp; scan=$build/chainwatch-scan; evdump=$build/cw-evdump
. "$(dirname "$0")/evfields.sh"
inst="queues$$"; tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$inst"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
counter() { sed -n "s/^  $1 *\\([0-9]*\\)$/\\1/p" "$tmp/dp.out"; }

vdev=net_pcap0; n=0
for cap in "$@"; do
	vdev="$vdev,rx_pcap=$cap"; n=$((n + 1))
	"$scan" "$cap" 2>/dev/null | evfields >> "$tmp/scan.unsorted" || true
done
sort "$tmp/scan.unsorted" > "$tmp/scan.txt"
[ -s "$tmp/scan.txt" ] || fail "chainwatch-scan found no TLS flow in the captures"

"$evdump" --shm "$inst" --wait-done --timeout 60 > "$tmp/ev.txt" 2> "$tmp/evdump.err" &
evpid=$!
# A plain net_pcap port does not stop at the end of its files: run for a few seconds. One main
# lcore plus one per worker, floating over the CPUs there are.
"$dp" --no-huge -m 768 --no-pci --file-prefix "$inst" --lcores "(0-$n)@(0-$(($(nproc) - 1)))" \
	--vdev "$vdev" -- --workers "$n" --instance "$inst" --flows 4096 --sessions 256 \
	--chains 4096 --duration 3 > "$tmp/dp.out" 2>&1 ||
	{ cat "$tmp/dp.out"; fail "chainwatch-dp exited non-zero"; }
wait "$evpid" || { cat "$tmp/evdump.err"; fail "cw-evdump failed"; }
grep -q "mode rss, $n workers" "$tmp/dp.out" ||
	{ cat "$tmp/dp.out"; fail "expected rss mode with $n workers"; }
# net_pcap carries captures: checksums are not checked unless asked (--checksums).
grep -q "checksums off" "$tmp/dp.out" || { cat "$tmp/dp.out"; fail "expected checksums off on net_pcap"; }
evfields < "$tmp/ev.txt" > "$tmp/dp.txt"
[ -s "$tmp/scan.txt" ] || fail "chainwatch-scan found no TLS flow to compare"
if ! cmp -s "$tmp/scan.txt" "$tmp/dp.txt"; then
	diff "$tmp/scan.txt" "$tmp/dp.txt" | head -20
	fail "dataplane (>) and chainwatch-scan (<) differ"
fi
echo "ok: $(wc -l < "$tmp/dp.txt") TLS flows from $n captures on $n queues," \
	"rx_packets=$(counter rx_packets), handshakes_done=$(counter handshakes_done)"
