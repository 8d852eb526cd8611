/* SPDX-License-Identifier: BSD-3-Clause */
/* Fuzz input format shared by the targets and the seed builder: a link type, then length-prefixed frames. */
#ifndef FUZZ_FRAMES_H
#define FUZZ_FRAMES_H

#include <stdint.h>
#include <string.h>

#include "cw_cursor.h"
#include "decode.h"

/*
 * Layout: u8 link selector (0 Ethernet, 1 raw IP, 2 BSD loopback, 3 Linux
 * SLL, 4 Linux SLL2), then frames as u16 big-endian length + bytes. A short
 * final frame is cut to what is left.
 */
struct fz_reader {
	struct cw_cur c;
	enum cw_linktype linktype;
};

static const enum cw_linktype fz_links[] = {
	CW_LINK_ETHERNET, CW_LINK_RAW, CW_LINK_NULL, CW_LINK_LINUX_SLL, CW_LINK_LINUX_SLL2,
};

static inline void
fz_reader_init(struct fz_reader *rd, const uint8_t *data, size_t size)
{
	uint8_t sel = 0;

	rd->c = cw_cur_init(data, size);
	cw_u8(&rd->c, &sel);
	rd->linktype = fz_links[sel % (sizeof(fz_links) / sizeof(fz_links[0]))];
}

static inline int
fz_next_frame(struct fz_reader *rd, const uint8_t **frame, uint32_t *len)
{
	uint16_t n;

	if (cw_u16(&rd->c, &n) != CW_OK)
		return 0;
	if (n > cw_left(&rd->c))
		n = (uint16_t)cw_left(&rd->c);
	cw_view(&rd->c, n, frame);
	*len = n;
	return 1;
}

static inline int
fz_link_selector(int dlt)
{
	switch (dlt) {
	case CW_LINK_ETHERNET:
		return 0;
	case CW_LINK_RAW:
	case 12:
	case 14:
		return 1;
	case CW_LINK_NULL:
		return 2;
	case CW_LINK_LINUX_SLL:
		return 3;
	case CW_LINK_LINUX_SLL2:
		return 4;
	default:
		return -1;
	}
}

#endif /* FUZZ_FRAMES_H */
