#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Reserves at least PAGES hugepages of SIZE_KB (default 2048) and mounts /dev/hugepages if needed.
#
# usage: hugepages.sh [PAGES [SIZE_KB]]
# Never lowers an existing reservation (other DPDK programs may use it). Uses dpdk-hugepages.py when
# installed (dpdk package), sysfs otherwise. On NUMA hosts the kernel spreads the pages over the
# nodes; reserve per node at boot (hugepages= on the kernel command line) for large sizes.
set -eu

pages=${1:-0}
size_kb=${2:-2048}
case $pages in *[!0-9]* | '') echo "hugepages.sh: bad page count '$pages'" >&2; exit 2 ;; esac
case $size_kb in *[!0-9]* | '') echo "hugepages.sh: bad page size '$size_kb'" >&2; exit 2 ;; esac

sysfs=/sys/kernel/mm/hugepages/hugepages-${size_kb}kB/nr_hugepages
if [ "$pages" -gt 0 ]; then
	if [ ! -e "$sysfs" ]; then
		echo "hugepages.sh: this kernel has no ${size_kb} kB hugepages" >&2
		exit 1
	fi
	have=$(cat "$sysfs")
	if [ "$have" -lt "$pages" ]; then
		if command -v dpdk-hugepages.py >/dev/null 2>&1; then
			dpdk-hugepages.py --pagesize "${size_kb}K" --reserve "$((pages * size_kb))K"
		else
			echo "$pages" >"$sysfs"
		fi
		have=$(cat "$sysfs")
		if [ "$have" -lt "$pages" ]; then
			echo "hugepages.sh: only $have of $pages ${size_kb} kB pages (memory fragmented?" \
				"reserve at boot: hugepages=$pages)" >&2
			exit 1
		fi
	fi
fi

if ! grep -qs '^[^ ]* /dev/hugepages hugetlbfs ' /proc/mounts; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs -o "pagesize=${size_kb}K" nodev /dev/hugepages
fi
echo "hugepages.sh: $(cat "${sysfs}") x ${size_kb} kB reserved, /dev/hugepages mounted"
