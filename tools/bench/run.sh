#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# One-command benchmark run: synthesize the three mixes (cached), microbenchmarks, offline peers
# (tshark vs chainwatch-scan, one core), chainwatch analyze end to end (flows judged per second,
# two capture sizes), then chainwatch-dp against its own --rx-only baseline
# and dpdk-testpmd rxonly on net_pcap, the same pair on chainwatch-dp's own in-memory replay
# (--replay: no PMD), the worker's own cost and memory per flow in handshake
# (dp_bench, no RX), the per-packet cost as concurrent flows grow, and the
# worker scaling curve (tools/bench/scale.sh: 1, 2, 4, 8 workers, those the CPUs allow).
#
# Usage: tools/bench/run.sh            (from the source tree; prints a markdown report)
# Environment (defaults in brackets):
#   BUILD     build directory with cw-synth, cw-microbench, cw-chaintab-bench, chainwatch-scan
#             [build-bench]; configured and built here if missing
#   DP        chainwatch-dp binary [$BUILD/chainwatch-dp, else build/chainwatch-dp]
#   CACHE     certificates and captures [$BUILD/bench-cache]
#   OUT       report and raw logs [$BUILD/bench-results/<UTC time>]
#   R         repeats of every timed run, medians reported [3]
#   DURATION  seconds measured per dataplane run, after WARMUP seconds [5, 2]
#   CPU       core for the single-core offline peers [last online CPU]
#   CURVE     concurrent-flow counts of the curve step [10000,100000,1000000,10000000]
#   SKIP      space-separated steps to skip: micro peers control dp replay worker curve scale
#   HUGE      1: EAL memory of every DPDK process (chainwatch-dp, testpmd, the chain-table bench,
#             dp_bench) from reserved 2 MiB hugepages, as in production, instead of 4 KiB pages
#             (--no-huge) [0]; needs hugetlbfs mounted and 512 free pages (1 GiB), and the curve's
#             10 M point ~1 700 (dp_bench sizes -m for its largest count)
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
BUILD=${BUILD:-build-bench}
CACHE=${CACHE:-$BUILD/bench-cache}
OUT=${OUT:-$BUILD/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
R=${R:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
CPU=${CPU:-$(($(nproc) - 1))}
SKIP=${SKIP:-}
CURVE=${CURVE:-10000,100000,1000000,10000000}
HUGE=${HUGE:-0}
# EAL_MEM: the memory flag of every EAL command line; DPB_MEM: dp_bench's own.
if [ "$HUGE" = 1 ]; then
	free=$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)
	if [ "${free:-0}" -lt 512 ] || ! grep -q ' hugetlbfs ' /proc/mounts; then
		echo "run.sh: HUGE=1 needs hugetlbfs mounted and 512 free 2 MiB pages" \
			"(free: ${free:-0}; echo 600 > /proc/sys/vm/nr_hugepages)" >&2
		exit 1
	fi
	EAL_MEM=--huge-unlink
	DPB_MEM=--huge
else
	EAL_MEM=--no-huge
	DPB_MEM=
fi
mkdir -p "$CACHE" "$OUT"
report="$OUT/report.md"
: >"$report"

say() { printf '%s\n' "$*" | tee -a "$report"; }
log() { printf '[bench] %s\n' "$*" >&2; }
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
. tools/bench/rates.sh

# ---- build ----
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --buildtype=release >&2
fi
ninja -C "$BUILD" cw-synth cw-microbench cw-chaintab-bench chainwatch-scan chainwatch-dp \
	chainwatch chainwatchd tests/integration/dp_bench >&2
if [ -z "${DP:-}" ]; then
	if [ -x "$BUILD/chainwatch-dp" ]; then DP=$BUILD/chainwatch-dp; else DP=build/chainwatch-dp; fi
fi

# ---- inputs: certificates and the three mixes (regenerated when cw-synth or the certificates change) ----
tools/bench/mkcerts.sh "$CACHE/certs" 64
synth() {
	name=$1
	shift
	if [ ! -s "$CACHE/$name.pcap" ] || [ "$BUILD/cw-synth" -nt "$CACHE/$name.pcap" ] ||
		[ "$CACHE/certs/.complete-2-64" -nt "$CACHE/$name.pcap" ]; then
		log "synthesizing $name"
		"$BUILD/cw-synth" -o "$CACHE/$name.pcap" --certs "$CACHE/certs" "$@" \
			2>"$CACHE/$name.summary"
	fi
}
synth realistic --mix realistic --names 64 --seed 1
synth handshake --mix handshake --names 64 --seed 2
synth ackflood --mix ackflood --seed 3
tools/bench/check-synth.sh "$BUILD/cw-synth" "$BUILD/chainwatch-scan" "$CACHE/certs" \
	"$OUT/check" >&2

say "# chainwatch benchmark run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say ""
say "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs," \
	"$(free -g | awk '/^Mem:/ {print $2}') GiB RAM; kernel $(uname -r);" \
	"commit $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?')" \
	"(plus uncommitted changes: $(git -C "$src" status --porcelain 2>/dev/null | wc -l) files)."
if [ "$HUGE" = 1 ]; then
	say "EAL memory: 2 MiB hugepages (HUGE=1: \`--huge-unlink\`, dp_bench \`--huge\`)."
else
	say "EAL memory: 4 KiB pages (\`--no-huge\`; HUGE=1 for 2 MiB hugepages, as in production)."
fi
say ""
say "## Captures"
say ""
say "| mix | packets | bytes | flows | handshakes | TLS 1.2 / 1.3 | handshake packet share | distinct names |"
say "|---|---:|---:|---:|---:|---|---:|---:|"
for m in realistic handshake ackflood; do
	kvf() { tr ' ' '\n' <"$CACHE/$m.summary" | sed -n "s/^$1=//p"; }
	say "| $m | $(kvf packets) | $(kvf bytes) | $(kvf flows) | $(kvf handshakes) |" \
		"$(kvf tls12) / $(kvf tls13) | $(kvf hs_share) | $(kvf names_used) |"
done
say ""

# ---- microbenchmarks ----
if ! skip micro; then
	log "microbenchmarks"
	say "## Parsing core (cw-microbench, one thread pinned to CPU $CPU)"
	say ""
	taskset -c "$CPU" "$BUILD/cw-microbench" -r 11 -m 50 | tee -a "$report"
	say ""
	say "## Chain table (cw-chaintab-bench, one lcore)"
	say ""
	"$BUILD/cw-chaintab-bench" "$EAL_MEM" -m 256 --no-pci --file-prefix "cwbench-ct-$$" \
		-l "$CPU" --log-level=error -- -r 11 | tee -a "$report"
	eal_rundir_rm "cwbench-ct-$$"
	say ""
fi

# ---- offline peers: same capture, one core ----
# time_cmd NAME CMD...: R timed runs (hyperfine when installed); prints "median min max" seconds.
time_cmd() {
	tname=$1
	shift
	if command -v hyperfine >/dev/null; then
		hyperfine -N --runs "$R" --warmup 1 --export-json "$OUT/$tname.json" \
			--output=null -- "$*" >"$OUT/$tname.hyperfine" 2>&1
		python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["results"][0]["times"]; t.sort(); print(t[len(t)//2], t[0], t[-1])' \
			"$OUT/$tname.json"
	else
		i=0
		while [ $i -lt "$R" ]; do
			t0=$(date +%s%N)
			"$@" >/dev/null 2>&1
			t1=$(date +%s%N)
			echo "$(((t1 - t0) / 1000))e-6"
			i=$((i + 1))
		done | stats
	fi
}
if ! skip peers; then
	if ! command -v tshark >/dev/null; then
		log "tshark missing: apt-get install -y tshark"
	fi
	say "## Offline: tshark vs chainwatch-scan (same capture, CPU $CPU, $R runs, seconds)"
	say ""
	say "| mix | tool | median s | min | max | packets/s (median) | time ratio to chainwatch-scan |"
	say "|---|---|---:|---:|---:|---:|---:|"
	for m in handshake realistic; do
		pcap="$CACHE/$m.pcap"
		pk=$(tr ' ' '\n' <"$CACHE/$m.summary" | sed -n 's/^packets=//p')
		log "peers on $m"
		set -- $(time_cmd "scan-$m" taskset -c "$CPU" "$BUILD/chainwatch-scan" "$pcap")
		scan_med=$1
		say "| $m | chainwatch-scan | $(printf '%.3f | %.3f | %.3f' "$1" "$2" "$3") |" \
			"$(awk "BEGIN {printf \"%.0f\", $pk / $1}") | 1.00 |"
		if command -v tshark >/dev/null; then
			set -- $(time_cmd "tshark-$m" taskset -c "$CPU" tshark -r "$pcap" -T fields \
				-e tls.handshake.ja3 -e tls.handshake.ja3s)
			say "| $m | tshark -T fields -e ja3 -e ja3s | $(printf '%.3f | %.3f | %.3f' "$1" "$2" "$3") |" \
				"$(awk "BEGIN {printf \"%.0f\", $pk / $1}") |" \
				"$(awk "BEGIN {printf \"%.1f\", $1 / $scan_med}") |"
		fi
	done
	say ""
fi

# ---- the verdict side: chainwatch analyze end to end, two capture sizes, two kinds of chains ----
if ! skip control; then
	synth control-5k --mix handshake --tls13 0.5 --flows 5000 --names 64 --seed 4
	synth control-50k --mix handshake --tls13 0.5 --flows 50000 --names 64 --seed 4
	# The same flows dated a day after the certificates were made, judged against the bench's
	# roots alone: every chain validates, as most do on a real link.
	valid_start=$(($(stat -c %Y "$CACHE/certs/.complete-2-64") + 86400))
	synth control-valid-5k --mix handshake --tls13 0.5 --flows 5000 --names 64 --seed 4 \
		--start "$valid_start"
	synth control-valid-50k --mix handshake --tls13 0.5 --flows 50000 --names 64 --seed 4 \
		--start "$valid_start"
	cat "$CACHE"/certs/ca/d*-g*-0.pem >"$CACHE/certs/roots.pem"
	say "## Verdicts: chainwatch analyze (chainwatch-dp --pcap --events-wait and chainwatchd, $R runs, seconds)"
	say ""
	say "Half TLS 1.2 with three-certificate chains, half TLS 1.3; a fresh temporary database"
	say "each run. **substituted:** the chains do not validate against the system's roots (and"
	say "predate their certificates): every TLS 1.2 flow is judged substituted, so the fan-out and"
	say "TLS 1.3 association reads run on every flow, and nothing is learned. **valid:** the same"
	say "flows dated after the certificates, judged against the bench's roots (\`--trust-store\`):"
	say "the chains validate, the flows are consistent, and every flow updates its name's and its"
	say "server's baselines. **evicting:** the valid flows through a chain cache of 16 of the 64"
	say "chains (\`--chain-cache 16\`), so most flows' chains are reloaded from the database and"
	say "analysed again, as on a link with more chains in use than the cache holds; their"
	say "validations come from the memo of evicted chains (64 entries). **thrashing:** a cache of 4"
	say "(\`--chain-cache 4\`), whose memo (16) is too small as well, so nearly every flow's chain"
	say "is also validated again. The time includes both programs' start; the last column is the"
	say "marginal rate between the two sizes."
	say ""
	say "| chains | capture | flows | median s | min | max | flows/s (median) | marginal flows/s |"
	say "|---|---|---:|---:|---:|---:|---:|---:|"
	for kind in substituted valid evicting thrashing; do
		prev_n=0 prev_t=0
		case $kind in
		substituted) pre=control ts= ;;
		valid) pre=control-valid ts="--trust-store $CACHE/certs/roots.pem" ;;
		evicting) pre=control-valid ts="--trust-store $CACHE/certs/roots.pem --chain-cache 16" ;;
		thrashing) pre=control-valid ts="--trust-store $CACHE/certs/roots.pem --chain-cache 4" ;;
		esac
		for c in $pre-5k $pre-50k; do
			n=$(tr ' ' '\n' <"$CACHE/$c.summary" | sed -n 's/^flows=//p')
			log "chainwatch analyze on $c"
			# shellcheck disable=SC2086
			"$BUILD/chainwatch" analyze -q $ts --json "$OUT/$kind-$c.jsonl" "$CACHE/$c.pcap" \
				>/dev/null 2>&1
			got=$(grep -c '"type":"flow"' "$OUT/$kind-$c.jsonl" || true)
			[ "$got" = "$n" ] || log "chainwatch analyze judged $got of $n flows of $c"
			# shellcheck disable=SC2086
			set -- $(time_cmd "analyze-$kind-$c" "$BUILD/chainwatch" analyze -q $ts --json - \
				"$CACHE/$c.pcap")
			marg=-
			[ "$prev_n" -gt 0 ] &&
				marg=$(awk "BEGIN {printf \"%.0f\", ($n - $prev_n) / ($1 - $prev_t)}")
			say "| $kind | $c | $n | $(printf '%.3f | %.3f | %.3f' "$1" "$2" "$3") |" \
				"$(awk "BEGIN {printf \"%.0f\", $n / $1}") | $marg |"
			prev_n=$n prev_t=$1
		done
	done
	say ""
