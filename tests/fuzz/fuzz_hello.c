/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: ClientHello/ServerHello/Certificate parsers and every fingerprint on one body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cw_cursor.h"
#include "fingerprint.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cw_client_hello ch;
	struct cw_server_hello sh;
	struct cw_cert_list cl;
	char out[4096], md5[CW_MD5_HEX];
	uint8_t id[CW_ID_LEN];
	uint8_t *copy;

	if (size > 65536)
		return 0;
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	memset(&ch, 0, sizeof(ch));
	if (cw_tls_parse_client_hello(copy, (uint32_t)size, &ch) == CW_OK) {
		cw_ja3(&ch, out, sizeof(out), md5);
		cw_ja3(&ch, out, 7, md5); /* a short buffer must still hash the whole string */
		for (int k = CW_JA4; k <= CW_JA4_RO; k++)
			cw_ja4(&ch, 't', (enum cw_ja4_kind)k, out, sizeof(out));
	}
	memset(&ch, 0, sizeof(ch));
	if (cw_tls_parse_sslv2_hello(copy, (uint32_t)size, &ch) == CW_OK) {
		cw_ja3(&ch, out, sizeof(out), md5);
		cw_ja4(&ch, 't', CW_JA4, out, sizeof(out));
	}
	memset(&sh, 0, sizeof(sh));
	if (cw_tls_parse_server_hello(copy, (uint32_t)size, &sh) == CW_OK)
		cw_ja3s(&sh, out, sizeof(out), md5);
	/* Each form, whole and as the prefix of a longer message (cut at the reassembly cap). */
	for (int flags = 0; flags <= (CW_TLS_CERT_13 | CW_TLS_CERT_PREFIX); flags++) {
		memset(&cl, 0, sizeof(cl));
		if (cw_tls_parse_certificate(copy, (uint32_t)size, flags, &cl) == CW_OK) {
			for (uint32_t i = 0; i < cl.n; i++)
				if (cl.c[i].p < copy || cl.c[i].p + cl.c[i].len > copy + size)
					abort();
			cw_chain_id(&cl, NULL, id);
		}
	}
	free(copy);
	return 0;
}
