#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# cw-txgen sends a real capture once, at a low rate, over a net_memif wire to chainwatch-dp (the
# memif server): every frame sent must arrive (tx_failed 0, rx_packets == sent) and the dataplane
# must publish one event per TLS flow that chainwatch-scan finds offline in the same capture.
# Both processes share lcore 0: the capture (761 frames) fits the memif ring (1024 slots), so no
# frame can be lost even while the dataplane waits for the CPU.
# Usage: txgen_memif.sh BUILD_DIR CAPTURE
set -eu
build=$1; cap=$2
dp=$build/chainwatch-dp; txgen=$build/cw-txgen; evdump=$build/cw-evdump; scan=$build/chainwatch-scan
tmp=$(mktemp -d); inst="txgenmemif$$"; rx="cwtxg-rx-$$"; tx="cwtxg-tx-$$"
sock="/run/cw-memif-$inst.sock"
dp_pid=; tx_pid=
cleanup() {
	[ -n "$dp_pid" ] && kill -INT "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	[ -n "$tx_pid" ] && kill -INT "$tx_pid" 2>/dev/null && wait "$tx_pid" 2>/dev/null
	rm -rf "$tmp" "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$rx" "/var/run/dpdk/$tx" "$sock"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
counter() { sed -n "s/^  $1 *\\([0-9]*\\)$/\\1/p" "$2"; }
json() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p" "$2"; }

flows=$("$scan" "$cap" 2>/dev/null | wc -l)
[ "$flows" -gt 0 ] || fail "chainwatch-scan finds no TLS flow in $cap"

"$dp" --no-huge -m 512 --no-pci --file-prefix "$rx" -l 0 --log-level=error \
	--vdev "net_memif0,role=server,socket=$sock" -- --instance "$inst" --workers 1 --mode single \
	--flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 > "$tmp/dp.out" 2>&1 &
dp_pid=$!
# The memif client needs the server's socket: wait until the dataplane is up (slow under ASan).
for _ in $(seq 200); do
	grep -q "^chainwatch-dp: port" "$tmp/dp.out" 2>/dev/null && break
	kill -0 "$dp_pid" 2>/dev/null || { cat "$tmp/dp.out"; fail "chainwatch-dp exited at start"; }
	sleep 0.1
done
# The dataplane (the memif server) stops first, while the client still holds the wire: DPDK
# 22.11's memif PMD can fault in the server's receive path when the client disconnects under it.
# The client keeps its port up for --drain-ms after its last frame; the dataplane is stopped 4 s
# after the client starts, ample to take the 761 frames (38 ms at 20 000 frames/s) from the ring.
"$txgen" --no-huge -m 256 --no-pci --file-prefix "$tx" -l 0 --log-level=error \
	--vdev "net_memif0,role=client,socket=$sock" -- --pcap "$cap" --rate-pps 20000 \
	--link-wait 20 --drain-ms 10000 > "$tmp/tx.out" 2> "$tmp/tx.err" &
tx_pid=$!
sleep 4
kill -0 "$tx_pid" 2>/dev/null || { cat "$tmp/tx.err"; fail "cw-txgen ended before its drain time"; }
kill -INT "$dp_pid"; wait "$dp_pid" || { cat "$tmp/dp.out"; fail "chainwatch-dp exited non-zero"; }
dp_pid=
wait "$tx_pid" || { tx_pid=; cat "$tmp/tx.err" "$tmp/dp.out"; fail "cw-txgen exited non-zero"; }
tx_pid=
cat "$tmp/tx.out"
sent=$(json sent "$tmp/tx.out"); failed=$(json tx_failed "$tmp/tx.out")
[ "$(json frames_in_pcap "$tmp/tx.out")" -eq "$sent" ] || fail "sent $sent of $(json frames_in_pcap "$tmp/tx.out") frames"
[ "$failed" -eq 0 ] || fail "tx_failed $failed at 20000 frames/s"
rxp=$(counter rx_packets "$tmp/dp.out"); events=$(counter events_out "$tmp/dp.out")
echo "capture: $flows TLS flows; cw-txgen sent $sent; chainwatch-dp rx_packets=$rxp events_out=$events"
[ "$rxp" -eq "$sent" ] || fail "chainwatch-dp received $rxp of $sent frames"
"$evdump" --shm "$inst" > "$tmp/ev.txt" || fail "cw-evdump could not attach"
[ "$(wc -l < "$tmp/ev.txt")" -eq "$flows" ] || fail "$(wc -l < "$tmp/ev.txt") events, want $flows"
[ "$events" -eq "$flows" ] || fail "events_out $events, want $flows"
# The same handshakes as offline: addresses, SNI, JA4 and chain id of every flow.
fields() { tr ' ' '\n' | grep -E '^(cli|srv|sni|ja4|chain_id)=' | paste -sd' '; }
while read -r line; do echo "$line" | fields; done < "$tmp/ev.txt" | sort > "$tmp/live"
"$scan" "$cap" 2>/dev/null | while read -r line; do echo "$line" | fields; done | sort > "$tmp/offline"
cmp -s "$tmp/live" "$tmp/offline" ||
	{ diff "$tmp/offline" "$tmp/live" | head; fail "events differ from chainwatch-scan"; }
echo ok
