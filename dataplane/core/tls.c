/* SPDX-License-Identifier: BSD-3-Clause */
/* TLS record/handshake framing over the reassembled stream, and the hello/certificate parsers. */
#include <string.h>

#include "cw_cursor.h"
#include "tls.h"

/* Extension types the parsers look inside. */
#define EXT_SERVER_NAME 0
#define EXT_SUPPORTED_GROUPS 10
#define EXT_EC_POINT_FORMATS 11
#define EXT_SIGNATURE_ALGORITHMS 13
#define EXT_ALPN 16
#define EXT_SESSION_TICKET 35
#define EXT_PRE_SHARED_KEY 41
#define EXT_EARLY_DATA 42
#define EXT_SUPPORTED_VERSIONS 43
#define EXT_KEY_SHARE 51
#define EXT_ECH 0xfe0d

#define SNI_HOST_NAME 0
#define TLS_RANDOM_LEN 32
#define TLS_MAX_SESSION_ID 32
#define HS_HDR_LEN 4  /* msg_type u8 + length u24 */
#define REC_HDR_LEN 5 /* type u8 + version u16 + length u16 */

/* RFC 8446 §4.1.3: SHA-256("HelloRetryRequest"), sent as the ServerHello random. */
static const uint8_t hrr_random[TLS_RANDOM_LEN] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* RFC 8446 §4.1.3: "DOWNGRD" then 01 (TLS 1.2 negotiated) or 00 (TLS 1.1 or below). */
static const uint8_t downgrade_prefix[7] = {0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44};

/*
 * Duplicate detection beyond the CW_TLS_MAX_EXT types kept in the hello:
 * one bit per extension type. Only touched by hellos with more than
 * CW_TLS_MAX_EXT extensions, which keeps the common path to a short linear
 * scan while bounding the hostile case to O(n).
 */
static _Thread_local uint64_t ext_seen_bits[65536 / 64];

static int
ext_bit_test_set(uint16_t type)
{
	uint64_t m = (uint64_t)1 << (type & 63);
	int was = (ext_seen_bits[type >> 6] & m) != 0;

	ext_seen_bits[type >> 6] |= m;
	return was;
}

/*
 * Record extension number idx (0-based, wire order) of type `type`; seen is
 * the caller's 64-bit filter of the types noted so far (zero at the start).
 * Returns CW_BAD on a duplicate: RFC 8446 §4.2 forbids more than one
 * extension of a type in a message, and a parser that silently keeps the
 * first or last copy would disagree with the endpoints about what was sent.
 */
static int
ext_note(uint16_t *ext, uint16_t *n_ext, uint64_t *seen, uint32_t *anomalies, uint32_t idx,
	 uint16_t type)
{
	/* One of 64 bits per type (top bits of a multiplicative hash): only a set bit needs the scan. */
	uint64_t bit = 1ull << (((uint32_t)type * 0x9E3779B1u) >> 26);
	uint32_t i;

	if (idx < CW_TLS_MAX_EXT) {
		if (*seen & bit) {
			for (i = 0; i < *n_ext; i++) {
				if (ext[i] == type) {
					*anomalies |= CW_TLS_A_DUP_EXT;
					return CW_BAD;
				}
			}
		}
		*seen |= bit;
		ext[(*n_ext)++] = type;
		return CW_OK;
	}
	if (idx == CW_TLS_MAX_EXT) {
		memset(ext_seen_bits, 0, sizeof(ext_seen_bits));
		for (i = 0; i < *n_ext; i++)
			ext_bit_test_set(ext[i]);
		*anomalies |= CW_TLS_A_TOO_MANY_EXT;
	}
	if (ext_bit_test_set(type)) {
		*anomalies |= CW_TLS_A_DUP_EXT;
		return CW_BAD;
	}
	return CW_OK;
}

/*
 * A cursor over a possibly absent range: callers may pass (NULL, 0), and
 * NULL + 0 is undefined in C, so an empty range gets a real address.
 */
static struct cw_cur
cur_of(const uint8_t *p, uint32_t n)
{
	static const uint8_t none[1];

	return p != NULL ? cw_cur_init(p, n) : cw_cur_init(none, 0);
}

static void
view_of(const struct cw_cur *c, struct cw_view *v)
{
	v->p = c->p;
	v->len = (uint32_t)cw_left(c);
}

/*
 * A vector of fixed-size items: length prefix of lenbytes, contents a
 * multiple of itemsz and at least min bytes, and nothing after it in the
 * extension. On success *out views the contents.
 */
static int
parse_item_list(struct cw_cur *e, unsigned int lenbytes, size_t itemsz, size_t min,
		struct cw_view *out)
{
	struct cw_cur l;

	if (cw_vec(e, lenbytes, &l) != CW_OK || !cw_empty(e))
		return CW_BAD;
	if (cw_left(&l) < min || cw_left(&l) % itemsz != 0)
		return CW_BAD;
	view_of(&l, out);
	return CW_OK;
}

/*
 * RFC 6066 §3:
 *   struct {
 *       NameType name_type;
 *       select (name_type) { case host_name: HostName; } name;
 *   } ServerName;
 *   enum { host_name(0), (255) } NameType;
 *   opaque HostName<1..2^16-1>;
 *   struct { ServerName server_name_list<1..2^16-1> } ServerNameList;
 * Keeps the first host_name. An empty list is accepted as "SNI present,
 * no name" because JA4 keys on presence; every name type is assumed to use
 * the 16-bit length form, the only one ever defined.
 */
