#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# chainwatch TLS interception lab (network namespaces, needs root).
#
#   lab.sh run --out DIR [--small] [--keep] [--pki DIR] [--suffix S] [--exec-in-isp CMD]
#   lab.sh clean [--suffix S]
#   lab.sh selftest
#   lab.sh --help
#
# See docs/LAB.md.
set -euo pipefail
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
py=/usr/bin/python3
[[ -x $py ]] || py=python3
exec "$py" "$here/lab.py" "$@"
