/* SPDX-License-Identifier: BSD-3-Clause */
/* AF_XDP socket counters through getsockopt(XDP_STATISTICS) (see xsk_stats.h). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_xdp.h>

#include "xsk_stats.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

int
dp_xsk_find(struct dp_xsk *x)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	x->n = 0;
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL && x->n < DP_XSK_MAX) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int dom = 0;
		socklen_t len = sizeof(dom);

		if (end == e->d_name || *end != '\0' || fd < 0 || fd == dirfd(d))
			continue;
		if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == AF_XDP)
			x->fd[x->n++] = (int)fd;
	}
	closedir(d);
	return (int)x->n;
}

int
dp_xsk_stats_get(const struct dp_xsk *x, struct dp_xsk_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < x->n; i++) {
		struct xdp_statistics s;
		socklen_t len = sizeof(s);

		memset(&s, 0, sizeof(s));
		if (getsockopt(x->fd[i], SOL_XDP, XDP_STATISTICS, &s, &len) < 0)
			return -errno;
		st->sockets++;
		st->rx_dropped += s.rx_dropped;
		st->rx_invalid += s.rx_invalid_descs;
		/* Older kernels fill only the first three fields (len tells). */
		if (len >= sizeof(s)) {
			st->rx_full += s.rx_ring_full;
			st->fill_ring_empty += s.rx_fill_ring_empty_descs;
		}
	}
	return 0;
}