static int
parse_sni(struct cw_cur *e, struct cw_client_hello *ch)
{
	struct cw_cur list, name;
	uint8_t type;
	int found = 0;

	if (cw_vec(e, 2, &list) != CW_OK || !cw_empty(e))
		return CW_BAD;
	while (!cw_empty(&list)) {
		if (cw_u8(&list, &type) != CW_OK || cw_vec(&list, 2, &name) != CW_OK)
			return CW_BAD;
		if (cw_empty(&name))
			return CW_BAD;
		if (type == SNI_HOST_NAME && !found) {
			view_of(&name, &ch->sni);
			found = 1;
		}
	}
	return CW_OK;
}

/*
 * RFC 7301 §3.1:
 *   opaque ProtocolName<1..2^8-1>;
 *   struct { ProtocolName protocol_name_list<2..2^16-1> } ProtocolNameList;
 * *out views the list contents (u8-length-prefixed names) only when every
 * name fits exactly; an empty name is a layout error but the list is still
 * kept because JA4 defines what an empty first name means.
 */
static int
parse_alpn_list(struct cw_cur *e, struct cw_view *out)
{
	struct cw_cur list, walk, name;
	int rc = CW_OK;

	if (cw_vec(e, 2, &list) != CW_OK || !cw_empty(e))
		return CW_BAD;
	walk = list;
	while (!cw_empty(&walk)) {
		if (cw_vec(&walk, 1, &name) != CW_OK)
			return CW_BAD;
		if (cw_empty(&name))
			rc = CW_BAD;
	}
	view_of(&list, out);
	if (cw_empty(&list))
		rc = CW_BAD;
	return rc;
}

/*
 * RFC 8446 §4.2.1 (ClientHello form):
 *   struct { ProtocolVersion versions<2..254>; } SupportedVersions;
 * ch->version becomes the highest non-GREASE entry.
 */
static int
parse_ch_versions(struct cw_cur *e, struct cw_client_hello *ch)
{
	struct cw_cur l;
	uint16_t v;

	if (parse_item_list(e, 1, 2, 2, &ch->versions) != CW_OK)
		return CW_BAD;
	l = cur_of(ch->versions.p, ch->versions.len);
	while (cw_u16(&l, &v) == CW_OK) {
		if (!cw_tls_is_grease(v) && (!ch->has_supported_versions || v > ch->version)) {
			ch->version = v;
			ch->has_supported_versions = 1;
		}
	}
	return CW_OK;
}

/*
 * RFC 8446 §4.2.8:
 *   struct { NamedGroup group; opaque key_exchange<1..2^16-1>; } KeyShareEntry;
 *   struct { KeyShareEntry client_shares<0..2^16-1>; } KeyShareClientHello;
 */
static int
parse_key_share(struct cw_cur *e, struct cw_client_hello *ch)
{
	struct cw_cur list, walk, kx;
	uint16_t group;

	if (cw_vec(e, 2, &list) != CW_OK || !cw_empty(e))
		return CW_BAD;
	walk = list;
	while (!cw_empty(&walk)) {
		if (cw_u16(&walk, &group) != CW_OK || cw_vec(&walk, 2, &kx) != CW_OK)
			return CW_BAD;
		if (cw_empty(&kx))
			return CW_BAD;
	}
	view_of(&list, &ch->key_share_groups_src);
	return CW_OK;
}

/* Look inside one ClientHello extension; CW_BAD means its inner layout is wrong. */
static int
parse_ch_ext(uint16_t type, struct cw_cur *e, struct cw_client_hello *ch)
{
	switch (type) {
	case EXT_SERVER_NAME:
		ch->has_sni = 1;
		return parse_sni(e, ch);
	case EXT_ALPN:
		ch->has_alpn = 1;
		return parse_alpn_list(e, &ch->alpn);
	case EXT_SUPPORTED_GROUPS:
		/* RFC 8446 §4.2.7: NamedGroup named_group_list<2..2^16-1>; */
		return parse_item_list(e, 2, 2, 2, &ch->groups);
	case EXT_EC_POINT_FORMATS:
		/* RFC 8422 §5.1.2: ECPointFormat ec_point_format_list<1..2^8-1>; */
		return parse_item_list(e, 1, 1, 1, &ch->point_formats);
	case EXT_SIGNATURE_ALGORITHMS:
		/* RFC 8446 §4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>; */
		return parse_item_list(e, 2, 2, 2, &ch->sigalgs);
	case EXT_SUPPORTED_VERSIONS:
		return parse_ch_versions(e, ch);
	case EXT_KEY_SHARE:
		return parse_key_share(e, ch);
	case EXT_PRE_SHARED_KEY:
		ch->has_psk = 1;
		return cw_empty(e) ? CW_BAD : CW_OK;
	case EXT_EARLY_DATA:
		/* RFC 8446 §4.2.10: empty in a ClientHello. */
		ch->has_early_data = 1;
		return cw_empty(e) ? CW_OK : CW_BAD;
	case EXT_ECH:
		ch->has_ech = 1;
		return cw_empty(e) ? CW_BAD : CW_OK;
	case EXT_SESSION_TICKET:
		/* RFC 5077 §3.2: empty asks for a ticket; data means resumption. */
		ch->has_session_ticket = !cw_empty(e);
		return CW_OK;
	default:
		return CW_OK;
	}
}

