#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Create the chain key of this sensor once: 32 random bytes, mode 0600 (chainwatch-dp
# --chain-key). An existing key is never replaced: chain ids, and every database that holds
# them, are only comparable under one key (docs/DEPLOY.md, "Chain key").
# usage: chain-key.sh FILE
set -eu
key=${1:?usage: chain-key.sh FILE}
if [ -e "$key" ]; then
	[ -f "$key" ] || { echo "chain-key.sh: $key exists and is not a regular file" >&2; exit 1; }
	exit 0
fi
umask 077
mkdir -p "$(dirname "$key")"
tmp="$key.new.$$"
trap 'rm -f "$tmp"' EXIT
head -c 32 /dev/urandom > "$tmp"
[ "$(wc -c < "$tmp")" -eq 32 ] || { echo "chain-key.sh: short read from /dev/urandom" >&2; exit 1; }
mv "$tmp" "$key"
trap - EXIT
echo "chain-key.sh: created $key"
