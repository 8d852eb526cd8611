#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Live test of the cw_steer XDP program between two network namespaces, without and with AF_XDP.
#
# usage: test_xdp_steer.sh CW_XDP_STEER CW_STEER_BPF_O
# Part 1: program attached in generic mode and no AF_XDP socket: ICMP, UDP, plain TCP and a real
#         TLS 1.2 handshake work through the kernel, and every steered packet is counted as a
#         redirect failure and reaches the kernel (it answers the stray segments with RSTs).
# Part 2: DPDK net_af_xdp (dpdk-testpmd, rxonly) loads a configured copy of the object with
#         xdp_prog=: handshake candidates on port 443 reach the AF_XDP socket (the program's
#         redirected count equals the packets the PMD received), the rest still works in the kernel.
# Exit 77 (skip) without root or without the tools. Addresses: 198.18.0.0/15 and 2001:2::/48.
set -euo pipefail

TOOL=$(realpath "${1:?usage: $0 CW_XDP_STEER CW_STEER_BPF_O}")
OBJ=$(realpath "${2:?usage: $0 CW_XDP_STEER CW_STEER_BPF_O}")
HERE=$(cd "$(dirname "$0")" && pwd)
SEND="$HERE/cw_send_segments.py"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, XDP)"
for t in ip ping socat curl openssl python3 nstat; do
	command -v "$t" >/dev/null || skip "$t not installed"
done

NS_A=cwxs-$$-a
NS_B=cwxs-$$-b
IF_A=cwxsa$$
IF_B=cwxsb$$
IP_A=198.18.0.1
IP_B=198.18.0.2
IP6_A=2001:2::1
IP6_B=2001:2::2
TMP=$(mktemp -d /tmp/cw-xdp-steer.XXXXXX)
PREFIX=cwxs$$
PIDS=()
FAILS=0