/*
 * RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2, where extensions are optional):
 *   struct {
 *       ProtocolVersion legacy_version;
 *       Random random;                                     32 bytes
 *       opaque legacy_session_id<0..32>;
 *       CipherSuite cipher_suites<2..2^16-2>;
 *       opaque legacy_compression_methods<1..2^8-1>;
 *       Extension extensions<8..2^16-1>;
 *   } ClientHello;
 *   struct { ExtensionType extension_type; opaque extension_data<0..2^16-1>; } Extension;
 *
 * Rejects (CW_BAD): truncation anywhere in the outer layout, an odd or empty
 * cipher list, an empty compression list, an extension block that does not
 * fill its length exactly, and duplicate extensions.
 * Flags but keeps: a wrong inner layout of a known extension
 * (CW_TLS_A_BAD_EXT; the matching view stays empty), more than
 * CW_TLS_MAX_EXT extensions, and bytes after the extension block, so that
 * fingerprints of odd but real clients are still computed.
 */
int
cw_tls_parse_client_hello(const uint8_t *body, uint32_t len, struct cw_client_hello *ch)
{
	struct cw_cur c = cur_of(body, len);
	struct cw_cur sid, cs, comp, exts, e;
	uint32_t idx = 0;
	uint64_t seen = 0; /* ext_note() filter */
	uint16_t type = 0;

	memset(ch, 0, sizeof(*ch));
	if (cw_u16(&c, &ch->legacy_version) != CW_OK)
		return CW_BAD;
	if (cw_view(&c, TLS_RANDOM_LEN, &ch->random.p) != CW_OK)
		return CW_BAD;
	ch->random.len = TLS_RANDOM_LEN;
	if (cw_vec(&c, 1, &sid) != CW_OK || cw_left(&sid) > TLS_MAX_SESSION_ID)
		return CW_BAD;
	view_of(&sid, &ch->session_id);
	if (cw_vec(&c, 2, &cs) != CW_OK || cw_empty(&cs) || cw_left(&cs) % 2 != 0)
		return CW_BAD;
	view_of(&cs, &ch->ciphers);
	if (cw_vec(&c, 1, &comp) != CW_OK || cw_empty(&comp))
		return CW_BAD;
	view_of(&comp, &ch->compression);
	ch->version = ch->legacy_version;
	if (cw_empty(&c))
		return CW_OK;
	if (cw_vec(&c, 2, &exts) != CW_OK)
		return CW_BAD;
	view_of(&exts, &ch->exts);
	if (!cw_empty(&c))
		ch->anomalies |= CW_TLS_A_TRAILING;

	while (!cw_empty(&exts)) {
		if (cw_u16(&exts, &type) != CW_OK || cw_vec(&exts, 2, &e) != CW_OK)
			return CW_BAD;
		if (ext_note(ch->ext, &ch->n_ext, &seen, &ch->anomalies, idx++, type) != CW_OK)
			return CW_BAD;
		if (parse_ch_ext(type, &e, ch) != CW_OK)
			ch->anomalies |= CW_TLS_A_BAD_EXT;
	}
	/* RFC 8446 §4.2.11: pre_shared_key MUST be the last extension. */
	if (ch->has_psk && type != EXT_PRE_SHARED_KEY)
		ch->anomalies |= CW_TLS_A_BAD_EXT;
	return CW_OK;
}

/*
 * SSLv2-compatible ClientHello, the record body after the 2-byte header
 * (RFC 5246 Appendix E.2, RFC 6101 Appendix E):
 *   uint8 msg_type;                  1
 *   Version version;
 *   uint16 cipher_spec_length;       multiple of 3, non-zero
 *   uint16 session_id_length;        0..32 (0 or 16 in practice)
 *   uint16 challenge_length;         16..32
 *   V2CipherSpec cipher_specs[cipher_spec_length];   3 bytes each
 *   opaque session_id[session_id_length];
 *   opaque challenge[challenge_length];
 * ch->ciphers holds the 3-byte specs; ch->random holds the challenge.
 */
int
cw_tls_parse_sslv2_hello(const uint8_t *rec, uint32_t len, struct cw_client_hello *ch)
{
	struct cw_cur c = cur_of(rec, len);
	uint16_t cs_len, sid_len, ch_len;
	uint8_t type;

	memset(ch, 0, sizeof(*ch));
	if (cw_u8(&c, &type) != CW_OK || type != CW_TLS_HS_CLIENT_HELLO)
		return CW_BAD;
	if (cw_u16(&c, &ch->legacy_version) != CW_OK || cw_u16(&c, &cs_len) != CW_OK ||
	    cw_u16(&c, &sid_len) != CW_OK || cw_u16(&c, &ch_len) != CW_OK)
		return CW_BAD;
	if (cs_len == 0 || cs_len % 3 != 0 || sid_len > TLS_MAX_SESSION_ID || ch_len < 16 ||
	    ch_len > 32)
		return CW_BAD;
	if (cw_view(&c, cs_len, &ch->ciphers.p) != CW_OK)
		return CW_BAD;
	ch->ciphers.len = cs_len;
	if (cw_view(&c, sid_len, &ch->session_id.p) != CW_OK)
		return CW_BAD;
	ch->session_id.len = sid_len;
	if (cw_view(&c, ch_len, &ch->random.p) != CW_OK)
		return CW_BAD;
	ch->random.len = ch_len;
	if (!cw_empty(&c))
		ch->anomalies |= CW_TLS_A_TRAILING;
	ch->sslv2 = 1;
	ch->version = ch->legacy_version;
	return CW_OK;
}

