/* SPDX-License-Identifier: BSD-3-Clause */
/* The dataplane -> control event ABI: flow events, chain blobs and the shared-memory ring layout. */
#ifndef CW_EVENT_H
#define CW_EVENT_H

#include <stdint.h>

/*
 * Versioning: any change to a struct in this file bumps CW_ABI_VERSION.
 * A consumer refuses to attach to a segment whose magic or version differs.
 */
#define CW_SHM_MAGIC 0x43574556u /* "CWEV" */
#define CW_ABI_VERSION 1u

#define CW_EV_SNI_MAX 256     /* bytes incl. NUL; longer names set CW_EVA_SNI_TRUNC */
#define CW_EV_ALPN_MAX 128    /* client ALPN ProtocolNameList contents, cut at a name boundary */
#define CW_EV_ALPN_SEL_MAX 32 /* server-selected protocol, NUL-terminated */
#define CW_EV_T13_REC_MAX 16  /* encrypted server-flight records recorded */
#define CW_EV_CHAIN_MAX 8     /* certificates carried in a chain blob */

/* Event flags: what was seen. */
#define CW_EVF_CH 0x00000001          /* ClientHello parsed */
#define CW_EVF_SH 0x00000002          /* ServerHello parsed */
#define CW_EVF_CERT 0x00000004        /* plaintext Certificate parsed (TLS <= 1.2) */
#define CW_EVF_HRR 0x00000008         /* HelloRetryRequest seen */
#define CW_EVF_DOWNGRADE12 0x00000010 /* ServerHello random ends in DOWNGRD\x01 */
#define CW_EVF_DOWNGRADE11 0x00000020 /* ServerHello random ends in DOWNGRD\x00 */
#define CW_EVF_SSLV2 0x00000040       /* SSLv2-compatible ClientHello */
#define CW_EVF_MIDSTREAM 0x00000080   /* no SYN seen: picked up mid-stream */
#define CW_EVF_ECH 0x00000100         /* ClientHello carried encrypted_client_hello */
#define CW_EVF_PSK 0x00000200         /* ClientHello offered a PSK (resumption) */
#define CW_EVF_EARLY_DATA 0x00000400  /* ClientHello offered 0-RTT */
#define CW_EVF_RESUMED 0x00000800     /* resumed: TLS <= 1.2 abbreviated, or TLS 1.3 PSK accepted */
#define CW_EVF_CHAIN_NEW 0x00001000   /* first sighting of chain_id: a blob precedes this event */
#define CW_EVF_BLOB_DROPPED 0x00002000 /* the chain was new but its blob did not fit the ring */
#define CW_EVF_CLIENT_ABORT 0x00004000 /* client sent alert/RST right after the server flight */
#define CW_EVF_SESSION_TICKET 0x00008000 /* ClientHello carried session_ticket data */
#define CW_EVF_PREAMBLE 0x00010000    /* TLS began after non-TLS bytes (HTTP CONNECT, SOCKS) */

/* Anomaly flags: what was odd or lost. */
#define CW_EVA_OOO 0x00000001          /* out-of-order segments */
#define CW_EVA_RETRANS 0x00000002      /* retransmitted bytes */
#define CW_EVA_OVERLAP_CONFLICT 0x00000004 /* overlapping bytes differed; first arrival kept */
#define CW_EVA_CAP 0x00000008          /* reassembly cap reached */
#define CW_EVA_OOO_FULL 0x00000010     /* out-of-order slots exhausted, a segment dropped */
#define CW_EVA_DUP_EXT 0x00000020      /* duplicate extension in a hello */
#define CW_EVA_BAD_RECORD 0x00000040   /* record framing error */
#define CW_EVA_BAD_HELLO 0x00000080    /* a hello failed to parse */
#define CW_EVA_BAD_CERT 0x00000100     /* the Certificate message failed to parse */
/*
 * Not every certificate of the chain is in it: more than CW_EV_CHAIN_MAX, or
 * (with CW_EVA_CAP) a Certificate message longer than the reassembly cap,
 * whose certificates that came whole are the chain.
 */
