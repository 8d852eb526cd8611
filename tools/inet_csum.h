/* SPDX-License-Identifier: BSD-3-Clause */
/* RFC 1071 Internet checksum for the tools that write test traffic (cw-synth, cw-flood). */
#ifndef CW_INET_CSUM_H
#define CW_INET_CSUM_H

#include <stdint.h>

/* Add n bytes, big-endian 16-bit words, an odd last byte padded with zero. */
static inline uint32_t
csum_add(uint32_t sum, const uint8_t *p, uint32_t n)
{
	for (; n > 1; n -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

/* Fold the carries and complement: the value to store in the header. */
static inline uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif /* CW_INET_CSUM_H */