/* Look inside one ServerHello extension; CW_BAD means its inner layout is wrong. */
static int
parse_sh_ext(uint16_t type, struct cw_cur *e, struct cw_server_hello *sh)
{
	struct cw_cur list, name;

	switch (type) {
	case EXT_SUPPORTED_VERSIONS:
		/* RFC 8446 §4.2.1: ProtocolVersion selected_version; */
		if (cw_u16(e, &sh->version) != CW_OK || !cw_empty(e))
			return CW_BAD;
		sh->has_supported_versions = 1;
		return CW_OK;
	case EXT_ALPN:
		/* RFC 7301 §3.1: the server's list holds exactly one name. */
		if (cw_vec(e, 2, &list) != CW_OK || !cw_empty(e))
			return CW_BAD;
		if (cw_vec(&list, 1, &name) != CW_OK || cw_empty(&name) || !cw_empty(&list))
			return CW_BAD;
		view_of(&name, &sh->alpn);
		return CW_OK;
	default:
		return CW_OK;
	}
}

/*
 * RFC 8446 §4.1.3 (RFC 5246 §7.4.1.3: extensions optional):
 *   struct {
 *       ProtocolVersion legacy_version;
 *       Random random;                                     32 bytes
 *       opaque legacy_session_id_echo<0..32>;
 *       CipherSuite cipher_suite;
 *       uint8 legacy_compression_method;
 *       Extension extensions<6..2^16-1>;
 *   } ServerHello;
 * A HelloRetryRequest is a ServerHello whose random is the fixed value
 * hrr_random. Same rejection and flagging rules as the ClientHello.
 */
int
cw_tls_parse_server_hello(const uint8_t *body, uint32_t len, struct cw_server_hello *sh)
{
	struct cw_cur c = cur_of(body, len);
	struct cw_cur sid, exts, e;
	const uint8_t *tail;
	uint32_t idx = 0;
	uint64_t seen = 0; /* ext_note() filter */
	uint16_t type;

	memset(sh, 0, sizeof(*sh));
	if (cw_u16(&c, &sh->legacy_version) != CW_OK)
		return CW_BAD;
	if (cw_view(&c, TLS_RANDOM_LEN, &sh->random.p) != CW_OK)
		return CW_BAD;
	sh->random.len = TLS_RANDOM_LEN;
	if (cw_vec(&c, 1, &sid) != CW_OK || cw_left(&sid) > TLS_MAX_SESSION_ID)
		return CW_BAD;
	view_of(&sid, &sh->session_id);
	if (cw_u16(&c, &sh->cipher) != CW_OK || cw_u8(&c, &sh->compression) != CW_OK)
		return CW_BAD;
	sh->version = sh->legacy_version;
	sh->hrr = memcmp(sh->random.p, hrr_random, TLS_RANDOM_LEN) == 0;
	tail = sh->random.p + TLS_RANDOM_LEN - 8;
	if (memcmp(tail, downgrade_prefix, sizeof(downgrade_prefix)) == 0) {
		if (tail[7] == 0x01)
			sh->downgrade = 12;
		else if (tail[7] == 0x00)
			sh->downgrade = 11;
	}
	if (cw_empty(&c))
		return CW_OK;
	if (cw_vec(&c, 2, &exts) != CW_OK)
		return CW_BAD;
	view_of(&exts, &sh->exts);
	if (!cw_empty(&c))
		sh->anomalies |= CW_TLS_A_TRAILING;

	while (!cw_empty(&exts)) {
		if (cw_u16(&exts, &type) != CW_OK || cw_vec(&exts, 2, &e) != CW_OK)
			return CW_BAD;
		if (ext_note(sh->ext, &sh->n_ext, &seen, &sh->anomalies, idx++, type) != CW_OK)
			return CW_BAD;
		if (parse_sh_ext(type, &e, sh) != CW_OK)
			sh->anomalies |= CW_TLS_A_BAD_EXT;
	}
	return CW_OK;
}

/*
 * RFC 5246 §7.4.2 (TLS <= 1.2, tls13 == 0):
 *   opaque ASN.1Cert<1..2^24-1>;
 *   struct { ASN.1Cert certificate_list<0..2^24-1>; } Certificate;
 * RFC 8446 §4.4.2 (tls13 != 0):
 *   struct {
 *       opaque cert_data<1..2^24-1>;              (X.509 certificate type)
 *       Extension extensions<0..2^16-1>;
 *   } CertificateEntry;
 *   struct {
 *       opaque certificate_request_context<0..2^8-1>;
 *       CertificateEntry certificate_list<0..2^24-1>;
 *   } Certificate;
 * Rejects truncation, empty certificates and bytes after certificate_list:
 * a chain the endpoints would refuse must not be recorded as the one served.
 */
