/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of certificate and chain ids on a real chain, against values from xxh128sum and sha256sum. */
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "fingerprint.h"
#include "reasm.h"
#include "tls.h"
#include "tls_test_pcap.h"

static int failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);     \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CHECK_HEX(bytes, n, want)                                                                  \
	do {                                                                                       \
		char h_[2 * 64 + 1];                                                               \
		cw_hex((bytes), (n), h_);                                                          \
		if (strcmp(h_, (want)) != 0) {                                                     \
			fprintf(stderr, "%s:%d: got %s want %s\n", __FILE__, __LINE__, h_, (want)); \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/*
 * The badcurveball server chain (leaf 615 bytes, issuer 885 bytes). Expected
 * values were computed outside this code from the DER that tshark exports:
 * `xxh128sum` (canonical XXH3-128) and `sha256sum`; the chain id is
 * `xxh128sum` of the two per-certificate ids concatenated.
 */
#define LEAF_XXH "8079da86833886348bf0d5195c7cd0e5"
#define CA_XXH "d7d90684b69d8b1944921803026d8ab7"
#define LEAF_SHA256 "37a074a3c248aef1f27cbd26093f3364765bb01a97e8b3f387f5bf0cd7b4e1b4"
#define CA_SHA256 "45f7246e18837abc380f4c1b1cf17d3a72438407bdade09086ec65eb6a0fc4dc"
#define CHAIN_ID "8efc72f2ef312ceaa96027b58125659f"
#define LEAF_ONLY_CHAIN_ID "80e17521d27d3f60f1ca50685bf4e120"

static uint8_t stream[64 * 1024];

/* Frame the server stream and parse its Certificate message. */
static int
load_chain(struct cw_cert_list *cl)
{
	struct cw_tls_stream ts;
	struct cw_reasm r;
	struct cw_tls_item it;
	long n = tp_stream("tests/data/conformance/ja4/pcap/badcurveball.pcap", 443, stream,
			   sizeof(stream));

	if (n <= 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.buf = stream;
	r.cap = sizeof(stream);
	r.limit = r.cap;
	r.contig = (uint32_t)n;
	cw_tls_stream_init(&ts);
	while (cw_tls_next(&ts, &r, &it) == CW_TI_HS) {
		if (it.hs_type == CW_TLS_HS_CERTIFICATE)
			return cw_tls_parse_certificate(it.body, it.len, 0, cl) == CW_OK ? 0 : -1;
	}
	return -1;
}

int
main(void)
{
	struct cw_cert_list cl, one, none;
	uint8_t id[CW_ID_LEN], ids[CW_TLS_MAX_CERTS][CW_ID_LEN], chain[CW_ID_LEN];
	uint8_t sha[CW_SHA256_LEN], zero[CW_ID_LEN] = {0};

	if (load_chain(&cl) != 0 || cl.n != 2) {
		fprintf(stderr, "test_chain: could not load the capture's chain\n");
		return 1;
	}
	CHECK(cl.c[0].len == 615 && cl.c[1].len == 885);

	cw_cert_id(cl.c[0].p, cl.c[0].len, id);
	CHECK_HEX(id, CW_ID_LEN, LEAF_XXH);
	cw_cert_id(cl.c[1].p, cl.c[1].len, id);
	CHECK_HEX(id, CW_ID_LEN, CA_XXH);
	cw_cert_sha256(cl.c[0].p, cl.c[0].len, sha);
	CHECK_HEX(sha, CW_SHA256_LEN, LEAF_SHA256);
	cw_cert_sha256(cl.c[1].p, cl.c[1].len, sha);
	CHECK_HEX(sha, CW_SHA256_LEN, CA_SHA256);

	memset(ids, 0xee, sizeof(ids));
	cw_chain_id(&cl, ids, chain);
	CHECK_HEX(chain, CW_ID_LEN, CHAIN_ID);
	CHECK_HEX(ids[0], CW_ID_LEN, LEAF_XXH);
	CHECK_HEX(ids[1], CW_ID_LEN, CA_XXH);
	CHECK(ids[2][0] == 0xee); /* only cl->n entries are written */
	cw_chain_id(&cl, NULL, id);
	CHECK(memcmp(id, chain, CW_ID_LEN) == 0);

	/* Order matters: the chain is leaf first. */
	one = cl;
	one.c[0] = cl.c[1];
	one.c[1] = cl.c[0];
	cw_chain_id(&one, NULL, id);
	CHECK(memcmp(id, chain, CW_ID_LEN) != 0);
	/* A leaf alone. */
	one = cl;
	one.n = one.total = 1;
	cw_chain_id(&one, NULL, id);
	CHECK_HEX(id, CW_ID_LEN, LEAF_ONLY_CHAIN_ID);
	/* Empty chain: all zero, not the hash of nothing. */
	memset(&none, 0, sizeof(none));
	memset(id, 0xff, sizeof(id));
	cw_chain_id(&none, NULL, id);
	CHECK(memcmp(id, zero, CW_ID_LEN) == 0);

	if (failures) {
		fprintf(stderr, "test_chain: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_chain: ok\n");
	return 0;
}
