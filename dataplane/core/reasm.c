/* SPDX-License-Identifier: BSD-3-Clause */
/* Bounded TCP reassembly of the first cap bytes of one direction into a caller-owned buffer. */

#include <string.h>

#include "reasm.h"

void
cw_reasm_init(struct cw_reasm *r)
{
	memset(r, 0, sizeof(*r));
}

/*
 * Attaching (or re-attaching) a buffer forgets whatever was held: the new
 * buffer's contents are unknown. A base set by a SYN is kept, so data lost
 * before the buffer arrived shows up as a hole rather than a shifted stream.
 */
void
cw_reasm_attach(struct cw_reasm *r, uint8_t *buf, uint32_t cap)
{
	r->buf = buf;
	r->cap = buf ? cap : 0;
	r->limit = r->cap;
	r->contig = 0;
	r->consumed = 0;
	r->nooo = 0;
}

/*
 * Where segment [seq, seq + len) starts in the buffer. Offsets are a signed
 * 32-bit distance from base_seq (RFC 9293 3.4 modular comparison); without a
 * base yet, the segment would set it. *skip gets how many leading bytes lie
 * before the base (0 if none); returns 0 when all of them do.
 */
static int
seg_offset(const struct cw_reasm *r, uint32_t seq, uint32_t len, uint32_t *off, uint32_t *skip)
{
	int32_t d = r->have_base ? (int32_t)(seq - r->base_seq) : 0;

	*off = 0;
	*skip = 0;
	if (d >= 0) {
		*off = (uint32_t)d;
		return 1;
	}
	*skip = r->base_seq - seq; /* 1 .. 2^31, exact in unsigned arithmetic */
	return *skip < len;
}

/* Offsets as cw_reasm_add() computes them, without storing anything. */
uint32_t
cw_reasm_need(const struct cw_reasm *r, uint32_t seq, uint32_t len)
{
	uint32_t off, skip;

	if (r->stopped || len == 0 || !seg_offset(r, seq, len, &off, &skip))
		return 0;
	len -= skip;
	if (off < r->consumed) {
		if (len <= r->consumed - off)
			return 0;
		len -= r->consumed - off;
		off = r->consumed;
	}
	if (off >= r->limit)
		return 0;
	return len > r->limit - off ? r->limit : off + len;
}

void
cw_reasm_move(struct cw_reasm *r, uint8_t *buf, uint32_t cap)
{
	uint32_t n = cw_reasm_extent(r);

	if (n > 0 && r->buf != NULL)
		memcpy(buf, r->buf, n);
	r->buf = buf;
	r->cap = cap;
}

void
cw_reasm_rebase(struct cw_reasm *r, uint8_t *buf, uint32_t cap, uint32_t from, uint32_t to)
{
	uint32_t ext = cw_reasm_extent(r);

	if (ext > from && r->buf != NULL)
		memcpy(buf + to, r->buf + from, ext - from);
	/* Modulo 2^32 like the sequence numbers: a move up is a negative shift. */
	r->base_seq += from - to;
	r->dropped += from - to;
	r->contig = r->contig - from + to;
	r->consumed = r->consumed - from + to;
	r->limit = r->limit - from + to;
	for (unsigned int i = 0; i < r->nooo; i++) {
		r->ooo[i].start = r->ooo[i].start - from + to;
		r->ooo[i].end = r->ooo[i].end - from + to;
	}
	r->buf = buf;
	r->cap = cap;
}

void
cw_reasm_drop(struct cw_reasm *r, uint32_t n)
{
	uint32_t ext = cw_reasm_extent(r);

	if (n == 0 || n > r->consumed)
		return;
	if (ext > n)
		memmove(r->buf, r->buf + n, ext - n);
	r->base_seq += n;
	r->contig -= n;
	r->consumed -= n;
	r->limit -= n;
	r->dropped += n;
	for (unsigned int i = 0; i < r->nooo; i++) {
		r->ooo[i].start -= n;
		r->ooo[i].end -= n;
	}
}

/*
 * Only honoured while nothing is held: once bytes sit at offsets computed
 * from an earlier base, moving the base would misplace them. A late SYN
 * (capture reordering) after mid-stream pickup is therefore ignored.
 */
void
cw_reasm_set_isn(struct cw_reasm *r, uint32_t isn)
{
	if (r->contig != 0 || r->nooo != 0 || r->consumed != 0 || r->dropped != 0)
		return;
	r->base_seq = isn + 1;
	r->have_base = 1;
}

/*
 * Walk [off, end) against what is already held ([0, contig) and the ooo
 * ranges, in order): compare held bytes, copy the gaps. The first arrival
 * always wins, so held bytes are never overwritten.
 * Returns the CW_RA_RETRANS / CW_RA_CONFLICT bits and sets *wrote when any
 * byte was new.
 */
