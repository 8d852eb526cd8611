#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Live-style run on a replaying net_pcap vdev (infinite_rx=1) with 2 dispatch workers: telemetry
# answers /chainwatch/stats and /chainwatch/workers through dpdk-telemetry.py, a consumer reads
# events while it runs, and SIGTERM makes it flush, mark the shared state EXITED and exit 0.
# Usage: dp_sigterm.sh BUILD_DIR CAPTURE
set -eu
build=$1; cap=$(realpath "$2")
dp=$build/chainwatch-dp; evdump=$build/cw-evdump
tmp=$(mktemp -d); inst="sigterm$$"
dppid=""
cleanup() {
	[ -n "$dppid" ] && kill -KILL "$dppid" 2>/dev/null || true
	rm -rf "$tmp" "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$inst"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/dp.out" ] && cat "$tmp/dp.out"; exit 1; }
tel() { echo "$1" | timeout 20 dpdk-telemetry.py -f "$inst" 2>/dev/null | grep "\"$1\"" || true; }

rm -f "/dev/shm/chainwatch.$inst"
"$evdump" --shm "$inst" --wait-done --timeout 120 --counters > "$tmp/ev.txt" 2> "$tmp/ev.err" &
evpid=$!
"$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" --lcores "(0-2)@(0-$(($(nproc) - 1)))" \
	--vdev "net_pcap_replay0,rx_pcap=$cap,infinite_rx=1" -- --instance "$inst" --workers 2 \
	--flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 > "$tmp/dp.out" 2>&1 &
dppid=$!

# Wait until packets flow (telemetry comes up with EAL).
i=0
while :; do
	s=$(tel /chainwatch/stats)
	rx=$(echo "$s" | python3 -c 'import sys,json; print(json.load(sys.stdin)["/chainwatch/stats"]["rx_packets"])' 2>/dev/null || echo 0)
	[ "$rx" -gt 0 ] && break
	i=$((i + 1)); [ $i -lt 100 ] || fail "no packets seen through telemetry"
	kill -0 "$dppid" 2>/dev/null || fail "chainwatch-dp died"
	sleep 0.2
done
echo "$s" | python3 -c '
import sys, json
d = json.load(sys.stdin)["/chainwatch/stats"]
for k in ("rx_packets", "rx_bytes", "dec_tcp", "tls_flows", "handshakes_done", "chains_new",
          "chains_known", "evict_stalled", "no_session", "events_dropped", "ring_events_dropped",
          "dispatch_dropped"):
    assert k in d, k
assert d["mode"] == "dispatch" and d["workers"] == 2
print("stats ok: rx_packets=%d tls_flows=%d" % (d["rx_packets"], d["tls_flows"]))
' || fail "bad /chainwatch/stats"
tel /chainwatch/workers > "$tmp/workers.json"
python3 - "$tmp/workers.json" <<'EOF' || fail "bad /chainwatch/workers"
import sys, json
d = json.load(open(sys.argv[1]))["/chainwatch/workers"]
assert len(d["lcore"]) == 2 and len(d["dec_tcp"]) == 2 and len(d["events_out"]) == 2
# The session pool's gauges, per worker: now <= peak <= the pool (256 sessions, one
# out-of-order table each); a flow was followed, so some worker held a session.
for now, peak, bound in (("sessions_in_use", "sessions_peak", 256),
                         ("reasm_bytes_in_use", "reasm_bytes_peak", None),
                         ("reasm_ooo_in_use", "reasm_ooo_peak", 256)):
    assert len(d[now]) == 2 and len(d[peak]) == 2, (now, peak)
    for w in range(2):
        assert d[now][w] <= d[peak][w], (now, peak, w, d[now][w], d[peak][w])
        assert bound is None or d[peak][w] <= bound, (peak, w, d[peak][w])
assert max(d["sessions_peak"]) >= 1, d["sessions_peak"]
assert d["reasm_ooo_short"] == [0, 0], d["reasm_ooo_short"]
# The expected Certificate messages' counters, per worker: a flight matched only where its name
# was found, and a name found only where a message was stored.
for k in ("certref_found", "certref_matched", "certref_differed", "certref_stored",
          "certref_busy", "certref_too_long"):
    assert len(d[k]) == 2, k
for w in range(2):
    assert d["certref_matched"][w] + d["certref_differed"][w] <= d["certref_found"][w], w
    assert d["certref_found"][w] == 0 or d["certref_stored"][w] > 0, w
print("workers ok: dec_tcp per worker", d["dec_tcp"], "sessions_peak", d["sessions_peak"],
      "reasm_bytes_peak", d["reasm_bytes_peak"])
EOF

sleep 0.5
kill -TERM "$dppid"
rc=0; wait "$dppid" || rc=$?
dppid=""
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
grep -q "final counters" "$tmp/dp.out" || fail "no final counters"
# Peaks only rise: each one the workers reported while running is at most the final one (the
# most over the workers).
final() { sed -n "s/^  $1 *//p" "$tmp/dp.out"; }
for g in sessions_peak reasm_bytes_peak reasm_ooo_peak; do
	f=$(final $g)
	[ -n "$f" ] || fail "no final $g"
	t=$(python3 -c 'import sys, json; print(max(json.load(open(sys.argv[1]))["/chainwatch/workers"][sys.argv[2]]))' "$tmp/workers.json" $g)
	[ "$t" -le "$f" ] || fail "$g: $t through telemetry, $f at exit"
done
[ "$(final sessions_peak)" -ge 1 ] || fail "final sessions_peak 0"
wait "$evpid" || fail "cw-evdump: $(cat "$tmp/ev.err")"
grep -q "state=exited" "$tmp/ev.txt" || fail "shared state not exited"
pub=$(sed -n 's/^  ring_events_published *//p' "$tmp/dp.out")
got=$(grep -c ' seq=' "$tmp/ev.txt" || true)
echo "events published $pub, read by the consumer $got"
[ "$pub" -gt 0 ] && [ "$pub" -eq "$got" ] || fail "consumer did not get every published event"
echo ok