#define CW_EVA_CHAIN_TRUNC 0x00000200
#define CW_EVA_SNI_TRUNC 0x00000400    /* SNI longer than the event field */
#define CW_EVA_ALPN_TRUNC 0x00000800   /* ALPN list longer than the event field */
#define CW_EVA_DUP_CH 0x00001000       /* a second ClientHello (not after HRR) */
#define CW_EVA_URG 0x00002000          /* TCP urgent data in the handshake */
#define CW_EVA_IP_OPTS 0x00004000      /* IPv4 options or IPv6 extension headers */
#define CW_EVA_TOO_MANY_EXT 0x00008000 /* more extensions than the parser keeps */
#define CW_EVA_BAD_RST 0x00010000      /* RST/FIN outside the sender's sequence space: ignored */
#define CW_EVA_TCP_OPTS 0x00020000     /* malformed TCP options, ignored as receivers do */
#define CW_EVA_BAD_CSUM 0x00040000     /* a segment with a wrong IP or TCP checksum, dropped */
#define CW_EVA_NO_ACK 0x00080000       /* a segment with none of ACK, RST, SYN: dropped, as receivers do */
#define CW_EVA_TCP_SIG 0x00100000      /* TCP-MD5/AO option: receivers without a key may drop it */
#define CW_EVA_IP_FRAG 0x00200000      /* IP fragments of the flow: not reassembled, bytes missing */
#define CW_EVA_BAD_SYN 0x00400000      /* a SYN or SYN-ACK its receiver would not take: ignored */
#define CW_EVA__ALL 0x007fffffu        /* every CW_EVA_* bit */

/* Why the dataplane stopped following the flow. */
enum cw_end_reason {
	CW_END_DONE = 0,     /* handshake visible part complete */
	CW_END_FIN,          /* FIN before the handshake completed */
	CW_END_RST,          /* RST before the handshake completed */
	CW_END_IDLE,         /* idle timeout */
	CW_END_HS_TIMEOUT,   /* handshake timeout */
	CW_END_EVICTED,      /* evicted from a full flow table */
	CW_END_NOT_TLS,      /* content is not TLS */
	CW_END_BAD,          /* malformed TLS */
	CW_END_NO_BUFFER,    /* reassembly pool empty */
	CW_END_SHUTDOWN,     /* dataplane stopping (end of capture or signal) */
	CW_END__MAX
};

/*
 * One TLS handshake, fixed size. The dataplane writes it once and never
 * touches it after publishing. "cli" is the TCP client (the side that sent
 * the SYN, or else the ClientHello).
 */
struct cw_flow_event {
	uint64_t ts_ns;      /* capture time (ns since the epoch) of the first packet seen */
	uint64_t ts_last_ns; /* capture time of the last packet that advanced the handshake */
	uint64_t seq;        /* per-ring event sequence number */
	uint8_t cli_addr[16];
	uint8_t srv_addr[16];
	uint16_t cli_port;
	uint16_t srv_port;
	uint8_t ipver;
	uint8_t worker;
	uint8_t cli_ttl;
	uint8_t srv_ttl;
	uint16_t ch_legacy_version;
	uint16_t ch_version;  /* JA4 rule: highest supported_versions, else legacy */
	uint16_t sh_legacy_version;
	uint16_t sh_version;  /* negotiated */
	uint16_t cipher;
	uint8_t end_reason;   /* enum cw_end_reason */
	uint8_t ncerts;       /* certificates in the Certificate message (cut: those held whole) */
	uint32_t flags;       /* CW_EVF_* */
	uint32_t anomalies;   /* CW_EVA_* */
	uint8_t chain_id[16]; /* all zero when no chain was visible */
	char sni[CW_EV_SNI_MAX];
	uint8_t alpn_len;
	uint8_t alpn[CW_EV_ALPN_MAX];
	char alpn_sel[CW_EV_ALPN_SEL_MAX];
	char ja3[33];  /* MD5 hex of the JA3 string, "" if no ClientHello */
	char ja3s[33]; /* MD5 hex of the JA3S string, "" if no ServerHello */
	char ja4[40];  /* JA4, "" if no ClientHello */
	uint8_t t13_nrec;
	uint8_t pad0;
	uint16_t t13_rec[CW_EV_T13_REC_MAX]; /* encrypted server-flight record lengths, to Finished */
	uint32_t t13_bytes;                  /* sum over all server-flight records, even past the max */
	uint32_t cli_bytes, srv_bytes;       /* handshake bytes seen per direction */
	uint8_t reserved[28];
};

_Static_assert(sizeof(struct cw_flow_event) == 704, "cw_flow_event layout changed: bump CW_ABI_VERSION");
_Static_assert(sizeof(struct cw_flow_event) % 64 == 0, "cw_flow_event must fill whole cache lines");

/*
 * Chain blob: sent once per new chain id, before the flow event that first
 * references it. Layout: header, then ncerts DER certificates back to back,
 * leaf first, with lengths in len[]. total_len covers header and DER.
 */
struct cw_chain_blob {
	uint32_t total_len;
	uint16_t ncerts;
	uint16_t pad;
	uint8_t chain_id[16];
	uint32_t len[CW_EV_CHAIN_MAX];
	/* uint8_t der[]; */
};

#endif /* CW_EVENT_H */
