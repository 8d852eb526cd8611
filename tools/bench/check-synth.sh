#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Check that every handshake cw-synth writes is parsed by chainwatch-scan as generated.
#
# Usage: check-synth.sh CW_SYNTH CHAINWATCH_SCAN CERT_DIR [WORKDIR]
# Synthesizes a small mixed capture (TLS 1.2 and 1.3, chains of 1-4 certificates, bulk
# traffic, interleaved flows) and requires: one scan line per generated flow, every flow
# ended by a complete handshake, as many distinct SNIs as names used, as many distinct chain
# ids as TLS 1.2 names used (TLS 1.3 chains are encrypted), certificate counts within 1..4.
set -eu

synth=${1:?usage: check-synth.sh CW_SYNTH CHAINWATCH_SCAN CERT_DIR [WORKDIR]}
scan=${2:?}
certs=${3:?}
work=${4:-$(mktemp -d)}
mkdir -p "$work"
pcap="$work/check.pcap"

"$synth" -o "$pcap" --certs "$certs" --flows 300 --names 32 --tls13 0.5 --chain-len 1-4 \
	--hs-frac 0.2 --concurrent 16 --zipf 0.8 --seed 7 2>"$work/check.synth"
"$scan" "$pcap" >"$work/check.scan" 2>"$work/check.counters"

# key=value from the synthesizer's summary line
kv() { tr ' ' '\n' <"$work/check.synth" | sed -n "s/^$1=//p"; }
flows=$(kv flows)
hs=$(kv handshakes)
names=$(kv names_used)
chains=$(kv chains_used_tls12)

lines=$(grep -c ' sni=' "$work/check.scan" || true)
done_n=$(grep -c ' end=done' "$work/check.scan" || true)
snis=$(grep -o ' sni=[^ ]*' "$work/check.scan" | sort -u | wc -l)
ids=$(grep -o ' chain_id=[0-9a-f]*' "$work/check.scan" | grep -v 'chain_id=$' | sort -u | wc -l)
badn=$(grep ' ch_ver=0303 ' "$work/check.scan" | grep -vc ' ncerts=[1-4] ' || true)

fail=0
check() {
	if [ "$2" != "$3" ]; then
		echo "check-synth: $1: expected $3, got $2" >&2
		fail=1
	fi
}
check "flows reported by chainwatch-scan" "$lines" "$flows"
check "complete handshakes (end=done)" "$done_n" "$hs"
check "distinct SNIs" "$snis" "$names"
check "distinct chain ids" "$ids" "$chains"
check "TLS 1.2 flows with a certificate count outside 1..4" "$badn" 0
if [ "$fail" = 0 ]; then
	echo "check-synth: ok: flows=$flows handshakes=$hs snis=$snis chain_ids=$ids"
fi
exit "$fail"
