# SPDX-License-Identifier: BSD-3-Clause
# Sourced by run.sh and scale.sh: which /chainwatch/stats counters a dataplane run samples
# (tools/bench/dp-rate.py), how one sample line becomes the reported quantities, and how
# repeats are summarised.

# Counters sampled from chainwatch-dp. The loss counters are every one that means a packet,
# flow, event or blob was lost (the stats line's drop list).
DP_DROP_FIELDS="events_dropped blobs_dropped blobs_released no_session reasm_buf_short evict_fail too_long dispatch_dropped"
DP_RATE_FIELDS="rx_packets rx_bytes handshakes_done chains_known chains_new $DP_DROP_FIELDS"

# rate_val LINE FIELD: FIELD's per-second rate in a dp-rate.py line (empty if absent)
rate_val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# rate_summary LINE: "Mpps Gbit/s handshakes/s chain-hit-rate drops/s" of a chainwatch-dp line
# (zeros for a run that gave no line)
rate_summary() {
	_drops=0
	for _f in $DP_DROP_FIELDS; do
		_v=$(rate_val "$1" "$_f")
		_drops=$(awk "BEGIN {print $_drops + ${_v:-0}}")
	done
	_p=$(rate_val "$1" rx_packets) _b=$(rate_val "$1" rx_bytes) _h=$(rate_val "$1" handshakes_done)
	_k=$(rate_val "$1" chains_known) _n=$(rate_val "$1" chains_new)
	echo "${_p:-0} ${_b:-0} ${_h:-0} ${_k:-0} ${_n:-0} $_drops" |
		awk '{printf "%.6f %.6f %.0f %.6f %.0f\n", $1 / 1e6, $2 * 8 / 1e9, $3,
		      (($4 + $5) > 0 ? $4 / ($4 + $5) : 0), $6}'
}

# stats: "median min max" of the numbers on stdin
stats() { sort -g | awk '{v[NR]=$1} END {if (NR) printf "%s %s %s\n", v[int((NR+1)/2)], v[1], v[NR]}'; }

# fmt DECIMALS MEDIAN MIN MAX: "median [min, max]"
fmt() { printf "%.${1}f [%.${1}f, %.${1}f]" "$2" "$3" "$4"; }

# eal_rundir_rm PREFIX: remove the runtime directory EAL leaves for --file-prefix PREFIX
# (/var/run/dpdk/PREFIX as root, else under XDG_RUNTIME_DIR, as EAL places it).
eal_rundir_rm() {
	if [ "$(id -u)" -eq 0 ]; then rm -rf "/var/run/dpdk/$1"; else rm -rf "${XDG_RUNTIME_DIR:-/tmp}/dpdk/$1"; fi
}
