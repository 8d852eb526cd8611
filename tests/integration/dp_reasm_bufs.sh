#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Reassembly buffers on demand, in the dataplane. A synthesized capture of 400 TLS 1.2 handshakes,
# 200 at a time, each with a three-certificate server flight of more than 2 KiB, runs with
# --reasm-kib 4, so every server direction outgrows the classes below 4 KiB (512 B, 1 KiB, 2 KiB)
# into a 4 KiB one:
#   - with a 4 KiB buffer for every flow (--reasm-big 400), no flow is cut, and every event
#     matches chainwatch-scan -r 4 (fixed 4 KiB buffers);
#   - with one of them, flows are cut (those whose chain is not yet known keep their certificate
#     bytes, and so a 4 KiB buffer, to the end of the handshake): reasm_buf_short counts them,
#     exactly those events carry the reassembly_cap anomaly (0x8), and the run still ends cleanly
#     with an event for every flow.
# The same 400 handshakes in TLS 1.3 then run with that one 4 KiB buffer: the server's encrypted
# flight (a 2.6 KB record among them) is framed from its record headers and its bodies are never
# held, so over ~140 flows in handshake at once the buffers held peak at one segment's buffer
# (the segment is stored, then consumed and given back; 74 KB when whole records were held), no
# flow is cut, and the events (with the flight's record lengths) match chainwatch-scan's.
# Every run keeps the expected Certificate messages (--cert-refs, on by default): once a name's
# chain came whole, the next flights for it are compared as they arrive and held by no buffer.
# With --cert-refs 0 the TLS 1.2 capture gives the same events, none is compared, and the
# buffers held at once peak higher.
# Usage: dp_reasm_bufs.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1; src=$2
dp=$build/chainwatch-dp; scan=$build/chainwatch-scan; evdump=$build/cw-evdump
. "$(dirname "$0")/evfields.sh"
inst="reasmbufs$$"; tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "/dev/shm/chainwatch.$inst" "/var/run/dpdk/$inst"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
counter() { sed -n "s/^  $1 *\\([0-9]*\\)$/\\1/p" "$2"; }
flows=400

sh "$src/tools/bench/mkcerts.sh" "$tmp/certs" 4
"$build/cw-synth" -o "$tmp/conc.pcap" --certs "$tmp/certs" --templates "$src/tools/bench/templates" \
	--mix handshake --flows $flows --concurrent 200 --names 4 2> "$tmp/synth.txt"
"$scan" -r 4 "$tmp/conc.pcap" 2>/dev/null > "$tmp/scan.raw"
[ "$(wc -l < "$tmp/scan.raw")" -eq $flows ] || fail "chainwatch-scan found $(wc -l < "$tmp/scan.raw") flows"
[ "$(grep -c ' ncerts=3 ' "$tmp/scan.raw")" -eq $flows ] || fail "expected 3-certificate chains"
evfields < "$tmp/scan.raw" > "$tmp/scan.txt"

# run BIG OUT [PCAP [REFS]]: the capture (conc.pcap) through the dataplane with BIG full-size
# buffers and REFS expected Certificate messages (default 2048); events to OUT.ev.
run() {
	rm -f "/dev/shm/chainwatch.$inst"
	"$evdump" --shm "$inst" --wait-done --timeout 60 > "$2.ev" 2> "$2.everr" &
	evpid=$!
	"$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" -l 0,1 -- --pcap "${3:-$tmp/conc.pcap}" \
		--instance "$inst" --flows 4096 --sessions $flows --reasm-kib 4 --reasm-big "$1" \
		--cert-refs "${4:-2048}" \
		> "$2" 2>&1 || { cat "$2"; fail "chainwatch-dp (--reasm-big $1) exited non-zero"; }
	wait "$evpid" || { cat "$2.everr"; fail "cw-evdump failed"; }
	[ "$(wc -l < "$2.ev")" -eq $flows ] || fail "--reasm-big $1: $(wc -l < "$2.ev") events"
}

run $flows "$tmp/all.out"
short=$(counter reasm_buf_short "$tmp/all.out")
[ "$short" -eq 0 ] || fail "a buffer for every flow, yet reasm_buf_short=$short"
# Peaks: flows overlapped, and the buffers taken never exceeded the pool: per session 2 x 512 B,
# 1 KiB, 1.5 KiB and 2 x 2 KiB, and 400 of 4 KiB.
peak=$(counter sessions_peak "$tmp/all.out"); bytes=$(counter reasm_bytes_peak "$tmp/all.out")
echo "--reasm-big $flows: sessions_peak=$peak reasm_bytes_peak=$bytes"
[ "$peak" -gt 1 ] && [ "$peak" -le $flows ] || fail "sessions_peak $peak"
[ "$bytes" -ge 2048 ] && [ "$bytes" -le $((flows * (2 * 512 + 1024 + 1536 + 2 * 2048) + flows * 4096)) ] ||
	fail "reasm_bytes_peak $bytes outside [2048, pool size]"
