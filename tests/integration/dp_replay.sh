#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The in-memory replay (--replay) against --pcap on one capture:
# (1) one pass, frames attached (default) and copied (--replay-copy): every counter of the final
#     report equals --pcap's (the same frames, flows, events), and no burst waited for mbufs
#     (replay_nombuf, the one counter --pcap has not);
# (2) three passes over 2 workers: exactly 3x the frames and bytes received and processed, each
#     pass's TLS flows followed again, every mbuf given back (a leak is an exit status 1);
# (3) --rx-only for 1 s without a pass count: stops at --duration, frames received, none processed.
# Usage: dp_replay.sh BUILD_DIR CAPTURE
set -eu
build=$1; cap=$2
dp=$build/chainwatch-dp
tmp=$(mktemp -d); inst="replay$$"
trap 'rm -rf "$tmp" /dev/shm/chainwatch.$inst-* /var/run/dpdk/chainwatch-$inst-*' EXIT
counter() { sed -n "s/^  $1 *\\([0-9]*\\)$/\\1/p" "$2"; }
fail() { echo "FAIL: $*"; exit 1; }
run() { # name, args...
	name=$1; shift
	"$dp" --instance "$inst-$name" --flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 "$@" \
		> "$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out"; fail "chainwatch-dp exited non-zero ($name)"; }
	rm -f "/dev/shm/chainwatch.$inst-$name"
}

run pcap --pcap "$cap" --workers 1
grep '^  ' "$tmp/pcap.out" > "$tmp/pcap.counters"
[ -s "$tmp/pcap.counters" ] || fail "no counters from --pcap"
for how in attached copied; do
	opt=; [ $how = copied ] && opt=--replay-copy
	run "one-$how" --replay "$cap" --replay-loops 1 --workers 1 $opt
	grep -q "frames $how" "$tmp/one-$how.out" || fail "frames not $how"
	grep '^  ' "$tmp/one-$how.out" | grep -v '^  replay_nombuf ' > "$tmp/one-$how.counters"
	[ "$(counter replay_nombuf "$tmp/one-$how.out")" -eq 0 ] || fail "replay_nombuf != 0 ($how)"
	cmp -s "$tmp/pcap.counters" "$tmp/one-$how.counters" || {
		diff "$tmp/pcap.counters" "$tmp/one-$how.counters"
		fail "one replay pass, frames $how, differs from --pcap"
	}
done
frames=$(counter rx_packets "$tmp/pcap.out"); bytes=$(counter rx_bytes "$tmp/pcap.out")
tls=$(counter tls_flows "$tmp/pcap.out")
echo "one pass = --pcap: $frames frames, $tls TLS flows"

run three --replay "$cap" --replay-loops 3 --workers 2
grep -q "mode replay, 2 workers" "$tmp/three.out" || fail "not 2 replay workers"
for c in rx_packets processed_packets; do
	[ "$(counter $c "$tmp/three.out")" -eq $((3 * frames)) ] || fail "$c != 3 x $frames"
done
[ "$(counter rx_bytes "$tmp/three.out")" -eq $((3 * bytes)) ] || fail "rx_bytes != 3 x $bytes"
[ "$(counter tls_flows "$tmp/three.out")" -eq $((3 * tls)) ] || fail "tls_flows != 3 x $tls"
grep -q "end of capture" "$tmp/three.out" || fail "three passes did not end by themselves"
[ "$(counter replay_nombuf "$tmp/three.out")" -eq 0 ] || fail "replay_nombuf != 0"
echo "three passes over 2 workers: $((3 * frames)) frames, $((3 * tls)) TLS flows"

run rxonly --replay "$cap" --workers 1 --rx-only --duration 1
[ "$(counter rx_packets "$tmp/rxonly.out")" -gt "$frames" ] || fail "--rx-only replay did not loop"
[ "$(counter processed_packets "$tmp/rxonly.out")" -eq 0 ] || fail "--rx-only processed frames"
echo "rx-only 1 s: $(counter rx_packets "$tmp/rxonly.out") frames, none processed"
echo ok
