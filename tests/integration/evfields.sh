# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the integration tests. evfields: the flow and handshake identity of chainwatch-scan
# and cw-evdump lines (addresses, SNI, versions, cipher, ALPN, JA3/JA3S/JA4, chain id and
# certificates), sorted. Timestamps, end reasons and the dataplane's own flag bits (chain new /
# blob dropped) legitimately differ and are left out.
evfields() {
	sed -n 's/^[^ ]* \(cli=[^ ]*\) \(srv=[^ ]*\) \(sni=[^ ]*\) \(ch_ver=[^ ]*\) \(sh_ver=[^ ]*\) \(cipher=[^ ]*\) \(alpn=[^ ]*\) \(ja3=[^ ]*\) \(ja3s=[^ ]*\) \(ja4=[^ ]*\) \(chain_id=[^ ]*\) \(certs=[^ ]*\) \(ncerts=[^ ]*\).*/\1 \2 \3 \4 \5 \6 \7 \8 \9 \10 \11 \12 \13/p' | sort
}
