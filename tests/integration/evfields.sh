# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the integration tests. evfields: the flow and handshake identity of chainwatch-scan
# and cw-evdump lines (addresses, SNI, versions, cipher, ALPN, JA3/JA3S/JA4, chain id,
# certificates and their count), in that order, sorted. A line without all of them is left out.
# Timestamps, end reasons and the dataplane's own flag bits (chain new / blob dropped)
# legitimately differ and are left out.
evfields() {
	awk 'BEGIN { n = split("cli srv sni ch_ver sh_ver cipher alpn ja3 ja3s ja4 chain_id certs ncerts", k, " ") }
	{
		split("", v)
		for (i = 2; i <= NF; i++) {
			p = index($i, "=")
			if (p > 1)
				v[substr($i, 1, p - 1)] = $i
		}
		o = ""
		for (j = 1; j <= n; j++) {
			if (!(k[j] in v))
				next
			o = o (j > 1 ? " " : "") v[k[j]]
		}
		print o
	}' | sort
}
