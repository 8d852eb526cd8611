#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Make the certificate chains cw-synth sends: for each depth 1..4, COUNT chains with distinct names.
#
# Usage: mkcerts.sh DIR [COUNT]     (COUNT defaults to 64)
#
# Layout (leaf first, DER):  DIR/d<D>/<K>/0.der .. <D-1>.der   and   DIR/d<D>/<K>/sni
# A chain of depth D is leaf <- D-2 intermediates <- root, with the root included; depth 1 is a
# self-signed leaf. Leaves of one depth share one of 4 CA hierarchies ("groups"), as many sites
# share a few CAs; every certificate has a distinct subject and serial, so all chain ids differ.
# Two RSA-2048 keys: one for every CA, one for every leaf (a leaf with its issuer's key is a
# finding of its own). The benchmark measures certificate bytes, not key diversity.
# The directory is a cache: it is reused when DIR/.complete-2-<COUNT> exists.
set -eu

dir=${1:?usage: mkcerts.sh DIR [COUNT]}
count=${2:-64}
groups=4

if [ -e "$dir/.complete-2-$count" ]; then
	exit 0
fi
command -v openssl >/dev/null || { echo "mkcerts.sh: openssl not found" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/ca"
key="$dir/key.pem"
leafkey="$dir/leaf-key.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$leafkey" 2>/dev/null
serial=1000

# issue KEY SUBJ OUT CA_PEM EXT...: a certificate (shell functions share variables: hence i_*)
# for KEY signed by CA_PEM with $key (self-signed when CA_PEM is "-").
issue() {
	i_key=$1 i_subj=$2 i_out=$3 i_ca=$4
	shift 4
	serial=$((serial + 1))
	if [ "$i_ca" = "-" ]; then
		openssl req -new -x509 -key "$i_key" -subj "$i_subj" -days 3650 -set_serial "$serial" \
			-sha256 "$@" -out "$i_out"
	else
		openssl req -new -key "$i_key" -subj "$i_subj" "$@" |
			openssl x509 -req -CA "$i_ca" -CAkey "$key" -set_serial "$serial" -days 825 \
				-sha256 -copy_extensions copyall -out "$i_out" 2>/dev/null
	fi
}

ca_ext="-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"

for d in 2 3 4; do
	g=0
	while [ $g -lt $groups ]; do
		base="$dir/ca/d$d-g$g"
		# shellcheck disable=SC2086
		issue "$key" "/C=US/O=Bench Trust G$g D$d/CN=Bench Root G$g D$d" "$base-0.pem" - $ca_ext
		i=1
		while [ $i -le $((d - 2)) ]; do
			# shellcheck disable=SC2086
			issue "$key" "/C=US/O=Bench Trust G$g D$d/CN=Bench Intermediate $i G$g D$d" \
				"$base-$i.pem" "$base-$((i - 1)).pem" $ca_ext
			i=$((i + 1))
		done
		g=$((g + 1))
	done
done

for d in 1 2 3 4; do
	k=0
	while [ $k -lt "$count" ]; do
		out="$dir/d$d/$k"
		mkdir -p "$out"
		name="s$k.d$d.bench.test"
		printf '%s\n' "$name" >"$out/sni"
		leaf_ext="-addext subjectAltName=DNS:$name -addext basicConstraints=critical,CA:FALSE"
		if [ "$d" = 1 ]; then
			# shellcheck disable=SC2086
			issue "$leafkey" "/O=Bench Sites/CN=$name" "$out/leaf.pem" - $leaf_ext
		else
			g=$((k % groups))
			base="$dir/ca/d$d-g$g"
			# shellcheck disable=SC2086
			issue "$leafkey" "/O=Bench Sites/CN=$name" "$out/leaf.pem" "$base-$((d - 2)).pem" $leaf_ext
		fi
		openssl x509 -in "$out/leaf.pem" -outform DER -out "$out/0.der"
		rm -f "$out/leaf.pem"
		# The rest of the chain: issuing CA first, root last.
		i=1
		while [ $i -lt "$d" ]; do
			openssl x509 -in "$base-$((d - 1 - i)).pem" -outform DER -out "$out/$i.der"
			i=$((i + 1))
		done
		k=$((k + 1))
	done
done
touch "$dir/.complete-2-$count"