int
cw_tls_parse_certificate(const uint8_t *body, uint32_t len, int flags, struct cw_cert_list *cl)
{
	struct cw_cur c = cur_of(body, len);
	struct cw_cur ctx, list, cert, ext;
	int tls13 = (flags & CW_TLS_CERT_13) != 0;
	uint32_t llen;

	memset(cl, 0, sizeof(*cl));
	if (tls13 && cw_vec(&c, 1, &ctx) != CW_OK)
		return CW_BAD;
	if (flags & CW_TLS_CERT_PREFIX) {
		/* The list runs past what is here: take the entries that lie whole in it. */
		if (cw_u24(&c, &llen) != CW_OK || llen <= cw_left(&c))
			return CW_BAD;
		list = c;
	} else if (cw_vec(&c, 3, &list) != CW_OK || !cw_empty(&c)) {
		return CW_BAD;
	}
	while (!cw_empty(&list)) {
		if (cw_vec(&list, 3, &cert) != CW_OK || (tls13 && cw_vec(&list, 2, &ext) != CW_OK)) {
			if (!(flags & CW_TLS_CERT_PREFIX))
				return CW_BAD;
			break; /* the entry the prefix ends inside */
		}
		if (cw_empty(&cert))
			return CW_BAD;
		if (cl->n < CW_TLS_MAX_CERTS)
			view_of(&cert, &cl->c[cl->n++]);
		cl->total++;
	}
	return CW_OK;
}

/* ---- Framing ---- */

void
cw_tls_stream_init(struct cw_tls_stream *ts)
{
	memset(ts, 0, sizeof(*ts));
}

/*
 * Accepts the first bytes of a TLS record header (type 20..23, version
 * 3.x, length 1..CW_TLS_MAX_RECORD) or of an SSLv2-compatible
 * ClientHello (2-byte header with the high bit set, msg_type 1, version
 * 3.x or 0x0002). Answers "no" as soon as any available byte rules TLS
 * out, so non-TLS flows are dropped on their first bytes.
 */
int
cw_tls_probe(const uint8_t *p, uint32_t len)
{
	uint32_t rlen;

	if (len < 1)
		return -1;
	if (p[0] & 0x80) {
		/* msg_type, version and the three u16 lengths: 9 bytes at least. */
		if (len >= 2 && ((uint32_t)(p[0] & 0x7f) << 8 | p[1]) < 9)
			return 0;
		if (len >= 3 && p[2] != CW_TLS_HS_CLIENT_HELLO)
			return 0;
		if (len >= 4 && p[3] != 3 && p[3] != 0)
			return 0;
		if (len >= 5 && p[3] == 0 && p[4] != 2)
			return 0;
		return len >= 5 ? 1 : -1;
	}
	if (p[0] < CW_TLS_CT_CCS || p[0] > CW_TLS_CT_APPDATA)
		return 0;
	/*
	 * The record's minor version is not checked: RFC 8446 5.1 has every
	 * receiver ignore legacy_record_version, and on a first record TLS stacks
	 * check only the major (OpenSSL's ssl3_get_record()), so a hello in a
	 * 3.5 record is taken by its peer and must be by the probe.
	 */
	if (len >= 2 && p[1] != 3)
		return 0;
	if (len < REC_HDR_LEN)
		return -1;
	rlen = (uint32_t)p[3] << 8 | p[4];
	return rlen >= 1 && rlen <= CW_TLS_MAX_RECORD;
}

/*
 * Hand everything before rd to the parser so retransmits into rewritten bytes are not compared;
 * but a message being assembled where it lies (nothing moved: hs_wr == rd) is still raw stream,
 * so it stays with the reassembly, which compares retransmissions into it (overlap conflicts).
 */
static int
emit(struct cw_tls_stream *ts, struct cw_reasm *r, int kind)
{
	uint32_t upto = ts->hs_rd < ts->hs_wr && ts->hs_wr == ts->rd ? ts->hs_rd : ts->rd;

	if (upto > r->contig)
		upto = r->contig;

	if (upto > r->consumed)
		cw_reasm_consume(r, upto);
	return kind;
}

/*
 * The buffer is full and a Certificate message is still partial in it: hand
 * on what is held of it (the certificates that lie whole in it can still be
 * judged; an interceptor could otherwise hide its chain behind a padded one)
 * and drop the rest of the message as it comes. Returns 0 when no such
 * message is held.
 */
static int
cut_certificate(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_item *it)
{
	struct cw_cur c = cw_cur_init(r->buf + ts->hs_rd, ts->hs_wr - ts->hs_rd);
	uint8_t type;
	uint32_t mlen;

	if (ts->hs_rd >= ts->hs_wr || cw_u8(&c, &type) != CW_OK || type != CW_TLS_HS_CERTIFICATE ||
	    cw_u24(&c, &mlen) != CW_OK || cw_left(&c) >= mlen)
		return 0;
	memset(it, 0, sizeof(*it));
	it->kind = CW_TI_HS;
	it->hs_type = CW_TLS_HS_CERTIFICATE;
	it->rec_type = CW_TLS_CT_HANDSHAKE;
	it->cut = 1;
	it->body = c.p;
	it->len = (uint32_t)cw_left(&c);
	ts->hs_skip = mlen - it->len;
	ts->hs_rd = ts->hs_wr;
	return 1;
}

/*
 * The Certificate being compared cannot go on (a byte differs, or the cap is
 * reached where the message would have been cut): the caller restores it.
 */
