/* SPDX-License-Identifier: BSD-3-Clause */
/* TLS record/handshake framing over a reassembled stream, and the hello/certificate parsers. */
#ifndef CW_TLS_H
#define CW_TLS_H

#include <stdint.h>

#include "reasm.h"

/* Record content types (RFC 8446 §5.1). */
#define CW_TLS_CT_CCS 20
#define CW_TLS_CT_ALERT 21
#define CW_TLS_CT_HANDSHAKE 22
#define CW_TLS_CT_APPDATA 23

/* Handshake message types. */
#define CW_TLS_HS_CLIENT_HELLO 1
#define CW_TLS_HS_SERVER_HELLO 2
#define CW_TLS_HS_NEW_SESSION_TICKET 4
#define CW_TLS_HS_CERTIFICATE 11
#define CW_TLS_HS_SERVER_KEY_EXCHANGE 12
#define CW_TLS_HS_SERVER_HELLO_DONE 14
#define CW_TLS_HS_FINISHED 20

#define CW_TLS_MAX_EXT 64       /* extension types kept per hello; more -> CW_TLS_A_TOO_MANY_EXT */
#define CW_TLS_MAX_CERTS 8      /* certificates kept per chain; more -> list.truncated */
#define CW_TLS_MAX_RECORD 18432 /* 2^14 + 2048: the largest legal TLSCiphertext */
/*
 * The longest Certificate message framed, cut at the cap, rather than given
 * up on at its header: 2.5 times what OpenSSL clients take by default
 * (SSL_MAX_CERT_LIST_DEFAULT, 100 KiB); a longer one is a chain such a
 * client refuses.
 */
#define CW_TLS_MAX_CERT_MSG (256u * 1024u)

/* Parser anomaly bits (a subset of the event's anomaly flags). */
#define CW_TLS_A_DUP_EXT 0x0001      /* duplicate extension type: the hello is malformed */
#define CW_TLS_A_TOO_MANY_EXT 0x0002 /* more than CW_TLS_MAX_EXT extensions (fingerprints cover all) */
#define CW_TLS_A_TRAILING 0x0004     /* bytes after the last field of a message */
#define CW_TLS_A_BAD_EXT 0x0008      /* an extension's inner layout is wrong */

/* Handshake results hold views into the reassembly buffer: valid while it is. */
struct cw_view {
	const uint8_t *p;
	uint32_t len;
};

/*
 * ClientHello (RFC 8446 §4.1.2; SSLv2-compatible form RFC 5246 Appendix E.2).
 * Every list is the raw wire bytes of the vector's contents (no length prefix).
 */
struct cw_client_hello {
	uint16_t legacy_version;
	uint16_t version;        /* highest non-GREASE supported_versions value, else legacy_version */
	uint8_t sslv2;           /* parsed from an SSLv2-compatible hello (ciphers are 3-byte) */
	uint8_t has_sni, has_alpn, has_supported_versions;
	uint8_t has_psk, has_early_data, has_ech, has_session_ticket;
	struct cw_view random;      /* 32 bytes (SSLv2: the challenge) */
	struct cw_view session_id;
	struct cw_view ciphers;     /* u16 list (u24 for SSLv2) */
	struct cw_view compression;
	struct cw_view sni;         /* first host_name entry, not NUL-terminated */
	struct cw_view alpn;        /* ProtocolNameList contents: u8-length-prefixed names */
	struct cw_view groups;      /* supported_groups u16 list */
	struct cw_view point_formats;
	struct cw_view sigalgs;     /* signature_algorithms u16 list */
	struct cw_view versions;    /* supported_versions u16 list */
	struct cw_view key_share_groups_src; /* KeyShareClientHello client_shares contents */
	uint16_t n_ext;
	uint16_t ext[CW_TLS_MAX_EXT]; /* extension types in wire order, the first CW_TLS_MAX_EXT */
	struct cw_view exts;          /* the extension block, read again for types past those */
	uint32_t anomalies;           /* CW_TLS_A_* */
};

/* ServerHello (RFC 8446 §4.1.3), including HelloRetryRequest. */
struct cw_server_hello {
	uint16_t legacy_version;
	uint16_t version;        /* supported_versions selected_version, else legacy_version */
	uint16_t cipher;
	uint8_t compression;
	uint8_t hrr;             /* random equals the HelloRetryRequest constant */
	uint8_t downgrade;       /* 0, 12 (DOWNGRD\x01) or 11 (DOWNGRD\x00) sentinel in random */
	uint8_t has_supported_versions;
	struct cw_view random;
	struct cw_view session_id;
	struct cw_view alpn;     /* the selected protocol name (without its length byte) */
	uint16_t n_ext;
	uint16_t ext[CW_TLS_MAX_EXT];
	struct cw_view exts;     /* the extension block, as in struct cw_client_hello */
	uint32_t anomalies;
};

