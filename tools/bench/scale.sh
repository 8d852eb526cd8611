#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Worker scaling: chainwatch-dp on 1, 2, 4, 8... workers against its own --rx-only baseline on the
# same lcores and input, in the same run. INPUT=pcap: each worker polls its own net_pcap queue,
# which replays its own synthesized capture from memory (infinite_rx): queue i is cw-synth's
# preset MIX with seed BASE+1000i, so workers see different 5-tuples but the same server names
# and chains. INPUT=replay: chainwatch-dp --replay of queue 0's capture, which it splits by flow
# over the workers itself (no PMD: docs/DATAPLANE.md, "In-memory replay").
#
# Usage: tools/bench/scale.sh           (from the source tree; prints a markdown table)
# Environment (defaults in brackets):
#   BUILD     build directory with chainwatch-dp and cw-synth [build-bench]
#   DP        chainwatch-dp binary [$BUILD/chainwatch-dp]
#   SYNTH     cw-synth binary [$BUILD/cw-synth]
#   CACHE     certificates (mkcerts.sh; made here if missing) and captures [$BUILD/bench-cache]
#   OUT       report and raw logs [$BUILD/bench-results/scale-<UTC time>]
#   WORKERS   worker counts [1 2 4 8, those that fit: w workers take w + 2 CPUs]
#   MIXES     presets [realistic handshake]
#   INPUT     pcap (net_pcap queues) or replay (chainwatch-dp --replay) [pcap]
#   R         repeats, medians reported [3]
#   DURATION  seconds measured per run, after WARMUP seconds [5, 2]
#   EAL_EXTRA extra EAL arguments for every run (e.g. "-d /path/librte_net_pcap.so") []
#   OVERSUB   1: allow more lcores than CPUs (lcore i on CPU i mod CPUs), a functional check
#             only: the rates then measure the scheduler [0]
#
# Lcores: with INPUT=pcap, 1 worker runs in single mode (main lcore 0 receives and works, the event
# consumer on lcore 1); w >= 2 workers run in rss mode (main lcore 0 keeps time and stats, workers
# on lcores 1..w, the consumer on lcore w + 1). With INPUT=replay every count runs as rss does (the
# main lcore only sleeps; with 1 worker it shares CPU 0 with the consumer). The --rx-only baseline
# runs on the same lcores.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
BUILD=${BUILD:-build-bench}
DP=${DP:-$BUILD/chainwatch-dp}
SYNTH=${SYNTH:-$BUILD/cw-synth}
CACHE=${CACHE:-$BUILD/bench-cache}
OUT=${OUT:-$BUILD/bench-results/scale-$(date -u +%Y%m%dT%H%M%SZ)}
R=${R:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
MIXES=${MIXES:-realistic handshake}
INPUT=${INPUT:-pcap}
case $INPUT in pcap | replay) ;; *) printf 'scale.sh: bad INPUT %s: pcap or replay\n' "$INPUT" >&2; exit 1 ;; esac
EAL_EXTRA=${EAL_EXTRA:-}
OVERSUB=${OVERSUB:-0}
ncpu=$(nproc)
if [ -z "${WORKERS:-}" ]; then
	WORKERS=
	for w in 1 2 4 8; do
		if [ "$w" -eq 1 ] || [ $((w + 2)) -le "$ncpu" ]; then WORKERS="$WORKERS $w"; fi
	done
fi
mkdir -p "$CACHE" "$OUT"
report="$OUT/report.md"
: >"$report"

. tools/bench/rates.sh
say() { printf '%s\n' "$*" | tee -a "$report"; }
log() { printf '[scale] %s\n' "$*" >&2; }
die() { printf 'scale.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$DP" ] || die "no chainwatch-dp at $DP (ninja -C $BUILD chainwatch-dp)"
[ -x "$SYNTH" ] || die "no cw-synth at $SYNTH (ninja -C $BUILD cw-synth)"
maxw=0
for w in $WORKERS; do
	case $w in '' | *[!0-9]*) die "bad WORKERS entry '$w'" ;; esac
	[ "$w" -ge 1 ] || die "bad WORKERS entry '$w'"
	need=$((w == 1 ? 2 : w + 2))
	[ "$need" -le "$ncpu" ] || [ "$OVERSUB" = 1 ] || die "$w workers need $need CPUs, this machine has $ncpu"
	if [ "$w" -gt "$maxw" ]; then maxw=$w; fi
done
[ "$maxw" -gt 0 ] || die "WORKERS is empty"

# ---- inputs: one capture per queue ----
tools/bench/mkcerts.sh "$CACHE/certs" 64
seed_of() { case $1 in realistic) echo 1 ;; handshake) echo 2 ;; ackflood) echo 3 ;; *) die "unknown mix '$1'" ;; esac; }
for m in $MIXES; do
	base=$(seed_of "$m")
	q=0
	while [ $q -lt "$maxw" ]; do
		f="$CACHE/$m-q$q.pcap"
		if [ ! -s "$f" ] || [ "$SYNTH" -nt "$f" ] || [ "$CACHE/certs/.complete-2-64" -nt "$f" ]; then
			log "synthesizing $m for queue $q (seed $((base + 1000 * q)))"
			"$SYNTH" -o "$f" --certs "$CACHE/certs" --templates tools/bench/templates \
				--mix "$m" --names 64 --seed $((base + 1000 * q)) 2>"$CACHE/$m-q$q.summary"
		fi
		q=$((q + 1))
	done
done

