#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Admission: a 5-tuple without a flow gets state only for a SYN or a TLS-looking payload.
# (1) Only the bare ACKs of a real capture: every one is counted as untracked, no flow, no event.
# (2) The same capture without its SYNs: each connection is picked up mid-stream at its
#     ClientHello (one flow and one event per TLS connection); the bare ACKs before it are untracked.
# Usage: dp_untracked.sh BUILD_DIR CAPTURE
set -eu
build=$1; cap=$2
dp=$build/chainwatch-dp; scan=$build/chainwatch-scan
tmp=$(mktemp -d); inst="untracked$$"
trap 'rm -rf "$tmp" /dev/shm/chainwatch.$inst-* /var/run/dpdk/chainwatch-$inst-*' EXIT
counter() { sed -n "s/^  $1 *\\([0-9]*\\)$/\\1/p" "$2"; }
fail() { echo "FAIL: $*"; exit 1; }
run() { # capture, instance suffix
	"$dp" --pcap "$1" --instance "$inst-$2" --flows 4096 --sessions 256 > "$tmp/$2.out" 2>&1 ||
		{ cat "$tmp/$2.out"; fail "chainwatch-dp exited non-zero on $2"; }
}

tcpdump -r "$cap" -w "$tmp/acks.pcap" \
	'tcp and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) == 0 and
	 (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) == 0' 2>/dev/null
acks=$(tcpdump -r "$tmp/acks.pcap" 2>/dev/null | wc -l)
[ "$acks" -gt 0 ] || fail "no bare ACKs in $cap"
run "$tmp/acks.pcap" acks
echo "bare ACKs: $acks; untracked=$(counter untracked_packets "$tmp/acks.out") flows_new=$(counter flows_new "$tmp/acks.out")"
[ "$(counter dec_tcp "$tmp/acks.out")" -eq "$acks" ] || fail "dec_tcp != $acks"
[ "$(counter untracked_packets "$tmp/acks.out")" -eq "$acks" ] || fail "untracked_packets != $acks"
[ "$(counter flows_new "$tmp/acks.out")" -eq 0 ] || fail "bare ACKs opened flows"
[ "$(counter events_out "$tmp/acks.out")" -eq 0 ] || fail "bare ACKs produced events"

tcpdump -r "$cap" -w "$tmp/nosyn.pcap" 'not (tcp and tcp[tcpflags] & tcp-syn != 0)' 2>/dev/null
tls=$("$scan" "$cap" 2>/dev/null | wc -l)
run "$tmp/nosyn.pcap" nosyn
echo "without SYNs: $tls TLS connections; flows_new=$(counter flows_new "$tmp/nosyn.out") tls_flows=$(counter tls_flows "$tmp/nosyn.out") untracked=$(counter untracked_packets "$tmp/nosyn.out")"
[ "$(counter flows_new "$tmp/nosyn.out")" -eq "$tls" ] || fail "flows_new != $tls"
[ "$(counter tls_flows "$tmp/nosyn.out")" -eq "$tls" ] || fail "tls_flows != $tls"
[ "$(counter events_out "$tmp/nosyn.out")" -eq "$tls" ] || fail "events_out != $tls"
[ "$(counter untracked_packets "$tmp/nosyn.out")" -gt 0 ] || fail "no packet was untracked"
echo "ok"
