#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The benchmark tooling's own checks, against real processes:
#   - scale.sh refuses worker counts the CPUs cannot hold, malformed ones and an unknown INPUT,
#     before any work;
#   - dp-rate.py reads rates from a running chainwatch-dp's telemetry (net_pcap replay), gives
#     up at once when the process it watches exits first, and after --timeout when no socket
#     ever appears.
# Usage: bench_tools.sh BUILD_DIR SOURCE_DIR CAPTURE
set -eu
build=$1; src=$2; cap=$3
tmp=$(mktemp -d); inst="benchtools$$"; dppid=
trap '[ -n "$dppid" ] && kill "$dppid" 2>/dev/null; rm -rf "$tmp" "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$inst"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$src"

# expect RC TEXT CMD...: CMD exits with RC and its stderr contains TEXT.
expect() {
	want=$1 text=$2; shift 2
	rc=0; "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$tmp/err"; fail "$* exited $rc, want $want"; }
	grep -qF "$text" "$tmp/err" || { cat "$tmp/err"; fail "$*: no '$text' on stderr"; }
}

n=$(nproc)
expect 1 "$((n + 8)) workers need $((n + 10)) CPUs, this machine has $n" \
	env BUILD="$build" OUT="$tmp/scale" WORKERS="1 $((n + 8))" sh tools/bench/scale.sh
expect 1 "bad WORKERS entry 'x'" env BUILD="$build" OUT="$tmp/scale" WORKERS="x" sh tools/bench/scale.sh
expect 1 "bad WORKERS entry '0'" env BUILD="$build" OUT="$tmp/scale" WORKERS="0" sh tools/bench/scale.sh
expect 1 "bad INPUT bogus: pcap or replay" env BUILD="$build" OUT="$tmp/scale" INPUT=bogus sh tools/bench/scale.sh
[ ! -e "$tmp/scale/report.md" ] || [ ! -s "$tmp/scale/report.md" ] || fail "scale.sh reported after refusing"

# No socket and no process to watch: fails after --timeout.
t0=$(date +%s)
expect 1 "no telemetry from" python3 tools/bench/dp-rate.py "nosuch$$" /chainwatch/stats rx_packets --timeout 1
[ $(( $(date +%s) - t0 )) -le 5 ] || fail "dp-rate.py overran --timeout 1"

# The watched process is gone: fails at once, not after --timeout.
sleep 0.1 & gone=$!; wait "$gone"
t0=$(date +%s)
expect 1 "process $gone exited before its telemetry answered" \
	python3 tools/bench/dp-rate.py "nosuch$$" /chainwatch/stats rx_packets --pid "$gone" --timeout 60
[ $(( $(date +%s) - t0 )) -le 5 ] || fail "dp-rate.py waited for its timeout on a dead process"

# A live dataplane on a replayed capture: positive rates for packets, zero drops. The ring holds
# ~160 ms of events, so a consumer thread descheduled for a few ms on a busy host drops nothing.
"$build/chainwatch-dp" --no-huge -m 512 --no-pci --file-prefix "$inst" -l 0,1 \
	--vdev "net_pcap0,rx_pcap=$cap,infinite_rx=1" -- --instance "$inst" --workers 1 \
	--mode single --duration 6 --events-discard --ring-slots 65536 > "$tmp/dp.out" 2>&1 &
dppid=$!
python3 tools/bench/dp-rate.py "$inst" /chainwatch/stats rx_packets handshakes_done events_dropped \
	--warmup 0.5 --duration 1 --timeout 30 --pid "$dppid" > "$tmp/rate" ||
	{ cat "$tmp/dp.out"; fail "dp-rate.py failed on a running chainwatch-dp"; }
cat "$tmp/rate"
rx=$(sed -n 's/.*rx_packets=\([0-9.]*\).*/\1/p' "$tmp/rate")
hs=$(sed -n 's/.*handshakes_done=\([0-9.]*\).*/\1/p' "$tmp/rate")
drop=$(sed -n 's/.*events_dropped=\([0-9.]*\).*/\1/p' "$tmp/rate")
awk -v rx="$rx" -v hs="$hs" -v d="$drop" 'BEGIN { exit !(rx > 1000 && hs > 0 && d == 0) }' ||
	fail "rates rx_packets=$rx handshakes_done=$hs events_dropped=$drop"
wait "$dppid" || { cat "$tmp/dp.out"; fail "chainwatch-dp exited non-zero"; }
dppid=
echo "ok: scale.sh refusals, dp-rate.py timeout, dead-process and live rates"
