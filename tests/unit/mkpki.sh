#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Builds the test PKI with the openssl CLI: a public CA, a Kazakh-style interception CA, a private CA.
#
# Usage: mkpki.sh DIR. Every certificate has fixed dates (openssl ca -startdate/-enddate),
# so tests judge them at fixed capture times. Output in DIR (PEM): see the list at the end.
set -eu
D=$1
mkdir -p "$D"
cd "$D"

# ca NAME: a signing directory with its own openssl ca configuration.
ca() {
	mkdir -p "ca-$1/new"
	: > "ca-$1/index.txt"
	echo 1000 > "ca-$1/serial"
	cat > "ca-$1/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
dir = $D/ca-$1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = p
unique_subject = no
preserve = yes
email_in_dn = no
copy_extensions = none
[p]
C = optional
O = optional
OU = optional
CN = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
CNF
}

rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"${2:-2048}" \
	${3:+-pkeyopt rsa_keygen_pubexp:$3} -out "$1.key" 2>/dev/null; }
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }

# sign CA KEYNAME SUBJ START END EXTFILE [selfsign]
sign() {
	openssl req -new -key "$2.key" -subj "$3" -config "ca-$1/ca.cnf" -out "$2.csr"
	if [ "${7:-}" = selfsign ]; then
		openssl ca -batch -notext -config "ca-$1/ca.cnf" -selfsign -keyfile "$2.key" \
			-startdate "$4" -enddate "$5" -extfile "$6" -in "$2.csr" -out "$2.pem" \
			2>/dev/null
	else
		openssl ca -batch -notext -config "ca-$1/ca.cnf" -cert "$1.pem" -keyfile "$1.key" \
			-startdate "$4" -enddate "$5" -extfile "$6" -in "$2.csr" -out "$2.pem" \
			2>/dev/null
	fi
}

cat > ext-ca.cnf <<'EXT'
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EXT
# A public-CA leaf: everything a CT-logged certificate carries (SCT list as an opaque octet string).
cat > ext-leaf.cnf <<'EXT'
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:example.com, DNS:www.example.com
authorityInfoAccess = caIssuers;URI:http://ca.test/int.crt, OCSP;URI:http://ocsp.ca.test
crlDistributionPoints = URI:http://ca.test/int.crl
1.3.6.1.4.1.11129.2.4.2 = DER:04020000
EXT
# The forgery keeps only the copied SAN: every other extension stripped.
cat > ext-forged.cnf <<'EXT'
subjectAltName = DNS:example.com, DNS:www.example.com
subjectKeyIdentifier = none
authorityKeyIdentifier = none
EXT
cat > ext-ec.cnf <<'EXT'
basicConstraints = critical, CA:false
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:api.example.net
EXT

# Public CA: root -> intermediate -> leaves.
ca pub
rsa root
sign pub root "/C=US/O=Test Public Trust/CN=Test Public Root" 20100101000000Z 20400101000000Z ext-ca.cnf selfsign
ca root
rsa int
sign root int "/C=US/O=Test Public Trust/CN=Test Public Issuing CA" 20150101000000Z 20350101000000Z ext-ca.cnf
ca int
rsa leaf1
sign int leaf1 "/C=US/O=Example Inc/CN=example.com" 20190601000000Z 20200601000000Z ext-leaf.cnf
# Routine rotation: a new key a year later under the same intermediate.
rsa leaf2
sign int leaf2 "/C=US/O=Example Inc/CN=example.com" 20200501000000Z 20210501000000Z ext-leaf.cnf
# ECDSA leaf that expired long ago: valid only at its capture time.
ec ecleaf
sign int ecleaf "/C=US/O=Example Inc/CN=api.example.net" 20190101000000Z 20191231000000Z ext-ec.cnf
# CDN-style leaves with many names: 40 whose list (950 bytes) the analysis keeps whole, and 60
# whose list does not fit its 1 KiB SAN field, so the last names are left out.
cdn_names() { # COUNT -> "DNS:edge-1.cdn-example.net, DNS:edge-2.cdn-example.net, ..."
	j=1; names=""
	while [ "$j" -le "$1" ]; do
		names="$names${names:+, }DNS:edge-$j.cdn-example.net"
		j=$((j + 1))
	done
	printf '%s' "$names"
}
for n in 40 60; do
	printf 'basicConstraints = critical, CA:false\nextendedKeyUsage = serverAuth\n' > "ext-cdn$n.cnf"
	printf 'subjectAltName = %s\n' "$(cdn_names "$n")" >> "ext-cdn$n.cnf"
	ec "cdn$n"
	sign int "cdn$n" "/CN=edge-1.cdn-example.net" 20190601000000Z 20200601000000Z "ext-cdn$n.cnf"
done

# Interception CA: root -> "Security Certificate" -> forged leaf (RSA-2048 e=3, 6 h earlier).
ca kz
rsa kzroot
sign kz kzroot "/C=KZ/CN=Test Interception Root" 20160101000000Z 20460101000000Z ext-ca.cnf selfsign
ca kzroot
rsa kzint
sign kzroot kzint "/CN=Security Certificate" 20160101000000Z 20360101000000Z ext-ca.cnf
ca kzint
rsa forged 2048 3
sign kzint forged "/C=US/O=Example Inc/CN=example.com" 20190531180000Z 20200531180000Z ext-forged.cnf

# An interceptor that signs every leaf with its own CA key (mitmproxy does): no per-site key.
cp kzint.key mitm.key
printf 'subjectAltName = DNS:shop.example.com\nextendedKeyUsage = serverAuth\n' > ext-mitm.cnf
sign kzint mitm "/CN=shop.example.com/O=mitmproxy" 20190601000000Z 20200601000000Z ext-mitm.cnf

# Fan-out: the same interception intermediate forging leaves for unrelated names (EC: fast).
i=1
for n in alpha.org bravo.net charlie.com delta.io echo.kz foxtrot.de; do
	printf 'subjectAltName = DNS:%s\n' "$n" > "ext-fan$i.cnf"
	ec "fan$i"
	sign kzint "fan$i" "/CN=$n" 20190101000000Z 20300101000000Z "ext-fan$i.cnf"
	i=$((i + 1))
done

# Private CA (not publicly trusted, not on any list): root -> leaf.
ca priv
rsa privroot
sign priv privroot "/O=Corp/CN=Corp Private Root" 20100101000000Z 20400101000000Z ext-ca.cnf selfsign
ca privroot
ec privleaf
printf 'subjectAltName = DNS:intranet.corp.test\nextendedKeyUsage = serverAuth\n' > ext-priv.cnf
sign privroot privleaf "/CN=intranet.corp.test" 20190101000000Z 20300101000000Z ext-priv.cnf

# Trust store for the tests (replace mode): the public test root only.
cp root.pem trust.pem
# Operator anchor file: the interception root by SPKI hash.
printf '%s\ttest interception root\n' \
	"$(openssl x509 -in kzroot.pem -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)" \
	> anchors-spki.tsv
# Reference values computed by the CLI for the x509 test.
for c in leaf1 forged ecleaf kzroot; do
	openssl x509 -in "$c.pem" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum |
		cut -d' ' -f1 > "$c.spki"
	openssl x509 -in "$c.pem" -outform der | sha256sum | cut -d' ' -f1 > "$c.sha256"
	openssl x509 -in "$c.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' > "$c.serial"
done