static int
cmp_diff(struct cw_tls_stream *ts, struct cw_reasm *r, const struct cw_tls_cmp *cmp,
	 struct cw_tls_item *it)
{
	memset(it, 0, sizeof(*it));
	it->kind = CW_TI_CMP_DIFF;
	it->rec_type = CW_TLS_CT_HANDSHAKE;
	it->hs_type = CW_TLS_HS_CERTIFICATE;
	it->len = HS_HDR_LEN + cmp->off;
	return emit(ts, r, it->kind);
}

/* Nothing more can be held: a partial Certificate message if there is one, then FULL. */
static int
full(struct cw_tls_stream *ts, struct cw_reasm *r, const struct cw_tls_cmp *cmp,
     struct cw_tls_item *it)
{
	if (cmp != NULL && cmp->state == CW_CMP_ON)
		return cmp_diff(ts, r, cmp, it);
	if (!cut_certificate(ts, r, it)) {
		memset(it, 0, sizeof(*it));
		it->kind = CW_TI_FULL;
	}
	return emit(ts, r, it->kind);
}

/* Nothing completes: MORE while the buffer can still grow, FULL once it cannot. */
static int
wait_more(struct cw_tls_stream *ts, struct cw_reasm *r, const struct cw_tls_cmp *cmp,
	  struct cw_tls_item *it)
{
	if (r->contig >= r->limit)
		return full(ts, r, cmp, it);
	it->kind = CW_TI_MORE;
	return emit(ts, r, it->kind);
}

/*
 * A Certificate message of the expected length starts at hs_rd and is not
 * whole yet: compare what is held of its body. All of it matches: it is
 * dropped (hs_rd = hs_wr) and the rest is compared as it comes. Any byte
 * differs: nothing was dropped, the message is assembled as usual.
 */
static void
cmp_start(struct cw_tls_stream *ts, const struct cw_reasm *r, struct cw_tls_cmp *cmp)
{
	uint32_t held = ts->hs_wr - ts->hs_rd - HS_HDR_LEN;

	if (memcmp(r->buf + ts->hs_rd + HS_HDR_LEN, cmp->body, held) != 0) {
		cmp->state = CW_CMP_DIFF;
		return;
	}
	cmp->state = CW_CMP_ON;
	cmp->off = held;
	/* Assembled where it lies (nothing moved down): its header is stream byte hs_rd. */
	cmp->single = ts->hs_wr == ts->rd;
	cmp->seq0 = r->base_seq + ts->hs_rd;
	ts->hs_rd = ts->hs_wr;
}

/*
 * Compare what has arrived of the current record's body (rec_left > 0) with
 * the expected bytes. 1: the message is complete (every byte matched), 0:
 * matched so far, -1: a byte differs (nothing of this piece taken).
 */
static int
cmp_record_body(struct cw_tls_stream *ts, const struct cw_reasm *r, struct cw_tls_cmp *cmp)
{
	uint32_t k = r->contig - ts->rd;

	if (k > ts->rec_left)
		k = ts->rec_left;
	if (k > cmp->len - cmp->off)
		k = cmp->len - cmp->off;
	if (memcmp(r->buf + ts->rd, cmp->body + cmp->off, k) != 0)
		return -1;
	cmp->off += k;
	ts->rd += k;
	ts->hs_rd = ts->hs_wr = ts->rd;
	ts->rec_left = (uint16_t)(ts->rec_left - k);
	return cmp->off == cmp->len;
}

/*
 * The next handshake message in buf[hs_rd, hs_wr), if any: a kept type once
 * it is complete, any other type as soon as its header is in (body NULL, len
 * its declared length; hs_skip is left with what of its body is still to
 * come). Returns CW_OK with it filled, CW_MORE if the message is still
 * partial, CW_BAD if it can never complete in this buffer.
 */
static int
next_hs_message(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_cmp *cmp,
		struct cw_tls_item *it)
{
	struct cw_cur c = cw_cur_init(r->buf + ts->hs_rd, ts->hs_wr - ts->hs_rd);
	uint8_t type;
	uint32_t mlen, here;
	uint64_t need, raw_end;

	if (cw_u8(&c, &type) != CW_OK || cw_u24(&c, &mlen) != CW_OK)
		return CW_MORE;
	if (!cw_tls_hs_body_kept(type)) {
		here = cw_left(&c) < mlen ? cw_left(&c) : mlen;
		ts->hs_rd += HS_HDR_LEN + here;
		ts->hs_skip = mlen - here;
	} else if (cw_view(&c, mlen, &it->body) != CW_OK) {
		if (type == CW_TLS_HS_CERTIFICATE && cmp != NULL && cmp->state == CW_CMP_ARMED) {
			if (mlen == cmp->len) {
				cmp_start(ts, r, cmp);
				if (cmp->state == CW_CMP_ON)
					return CW_MORE;
			} else {
				cmp->state = CW_CMP_DIFF;
			}
		}
		/*
		 * The missing bytes still have to arrive after rd: the rest of
		 * the record being taken, then behind at least one more record
		 * header. If that lands past the cap, the message can never
		 * complete, so say so now instead of waiting.
		 */
		need = (uint64_t)ts->hs_rd + HS_HDR_LEN + mlen - ts->hs_wr;
		raw_end = (uint64_t)ts->rd + need + (need > ts->rec_left ? REC_HDR_LEN : 0);
		if (raw_end <= r->limit)
			return CW_MORE;
		/*
		 * A Certificate a client would take is taken up to the cap all
		 * the same, then cut (full()).
		 */
		return type == CW_TLS_HS_CERTIFICATE && mlen <= CW_TLS_MAX_CERT_MSG ? CW_MORE : CW_BAD;
	} else {
		ts->hs_rd += HS_HDR_LEN + mlen;
	}
	it->kind = CW_TI_HS;
	it->hs_type = type;
	it->rec_type = CW_TLS_CT_HANDSHAKE;
	it->len = mlen;
	return CW_OK;
}

