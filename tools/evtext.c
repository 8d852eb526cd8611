/* SPDX-License-Identifier: BSD-3-Clause */
/* Text forms of flow-event fields shared by chainwatch-scan and cw-evdump (same line format). */
#include <arpa/inet.h>
#include <stdio.h>

#include "evtext.h"

void
cw_evtext_addr(const uint8_t *a, uint8_t ipver, uint16_t port, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(ipver == 6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip));
	if (ipver == 6)
		snprintf(out, n, "[%s]:%u", ip, port);
	else
		snprintf(out, n, "%s:%u", ip, port);
}

void
cw_evtext_str(const char *s, size_t max, char *out, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < max && s[i] != '\0' && o + 4 < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, n - o, "%%%02x", c);
	}
	out[o] = '\0';
}

void
cw_evtext_alpn(const struct cw_flow_event *ev, char *out, size_t n)
{
	size_t o = 0;
	unsigned int i, j, len;

	out[0] = '\0';
	for (i = 0; i < ev->alpn_len && i < CW_EV_ALPN_MAX && o + 1 < n;) {
		len = ev->alpn[i++];
		if (o > 0 && o + 1 < n)
			out[o++] = ',';
		for (j = 0; j < len && i < ev->alpn_len && i < CW_EV_ALPN_MAX && o + 4 < n; j++, i++) {
			uint8_t c = ev->alpn[i];

			if (c > 0x20 && c < 0x7f && c != ',')
				out[o++] = (char)c;
			else
				o += (size_t)snprintf(out + o, n - o, "%%%02x", c);
		}
		out[o] = '\0';
	}
}

void
cw_evtext_t13_recs(const struct cw_flow_event *ev, char *out, size_t n)
{
	size_t o;

	out[0] = '\0';
	if (ev->sh_version != 0x0304 && ev->t13_nrec == 0)
		return;
	o = (size_t)snprintf(out, n, " t13_recs=%s", ev->t13_nrec == 0 ? "-" : "");
	for (unsigned int i = 0; i < ev->t13_nrec && i < CW_EV_T13_REC_MAX && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%u", i ? "," : "", ev->t13_rec[i]);
}
