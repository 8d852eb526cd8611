#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# One-command setup: install Debian packages, build, then run the demo or the whole test suite.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: tools/setup.sh demo|test|deps|build [--builddir DIR]

  demo   install what is missing, build, and judge the bundled lab capture
         (tests/data/lab/small.pcap) with `chainwatch analyze`, printing the report
  test   install what is missing, build, and run the whole test suite
         (meson test; prints the Ok/Fail summary; non-zero exit on any failure)
  deps   only install the Debian packages
  build  install, then configure and build into the build directory

  --builddir DIR  build directory, relative to the current directory (default:
                  $CW_BUILDDIR, else build in the source tree); `test` makes its
                  sanitizer build next to it, in DIR-san

Run as root on Debian 12 (packages come from apt-get). Environment:
  CW_BUILDDIR   build directory, relative to the source tree (default: build)
  CW_MESON_OPTS extra options for `meson setup` (e.g. -Db_sanitize=address,undefined)
  CW_TEST_ARGS  extra arguments for `meson test` (e.g. --suite unit)
USAGE
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILDDIR=${CW_BUILDDIR:-build}

bad_usage() {
	echo "setup: $*" >&2
	usage >&2
	exit 1
}

# One command and --builddir DIR (or --builddir=DIR), in any order.
cmd=
while [ $# -gt 0 ]; do
	case "$1" in
	--builddir | --builddir=*)
		if [ "$1" = --builddir ]; then
			[ $# -ge 2 ] || bad_usage "--builddir needs a directory"
			dir=$2
			shift
		else
			dir=${1#--builddir=}
		fi
		[ -n "$dir" ] || bad_usage "--builddir needs a directory"
		# From the caller's directory: the steps below run from the source tree.
		BUILDDIR=$(realpath -m -- "$dir")
		;;
	-h | --help | help)
		usage
		exit 0
		;;
	-*)
		bad_usage "unknown option $1"
		;;
	*)
		[ -z "$cmd" ] || bad_usage "unexpected argument $1"
		cmd=$1
		;;
	esac
	shift
done
# The sanitizer build of `test` sits next to the main one (build -> build-san).
SANDIR=${BUILDDIR%/}-san

# Build and test dependencies, all from Debian 12's archive.
PACKAGES=(
	build-essential meson ninja-build pkg-config clang llvm lld libclang-rt-14-dev
	dpdk dpdk-dev libdpdk-dev libbpf-dev bpftool libxdp-dev
	libxxhash-dev libssl-dev libsqlite3-dev sqlite3 libpcap-dev
	python3 openssl gnutls-bin curl iproute2 iptables nftables tcpdump tshark iputils-ping socat
	linux-libc-dev util-linux
	sslsplit mitmproxy procps psmisc systemd kmod ethtool
)

install_deps() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer for it.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
	cd "$ROOT"
	if [ ! -f "$BUILDDIR/build.ninja" ]; then
		# shellcheck disable=SC2086
		meson setup "$BUILDDIR" ${CW_MESON_OPTS:-}
	fi
	ninja -C "$BUILDDIR"
}

case "$cmd" in
deps)
	install_deps
	;;
build)
	install_deps
	build
	;;
demo)
	install_deps
	build
	cd "$ROOT"
	rm -f "$BUILDDIR/demo.db" "$BUILDDIR/demo.db-wal" "$BUILDDIR/demo.db-shm" "$BUILDDIR/demo.jsonl"
	exec "$BUILDDIR/chainwatch" analyze \
		--trust-store tests/data/lab/ca/genuine-root.pem \
		--anchors tests/data/lab/ca/interception-root.pem \
		--db "$BUILDDIR/demo.db" --json "$BUILDDIR/demo.jsonl" \
		tests/data/lab/small.pcap
	;;
test)
	install_deps
	build
	cd "$ROOT"
	# meson prints the Ok/Fail/Skipped summary and exits non-zero on any failure.
	rc=0
	# shellcheck disable=SC2086
	meson test -C "$BUILDDIR" --print-errorlogs --num-processes 2 ${CW_TEST_ARGS:-} || rc=1
	if [ -z "${CW_TEST_ARGS:-}" ] && [ "${CW_SKIP_SANITIZERS:-0}" != 1 ]; then
		# Second build: clang with ASan+UBSan and libFuzzer. The whole suite runs
		# again under the sanitizers, plus every fuzz target for CW_FUZZ_SECONDS
		# (default 60).
		if [ ! -f "$SANDIR/build.ninja" ]; then
			CC=clang meson setup "$SANDIR" -Dfuzz=true -Db_sanitize=address,undefined \
				-Db_lundef=false -Dfuzz_seconds="${CW_FUZZ_SECONDS:-60}"
		fi
		ninja -C "$SANDIR"
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			meson test -C "$SANDIR" --print-errorlogs --num-processes 2 || rc=1
	fi
	exit $rc
	;;
*)
	usage >&2
	exit 1
	;;
esac