/*
 * Take what has arrived of the current handshake record's body (rec_left >
 * 0): bytes of a message being skipped are passed over where they lie, the
 * rest is appended to the handshake bytes at hs_wr (moved down when record
 * headers were removed before it).
 */
static void
take_record_body(struct cw_tls_stream *ts, const struct cw_reasm *r)
{
	uint32_t k = r->contig - ts->rd;

	if (k > ts->rec_left)
		k = ts->rec_left;
	if (ts->hs_skip > 0 && ts->hs_rd == ts->hs_wr) {
		if (k > ts->hs_skip)
			k = ts->hs_skip;
		ts->hs_skip -= k;
		ts->hs_rd = ts->hs_wr = ts->rd + k;
	} else {
		/* hs_wr <= rd: the move only ever goes down, over consumed bytes. */
		if (ts->hs_wr != ts->rd)
			memmove(r->buf + ts->hs_wr, r->buf + ts->rd, k);
		ts->hs_wr += k;
	}
	ts->rd += k;
	ts->rec_left = (uint16_t)(ts->rec_left - k);
}

/*
 * Items come out in stream order. Handshake record bodies are taken as they
 * arrive (struct cw_tls_stream); a message is handed on once complete, or at
 * its header when its body is not kept, the body then dropped as it comes. A
 * record not parsed as handshake (alert, ChangeCipherSpec, application data,
 * anything encrypted) is returned as soon as its header is in (body NULL,
 * len 0) and rd skips past it: the caller learns its type and length (TLS
 * 1.3 encrypted flight sizes) and its body is consumed as it arrives. So a
 * direction holds only the kept message being assembled and a partial
 * header: never a body it will not parse (an encrypted TLS 1.3 server flight
 * of several KiB, a ServerKeyExchange, a stapled OCSP response).
 *
 * A hello whose declared length cannot fit in what is left of the buffer is
 * reported as CW_TI_FULL at once (the stream may well be valid; it is just
 * bigger than what is held). A Certificate message that cannot fit is taken
 * until the buffer is full, then handed on cut (cut_certificate()); a
 * handshake record that runs past the cap is taken up to it, since the
 * messages that end below the cap are still worth parsing.
 */
int
cw_tls_next_cmp(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_cmp *cmp,
		struct cw_tls_item *it)
{
	struct cw_cur c;
	uint8_t type;
	uint16_t ver, rlen;
	uint32_t avail, n;
	int rc;

	memset(it, 0, sizeof(*it));
	if (r->buf == NULL) {
		/* No buffer attached yet: nothing can be held, so nothing is lost either. */
		it->kind = CW_TI_MORE;
		return it->kind;
	}

	/*
	 * The stream starts at rd, not necessarily at 0: a caller that skipped
	 * a non-TLS preamble re-initialises the state with rd (and hs_rd,
	 * hs_wr) at the new start.
	 */
	if (!ts->started) {
		if (ts->rd >= r->contig)
			return wait_more(ts, r, cmp, it);
		rc = cw_tls_probe(r->buf + ts->rd, r->contig - ts->rd);
		if (rc < 0)
			return wait_more(ts, r, cmp, it);
		if (rc == 0) {
			it->kind = CW_TI_NOT_TLS;
			return it->kind;
		}
		ts->started = 1;
		ts->sslv2 = (r->buf[ts->rd] & 0x80) != 0;
	}

	if (ts->sslv2) {
		/* The SSLv2 form has a 2-byte header: high bit, then a 15-bit length. */
		c = cw_cur_init(r->buf + ts->rd, r->contig - ts->rd);
		if (cw_u16(&c, &rlen) != CW_OK)
			return wait_more(ts, r, cmp, it);
		rlen &= 0x7fff;
		if ((uint64_t)ts->rd + 2 + rlen > r->limit) {
			it->kind = CW_TI_FULL;
			return it->kind;
		}
		if (cw_view(&c, rlen, &it->body) != CW_OK)
			return wait_more(ts, r, cmp, it);
		it->kind = CW_TI_SSLV2_CH;
		it->rec_len = rlen;
		it->len = rlen;
		ts->rd += 2 + (uint32_t)rlen;
		ts->hs_rd = ts->hs_wr = ts->rd;
		ts->sslv2 = 0; /* TLS records follow */
		return emit(ts, r, it->kind);
	}

