/* SPDX-License-Identifier: BSD-3-Clause */
/* Text output of untrusted strings: no byte a peer or a certificate chose acts on a terminal. */
#include <stdio.h>
#include <string.h>

#include "text.h"

size_t
cp_utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n > left)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

const char *
cp_text_cell(const char *str, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, o = 0;

	while (s[i] != '\0') {
		unsigned char c = s[i];
		size_t k = 0;

		if (c >= 0x20 && c < 0x7f)
			k = 1;
		else if (c >= 0x80)
			k = cp_utf8_seq(&s[i], strnlen((const char *)&s[i], 4));
		/* C2 80..C2 9F encode the C1 controls: CSI (U+009B) starts a sequence too. */
		if (k == 2 && c == 0xc2 && s[i + 1] < 0xa0)
			k = 0;
		if (k > 0) {
			if (o + k >= outlen)
				break;
			memcpy(out + o, &s[i], k);
			o += k;
			i += k;
		} else {
			if (o + 4 >= outlen)
				break;
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

size_t
cp_ipv4_text(const uint8_t a[4], char out[16])
{
	size_t n = 0;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (i)
			out[n++] = '.';
		if (v >= 100)
			out[n++] = (char)('0' + v / 100);
		if (v >= 10)
			out[n++] = (char)('0' + v / 10 % 10);
		out[n++] = (char)('0' + v % 10);
	}
	out[n] = '\0';
	return n;
}
