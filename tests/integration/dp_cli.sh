#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Command line: --help documents every option and docs/*.md (or BENCHMARKS.md) names it, bad input
# gives a clear message and a non-zero exit before anything starts.
# Usage: dp_cli.sh BUILD_DIR SOURCE_ROOT
set -eu
dp=$1/chainwatch-dp; src=$2
fail() { echo "FAIL: $*"; exit 1; }
help=$("$dp" --help) || fail "--help exit status"
for opt in $(sed -n 's/^\t{"\([a-z-]*\)", .*/\1/p' "$src/dataplane/main.c"); do
	echo "$help" | grep -q -- "--$opt" || fail "--help does not document --$opt"
	cat "$src"/docs/*.md "$src/BENCHMARKS.md" | grep -qE -- "--$opt([^a-z0-9-]|\$)" ||
		fail "docs/*.md and BENCHMARKS.md never name --$opt"
done
expect() { # status, message pattern, args...
	want=$1; pat=$2; shift 2
	rc=0; out=$("$dp" "$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*': exit $rc, want $want ($out)"
	echo "$out" | grep -q -- "$pat" || fail "'$*': message lacks '$pat' ($out)"
	echo "ok: $* -> $rc"
}
expect 2 "bad value 'abc' for --flows" --flows abc
expect 2 "bad value '1000' for --ring-slots" --ring-slots 1000
expect 2 "unknown or incomplete option" --no-such-option
expect 2 "bad --mode" --mode fastest
expect 2 "--checksums: expected verify or off, got 'maybe'" --checksums maybe
expect 2 "blob-kib must be larger" --reasm-kib 64 --blob-kib 64
# Numbers are decimal: no 0x, no octal by a leading 0 ("010" is ten). A check made after the
# options ("blob-kib must be larger") shows that a value was taken.
expect 2 "bad value '0x10' for --flows" --flows 0x10
expect 2 "bad value '+8' for --flows" --flows +8
expect 2 "bad value ' 8' for --flows" --flows " 8"
expect 2 "blob-kib must be larger" --flows 08 --reasm-kib 64 --blob-kib 64
expect 2 "bad value '01025' for --reasm-kib" --reasm-kib 01025
# --shm-mode is always octal, with or without the leading 0.
expect 2 "blob-kib must be larger" --shm-mode 600 --reasm-kib 64 --blob-kib 64
expect 2 "bad value '0x1ff' for --shm-mode: expected an octal mode 0..0777" --shm-mode 0x1ff
expect 2 "bad value '1000' for --shm-mode: expected an octal mode 0..0777" --shm-mode 1000
expect 2 "bad value '778' for --shm-mode" --shm-mode 778
expect 2 "bad --instance" --instance a/b
expect 1 "cannot read capture" --pcap /nonexistent.pcap
expect 2 "unexpected argument" stray
expect 2 "go with --iface" --queues 2
expect 2 "exclude each other" --iface lo --pcap /nonexistent.pcap
expect 1 "iface" --iface cwnosuchif0

# The segment gets the mode as written: 440 is 0440.
inst="dpcli$$"
trap 'rm -f "/dev/shm/chainwatch.$inst"; rm -rf "/var/run/dpdk/chainwatch-$inst"' EXIT
"$dp" --instance "$inst" --pcap "$src/tests/data/lab/small.pcap" --shm-mode 440 --quiet \
	--flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 >/dev/null 2>&1 ||
	fail "--shm-mode 440: chainwatch-dp exited non-zero"
mode=$(stat -c %a "/dev/shm/chainwatch.$inst") || fail "--shm-mode 440: no segment"
[ "$mode" = 440 ] || fail "--shm-mode 440 made a segment of mode $mode"
echo "ok: --shm-mode 440 -> segment mode $mode"

# A second start with the same --instance fails on the first one's EAL lock, and leaves the
# first one's runtime directory (its config file, telemetry socket) where it was.
rundir="/var/run/dpdk/chainwatch-$inst"
rm -f "/dev/shm/chainwatch.$inst"
"$dp" --instance "$inst" --replay "$src/tests/data/lab/small.pcap" --quiet --workers 1 \
	--flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 >/dev/null 2>&1 &
first=$!
trap 'kill -KILL $first 2>/dev/null || true; rm -f "/dev/shm/chainwatch.$inst"; rm -rf "$rundir"' EXIT
i=0
until [ -e "$rundir/config" ] && [ -e "/dev/shm/chainwatch.$inst" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || fail "the first instance did not start"
	kill -0 $first 2>/dev/null || fail "the first instance exited"
	sleep 0.1
done
if "$dp" --instance "$inst" --pcap "$src/tests/data/lab/small.pcap" --quiet \
	--flows 4096 --sessions 256 --chains 4096 --blob-kib 1024 >/dev/null 2>&1; then
	fail "a second start with the same --instance succeeded"
fi
[ -e "$rundir/config" ] || fail "a failed second start removed the running instance's runtime directory"
kill -0 $first 2>/dev/null || fail "the first instance died"
kill -TERM $first
wait $first || fail "the first instance exited non-zero after SIGTERM"
[ ! -e "$rundir" ] || fail "the first instance left its runtime directory behind"
echo "ok: a second start with the same instance leaves the first one's runtime directory"
echo ok