	for (;;) {
		if (ts->hs_skip > 0) {
			/* Drop what is held of a message handed on at its header. */
			n = ts->hs_wr - ts->hs_rd < ts->hs_skip ? ts->hs_wr - ts->hs_rd : ts->hs_skip;
			ts->hs_rd += n;
			ts->hs_skip -= n;
		}
		if (ts->hs_skip == 0) {
			rc = next_hs_message(ts, r, cmp, it);
			if (rc == CW_OK)
				return emit(ts, r, it->kind);
			if (rc == CW_BAD) {
				memset(it, 0, sizeof(*it));
				it->kind = CW_TI_FULL;
				return emit(ts, r, it->kind);
			}
		}

		if (ts->rd >= r->contig) {
			/* rd may already be past contig after skipping a record's body. */
			if (ts->rd >= r->limit)
				return full(ts, r, cmp, it);
			return wait_more(ts, r, cmp, it);
		}
		if (ts->rec_left > 0) {
			if (cmp != NULL && cmp->state == CW_CMP_ON) {
				rc = cmp_record_body(ts, r, cmp);
				if (rc < 0)
					return cmp_diff(ts, r, cmp, it);
				if (rc > 0) {
					cmp->state = CW_CMP_DONE;
					it->kind = CW_TI_HS;
					it->hs_type = CW_TLS_HS_CERTIFICATE;
					it->rec_type = CW_TLS_CT_HANDSHAKE;
					it->cmp = 1;
					it->body = cmp->body;
					it->len = cmp->len;
					return emit(ts, r, it->kind);
				}
				continue;
			}
			take_record_body(ts, r);
			continue;
		}
		avail = r->contig - ts->rd;
		c = cw_cur_init(r->buf + ts->rd, avail);
		if (cw_u8(&c, &type) != CW_OK || cw_u16(&c, &ver) != CW_OK ||
		    cw_u16(&c, &rlen) != CW_OK) {
			if (ts->rd + REC_HDR_LEN > r->limit)
				return full(ts, r, cmp, it);
			return wait_more(ts, r, cmp, it);
		}
		/* Heartbeat (24, RFC 6520) is legal after the first record. */
		/* Only the major version: the minor is legacy_record_version (cw_tls_probe()). */
		if (type < CW_TLS_CT_CCS || type > 24 || (ver >> 8) != 3 ||
		    rlen == 0 || rlen > CW_TLS_MAX_RECORD) {
			it->kind = CW_TI_BAD;
			it->rec_type = type;
			it->rec_version = ver;
			it->rec_len = rlen;
			return emit(ts, r, it->kind);
		}
		it->rec_type = type;
		it->rec_version = ver;
		it->rec_len = rlen;

		if (type == CW_TLS_CT_HANDSHAKE && !ts->encrypted && !ts->ccs) {
			ts->rd += REC_HDR_LEN;
			/* No partial message held: the body is parsed where it lies. */
			if (ts->hs_rd == ts->hs_wr)
				ts->hs_rd = ts->hs_wr = ts->rd;
			ts->rec_left = rlen;
			if (cmp != NULL && cmp->state == CW_CMP_ON) {
				/* The message goes on in another record: its bytes no longer lie together. */
				cmp->single = 0;
				continue;
			}
			if (ts->rd < r->contig)
				take_record_body(ts, r);
			continue;
		}

		/* Only the header matters: skip the body, whether it is here yet or not. */
		it->kind = CW_TI_RECORD;
		ts->rd += REC_HDR_LEN + rlen;
		if (type == CW_TLS_CT_CCS)
			ts->ccs = 1;
		return emit(ts, r, it->kind);
	}
}

int
cw_tls_next(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_item *it)
{
	return cw_tls_next_cmp(ts, r, NULL, it);
}

/* The expected message's 4-byte handshake header. */
static void
cmp_header(const struct cw_tls_cmp *cmp, uint8_t hdr[HS_HDR_LEN])
{
	hdr[0] = CW_TLS_HS_CERTIFICATE;
	hdr[1] = (uint8_t)(cmp->len >> 16);
	hdr[2] = (uint8_t)(cmp->len >> 8);
	hdr[3] = (uint8_t)cmp->len;
}

void
cw_tls_cmp_restore(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_cmp *cmp,
		   uint8_t *buf, uint32_t cap)
{
	uint32_t to = HS_HDR_LEN + cmp->off;

	cmp_header(cmp, buf);
	memcpy(buf + HS_HDR_LEN, cmp->body, cmp->off);
	cw_reasm_rebase(r, buf, cap, ts->rd, to);
	ts->rd = to;
	ts->hs_rd = 0;
	ts->hs_wr = to;
	cmp->state = CW_CMP_DIFF;
}

unsigned int
cw_tls_cmp_old(const struct cw_tls_cmp *cmp, uint32_t seq, const uint8_t *data, uint32_t len)
{
	uint32_t n = HS_HDR_LEN + cmp->off, lo, hi, i;
	uint8_t hdr[HS_HDR_LEN];
	unsigned int res = 0;

	if (!cmp->single || (cmp->state != CW_CMP_ON && cmp->state != CW_CMP_DIFF))
		return 0;
	/* [lo, hi): the segment's bytes as offsets from seq0 that fall in [0, n). */
	if ((int32_t)(seq - cmp->seq0) >= 0) {
		lo = seq - cmp->seq0;
		if (lo >= n)
			return 0;
		hi = len < n - lo ? lo + len : n;
	} else {
		i = cmp->seq0 - seq; /* bytes of the segment before seq0 */
		if (i >= len)
			return 0;
		lo = 0;
		hi = len - i < n ? len - i : n;
		data += i;
		seq = cmp->seq0;
	}
	cmp_header(cmp, hdr);
	for (i = lo; i < hi; i++) {
		uint8_t want = i < HS_HDR_LEN ? hdr[i] : cmp->body[i - HS_HDR_LEN];

		if (data[i - lo] != want)
			return CW_RA_CONFLICT;
		res = CW_RA_RETRANS;
	}
	return res;
}