fi

# ---- dataplane vs rx-only baselines on net_pcap infinite_rx ----
# dp_run KIND MIX: one run, prints the rate line of dp-rate.py. KIND: testpmd (rxonly forwarding),
# rxonly (chainwatch-dp --rx-only: same binary, core and input, frames freed undecoded), dp
# (chainwatch-dp with its built-in event consumer, --events-discard), or replay-rxonly and replay:
# the same two on chainwatch-dp's in-memory replay (--replay) instead of net_pcap.
dp_run() {
	kind=$1 mix=$2
	pcap="$CACHE/$mix.pcap"
	pk=$(tr ' ' '\n' <"$CACHE/$mix.summary" | sed -n 's/^packets=//p')
	mbufs=$(((pk + 16384 + 1023) / 1024 * 1024))
	prefix="cwbench-$kind-$$"
	vdev="net_pcap0,rx_pcap=$pcap,infinite_rx=1"
	# A stop of its own a minute after the window, should the signal below not arrive.
	limit=$((WARMUP + DURATION + 60))
	case $kind in
	replay | replay-rxonly | replaycopy | replaycopy-rxonly)
		# The worker alone on CPU 1; the supervising main lcore and the event consumer share another.
		case $kind in
		*-rxonly) extra=--rx-only ;;
		*) extra=--events-discard ;;
		esac
		case $kind in replaycopy*) extra="$extra --replay-copy" ;; esac
		spare=0
		[ "$(nproc)" -gt 2 ] && spare=2
		"$DP" "$EAL_MEM" -m 1024 --no-pci --file-prefix "$prefix" --lcores "0@0,1@1,2@$spare" \
			--log-level=error -- --replay "$pcap" --workers 1 --instance "bench-$$" \
			--duration "$limit" $extra >>"$OUT/$kind-$mix.log" 2>&1 &
		cmd=/chainwatch/stats
		fields=$DP_RATE_FIELDS
		;;
	dp | rxonly)
		if [ "$kind" = dp ]; then extra=--events-discard; else extra=--rx-only; fi
		"$DP" "$EAL_MEM" -m 1024 --no-pci --file-prefix "$prefix" -l 0,1 --log-level=error \
			--vdev "$vdev" -- --workers 1 --mode single --mbufs "$mbufs" \
			--instance "bench-$$" --duration "$limit" $extra >>"$OUT/$kind-$mix.log" 2>&1 &
		cmd=/chainwatch/stats
		fields=$DP_RATE_FIELDS
		;;
	*)
		dpdk-testpmd "$EAL_MEM" -m 1024 --no-pci --file-prefix "$prefix" -l 0,1 \
			--log-level=error --vdev "$vdev" -- --forward-mode=rxonly \
			--total-num-mbufs="$mbufs" --stats-period 1 </dev/null \
			>>"$OUT/testpmd-$mix.log" 2>&1 &
		cmd=/ethdev/stats,0
		fields=ipackets
		;;
	esac
	pid=$!
	# shellcheck disable=SC2086
	python3 tools/bench/dp-rate.py "$prefix" "$cmd" $fields --warmup "$WARMUP" \
		--duration "$DURATION" || true
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "/dev/shm/chainwatch.bench-$$"
	eal_rundir_rm "$prefix"
}
# rate_cells FILE: "median min max" of each quantity over the repeat lines of FILE ("testpmd-pps
# rx-only-pps" then rate_summary's fields) into tpr ror dpr (Mpps), rr rt (ratios to rx-only and
# testpmd), gb hs hit dr.
rate_cells() {
	tpr=$(awk '{print $1 / 1e6}' "$1" | stats)
	ror=$(awk '{print $2 / 1e6}' "$1" | stats)
	dpr=$(awk '{print $3}' "$1" | stats)
	rr=$(awk '{print ($2 > 0 ? $3 * 1e6 / $2 : 0)}' "$1" | stats)
	rt=$(awk '{print ($1 > 0 ? $3 * 1e6 / $1 : 0)}' "$1" | stats)
	gb=$(awk '{print $4}' "$1" | stats)
	hs=$(awk '{print $5}' "$1" | stats)
	hit=$(awk '{print $6}' "$1" | stats)
	dr=$(awk '{print $7}' "$1" | stats)
}
# repeat_rates FILE MIX RXKIND DPKIND [testpmd]: R repeats of dp_run RXKIND and DPKIND (and
# testpmd rxonly when asked and installed; else 0) on MIX, one line each into FILE ("testpmd-pps
# rx-only-pps" then rate_summary's fields), then rate_cells FILE.
repeat_rates() {
	: >"$1"
	i=0
	while [ $i -lt "$R" ]; do
		tp=
		if [ "${5:-}" = testpmd ] && command -v dpdk-testpmd >/dev/null; then
			tp=$(dp_run testpmd "$2" | sed -n 's/.*ipackets=\([0-9.]*\).*/\1/p')
		fi
		ro=$(dp_run "$3" "$2" | sed -n 's/.*rx_packets=\([0-9.]*\).*/\1/p')
		dl=$(dp_run "$4" "$2")
		echo "${tp:-0} ${ro:-0} $(rate_summary "$dl")" >>"$1"
		i=$((i + 1))
	done
	rate_cells "$1"
}
if ! skip dp; then
	if [ ! -x "$DP" ]; then
		log "no chainwatch-dp at $DP: dataplane step skipped"
	else
		if ! command -v dpdk-testpmd >/dev/null; then
			log "dpdk-testpmd missing (apt-get install -y dpdk): its column stays empty"
		fi
		say "## Dataplane: chainwatch-dp vs its --rx-only baseline and dpdk-testpmd rxonly (net_pcap infinite_rx, 1 worker, $R runs of ${DURATION} s after ${WARMUP} s)"
		say ""
		say "Primary ratio: chainwatch-dp / chainwatch-dp --rx-only (same binary, core and input, run"
		say "back to back); secondary: / dpdk-testpmd rxonly. Ratios are medians of the per-repeat ratios."
		say ""
		say "| mix | rx-only Mpps | chainwatch-dp Mpps | ratio dp / rx-only | testpmd rxonly Mpps | ratio dp / testpmd | handshakes/s | Gbit/s | chain hit rate | drops/s |"
		say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for m in ackflood realistic handshake; do
			log "dataplane on $m"
			repeat_rates "$OUT/rates-$m" "$m" rxonly dp testpmd
			# shellcheck disable=SC2086
			say "| $m | $(fmt 3 $ror) | $(fmt 3 $dpr) | $(fmt 3 $rr) | $(fmt 3 $tpr) | $(fmt 3 $rt) |" \
				"$(fmt 0 $hs) | $(fmt 2 $gb) | $(fmt 4 $hit) | $(fmt 0 $dr) |"
		done
		say ""
	fi