# run KIND MIX W: one run, prints dp-rate.py's line. KIND: rxonly | dp (--events-discard).
run() {
	kind=$1 m=$2 w=$3
	vdev=net_pcap0 mbufs=0 q=0
	while [ $q -lt "$w" ]; do
		vdev="$vdev,rx_pcap=$CACHE/$m-q$q.pcap"
		pk=$(tr ' ' '\n' <"$CACHE/$m-q$q.summary" | sed -n 's/^packets=//p')
		mbufs=$((mbufs + pk + 16384))
		q=$((q + 1))
	done
	vdev="$vdev,infinite_rx=1"
	mbufs=$(((mbufs + 1023) / 1024 * 1024))
	# --no-huge memory: the preloaded captures (one mbuf each, ~2.4 KiB), each worker's tables
	# at their defaults (~490 MiB: 1 Mi flows, 4096 sessions with 2 x 32 KiB buffers) and the rest.
	mem=$((mbufs * 5 / 2 / 1024 + w * 640 + 512))
	if [ "$w" -eq 1 ]; then mode=single n=2; else mode=rss n=$((w + 2)); fi
	input="--vdev $vdev -- --mode $mode --mbufs $mbufs"
	if [ "$INPUT" = replay ]; then
		# The capture's bytes and a 2048-mbuf pool per worker instead of the preloaded mbufs.
		mem=$(($(wc -c <"$CACHE/$m-q0.pcap") / 1048576 + w * 650 + 512))
		n=$((w + 2))
		input="-- --replay $CACHE/$m-q0.pcap"
	fi
	lcores="-l 0-$((n - 1))"
	if [ "$n" -gt "$ncpu" ]; then
		lcores="--lcores 0@0" l=1
		while [ $l -lt "$n" ]; do lcores="$lcores,$l@$((l % ncpu))" l=$((l + 1)); done
	fi
	if [ "$kind" = dp ]; then extra=--events-discard; else extra=--rx-only; fi
	prefix="cwscale-$kind-$$"
	# shellcheck disable=SC2086
	"$DP" --no-huge -m "$mem" --no-pci --file-prefix "$prefix" $lcores \
		--log-level=error $EAL_EXTRA $input --workers "$w" \
		--instance "scale-$$" --duration $((WARMUP + DURATION + 120)) $extra \
		>>"$OUT/$kind-$m-w$w.log" 2>&1 &
	pid=$!
	# shellcheck disable=SC2086
	python3 tools/bench/dp-rate.py "$prefix" /chainwatch/stats $DP_RATE_FIELDS --warmup "$WARMUP" \
		--duration "$DURATION" --pid "$pid" || log "no rate from $kind ($OUT/$kind-$m-w$w.log)" 
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "/dev/shm/chainwatch.scale-$$"
	eal_rundir_rm "$prefix"
}

log "workers:$WORKERS; mixes: $MIXES; $R repeats of ${DURATION} s after ${WARMUP} s"
if [ "$INPUT" = replay ]; then
	say "## Worker scaling (chainwatch-dp --replay, the capture split by flow over the workers, $R runs of ${DURATION} s after ${WARMUP} s)"
else
	say "## Worker scaling (net_pcap infinite_rx, one capture per queue, $R runs of ${DURATION} s after ${WARMUP} s)"
fi
say ""
say "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $ncpu CPUs; kernel $(uname -r)."
say ""
say "| mix | workers | rx-only Mpps | chainwatch-dp Mpps | ratio dp / rx-only | Mpps per worker | Gbit/s | handshakes/s | handshakes/s per worker | chain hit rate | drops/s | dp Mpps / (workers x 1-worker Mpps) |"
say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for m in $MIXES; do
	one=
	for w in $WORKERS; do
		raw="$OUT/rates-$m-w$w"
		: >"$raw"
		i=0
		while [ $i -lt "$R" ]; do
			log "$m, $w worker(s), repeat $((i + 1))/$R"
			ro=$(run rxonly "$m" "$w")
			dl=$(run dp "$m" "$w")
			# rx-only Mpps, then dp Mpps Gbit/s handshakes/s hit-rate drops/s
			a=$(rate_val "$ro" rx_packets)
			echo "$(awk "BEGIN {printf \"%.6f\", ${a:-0} / 1e6}") $(rate_summary "$dl")" >>"$raw"
			i=$((i + 1))
		done
		col() { awk "{print \$$1}" "$raw" | stats; }
		ror=$(col 1) dpr=$(col 2) gb=$(col 3) hs=$(col 4) hit=$(col 5) dr=$(col 6)
		rr=$(awk '{print ($1 > 0 ? $2 / $1 : 0)}' "$raw" | stats)
		pw=$(awk -v w="$w" '{print $2 / w}' "$raw" | stats)
		hpw=$(awk -v w="$w" '{print $4 / w}' "$raw" | stats)
		dpmed=${dpr%% *}
		# Efficiency needs the 1-worker row of the same table.
		if [ "$w" -eq 1 ]; then one=$dpmed; fi
		if [ -n "$one" ]; then
			eff=$(awk -v d="$dpmed" -v o="$one" -v w="$w" 'BEGIN {printf "%.2f", (o > 0 ? d / (w * o) : 0)}')
		else
			eff=-
		fi
		# shellcheck disable=SC2086
		say "| $m | $w | $(fmt 3 $ror) | $(fmt 3 $dpr) | $(fmt 3 $rr) | $(fmt 3 $pw) |" \
			"$(fmt 2 $gb) | $(fmt 0 $hs) | $(fmt 0 $hpw) | $(fmt 4 $hit) | $(fmt 0 $dr) | $eff |"
	done
done
say ""
log "report: $report"
