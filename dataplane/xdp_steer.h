/* SPDX-License-Identifier: BSD-3-Clause */
/* Loader for the cw_steer XDP program: attach, find, counters, detach (libbpf only, no DPDK). */
#ifndef DP_XDP_STEER_H
#define DP_XDP_STEER_H

#include <stdint.h>

#include "cw_steer.h"

/*
 * Two ways the program gets onto an interface:
 *  - dp_xdp_steer_attach(): this library loads it from the embedded skeleton with the given config
 *    (kernel-only steering, counters, or AF_XDP sockets added through dp_xdp_steer_xsks_map_fd()).
 *  - DPDK net_af_xdp with xdp_prog=<cw_steer.bpf.o>: the PMD loads the object itself, with the
 *    config stored in the file (defaults, or a copy written by dp_xdp_steer_write_object()), and
 *    stores its sockets in "xsks_map". dp_xdp_steer_open() then finds that program for counters.
 * A handle is used by one thread at a time.
 */
struct dp_xdp_steer;

enum dp_xdp_mode {
	DP_XDP_MODE_AUTO = 0, /* native (driver) mode, generic (skb) mode if the driver has none */
	DP_XDP_MODE_NATIVE,
	DP_XDP_MODE_GENERIC,
};

struct dp_xdp_steer_counters {
	uint64_t v[CW_CNT_MAX]; /* indexed by enum cw_steer_cnt, summed over CPUs */
	uint64_t redirected;    /* sum(STEER_*) - REDIRECT_FAIL: what reached the AF_XDP sockets */
	uint64_t flows_held;    /* follow-table entries (directions) now */
	/*
	 * Directions the LRU table evicted to make room: flow_added - flow_end - flows_held. Those
	 * of flows still in their handshake are segments no longer steered. Exact when no segment
	 * raced another for the same direction and the table did not change during the count.
	 */
	uint64_t flows_evicted;
};

/* Fills cfg with what the program uses when nobody changes it (CW_STEER_CFG_DEFAULT). */
void dp_xdp_steer_cfg_default(struct cw_steer_cfg *cfg);

/*
 * "443,8443" into cfg->ports and cfg->nports: at most CW_STEER_MAX_PORTS ports of 1..65535,
 * decimal digits only, comma-separated. An empty item (",,", a leading or trailing comma, an
 * empty list) is an error, so a list never means fewer ports than the operator wrote. Returns 0
 * or -EINVAL (cfg->ports then partly written).
 */
int dp_xdp_steer_parse_ports(const char *list, struct cw_steer_cfg *cfg);

/* Checks the invariants of struct cw_steer_cfg. Returns 0 or -EINVAL. */
int dp_xdp_steer_cfg_check(const struct cw_steer_cfg *cfg);

/*
 * Loads the program with cfg (NULL: defaults) and attaches it to ifname in the given mode. Fails
 * with -EEXIST when the interface already has an XDP program; never replaces one. The program stays
 * attached after the process exits unless dp_xdp_steer_detach() is called.
 * Returns 0 and *out, or -errno.
 */
int dp_xdp_steer_attach(const char *ifname, const struct cw_steer_cfg *cfg, enum dp_xdp_mode mode,
			struct dp_xdp_steer **out);

/* Finds the cw_steer program attached to ifname (by us or by a DPDK PMD). -ENOENT: no XDP
 * program; -EPROTO: the attached program is not cw_steer. Returns 0 and *out, or -errno. */
int dp_xdp_steer_open(const char *ifname, struct dp_xdp_steer **out);

/* Sums the per-CPU counters and counts the follow table's entries. Returns 0 or -errno. */
int dp_xdp_steer_counters(struct dp_xdp_steer *h, struct dp_xdp_steer_counters *out);

/* The configuration the running program was loaded with. Returns 0 or -errno. */
int dp_xdp_steer_config(struct dp_xdp_steer *h, struct cw_steer_cfg *out);

/* XSKMAP fd (key: RX queue index, value: AF_XDP socket fd), for callers that bind their own
 * sockets. Owned by the handle. */
int dp_xdp_steer_xsks_map_fd(const struct dp_xdp_steer *h);

/* "native" or "generic": how the program is attached now. */
const char *dp_xdp_steer_mode_name(const struct dp_xdp_steer *h);
uint32_t dp_xdp_steer_prog_id(const struct dp_xdp_steer *h);

/* Short stable name of a counter ("seen", "steer_tls_record", ...), NULL when out of range. */
const char *dp_xdp_steer_counter_name(unsigned int idx);

/* Removes the program from the interface if it is still the one this handle refers to, then frees
 * the handle. Returns 0, -ESTALE when another program replaced it (left in place), or -errno. */
int dp_xdp_steer_detach(struct dp_xdp_steer *h);

/* Frees the handle and leaves the program attached. NULL is a no-op. */
void dp_xdp_steer_close(struct dp_xdp_steer *h);

/*
 * Copies the BPF object src to dst with cfg written into its cw_cfg rodata variable, for loaders
 * that open the file themselves (net_af_xdp xdp_prog=). dst is replaced atomically.
 * Returns 0, -ENOEXEC when src is not a cw_steer object of this layout, or -errno.
 */
int dp_xdp_steer_write_object(const char *src, const char *dst, const struct cw_steer_cfg *cfg);

#endif /* DP_XDP_STEER_H */