fi

# ---- the same binary on its own in-memory replay (--replay: no PMD) against its --rx-only ----
if ! skip replay; then
	if [ ! -x "$DP" ]; then
		log "no chainwatch-dp at $DP: replay step skipped"
	else
		say "## Dataplane on its in-memory replay: chainwatch-dp --replay vs --replay --rx-only (1 worker, $R runs of ${DURATION} s after ${WARMUP} s)"
		say ""
		say "The capture preloaded once; per burst, fresh mbufs of the replay's pool with the next"
		say "frames attached in place (default: no copy, as a NIC writes them) or copied into them"
		say "(--replay-copy, as net_pcap's RX does), without a PMD. The rx-only baseline is that, the"
		say "rx count and the free; the rest of the per-packet cost is the worker's."
		say ""
		say "| mix | frames | replay rx-only Mpps | chainwatch-dp Mpps | ratio dp / rx-only | handshakes/s | Gbit/s | chain hit rate | drops/s |"
		say "|---|---|---:|---:|---:|---:|---:|---:|---:|"
		for m in ackflood realistic handshake; do
			for v in replay replaycopy; do
				log "$v on $m"
				repeat_rates "$OUT/$v-rates-$m" "$m" "$v-rxonly" "$v"
				how=attached
				[ "$v" = replaycopy ] && how=copied
				# shellcheck disable=SC2086
				say "| $m | $how | $(fmt 3 $ror) | $(fmt 3 $dpr) | $(fmt 3 $rr) | $(fmt 0 $hs) |" \
					"$(fmt 2 $gb) | $(fmt 4 $hit) | $(fmt 0 $dr) |"
			done
		done
		say ""
	fi
