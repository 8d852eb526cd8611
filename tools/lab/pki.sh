#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Build the lab PKI with the openssl CLI.
#
#   pki.sh DIR
#
# DIR receives:
#   genuine-root.pem / .key          "Chainwatch Lab Root CA" (RSA-3072)
#   genuine-int.pem / .key           "Chainwatch Lab Issuing CA 1" (RSA-2048)
#   leaf-<name>.pem / .key / -chain.pem   one leaf per origin name (leaf + intermediate)
#   icpt-root.pem / .key             "Qaznet Trust Network (chainwatch lab)" interception root (RSA-2048)
#   icpt-int.pem / .key              "Security Certificate" interception intermediate (RSA-2048)
#   icpt-leafkey.key                 RSA-2048, e=3: the key sslsplit puts into every forged leaf
#   mitmproxy/mitmproxy-ca.pem       icpt-int key + icpt-int cert + icpt-root cert (mitmproxy confdir)
#
# An existing, complete DIR is left as it is (so a PKI can be reused across runs).
set -euo pipefail

dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"

if [[ -s mitmproxy/mitmproxy-ca.pem && -s genuine-root.pem ]]; then
	exit 0
fi

# name:keytype pairs; the lab's origins
LEAVES=(
	"www.example-bank.test:rsa"
	"mail.example.test:ec"
	"social.example.test:rsa"
	"video.example.test:ec"
	"api.example.test:ec"
)

export OPENSSL_CONF=/dev/null

rsa_key() { # file bits [exp]
	openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" \
		${3:+-pkeyopt "rsa_keygen_pubexp:$3"} -out "$1" 2>/dev/null
}
ec_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1"
}

# A syntactically valid but fake SignedCertificateTimestampList (RFC 6962 3.3),
# wrapped in an OCTET STRING as the extension value requires.
fake_sct_der() {
	/usr/bin/python3 - "$1" <<'EOF'
import hashlib, struct, sys, time
seed = sys.argv[1].encode()
log_id = hashlib.sha256(b"chainwatch-lab-log:" + seed).digest()
ts = struct.pack(">Q", int(time.time() * 1000))
sig = b"\x30\x44\x02\x20" + hashlib.sha256(b"r" + seed).digest() + b"\x02\x20" + hashlib.sha256(b"s" + seed).digest()
sct = b"\x00" + log_id + ts + b"\x00\x00" + b"\x04\x03" + struct.pack(">H", len(sig)) + sig
lst = struct.pack(">H", len(sct)) + sct
lst = struct.pack(">H", len(lst)) + lst
assert len(lst) < 128
print("04%02x%s" % (len(lst), lst.hex()))
EOF
}

cat > ext.cnf <<'EOF'
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[int]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:http://pki.example-lab.test/root.crt, OCSP;URI:http://ocsp.example-lab.test/
crlDistributionPoints = URI:http://pki.example-lab.test/root.crl
extendedKeyUsage = serverAuth, clientAuth

[icpt_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[icpt_int]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# --- genuine hierarchy ---
rsa_key genuine-root.key 3072
openssl req -new -x509 -key genuine-root.key -sha256 -days 3650 \
	-subj "/C=XX/O=Chainwatch Lab Trust/CN=Chainwatch Lab Root CA" \
	-set_serial 0x$(openssl rand -hex 12) \
	-extensions root -config ext.cnf -out genuine-root.pem
rsa_key genuine-int.key 2048
openssl req -new -key genuine-int.key -subj "/C=XX/O=Chainwatch Lab Trust/CN=Chainwatch Lab Issuing CA 1" -out genuine-int.csr
openssl x509 -req -in genuine-int.csr -CA genuine-root.pem -CAkey genuine-root.key \
	-set_serial 0x$(openssl rand -hex 12) -days 1825 -sha256 \
	-extfile ext.cnf -extensions int -out genuine-int.pem 2>/dev/null

for entry in "${LEAVES[@]}"; do
	name=${entry%%:*}
	kt=${entry##*:}
	if [[ $kt == rsa ]]; then rsa_key "leaf-$name.key" 2048; else ec_key "leaf-$name.key"; fi
	short=${name%%.*}
	cat > "leaf-$name.cnf" <<EOF
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature$([[ $kt == rsa ]] && echo ", keyEncipherment")
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:$name, DNS:$short-alt.example.test
authorityInfoAccess = caIssuers;URI:http://pki.example-lab.test/issuing1.crt, OCSP;URI:http://ocsp.example-lab.test/
crlDistributionPoints = URI:http://pki.example-lab.test/issuing1.crl
certificatePolicies = 2.23.140.1.2.2
1.3.6.1.4.1.11129.2.4.2 = DER:$(fake_sct_der "$name")
EOF
	openssl req -new -key "leaf-$name.key" -subj "/C=XX/O=Example Lab/CN=$name" -out "leaf-$name.csr"
	openssl x509 -req -in "leaf-$name.csr" -CA genuine-int.pem -CAkey genuine-int.key \
		-set_serial 0x$(openssl rand -hex 16 | sed 's/^[89a-f]/7/') -days 397 -sha256 \
		-extfile "leaf-$name.cnf" -extensions leaf -out "leaf-$name.pem" 2>/dev/null
	cat "leaf-$name.pem" genuine-int.pem > "leaf-$name-chain.pem"
done

# --- interception CA (Kazakh 2019 scheme: Qaznet root <- "Security Certificate" <- forged leaf) ---
rsa_key icpt-root.key 2048
openssl req -new -x509 -key icpt-root.key -sha256 -days 10950 \
	-subj "/C=KZ/CN=Qaznet Trust Network (chainwatch lab)" \
	-set_serial 0x$(openssl rand -hex 12) \
	-extensions icpt_root -config ext.cnf -out icpt-root.pem
rsa_key icpt-int.key 2048
openssl req -new -key icpt-int.key -subj "/C=KZ/CN=Security Certificate" -out icpt-int.csr
openssl x509 -req -in icpt-int.csr -CA icpt-root.pem -CAkey icpt-root.key \
	-set_serial 0x$(openssl rand -hex 12) -days 3650 -sha256 \
	-extfile ext.cnf -extensions icpt_int -out icpt-int.pem 2>/dev/null
# forged leaves: RSA-2048 with public exponent 3
rsa_key icpt-leafkey.key 2048 3

mkdir -p mitmproxy
cat icpt-int.key icpt-int.pem icpt-root.pem > mitmproxy/mitmproxy-ca.pem
rm -f ./*.csr
chmod 600 ./*.key mitmproxy/mitmproxy-ca.pem