# Known chains release their bytes early; every new chain still ships its blob.
new=$(counter chains_new "$tmp/all.out"); blobs=$(counter blobs_out "$tmp/all.out")
[ "$new" -ge 1 ] && [ "$blobs" -eq "$new" ] || fail "chains_new=$new but blobs_out=$blobs"
[ "$(counter blobs_released "$tmp/all.out")" -eq 0 ] || fail "blobs_released on one worker"
evfields < "$tmp/all.out.ev" > "$tmp/all.txt"
[ -s "$tmp/scan.txt" ] || fail "chainwatch-scan found no TLS flow to compare"
if ! cmp -s "$tmp/scan.txt" "$tmp/all.txt"; then
	diff "$tmp/scan.txt" "$tmp/all.txt" | head -10
	fail "dataplane (>) and chainwatch-scan -r 4 (<) differ"
fi

# Expected Certificate messages: 4 names, so all but the flights that started before their
# name's first chain came whole were compared, and every one compared matched.
found=$(counter certref_found "$tmp/all.out"); matched=$(counter certref_matched "$tmp/all.out")
echo "--cert-refs 2048: certref_found=$found certref_matched=$matched"
[ "$matched" -gt $((flows / 4)) ] || fail "only $matched of $flows flights matched an expected message"
[ "$matched" -eq "$found" ] || fail "certref_found=$found but certref_matched=$matched"
[ "$(counter certref_differed "$tmp/all.out")" -eq 0 ] || fail "certref_differed on one chain per name"
run $flows "$tmp/norefs.out" "$tmp/conc.pcap" 0
[ "$(counter certref_found "$tmp/norefs.out")" -eq 0 ] || fail "--cert-refs 0 still compared"
evfields < "$tmp/norefs.out.ev" > "$tmp/norefs.txt"
cmp -s "$tmp/all.txt" "$tmp/norefs.txt" || fail "--cert-refs 0 changed the events"
nbytes=$(counter reasm_bytes_peak "$tmp/norefs.out")
echo "reasm_bytes_peak: $bytes with expected messages, $nbytes with --cert-refs 0"
[ "$bytes" -lt "$nbytes" ] || fail "expected messages did not lower the buffers held ($bytes >= $nbytes)"

run 1 "$tmp/few.out"
short=$(counter reasm_buf_short "$tmp/few.out")
cut=$(grep -c ' anomalies=0x[0-9a-f]*[89a-f] ' "$tmp/few.out.ev" || true)
echo "--reasm-big 1: reasm_buf_short=$short, events with reassembly_cap=$cut"
[ "$short" -gt 0 ] || fail "1 buffer for 200 concurrent flights never ran out"
[ "$short" -lt $flows ] || fail "every flow was cut"
[ "$cut" -eq "$short" ] || fail "reasm_buf_short=$short but $cut events carry reassembly_cap"

"$build/cw-synth" -o "$tmp/t13.pcap" --certs "$tmp/certs" --templates "$src/tools/bench/templates" \
	--mix handshake --tls13 1 --flows $flows --concurrent 200 --names 4 2> "$tmp/synth13.txt"
"$scan" -r 4 "$tmp/t13.pcap" 2>/dev/null > "$tmp/scan13.raw"
[ "$(grep -c ' sh_ver=0304 .* t13_recs=[0-9]*,[2-9][0-9][0-9][0-9],' "$tmp/scan13.raw")" -eq $flows ] ||
	fail "expected $flows TLS 1.3 flights with a record of 2-9 KB from chainwatch-scan"
# The identity fields, and each flow's encrypted record lengths.
t13recs() { grep -o 'cli=[^ ]* .* t13_recs=[0-9,]*' | sed 's/ .* / /' | sort; }
{ evfields < "$tmp/scan13.raw"; t13recs < "$tmp/scan13.raw"; } > "$tmp/scan13.txt"
run 1 "$tmp/t13.out" "$tmp/t13.pcap"
short13=$(counter reasm_buf_short "$tmp/t13.out"); bytes13=$(counter reasm_bytes_peak "$tmp/t13.out")
peak13=$(counter sessions_peak "$tmp/t13.out")
echo "TLS 1.3, --reasm-big 1: sessions_peak=$peak13 reasm_bytes_peak=$bytes13 reasm_buf_short=$short13"
[ "$peak13" -ge 50 ] || fail "TLS 1.3: only $peak13 flows in handshake at once"
[ "$bytes13" -le 2048 ] || fail "TLS 1.3 flights held encrypted record bodies: reasm_bytes_peak=$bytes13"
[ "$short13" -eq 0 ] || fail "TLS 1.3: reasm_buf_short=$short13"
{ evfields < "$tmp/t13.out.ev"; t13recs < "$tmp/t13.out.ev"; } > "$tmp/t13.txt"
if ! cmp -s "$tmp/scan13.txt" "$tmp/t13.txt"; then
	diff "$tmp/scan13.txt" "$tmp/t13.txt" | head -10
	fail "TLS 1.3: dataplane (>) and chainwatch-scan -r 4 (<) differ"
fi
echo "ok: $flows flows; whole with --reasm-big $flows, $short cut with --reasm-big 1;" \
	"$flows TLS 1.3 flows whole with --reasm-big 1"