fi

# ---- the worker alone (dp_bench: dp_worker_burst on preloaded frames, no RX): cost and memory ----
if ! skip worker; then
	log "worker cost and memory per flow in handshake"
	say "## The worker without RX (dp_bench, CPU $CPU, median of $R runs)"
	say ""
	say "Every frame of the capture through dp_worker_burst(), 20 rounds with fresh tables. Memory"
	say "per flow in handshake: the session and the reassembly buffers its directions hold, averaged"
	say "over every burst that ends with a flow in handshake (deterministic), plus the 64 B flow"
	say "entry, its rte_hash slot and its share of the finished-flow cache. With two fixed buffers"
	say "of --reasm-kib per session it would be the session + 64 KiB. The expected Certificate"
	say "messages (--cert-refs, default 2048) persist over the rounds, as on a link; the last row"
	say "runs without them. Matched / found: flights that were a name's expected message, byte"
	say "for byte / ServerHellos whose name had one."
	say ""
	say "| mix | cycles per packet | cycles per TLS flow | TLS flows/s per worker (TSC / cycles) | memory per flow in handshake, B | flows in handshake: mean, peak | pool reserve per session, B | Certificate messages matched / found |"
	say "|---|---:|---:|---:|---:|---:|---:|---:|"
	for spec in handshake realistic handshake:0; do
		m=${spec%%:*} label=${spec%%:*} refs=
		case $spec in
		*:*) refs="--cert-refs ${spec#*:}" label="$m, \`--cert-refs ${spec#*:}\`" ;;
		esac
		f=$OUT/worker-$(echo "$spec" | tr ':' '-')
		: >"$f"
		i=0
		while [ $i -lt "$R" ]; do
			taskset -c "$CPU" "$BUILD/tests/integration/dp_bench" $DPB_MEM $refs "$CACHE/$m.pcap" \
				2>>"$OUT/worker.err" | tee "$f.raw.$i" | awk '
				/^handshake path:/ { for (k = 1; k <= NF; k++) { if ($k == "cycles" && $(k+4) == "packet,") pp = $(k-1); if ($k == "cycles" && $(k+4) == "TLS") pf = $(k-1) } }
				/^TSC/ { hz = $2 * 1e9 }
				END { print pp, pf, hz / pf }' >>"$f"
			i=$((i + 1))
		done
		raw=$f.raw.0
		mb=$(sed -n 's/^memory per flow in handshake: \([0-9]*\) B .*entry \([0-9]*\) B + rte_hash ~\([0-9]*\) B + finished-flow cache \([0-9]*\) B.*/\1 \2 \3 \4/p' "$raw")
		fl=$(sed -n 's/.*; \([0-9.]*\) flows in handshake on average, peak \([0-9]*\) .*/\1, \2/p' "$raw")
		rs=$(sed -n 's/.*the pool reserves \([0-9]*\) B per session.*/\1/p' "$raw")
		cr=$(sed -n 's/^expected certificates ([^)]*): \([0-9]*\) found, \([0-9]*\) matched.*/\2 \/ \1/p' "$raw")
		set -- $mb
		say "| $label | $(fmt 0 $(awk '{print $1}' "$f" | stats)) |" \
			"$(fmt 0 $(awk '{print $2}' "$f" | stats)) |" \
			"$(fmt 0 $(awk '{print $3}' "$f" | stats)) |" \
			"$(($1 + $2 + $3 + $4)) ($1 + $2 + $3 + $4) | $fl | $rs | $cr |"
	done
	say ""