cleanup() {
	set +e
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	rm -rf "$TMP" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT INT TERM

inA() { ip netns exec "$NS_A" "$@"; }
inB() { ip netns exec "$NS_B" "$@"; }
ok() { echo "ok   - $*"; }
fail() {
	echo "FAIL - $*"
	FAILS=$((FAILS + 1))
}
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$d"; else fail "$d"; sed 's/^/     /' "$TMP/check.out"; fi
}
expect() { # expect DESCRIPTION ACTUAL OP EXPECTED
	if [ "$2" "$3" "$4" ]; then ok "$1 ($2 $3 $4)"; else fail "$1 (got $2, want $3 $4)"; fi
}
stats() { inB "$TOOL" stats "$IF_B" >"$TMP/stats"; }
settled_stats() { # the counters once the segments just sent have gone through the program
	sleep 0.3
	stats
}
cnt() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/stats"; }
steered() { # sum of the steer_* counters
	awk '$1 ~ /^steer_/ { s += $2 } END { print s + 0 }' "$TMP/stats"
}
passed() { awk '$1 ~ /^pass_/ { s += $2 } END { print s + 0 }' "$TMP/stats"; }
rsts_b() { inB nstat -az TcpOutRsts | awk '$1 == "TcpOutRsts" { print $2 }'; }
wait_port() { # wait_port NS PROTO PORT
	for _ in $(seq 50); do
		ip netns exec "$1" ss -lnH "-$2" "sport = :$3" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# ---- topology: A (client side) <-> B (where the program runs on RX) ----
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link set lo up
done
# Real MTU-sized segments on the wire, not GSO super-packets.
inA ethtool -K "$IF_A" tso off gso off >/dev/null 2>&1 || true
ip -n "$NS_A" addr add "$IP_A/30" dev "$IF_A"
ip -n "$NS_B" addr add "$IP_B/30" dev "$IF_B"
ip -n "$NS_A" addr add "$IP6_A/64" dev "$IF_A" nodad
ip -n "$NS_B" addr add "$IP6_B/64" dev "$IF_B" nodad
ip -n "$NS_A" link set "$IF_A" up
ip -n "$NS_B" link set "$IF_B" up
MAC_B=$(cat "/sys/class/net/$IF_B/address" 2>/dev/null || inB cat "/sys/class/net/$IF_B/address")

# Background jobs run `ip netns exec` directly (it execs, so $! is the service itself).
# Services: UDP echo in B, HTTP in B, TLS 1.2 server in A with a chain larger than one segment.
ip netns exec "$NS_B" socat UDP4-RECVFROM:9999,bind=$IP_B,fork EXEC:cat >/dev/null 2>&1 &
PIDS+=($!)
mkdir -p "$TMP/www"
echo chainwatch-plain-tcp >"$TMP/www/ok.txt"
(cd "$TMP/www" && exec ip netns exec "$NS_B" python3 -m http.server 8080 --bind "$IP_B") \
	>/dev/null 2>&1 &
PIDS+=($!)
openssl req -x509 -newkey rsa:4096 -nodes -days 2 -subj "/CN=chainwatch test CA" \
	-addext basicConstraints=critical,CA:TRUE -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
openssl req -newkey rsa:4096 -nodes -subj "/CN=server.test" -keyout "$TMP/srv.key" \
	-out "$TMP/srv.csr" 2>/dev/null
openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -extfile <(printf 'subjectAltName=DNS:server.test\n') -out "$TMP/srv.pem" 2>/dev/null
ip netns exec "$NS_A" openssl s_server -quiet -accept "$IP_A:8443" -tls1_2 -cert "$TMP/srv.pem" \
	-key "$TMP/srv.key" -cert_chain "$TMP/ca.pem" </dev/null >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$NS_B" u 9999 && wait_port "$NS_B" t 8080 && wait_port "$NS_A" t 8443 ||
	{ echo "FAIL - services did not start"; exit 1; }

kernel_paths_work() { # kernel_paths_work LABEL
	check "$1: ICMP ping" inA ping -c 3 -i 0.2 -W 2 "$IP_B"
	check "$1: ICMPv6 ping" inA ping -6 -c 2 -i 0.2 -W 2 "$IP6_B"
	check "$1: UDP echo" bash -c "echo udp-ok | ip netns exec $NS_A socat -T 2 - \
		UDP4:$IP_B:9999 | grep -qx udp-ok"
	check "$1: plain TCP (HTTP)" bash -c "ip netns exec $NS_A curl -sf --max-time 5 \
		http://$IP_B:8080/ok.txt | grep -qx chainwatch-plain-tcp"
}

# ==== part 1: generic XDP, no AF_XDP socket bound ====
echo "# part 1: cw_steer in generic mode, no AF_XDP socket"
check "attach (generic)" inB "$TOOL" attach "$IF_B" --mode generic
stats
expect "attached in generic mode" "$(awk 'NR == 1 { print $6 }' "$TMP/stats")" = generic

kernel_paths_work "no XSK"
check "TLS 1.2 handshake through the kernel" bash -c "echo | ip netns exec $NS_B openssl s_client \
	-connect $IP_A:8443 -tls1_2 -CAfile $TMP/ca.pem -verify_return_error -servername server.test \
	2>&1 | grep -q 'Verify return code: 0'"
stats
expect "ICMP/UDP counted as non-TCP" "$(cnt pass_non_tcp)" -ge 6
expect "SYN/SYN-ACK steered" "$(cnt steer_syn)" -ge 2
expect "FIN/RST steered" "$(cnt steer_fin_rst)" -ge 2
expect "server flight record starts steered" "$(cnt steer_tls_record)" -ge 2
expect "certificate continuation segments followed" "$(cnt steer_flow)" -ge 1
expect "handshake flow followed" "$(cnt flow_new)" -ge 1
expect "plain TCP payload passed" "$(cnt pass_no_tls)" -ge 1
expect "every steered packet fell back to the kernel" "$(cnt redirect_fail)" -eq "$(steered)"

base_tls=$(cnt steer_tls_record)
base_v2=$(cnt steer_sslv2)
base_fail=$(cnt redirect_fail)
rst0=$(rsts_b)
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind tls --count 5
# tagged frames are written raw: the kernel drops them (no VLAN device), XDP sees them first
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind tls --count 2 --sport 41000 \
	--vlan 100 --vlan-dev "$IF_A,$MAC_B"
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind tls --count 2 --sport 41100 \
	--vlan 100,200 --vlan-dev "$IF_A,$MAC_B"
inA python3 "$SEND" --src "$IP6_A" --dst "$IP6_B" --kind tls --count 3 --sport 42000
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind sslv2 --count 2 --sport 43000
# IPv6 behind Destination Options headers of 8 and of 2 048 bytes (the most a length byte says;
# Linux takes such a header): the TCP header after them is found. Frames up to ~2.2 KB.
inA ip link set dev "$IF_A" mtu 4000
inB ip link set dev "$IF_B" mtu 4000
inA python3 "$SEND" --src "$IP6_A" --dst "$IP6_B" --kind tls --count 1 --sport 44000 \
	--dstopts 0 --vlan-dev "$IF_A,$MAC_B"
inA python3 "$SEND" --src "$IP6_A" --dst "$IP6_B" --kind tls --count 1 --sport 44100 \
	--dstopts 255 --vlan-dev "$IF_A,$MAC_B"
sleep 0.5
# Back to 1 500 bytes: native XDP (part 2, AF_XDP) takes no MTU over a page.
inA ip link set dev "$IF_A" mtu 1500
inB ip link set dev "$IF_B" mtu 1500
stats
expect "TLS records (IPv4, VLAN, IPv6, IPv6 with options) steered" "$(cnt steer_tls_record)" \
	-eq $((base_tls + 14))
expect "SSLv2 hellos steered" "$(cnt steer_sslv2)" -eq $((base_v2 + 2))
expect "all of them fell back (no XSK)" "$(cnt redirect_fail)" -eq $((base_fail + 16))
expect "the kernel got the untagged ones (answered with RSTs)" $(($(rsts_b) - rst0)) -ge 10
expect "seen = steered + passed" "$(cnt seen)" -eq $(($(steered) + $(passed)))
expect "nothing redirected" "$(cnt redirected)" -eq 0
expect "no malformed packets" "$(cnt pass_malformed)" -eq 0

# A followed flow ends only at a FIN or RST on its sender's next sequence number: a handshake
# record of 52 bytes at 5000 (next: 5052), a RST elsewhere and a FIN ahead (both kept), the
# 27-byte continuation still followed, then a RST at 5079 ends both directions.
new0=$(cnt flow_new); end0=$(cnt flow_end); kept0=$(cnt flow_kept)
flow0=$(cnt steer_flow); pnt0=$(cnt pass_no_tls)
seg() { inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --sport 47000 --kind "$1" --seq "$2"; }
seg tls 5000
seg rst 9000
seg fin 6000
seg plain 5052
settled_stats
expect "record starts a followed flow" "$(cnt flow_new)" -eq $((new0 + 1))
expect "RST and FIN off the next sequence number kept it" "$(cnt flow_kept)" -eq $((kept0 + 2))
expect "nothing ended" "$(cnt flow_end)" -eq "$end0"
expect "continuation after them followed" "$(cnt steer_flow)" -eq $((flow0 + 1))
seg rst 5079
seg plain 5079
settled_stats
expect "RST at the next sequence number ended both directions" "$(cnt flow_end)" -eq $((end0 + 2))
expect "no longer followed" "$(cnt pass_no_tls)" -eq $((pnt0 + 1))

# The other side, before it sent any payload: its next sequence number is the one the record
# that started the following acknowledged (1). Frames from the server's address written raw.
end0=$(cnt flow_end); kept0=$(cnt flow_kept)
srv() { inA python3 "$SEND" --src "$IP_B" --dst "$IP_A" --sport 443 --dport 47100 --kind "$1" \
	--seq "$2" --raw --vlan-dev "$IF_A,$MAC_B"; }
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --sport 47100 --kind tls --seq 7000
srv rst 777
settled_stats
expect "server RST off the acknowledged sequence number kept the flow" "$(cnt flow_kept)" -eq \
	$((kept0 + 1))
srv rst 1
settled_stats
expect "server RST at the acknowledged sequence number ended it" "$(cnt flow_end)" -eq $((end0 + 2))

# The follow table is an LRU hash of 65 536 directions: first handshake records on 40 000 fresh
# 4-tuples add 80 000, so at least 14 464 are evicted, and the count says so. Until then none is.
expect "directions added = ended + held, none evicted yet" "$(cnt flow_added)" -eq \
	$(($(cnt flow_end) + $(cnt flow_held)))
expect "nothing evicted before the table filled" "$(cnt flow_evicted)" -eq 0
added0=$(cnt flow_added); end0=$(cnt flow_end); held0=$(cnt flow_held)
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind tls --count 20000 --sport 10000
inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind tls --count 20000 --sport 10000 --dport 8443
settled_stats
expect "40 000 flows started" "$(cnt flow_new)" -ge 40000
expect "each added both directions" "$(cnt flow_added)" -eq $((added0 + 80000))
expect "the table holds at most its 65 536 entries" "$(cnt flow_held)" -le 65536
expect "evictions counted: at least what did not fit" "$(cnt flow_evicted)" -ge \
	$((held0 + 80000 - 65536))
expect "added = ended + held + evicted" "$(cnt flow_added)" -eq \
	$(($(cnt flow_end) + $(cnt flow_held) + $(cnt flow_evicted)))
expect "no insert failed" "$(cnt flow_full)" -eq 0

check "detach" inB "$TOOL" detach "$IF_B"
if inB "$TOOL" stats "$IF_B" >/dev/null 2>&1; then fail "program gone after detach"; else ok "program gone after detach"; fi
kernel_paths_work "detached"

# ==== part 2: DPDK net_af_xdp loads the object (xdp_prog=) and binds an AF_XDP socket ====
echo "# part 2: DPDK net_af_xdp with xdp_prog="
if ! command -v dpdk-testpmd >/dev/null; then
	echo "SKIP part 2: dpdk-testpmd not installed"
elif [ "$(nproc)" -lt 2 ]; then
	echo "SKIP part 2: testpmd needs 2 CPUs"
else
	check "write a configured object (--ports 443)" "$TOOL" object "$TMP/steer-443.o" \
		--ports 443 --in "$OBJ"
	# Run the PMD with the capability set of deploy/chainwatch-dp.service and nothing more.
	SP=()
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$HERE/../../deploy/chainwatch-dp.service" \
		2>/dev/null || true)
	if [ -n "$caps" ] && command -v setpriv >/dev/null; then
		SP=(setpriv "--bounding-set=-all,$(echo "$caps" | tr 'A-Z ' 'a-z,' |
			sed 's/cap_/+/g')" --inh-caps=-all)
		echo "# testpmd capabilities: $caps"
	fi
	ip netns exec "$NS_B" "${SP[@]}" dpdk-testpmd --no-huge -m 512 --no-pci --file-prefix "$PREFIX" -l 0-1 \
		--vdev "net_af_xdp0,iface=$IF_B,start_queue=0,queue_count=1,xdp_prog=$TMP/steer-443.o" \
		-- --forward-mode=rxonly --stats-period 1 --total-num-mbufs=4096 \
		</dev/null >"$TMP/testpmd.log" 2>&1 &
	TP=$!
	PIDS+=("$TP")
	up=0
	for _ in $(seq 100); do
		if grep -q "Port statistics" "$TMP/testpmd.log" && stats 2>/dev/null; then
			up=1
			break
		fi
		sleep 0.2
	done
	if [ $up = 0 ]; then
		fail "testpmd did not bring up net_af_xdp"
		tail -20 "$TMP/testpmd.log"
	else
		ok "testpmd is up with cw_steer attached ($(head -1 "$TMP/stats"))"
		grep -q "ports=443$" "$TMP/stats" && ok "PMD-loaded program runs the written config" ||
			fail "PMD-loaded program runs the written config"
		kernel_paths_work "XSK bound"
		stats
		expect "other ports passed by the port filter" "$(cnt pass_port)" -ge 2
		rst0=$(rsts_b)
		inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind tls --count 6 --sport 44000
		inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind sslv2 --count 2 --sport 45000
		inA python3 "$SEND" --src "$IP6_A" --dst "$IP6_B" --kind tls --count 2 --sport 46000
		inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind fin --count 2 --sport 44000
		inA python3 "$SEND" --src "$IP_A" --dst "$IP_B" --kind plain --count 3 --dport 8081
		sleep 1
		stats
		redirected=$(cnt redirected)
		expect "handshake candidates redirected" "$redirected" -ge 12
		expect "no redirect failures with a socket bound" "$(cnt redirect_fail)" -eq 0
		expect "kernel did not see the redirected segments" $(($(rsts_b) - rst0)) -eq 3
		kill -INT "$TP"
		wait "$TP" || true
		rx=$(awk '/Accumulated forward statistics/ { f = 1 }
			f && /RX-packets:/ { print $2; exit }' "$TMP/testpmd.log")
		expect "PMD received exactly what the program redirected" "${rx:-none}" = "$redirected"
		if inB "$TOOL" stats "$IF_B" >/dev/null 2>&1; then
			fail "PMD removed its program on exit"
		else
			ok "PMD removed its program on exit"
		fi
		kernel_paths_work "after DPDK"
	fi
fi

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all checks passed"
