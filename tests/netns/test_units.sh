#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Checks the deploy/ files: systemd-analyze verify, sandbox exposure, config and script syntax,
# and (given the build directory) that the files the units' Documentation= names are installed.
#
# usage: test_units.sh DEPLOY_DIR [BUILD_DIR]
# The units are verified inside a scratch root (--root) that holds the distribution's unit files,
# the configs and stub executables at the paths ExecStart= names, so the check neither needs the
# binaries installed nor touches the host. Exit 77 (skip) without systemd-analyze.
set -euo pipefail

DEPLOY=$(realpath "${1:?usage: $0 DEPLOY_DIR [BUILD_DIR]}")
BUILD=${2:-}
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
UNITDIR=""
for d in /usr/lib/systemd/system /lib/systemd/system; do
	[ -e "$d/sysinit.target" ] && UNITDIR=$d && break
done
[ -n "$UNITDIR" ] || { echo "SKIP: no systemd unit directory"; exit 77; }

ROOT=$(mktemp -d /tmp/cw-units.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
FAILS=0
ok() { echo "ok   - $*"; }
fail() {
	echo "FAIL - $*"
	FAILS=$((FAILS + 1))
}

mkdir -p "$ROOT/usr/lib/systemd" "$ROOT/etc/systemd/system" "$ROOT/etc/chainwatch"
cp -a "$UNITDIR" "$ROOT/usr/lib/systemd/system"
cp "$DEPLOY"/*.service "$ROOT/etc/systemd/system/"
cp "$DEPLOY/chainwatch-dp.conf" "$DEPLOY/chainwatchd.conf" "$ROOT/etc/chainwatch/"
# every absolute command the units run gets a stub
for cmd in $(sed -n 's/^Exec[A-Za-z]*=[-+@!:]*\(\/[^ ]*\).*/\1/p' "$DEPLOY"/*.service | sort -u); do
	mkdir -p "$ROOT$(dirname "$cmd")"
	printf '#!/bin/sh\nexit 0\n' >"$ROOT$cmd"
	chmod 0755 "$ROOT$cmd"
done

for unit in "$DEPLOY"/*.service; do
	name=$(basename "$unit")
	if out=$(systemd-analyze verify --root="$ROOT" "$ROOT/etc/systemd/system/$name" 2>&1) &&
		[ -z "$out" ]; then
		ok "systemd-analyze verify $name"
	else
		fail "systemd-analyze verify $name"
		echo "$out" | sed 's/^/     /'
	fi
done

# The verification is only worth something if it notices a missing binary.
rm "$ROOT/usr/bin/chainwatchd"
if systemd-analyze verify --root="$ROOT" "$ROOT/etc/systemd/system/chainwatchd.service" \
	>/dev/null 2>&1; then
	fail "verify notices a missing ExecStart binary"
else
	ok "verify notices a missing ExecStart binary"
fi
printf '#!/bin/sh\nexit 0\n' >"$ROOT/usr/bin/chainwatchd"
chmod 0755 "$ROOT/usr/bin/chainwatchd"

# A build without clang or bpftool installs no cw-xdp-steer: the dataplane unit must still start
# (NIC mode), while an installed tool that fails still stops the start.
rm -f "$ROOT/usr/sbin/cw-xdp-steer"
steer=$(sed -n 's/^ExecStartPre=[-+@!:]*\(.*cw-xdp-steer.*\)$/\1/p' "$DEPLOY/chainwatch-dp.service")
run_steer() { # the unit's steering step as systemd would run it, /usr/sbin and /run under $ROOT
	local cmd=${steer//\$\$/\$}
	cmd=${cmd//\/usr\/sbin\//$ROOT/usr/sbin/}
	cmd=${cmd//\/run\/chainwatch\//$ROOT/run/}
	(export CW_XDP_STEER_ARGS="--ports 443,8443" && eval "$cmd") >/dev/null 2>&1
}
if [ -n "$steer" ] && run_steer; then
	ok "the steering step succeeds without cw-xdp-steer"
else
	fail "the steering step succeeds without cw-xdp-steer ($steer)"
fi
mkdir -p "$ROOT/usr/sbin"
printf '#!/bin/sh\necho "$*" >"%s/steer.args"\n' "$ROOT" >"$ROOT/usr/sbin/cw-xdp-steer"
chmod 0755 "$ROOT/usr/sbin/cw-xdp-steer"
if run_steer && [ "$(cat "$ROOT/steer.args")" = "object $ROOT/run/cw_steer.bpf.o --ports 443,8443" ]; then
	ok "the steering step runs an installed cw-xdp-steer with CW_XDP_STEER_ARGS"
else
	fail "the steering step runs an installed cw-xdp-steer with CW_XDP_STEER_ARGS"
fi
printf '#!/bin/sh\nexit 3\n' >"$ROOT/usr/sbin/cw-xdp-steer"
rc=0
run_steer || rc=$?
if [ "$rc" -eq 3 ]; then
	ok "a failing cw-xdp-steer fails the steering step"
else
	fail "a failing cw-xdp-steer fails the steering step (exit $rc)"
fi

exposure() { # exposure UNIT -> overall exposure score (0 best .. 10 worst)
	systemd-analyze security --offline=true --root="$ROOT" "$1" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
check_exposure() { # check_exposure UNIT MAX
	local e
	e=$(exposure "$1")
	if [ -z "$e" ]; then
		echo "skip - exposure of $1 (systemd-analyze security --offline unsupported)"
	elif awk -v e="$e" -v m="$2" 'BEGIN { exit !(e <= m) }'; then
		ok "exposure of $1 is $e (<= $2)"
	else
		fail "exposure of $1 is $e (want <= $2)"
	fi
}
check_exposure chainwatchd.service 2.0
check_exposure chainwatch-dp.service 5.0

caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$DEPLOY/chainwatch-dp.service")
case " $caps " in
*CAP_SYS_ADMIN*) fail "chainwatch-dp runs without CAP_SYS_ADMIN ($caps)" ;;
*) ok "chainwatch-dp capabilities: $caps" ;;
esac
grep -q '^User=chainwatch$' "$DEPLOY/chainwatchd.service" &&
	grep -q '^Group=chainwatch$' "$DEPLOY/chainwatch-dp.service" &&
	ok "dataplane and verdict service share group chainwatch (event-ring segment)" ||
	fail "dataplane and verdict service share group chainwatch (event-ring segment)"

for f in chainwatch-dp.conf chainwatchd.conf; do
	# EnvironmentFile syntax that is also shell syntax: comments and VAR=value lines only
	if bash -n "$DEPLOY/$f" && ! grep -Ev '^(#.*|[A-Z_][A-Z0-9_]*=.*|)$' "$DEPLOY/$f" >/dev/null; then
		ok "$f is a plain EnvironmentFile"
	else
		fail "$f is a plain EnvironmentFile"
	fi
done
sh -n "$DEPLOY/hugepages.sh" && ok "hugepages.sh parses" || fail "hugepages.sh parses"
sh -n "$DEPLOY/chain-key.sh" && ok "chain-key.sh parses" || fail "chain-key.sh parses"
# chain-key.sh: creates a 32-byte key of mode 0600 once, and never replaces it.
key="$ROOT/state/sub/chain.key"
if sh "$DEPLOY/chain-key.sh" "$key" >/dev/null && [ "$(stat -c %a "$key")" = 600 ] &&
	[ "$(wc -c <"$key")" -eq 32 ]; then
	ok "chain-key.sh creates a 32-byte key of mode 0600"
else
	fail "chain-key.sh creates a 32-byte key of mode 0600"
fi
sum=$(sha256sum <"$key")
sh "$DEPLOY/chain-key.sh" "$key" >/dev/null && [ "$(sha256sum <"$key")" = "$sum" ] &&
	ok "chain-key.sh keeps an existing key" || fail "chain-key.sh keeps an existing key"
grep -q -- '--chain-key /var/lib/chainwatch-dp/chain.key' "$DEPLOY/chainwatch-dp.conf" &&
	grep -q '^ExecStartPre=/usr/libexec/chainwatch/chain-key.sh /var/lib/chainwatch-dp/chain.key$' \
		"$DEPLOY/chainwatch-dp.service" &&
	ok "the dataplane unit makes and uses the chain key" ||
	fail "the dataplane unit makes and uses the chain key"
if python3 -c 'import yaml' 2>/dev/null; then
	python3 -c 'import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
t = c["scrape_configs"][0]["static_configs"][0]["targets"]
sys.exit(0 if "127.0.0.1:9641" in t else 1)' "$DEPLOY/prometheus.yml" &&
		ok "prometheus.yml scrapes 127.0.0.1:9641" || fail "prometheus.yml scrapes 127.0.0.1:9641"
elif grep -q "targets: \['127.0.0.1:9641'\]" "$DEPLOY/prometheus.yml"; then
	ok "prometheus.yml scrapes 127.0.0.1:9641 (no PyYAML: text check)"
else
	fail "prometheus.yml scrapes 127.0.0.1:9641"
fi

# Documentation=file:/usr/X must be installed as PREFIX/X (the units expect --prefix=/usr).
if [ -n "$BUILD" ]; then
	for doc in $(sed -n 's|^Documentation=file:/usr/||p' "$DEPLOY"/*.service | sort -u); do
		if python3 -c 'import json, sys
b, doc = sys.argv[1:3]
prefix = [o["value"] for o in json.load(open(b + "/meson-info/intro-buildoptions.json"))
          if o["name"] == "prefix"][0]
sys.exit(0 if prefix.rstrip("/") + "/" + doc in
         json.load(open(b + "/meson-info/intro-installed.json")).values() else 1)' "$BUILD" "$doc"
		then
			ok "Documentation= file $doc is installed"
		else
			fail "Documentation= file $doc is installed"
		fi
	done
fi

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all checks passed"