fi

# ---- per-packet cost as concurrent flows grow (dp_bench --curve: dp_worker_burst, no RX) ----
if ! skip curve; then
	log "concurrency curve $CURVE"
	say "## Cost per packet vs concurrent flows (dp_bench --curve, CPU $CPU, median of $R runs)"
	say ""
	say "N finished flows in a table of N + N/8 entries, each seen once after its FIN (timed apart:"
	say "the first packet reads the entry and puts the flow in the finished-flow cache), then bare"
	say "ACKs to uniformly random flows through dp_worker_burst (decode, cache or bulk lookup,"
	say "free); frame writing is not timed."
	say ""
	: >"$OUT/curve"
	i=0
	while [ $i -lt "$R" ]; do
		taskset -c "$CPU" "$BUILD/tests/integration/dp_bench" $DPB_MEM --curve "$CURVE" 2>>"$OUT/curve.err" |
			tee -a "$OUT/curve.raw" | awk -F'|' '$2 ~ /[0-9]/ {gsub(/ /, ""); print $2, $3, $4, $7, $8}' >>"$OUT/curve"
		i=$((i + 1))
	done
	say "| concurrent flows | cycles/packet (median [min, max]) | ns/packet | Mpps per worker (from the median) | from the finished-flow cache | first packet after the FIN, cycles |"
	say "|---:|---:|---:|---:|---:|---:|"
	for n in $(echo "$CURVE" | tr ',' ' '); do
		set -- $(awk -v n="$n" '$1 == n {print $2}' "$OUT/curve" | stats)
		[ $# -eq 3 ] || continue
		cm=$1 cl=$2 ch=$3
		set -- $(awk -v n="$n" '$1 == n {print $3}' "$OUT/curve" | stats)
		nsp=$1
		set -- $(awk -v n="$n" '$1 == n {print $4}' "$OUT/curve" | stats)
		hit=$1
		set -- $(awk -v n="$n" '$1 == n {print $5}' "$OUT/curve" | stats)
		say "| $n | $(fmt 0 "$cm" "$cl" "$ch") | $(printf '%.1f' "$nsp") |" \
			"$(awk "BEGIN {printf \"%.2f\", 1e3 / $nsp}") | $hit | $(fmt 0 "$@") |"
	done
	say ""
fi

# ---- worker scaling: 1, 2, 4, 8 workers, those that fit the CPUs (tools/bench/scale.sh) ----
if ! skip scale; then
	log "worker scaling"
	BUILD=$BUILD DP=$DP SYNTH=$BUILD/cw-synth CACHE=$CACHE OUT=$OUT/scale R=$R \
		DURATION=$DURATION WARMUP=$WARMUP tools/bench/scale.sh >/dev/null
	cat "$OUT/scale/report.md" >>"$report"
	cat "$OUT/scale/report.md"
fi
log "report: $report"
