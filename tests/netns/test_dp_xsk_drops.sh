#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# AF_XDP drops are counted: chainwatch-dp --iface on a veth in a network namespace is stopped
# (SIGSTOP) while 5 000 segments that the cw_steer program redirects arrive, so its socket's RX
# ring fills and the kernel drops the rest. net_af_xdp's port counters do not show these
# (imissed is 0); the dataplane reads the sockets' own counters:
#   - the final report: xdp_redirected == port_ipackets + xsk_rx_full + xsk_rx_dropped, with
#     xsk_rx_full + xsk_rx_dropped > 0 and xsk_sockets == 1;
#   - the periodic stats lines' xsk_rx_full add up to the final xsk_rx_full.
# usage: test_dp_xsk_drops.sh CHAINWATCH_DP. Addresses: 198.18.6.0/24. Exit 77 without root.
set -euo pipefail

DP=$(realpath "${1:?usage: $0 CHAINWATCH_DP}")
SEND="$(cd "$(dirname "$0")" && pwd)/cw_send_segments.py"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces, XDP)"; exit 77; }

NS_A=cwxd-$$-a
NS_B=cwxd-$$-b
IF_A=cwxda$$
IF_B=cwxdb$$
INST=cwxd$$
TMP=$(mktemp -d /tmp/cw-xsk-drops.XXXXXX)
DPPID=
MOUNTED=0
FAILS=0

cleanup() {
	set +e
	if [ -n "$DPPID" ]; then
		kill -CONT "$DPPID" 2>/dev/null
		kill -TERM "$DPPID" 2>/dev/null
		wait "$DPPID" 2>/dev/null
	fi
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	[ "$MOUNTED" = 1 ] && umount /sys/fs/bpf
	rm -rf "$TMP" "/var/run/dpdk/$INST" "/dev/shm/chainwatch.$INST"
}
trap cleanup EXIT INT TERM

ok() { echo "ok   - $*"; }
fail() {
	echo "FAIL - $*"
	FAILS=$((FAILS + 1))
}
expect() { # expect DESCRIPTION ACTUAL OP EXPECTED
	if [ "$2" "$3" "$4" ]; then ok "$1 ($2 $3 $4)"; else fail "$1 (got $2, want $3 $4)"; fi
}
final() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/dp.out"; }

if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
	MOUNTED=1
fi
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
ip -n "$NS_A" addr add 198.18.6.1/24 dev "$IF_A"
ip -n "$NS_B" addr add 198.18.6.2/24 dev "$IF_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$IF_A" up
ip -n "$NS_B" link set "$IF_B" up

# DPDK 22.11's net_af_xdp never frees the umem it creates with libxdp (xsk_umem__create) nor the
# BPF object it loads: in sanitizer builds, leak checking is off for this one process.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	ip netns exec "$NS_B" "$DP" --no-huge -m 512 --no-pci --file-prefix "$INST" -l 0,1 -- \
	--iface "$IF_B" --instance "$INST" --events-discard --stats-interval 1 \
	>"$TMP/dp.out" 2>&1 &
DPPID=$!
up=0
for _ in $(seq 100); do
	if grep -q "stats rx_pps" "$TMP/dp.out"; then
		up=1
		break
	fi
	kill -0 "$DPPID" 2>/dev/null || break
	sleep 0.2
done
if [ $up = 0 ]; then
	cat "$TMP/dp.out"
	echo "FAIL - chainwatch-dp --iface did not come up"
	exit 1
fi
ok "chainwatch-dp is up on $IF_B"

kill -STOP "$DPPID"
ip netns exec "$NS_A" python3 "$SEND" --src 198.18.6.1 --dst 198.18.6.2 --kind tls --count 5000 \
	--sport 20000
kill -CONT "$DPPID"
sleep 2.5
kill -TERM "$DPPID"
rc=0
wait "$DPPID" || rc=$?
DPPID=
expect "chainwatch-dp exit status" "$rc" -eq 0

redirected=$(final xdp_redirected)
ipackets=$(final port_ipackets)
full=$(final xsk_rx_full)
dropped=$(final xsk_rx_dropped)
echo "# xdp_redirected=$redirected port_ipackets=$ipackets port_imissed=$(final port_imissed)" \
	"xsk_rx_full=$full xsk_rx_dropped=$dropped"
expect "one AF_XDP socket read" "$(final xsk_sockets)" -eq 1
expect "the program redirected every segment sent" "${redirected:-0}" -ge 5000
expect "the socket dropped some of them while the dataplane was stopped" $((full + dropped)) -gt 0
expect "redirected = received + xsk_rx_full + xsk_rx_dropped" "$redirected" -eq \
	$((ipackets + full + dropped))
lines=$(sed -n 's/.*stats rx_pps=.* xsk_rx_full=\([0-9]*\) .*/\1/p' "$TMP/dp.out" |
	awk '{ s += $1 } END { print s + 0 }')
expect "the stats lines' xsk_rx_full add up to the final count" "$lines" -eq "$full"

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all checks passed"