/* Certificate message (RFC 5246 §7.4.2; RFC 8446 §4.4.2 for the plaintext 1.3 form). */
struct cw_cert_list {
	uint32_t n;           /* certificates stored in c[] */
	uint32_t total;       /* certificates present in the message */
	struct cw_view c[CW_TLS_MAX_CERTS]; /* DER, leaf first, zero-copy */
};

/* Parse a handshake message body (after its 4-byte header). Return CW_OK or CW_BAD. */
int cw_tls_parse_client_hello(const uint8_t *body, uint32_t len, struct cw_client_hello *ch);
int cw_tls_parse_sslv2_hello(const uint8_t *rec, uint32_t len, struct cw_client_hello *ch);
int cw_tls_parse_server_hello(const uint8_t *body, uint32_t len, struct cw_server_hello *sh);
int cw_tls_parse_certificate(const uint8_t *body, uint32_t len, int flags, struct cw_cert_list *cl);

/* cw_tls_parse_certificate() flags. */
#define CW_TLS_CERT_13 0x1  /* the TLS 1.3 form: request context, extensions after each entry */
/*
 * body is the first len bytes of a longer message (CW_TI_HS with cut set):
 * the certificates that lie whole in it are returned (n, total counting
 * only those), the entry it ends inside is not. CW_BAD if what is there
 * is malformed.
 */
#define CW_TLS_CERT_PREFIX 0x2

/* GREASE (RFC 8701): 0x?a?a with equal bytes. */
static inline int
cw_tls_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* ---- Framing: one iterator per direction over the reassembled stream ---- */

enum cw_tls_item_kind {
	CW_TI_MORE = 0, /* need more contiguous bytes */
	CW_TI_HS,       /* a complete plaintext handshake message: hs_type, body (see `cut`) */
	CW_TI_RECORD,   /* a record not parsed as handshake, at its header: rec_type, rec_len (no body) */
	CW_TI_SSLV2_CH, /* an SSLv2-compatible ClientHello record: body = record body */
	CW_TI_NOT_TLS,  /* the stream does not start like TLS */
	CW_TI_BAD,      /* framing error: bad record length/version or bad message length */
	CW_TI_FULL,     /* the reassembly cap was reached before the item completed */
	CW_TI_CMP_DIFF, /* the Certificate compared differs: cw_tls_cmp_restore(), then call again */
};

struct cw_tls_item {
	int kind;
	uint8_t rec_type;
	uint8_t hs_type;
	uint8_t cut;     /* CW_TI_HS: only the first len bytes of a longer Certificate message */
	uint8_t cmp;     /* CW_TI_HS: a Certificate that matched struct cw_tls_cmp: body is its body */
	uint16_t rec_version;
	uint32_t rec_len;
	const uint8_t *body;
	uint32_t len;
};

/*
 * Which handshake messages the framing hands on whole, body included:
 * ClientHello, ServerHello (HelloRetryRequest too) and Certificate, the only
 * ones the session reads. Every other message (ServerKeyExchange,
 * CertificateStatus, CertificateRequest, ServerHelloDone, ...) is handed on
 * at its 4-byte header (CW_TI_HS with body NULL, len its declared length) and
 * its body is dropped as it arrives, never held.
 */
static inline int
cw_tls_hs_body_kept(uint8_t hs_type)
{
	return hs_type == CW_TLS_HS_CLIENT_HELLO || hs_type == CW_TLS_HS_SERVER_HELLO ||
	       hs_type == CW_TLS_HS_CERTIFICATE;
}

/*
 * Framing state for one direction. buf[hs_rd, hs_wr) holds the handshake
 * bytes not yet parsed, hs_rd being the next message header. A handshake
 * record's body is taken as it arrives (rec_left: its bytes still to come,
 * at rd): where no partial message is held it is parsed where it lies (the
 * window moves to its body); where it continues a partial message its bytes
 * are moved down to hs_wr, so a message split across records becomes
 * contiguous. This is safe because every record header removed makes the
 * compacted stream shorter than the raw stream (hs_wr <= rd), and bytes
 * before rd are marked consumed. A message whose body is not kept
 * (cw_tls_hs_body_kept()) leaves hs_skip body bytes to drop as they come.
 * Once `encrypted` is set, handshake records are reported as CW_TI_RECORD.
 */