static unsigned int
merge_bytes(struct cw_reasm *r, uint32_t off, uint32_t end, const uint8_t *data, int *wrote)
{
	unsigned int res = 0;
	uint32_t pos = off, hs, he, lo, hi;
	unsigned int i;

	*wrote = 0;
	for (i = 0; i <= r->nooo && pos < end; i++) {
		if (i == 0) {
			hs = 0;
			he = r->contig;
		} else {
			hs = r->ooo[i - 1].start;
			he = r->ooo[i - 1].end;
		}
		if (he <= pos)
			continue;
		if (hs >= end)
			break;
		if (hs > pos) {
			memcpy(r->buf + pos, data + (pos - off), hs - pos);
			*wrote = 1;
			pos = hs;
		}
		lo = pos;
		hi = he < end ? he : end;
		if (memcmp(r->buf + lo, data + (lo - off), hi - lo) == 0)
			res |= CW_RA_RETRANS;
		else
			res |= CW_RA_CONFLICT;
		pos = hi;
	}
	if (pos < end) {
		memcpy(r->buf + pos, data + (pos - off), end - pos);
		*wrote = 1;
	}
	return res;
}

/*
 * Segment [seq, seq + len) of the stream. Offsets are taken as a signed
 * 32-bit distance from base_seq (RFC 9293 3.4 modular comparison), so a
 * segment up to 2^31 - 1 ahead lands at its offset (and is cut at cap),
 * and one that the modular distance puts behind the base is old.
 * Nothing is written until the segment is known to fit: bytes within
 * [0, cap), a free ooo slot (in an attached table) if it is disjoint from
 * everything held. A refused segment (CW_RA_OOO_FULL) changes nothing but
 * the base of a stream that had none, so the owner may attach a table and
 * add it again.
 */
unsigned int
cw_reasm_add(struct cw_reasm *r, uint32_t seq, const uint8_t *data, uint32_t len)
{
	unsigned int res = 0;
	uint32_t off, end, skip, ns, ne, old_contig, room;
	unsigned int i, k, merged;
	int wrote;

	if (r->stopped)
		return CW_RA_STOPPED;
	/*
	 * No buffer ever (limit 0, nothing dropped). A growable direction without a
	 * buffer now (limit > 0, or dropped) cuts at room 0 below: CW_RA_CAP.
	 */
	if (r->limit == 0 && r->dropped == 0)
		return CW_RA_NOBUF;
	if (len == 0 || data == NULL)
		return 0;
	if (!r->have_base) {
		r->base_seq = seq;
		r->have_base = 1;
	}

	if (!seg_offset(r, seq, len, &off, &skip))
		return CW_RA_OLD;
	if (skip > 0) {
		res |= CW_RA_OLD;
		data += skip;
		len -= skip;
	}

	/* Clip to the buffer and the limit without forming off + len (it can wrap). */
	room = r->cap < r->limit ? r->cap : r->limit;
	if (off >= room)
		return res | CW_RA_CAP;
	if (len > room - off) {
		len = room - off;
		res |= CW_RA_CAP;
	}
	end = off + len;

	/* Bytes the parser owns may have been rewritten in place: no comparison. */
	if (off < r->consumed) {
		res |= CW_RA_OLD;
		if (end <= r->consumed)
			return res;
		data += r->consumed - off;
		off = r->consumed;
	}

	if (off <= r->contig) {
		/* Touches the contiguous prefix: always storable, may close holes. */
		res |= merge_bytes(r, off, end, data, &wrote);
		old_contig = r->contig;
		if (end > r->contig)
			r->contig = end;
		k = 0;
		while (k < r->nooo && r->ooo[k].start <= r->contig) {
			if (r->ooo[k].end > r->contig)
				r->contig = r->ooo[k].end;
			k++;
		}
		if (k > 0) {
			memmove(&r->ooo[0], &r->ooo[k], (r->nooo - k) * sizeof(r->ooo[0]));
			r->nooo = (uint8_t)(r->nooo - k);
		}
		if (r->contig != old_contig)
			res |= CW_RA_NEW;
		return res;
	}

	/*
	 * Beyond a hole: the segment joins every range it overlaps or abuts.
	 * Ranges are pairwise non-adjacent, so one pass finds them all.
	 */
	ns = off;
	ne = end;
	merged = 0;
	for (i = 0; i < r->nooo; i++) {
		if (r->ooo[i].end < off || r->ooo[i].start > end)
			continue;
		merged++;
		if (r->ooo[i].start < ns)
			ns = r->ooo[i].start;
		if (r->ooo[i].end > ne)
			ne = r->ooo[i].end;
	}
	if (merged == 0 && (r->ooo == NULL || r->nooo == CW_REASM_MAX_OOO))
		return res | CW_RA_OOO_FULL;

	res |= merge_bytes(r, off, end, data, &wrote);
	if (wrote)
		res |= CW_RA_OOO;

	/* Rebuild the sorted list with [ns, ne) replacing the merged ranges. */
	k = 0;
	for (i = 0; i < r->nooo; i++) {
		if (r->ooo[i].end < off || r->ooo[i].start > end)
			r->ooo[k++] = r->ooo[i];
	}
	for (i = k; i > 0 && r->ooo[i - 1].start > ns; i--)
		r->ooo[i] = r->ooo[i - 1];
	r->ooo[i].start = ns;
	r->ooo[i].end = ne;
	r->nooo = (uint8_t)(k + 1);
	return res;
}

/* Consumption only moves forward and never past the contiguous prefix. */
void
cw_reasm_consume(struct cw_reasm *r, uint32_t upto)
{
	if (upto > r->contig)
		upto = r->contig;
	if (upto > r->consumed)
		r->consumed = upto;
}

void
cw_reasm_stop(struct cw_reasm *r)
{
	r->stopped = 1;
}
