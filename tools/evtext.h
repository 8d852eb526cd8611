/* SPDX-License-Identifier: BSD-3-Clause */
/* Text forms of flow-event fields shared by chainwatch-scan and cw-evdump (same line format). */
#ifndef CW_EVTEXT_H
#define CW_EVTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "cw_event.h"

/* "a.b.c.d:port" or "[v6]:port". */
void cw_evtext_addr(const uint8_t *a, uint8_t ipver, uint16_t port, char *out, size_t n);

/*
 * A NUL-terminated event string (at most max bytes read: the event may come
 * from another process) with bytes outside 0x21..0x7e as %XX, so that no
 * byte an endpoint sent can break the line format or act on a terminal;
 * output cut to n - 1 characters (a whole escape or none).
 */
void cw_evtext_str(const char *s, size_t max, char *out, size_t n);

/*
 * The client's ALPN list as "name,name": bytes outside 0x21..0x7e and ','
 * as %XX. Reads at most alpn_len and CW_EV_ALPN_MAX bytes (the event may
 * come from another process); output cut to n - 1 characters.
 */
void cw_evtext_alpn(const struct cw_flow_event *ev, char *out, size_t n);

/*
 * " t13_recs=L,L,..." for a TLS 1.3 flow (the encrypted server flight's record lengths; "-" when
 * none was seen), "" for any other. Reads at most CW_EV_T13_REC_MAX lengths; output cut to
 * n - 1 characters.
 */
void cw_evtext_t13_recs(const struct cw_flow_event *ev, char *out, size_t n);

#endif /* CW_EVTEXT_H */