struct cw_tls_stream {
	uint32_t rd;       /* offset of the next raw byte: a record header unless rec_left > 0 */
	uint32_t hs_wr;    /* end of compacted handshake bytes */
	uint32_t hs_rd;    /* offset of the next handshake message header */
	uint32_t hs_skip;  /* body bytes of a message handed on at its header, still to drop */
	uint16_t rec_left; /* body bytes of the current handshake record not yet taken */
	uint8_t started : 1;   /* the first record header passed the TLS probe */
	uint8_t encrypted : 1;
	uint8_t sslv2 : 1;     /* the stream starts with an SSLv2-compatible hello, not yet framed */
	uint8_t ccs : 1;
};

void cw_tls_stream_init(struct cw_tls_stream *ts);

/*
 * A Certificate message the server is expected to send (struct
 * cw_certref_ent), compared with the stream as it arrives instead of
 * assembled. Armed by its owner (body, len, state CW_CMP_ARMED); when a
 * Certificate message of exactly len bytes starts and is not whole yet, the
 * framing compares what is held and then each record body as it comes,
 * drops what matched (`off` bytes, all consumed) and, once all len bytes
 * matched, hands the message on with body pointing at the expected one
 * (item.cmp set). At the first byte that differs, or where the cap would
 * have cut the message, it returns CW_TI_CMP_DIFF with len = 4 + off: the
 * caller gets a buffer of at least len + cw_reasm_extent() - ts->rd bytes
 * and calls cw_tls_cmp_restore(), which puts back the message header and
 * the matched bytes from the expected body, so the message is assembled as
 * if nothing had been compared.
 *
 * While the message lies in one record (`single`), the bytes compared are
 * stream bytes [seq0, seq0 + 4 + off): a retransmission into them is
 * compared with the expected bytes by its owner (cw_tls_cmp_old()), as the
 * reassembly compares those still held.
 */
enum cw_tls_cmp_state {
	CW_CMP_NONE = 0, /* nothing expected */
	CW_CMP_ARMED,    /* expected, no Certificate message started yet */
	CW_CMP_ON,       /* comparing: off bytes matched and dropped */
	CW_CMP_DONE,     /* every byte matched: the message was handed on */
	CW_CMP_DIFF,     /* not compared (another length, or whole on arrival) or differed */
};

struct cw_tls_cmp {
	const uint8_t *body; /* the expected body */
	uint32_t len;        /* its length */
	uint32_t off;        /* body bytes matched and no longer held */
	uint32_t seq0;       /* sequence number of the message header, while single */
	uint8_t state;       /* enum cw_tls_cmp_state */
	uint8_t single;      /* the message's bytes so far came in one record, from seq0 */
};

/* cw_tls_next() on the direction a Certificate message is expected on (cmp may be NULL). */
int cw_tls_next_cmp(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_cmp *cmp,
		    struct cw_tls_item *it);

/*
 * After CW_TI_CMP_DIFF: move the direction to buf (cap bytes, as the item
 * says) with the Certificate message's header and matched bytes rebuilt in
 * front of what is held; the old buffer is free again when this returns.
 */
void cw_tls_cmp_restore(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_cmp *cmp,
			uint8_t *buf, uint32_t cap);

/*
 * A segment [seq, seq + len) of the direction whose bytes partly lay before
 * what the reassembly still compares (CW_RA_OLD): CW_RA_RETRANS and/or
 * CW_RA_CONFLICT for what of it overlaps the bytes compared while `single`
 * (those a receiver holding the message would still compare), else 0.
 */
unsigned int cw_tls_cmp_old(const struct cw_tls_cmp *cmp, uint32_t seq, const uint8_t *data,
			    uint32_t len);

/*
 * Next item from the contiguous prefix of r. Content detection only: the
 * first bytes must be a TLS record header (type 20..23, version 0x0300..0x0304)
 * or an SSLv2 ClientHello; the TCP port is never consulted.
 */
int cw_tls_next(struct cw_tls_stream *ts, struct cw_reasm *r, struct cw_tls_item *it);

/* Probe: do these first bytes look like the start of a TLS stream? (1 yes, 0 no, -1 need more) */
int cw_tls_probe(const uint8_t *p, uint32_t len);

#endif /* CW_TLS_H */
