/* SPDX-License-Identifier: BSD-3-Clause */
/* Bounded per-direction TCP stream reassembly of the first N bytes of a handshake. */
#ifndef CW_REASM_H
#define CW_REASM_H

#include <stdint.h>

#define CW_REASM_DEFAULT_CAP (32u * 1024u)
#define CW_REASM_MAX_OOO 6 /* out-of-order ranges held beyond the contiguous prefix */

/* Outcome bits of one cw_reasm_add() call (several can be set). */
#define CW_RA_NEW 0x0001           /* extended the contiguous prefix */
#define CW_RA_OOO 0x0002           /* stored beyond a hole */
#define CW_RA_RETRANS 0x0004       /* some bytes were already held and identical */
#define CW_RA_CONFLICT 0x0008      /* some bytes were already held and differed: first arrival kept */
#define CW_RA_OOO_FULL 0x0010      /* no free out-of-order slot: segment dropped */
#define CW_RA_CAP 0x0020           /* bytes beyond the buffer cap were cut off */
#define CW_RA_OLD 0x0040           /* bytes before the stream base (or already consumed) ignored */
#define CW_RA_STOPPED 0x0080       /* direction already stopped: ignored */
#define CW_RA_NOBUF 0x0100         /* no buffer attached: ignored */

/*
 * One range held beyond a hole, [start, end) in buffer offsets. A direction
 * keeps up to CW_REASM_MAX_OOO of them in a table its owner attaches
 * (cw_reasm_set_ooo()): out-of-order data is rare, so an owner with many
 * directions can lend tables from a shared pool instead of embedding one
 * in each.
 */
struct cw_reasm_ooo {
	uint32_t start, end;
};

/*
 * Per-direction state. buf is owned by the caller (a bounded pool) and is
 * attached with cw_reasm_attach(); cw_reasm never allocates. So is the
 * out-of-order table: without one, a segment beyond a hole is refused as
 * if every slot were taken (CW_RA_OOO_FULL), and nothing is written.
 *
 * `cap` is the size of the buffer attached now and `limit` the most bytes
 * the direction will ever hold: the framing parser gives up on what cannot
 * fit below `limit`. They are equal unless the owner grows the buffer on
 * demand (cw_reasm_need() tells it how much a segment needs,
 * cw_reasm_move() switches to the larger buffer); an owner that cannot
 * grow it any more sets limit = cap.
 *
 * An owner may also drop bytes the parser is done with from the front
 * (cw_reasm_drop()): buf[0] is then stream offset `dropped`, and every
 * offset here, `limit` included, counts from there, so the direction still
 * holds at most the stream's first limit + dropped bytes, exactly as
 * without dropping.
 *
 * Invariants:
 *   consumed <= contig <= min(cap, limit)
 *   ooo[0..nooo) are disjoint, sorted, non-adjacent to each other, and all
 *   lie in (contig, cap].
 * Bytes [0, consumed) belong to the parser, which may rewrite them in
 * place (TLS record headers are compacted away), so retransmissions that
 * fall there are counted as CW_RA_OLD and never compared.
 * Only the owning worker thread reads or writes this struct.
 */
struct cw_reasm {
	uint8_t *buf;
	uint32_t cap;       /* size of buf */
	uint32_t limit;     /* most bytes ever held, counted from buf[0] */
	uint32_t dropped;   /* stream bytes dropped before buf[0] */
	uint32_t base_seq;  /* sequence number of buf[0] */
	uint32_t contig;    /* [0, contig) filled, in order */
	uint32_t consumed;  /* [0, consumed) handed to the parser */
	uint8_t have_base;
	uint8_t stopped;    /* parser said stop (application data, error, or done) */
	uint8_t nooo;       /* ranges in ooo[] */
	uint8_t pad;
	struct cw_reasm_ooo *ooo; /* [CW_REASM_MAX_OOO], the owner's; NULL: none attached */
};

void cw_reasm_init(struct cw_reasm *r);

/*
 * Attach an out-of-order table (CW_REASM_MAX_OOO ranges), or detach it with
 * NULL. Only while the direction holds no range (nooo == 0): otherwise
 * nothing changes and -1 is returned.
 */
static inline int
cw_reasm_set_ooo(struct cw_reasm *r, struct cw_reasm_ooo *t)
{
	if (r->nooo != 0)
		return -1;
	r->ooo = t;
	return 0;
}

/* Give the direction its buffer; data before this is not held. Sets limit = cap. */
void cw_reasm_attach(struct cw_reasm *r, uint8_t *buf, uint32_t cap);

/*
 * Buffer size (at most limit) that adding this segment would fill up to,
 * or 0 when it would store nothing (stopped, empty, old, or past limit).
 */
uint32_t cw_reasm_need(const struct cw_reasm *r, uint32_t seq, uint32_t len);

/* Offset just past the last byte held (the contiguous prefix or the last out-of-order range). */
static inline uint32_t
cw_reasm_extent(const struct cw_reasm *r)
{
	return r->nooo > 0 ? r->ooo[r->nooo - 1].end : r->contig;
}

/*
 * Switch to buf (cap bytes, at least cw_reasm_extent() and at most limit),
 * copying everything held; nothing else changes. The old buffer is free
 * again when this returns. Pointers into it must be moved by the caller.
 */
void cw_reasm_move(struct cw_reasm *r, uint8_t *buf, uint32_t cap);

/*
 * Switch to buf (cap bytes) with the bytes held from offset `from` on placed
 * at offset `to` instead: every offset, limit included, moves by to - from,
 * and `dropped` and base_seq the other way, so the stream's bytes keep their
 * sequence numbers. buf[0, to) is the caller's to fill; it counts as
 * consumed (from must be <= consumed, and to <= from + dropped: the stream
 * had at least that many bytes before). The old buffer is free again when
 * this returns. cap must hold to + what was held from `from` on, and at most
 * the new limit.
 */
void cw_reasm_rebase(struct cw_reasm *r, uint8_t *buf, uint32_t cap, uint32_t from, uint32_t to);

/*
 * Drop the first n held bytes (n <= consumed): the rest moves to the front
 * of the buffer and every offset, limit included, moves down by n. Pointers
 * into the buffer must be moved by the caller.
 */
void cw_reasm_drop(struct cw_reasm *r, uint32_t n);

/* A SYN (or SYN-ACK) was seen with this ISN: the stream starts at isn + 1. */
void cw_reasm_set_isn(struct cw_reasm *r, uint32_t isn);

/*
 * Add a segment's payload. Without a SYN the first segment added sets the
 * stream base (mid-stream pickup). Sequence arithmetic is modulo 2^32.
 * Returns a mask of CW_RA_* bits.
 */
unsigned int cw_reasm_add(struct cw_reasm *r, uint32_t seq, const uint8_t *data, uint32_t len);

/* The parser has taken bytes [0, upto) (upto <= contig). */
void cw_reasm_consume(struct cw_reasm *r, uint32_t upto);

/* Stop holding data for this direction. */
void cw_reasm_stop(struct cw_reasm *r);

#endif /* CW_REASM_H */
