#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The event rings reserve all their shared memory when they are created: rings larger than the
# shm filesystem (/dev/shm) are refused at startup with a message and exit 1, and nothing is left
# behind. Without the reservation the object is sparse and the worker takes SIGBUS on its first
# write past the filesystem's free space, in the middle of a run. Rings that fit still run.
# Runs in a private mount namespace with its own 16 MiB tmpfs on /dev/shm (root needed).
# Usage: dp_shm_full.sh BUILD_DIR CAPTURE
set -eu
build=$1; cap=$2
dp=$build/chainwatch-dp
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (private mount namespace)"; exit 1; }
tmp=$(mktemp -d); inst="shmfull$$"
trap 'rm -rf "$tmp" "/var/run/dpdk/$inst"' EXIT

# The namespace's script: both runs, then a listing of its /dev/shm after each.
cat > "$tmp/ns.sh" <<NS
set -u
mount -t tmpfs -o size=16m tmpfs /dev/shm || exit 99
"$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" -l 0 -- --pcap "$cap" --instance "$inst" \
	--ring-slots 65536 > "$tmp/big.out" 2>&1
echo \$? > "$tmp/big.rc"
ls -A /dev/shm > "$tmp/big.ls"
"$dp" --no-huge -m 512 --no-pci --file-prefix "$inst" -l 0 -- --pcap "$cap" --instance "$inst" \
	> "$tmp/fit.out" 2>&1
echo \$? > "$tmp/fit.rc"
NS
unshare -m --propagation private sh "$tmp/ns.sh" || { echo "FAIL: namespace setup ($?)"; exit 1; }
fail() { echo "FAIL: $*"; cat "$tmp/big.out" "$tmp/fit.out" 2>/dev/null; exit 1; }

# 1 worker x (65536 x 704 B + 4 MiB) = 48 MiB in a 16 MiB /dev/shm.
rc=$(cat "$tmp/big.rc")
echo "rings of 48 MiB in a 16 MiB /dev/shm: exit $rc"
[ "$rc" -eq 1 ] || fail "exit $rc, want 1 (135 is SIGBUS: the object was not reserved)"
grep -q "do not fit in /dev/shm" "$tmp/big.out" || fail "no message naming /dev/shm"
grep -q "48.0 MiB" "$tmp/big.out" || fail "the message does not give the rings' size"
[ ! -s "$tmp/big.ls" ] || fail "left in /dev/shm: $(cat "$tmp/big.ls")"

# The default rings (1 worker: 2.75 MiB + 4 MiB) fit and the capture runs through.
rc=$(cat "$tmp/fit.rc")
events=$(sed -n 's/^  events_out *\([0-9]*\)$/\1/p' "$tmp/fit.out")
echo "default rings in the same /dev/shm: exit $rc, events_out ${events:-none}"
[ "$rc" -eq 0 ] || fail "rings that fit: exit $rc"
[ "${events:-0}" -gt 0 ] || fail "rings that fit published no event"
echo ok
