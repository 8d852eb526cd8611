/* SPDX-License-Identifier: BSD-3-Clause */
/* Bounds-checked big-endian cursor: the only way parsers read attacker-controlled bytes. */
#ifndef CW_CURSOR_H
#define CW_CURSOR_H

#include <stddef.h>
#include <stdint.h>

/*
 * A read window over a byte range.
 * Invariant: p <= end. Every read checks the length it needs against
 * (end - p) before touching memory, never by forming p + n (which could
 * overflow or point past the object).
 */
struct cw_cur {
	const uint8_t *p, *end;
};

/*
 * CW_MORE means "the bytes end before the structure does". Streaming
 * callers (record framing) wait for more data; callers that hold a
 * complete message treat it as CW_BAD.
 */
enum cw_rc {
	CW_OK = 0,
	CW_MORE = 1,
	CW_BAD = -1,
};

/* An empty view may have p == NULL: no arithmetic on it then (p + 0 on NULL is undefined). */
static inline struct cw_cur
cw_cur_init(const uint8_t *p, size_t n)
{
	struct cw_cur c = {p, p != NULL ? p + n : p};
	return c;
}

static inline size_t
cw_left(const struct cw_cur *c)
{
	return (size_t)(c->end - c->p);
}

static inline int
cw_empty(const struct cw_cur *c)
{
	return c->p == c->end;
}

static inline int
cw_u8(struct cw_cur *c, uint8_t *v)
{
	if (cw_left(c) < 1)
		return CW_MORE;
	*v = c->p[0];
	c->p += 1;
	return CW_OK;
}

static inline int
cw_u16(struct cw_cur *c, uint16_t *v)
{
	if (cw_left(c) < 2)
		return CW_MORE;
	*v = (uint16_t)((uint16_t)c->p[0] << 8 | c->p[1]);
	c->p += 2;
	return CW_OK;
}

static inline int
cw_u24(struct cw_cur *c, uint32_t *v)
{
	if (cw_left(c) < 3)
		return CW_MORE;
	*v = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
	c->p += 3;
	return CW_OK;
}

static inline int
cw_u32(struct cw_cur *c, uint32_t *v)
{
	if (cw_left(c) < 4)
		return CW_MORE;
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	return CW_OK;
}

static inline int
cw_skip(struct cw_cur *c, size_t n)
{
	if (n > cw_left(c))
		return CW_MORE;
	c->p += n;
	return CW_OK;
}

/* Zero-copy slice of the next n bytes. */
static inline int
cw_view(struct cw_cur *c, size_t n, const uint8_t **out)
{
	if (n > cw_left(c))
		return CW_MORE;
	*out = c->p;
	c->p += n;
	return CW_OK;
}

/*
 * Fixed-layout headers (IPv4, TCP): take the whole header with one cw_view(), which proves its n
 * bytes are there, then read fields at constant offsets with these. Only for a view of proven
 * length n with off + width <= n; big-endian by byte shifts, never by casting pointers. One
 * bounds check per header instead of one per field: the decoder runs for every packet.
 */
static inline uint16_t
cw_be16_at(const uint8_t *v, size_t off)
{
	return (uint16_t)((uint16_t)v[off] << 8 | v[off + 1]);
}

static inline uint32_t
cw_be32_at(const uint8_t *v, size_t off)
{
	return (uint32_t)v[off] << 24 | (uint32_t)v[off + 1] << 16 | (uint32_t)v[off + 2] << 8 |
	       v[off + 3];
}

/*
 * Split off the next n bytes as a sub-cursor bounded to exactly that range.
 * On failure sub is an empty cursor, so it never holds stale bounds.
 */
static inline int
cw_sub(struct cw_cur *c, size_t n, struct cw_cur *sub)
{
	sub->p = sub->end = c->p;
	if (n > cw_left(c))
		return CW_MORE;
	sub->p = c->p;
	sub->end = c->p + n;
	c->p += n;
	return CW_OK;
}

/*
 * Length-prefixed vector (lenbytes = 1, 2 or 3, big-endian) -> sub-cursor
 * bounded to exactly that vector. The parent cursor moves past it.
 */
static inline int
cw_vec(struct cw_cur *c, unsigned int lenbytes, struct cw_cur *sub)
{
	struct cw_cur save = *c;
	uint32_t n = 0;
	int rc;

	sub->p = sub->end = c->p;
	switch (lenbytes) {
	case 1: {
		uint8_t v = 0;
		rc = cw_u8(c, &v);
		n = v;
		break;
	}
	case 2: {
		uint16_t v = 0;
		rc = cw_u16(c, &v);
		n = v;
		break;
	}
	case 3:
		rc = cw_u24(c, &n);
		break;
	default:
		return CW_BAD;
	}
	if (rc == CW_OK)
		rc = cw_sub(c, n, sub);
	if (rc != CW_OK)
		*c = save;
	return rc;
}

#endif /* CW_CURSOR_H */
