#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Bounds: with no consumer and a ring of S slots, exactly S of the N flow events are published and
# N - S are counted as dropped (in the dataplane's counters and in the shared header); a tiny
# session pool and flow table abandon and evict flows with counted reasons, and the process still
# exits 0 with every table bounded.
# Usage: dp_ringdrop.sh BUILD_DIR CAPTURE
set -eu
build=$1; cap=$2
dp=$build/chainwatch-dp; scan=$build/chainwatch-scan; evdump=$build/cw-evdump
tmp=$(mktemp -d); inst="ringdrop$$"
trap 'rm -rf "$tmp" "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$inst"' EXIT
counter() { sed -n "s/^  $1 *\\([0-9]*\\)$/\\1/p" "$2"; }
fail() { echo "FAIL: $*"; exit 1; }

n=$("$scan" "$cap" 2>/dev/null | wc -l)
slots=16
[ "$n" -gt "$slots" ] || fail "capture has only $n TLS flows, need more than $slots"

"$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" -l 0 -- --pcap "$cap" --instance "$inst" \
	--ring-slots $slots --flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 > "$tmp/dp.out" 2>&1 ||
	{ cat "$tmp/dp.out"; fail "chainwatch-dp exited non-zero"; }
out=$(counter events_out "$tmp/dp.out"); dropped=$(counter events_dropped "$tmp/dp.out")
echo "TLS flows $n, ring slots $slots: events_out=$out events_dropped=$dropped"
[ "$out" -eq "$slots" ] || fail "events_out $out != $slots"
[ "$dropped" -eq $((n - slots)) ] || fail "events_dropped $dropped != $((n - slots))"

# A consumer attaching afterwards sees what it missed in the shared header.
"$evdump" --shm "$inst" --peek > "$tmp/peek.txt"
cat "$tmp/peek.txt"
grep -q "state=done" "$tmp/peek.txt" || fail "shared state is not done"
grep -q "^# ring=0 published=$slots .* events_dropped=$((n - slots)) " "$tmp/peek.txt" ||
	fail "shared header counters wrong"
# ...and can still read the events that made it.
"$evdump" --shm "$inst" > "$tmp/ev.txt"
[ "$(wc -l < "$tmp/ev.txt")" -eq "$slots" ] || fail "read $(wc -l < "$tmp/ev.txt") events, want $slots"
# seq counts publish attempts: the slots published first are seq 0..slots-1.
[ "$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' "$tmp/ev.txt" | sort -n | tail -1)" -eq $((slots - 1)) ] ||
	fail "unexpected event sequence numbers"

# Tiny tables: 2 sessions, 8 flows. Every packet is still accounted for.
"$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" -l 0 -- --pcap "$cap" --instance "$inst" \
	--flows 8 --sessions 2 --chains 8 --blob-kib 64 > "$tmp/dp2.out" 2>&1 ||
	{ cat "$tmp/dp2.out"; fail "chainwatch-dp (tiny tables) exited non-zero"; }
nosess=$(counter no_session "$tmp/dp2.out"); nobuf=$(counter end_no_buffer "$tmp/dp2.out")
evict=$(( $(counter evict_done "$tmp/dp2.out") + $(counter evict_stalled "$tmp/dp2.out") + $(counter evict_active "$tmp/dp2.out") ))
echo "tiny tables: no_session=$nosess end_no_buffer=$nobuf evictions=$evict"
[ "$nosess" -gt 0 ] || fail "a 2-session pool never ran out"
[ "$nosess" -eq "$nobuf" ] || fail "every abandoned flow must have a no_buffer event"
[ "$evict" -gt 0 ] || fail "an 8-entry flow table never evicted"
echo ok
