/* SPDX-License-Identifier: BSD-3-Clause */
/* Counter names and the rte_telemetry commands /chainwatch/stats and /chainwatch/workers. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "telemetry.h"
#include "worker.h"
#include "xsk_stats.h"

static const char *const dp_cnt_names[DP_C__MAX] = {
	[DP_C_RX_PKTS] = "rx_packets",
	[DP_C_RX_BYTES] = "rx_bytes",
	[DP_C_PROCESSED] = "processed_packets",
	[DP_C_DEC + CW_DEC_TCP] = "dec_tcp",
	[DP_C_DEC + CW_DEC_NOT_IP] = "dec_not_ip",
	[DP_C_DEC + CW_DEC_NOT_TCP] = "dec_not_tcp",
	[DP_C_DEC + CW_DEC_FRAGMENT] = "dec_fragment",
	[DP_C_DEC + CW_DEC_TRUNC_L2] = "dec_trunc_l2",
	[DP_C_DEC + CW_DEC_TRUNC_L3] = "dec_trunc_l3",
	[DP_C_DEC + CW_DEC_BAD_L3] = "dec_bad_l3",
	[DP_C_DEC + CW_DEC_TRUNC_L4] = "dec_trunc_l4",
	[DP_C_DEC + CW_DEC_BAD_L4] = "dec_bad_l4",
	[DP_C_DEC + CW_DEC_VLAN_DEPTH] = "dec_vlan_depth",
	[DP_C_DEC + CW_DEC_EXT_DEPTH] = "dec_ext_depth",
	[DP_C_LINEARIZED] = "linearized",
	[DP_C_TOO_LONG] = "too_long",
	[DP_C_FLOWS_NEW] = "flows_new",
	[DP_C_DONE_PKTS] = "done_flow_packets",
	[DP_C_DONE_CACHED] = "done_cache_hits",
	[DP_C_DONE_REPLACED] = "done_cache_replaced",
	[DP_C_UNTRACKED] = "untracked_packets",
	[DP_C_TLS_FLOWS] = "tls_flows",
	[DP_C_HS_DONE] = "handshakes_done",
	[DP_C_END + CW_END_DONE] = "end_done",
	[DP_C_END + CW_END_FIN] = "end_fin",
	[DP_C_END + CW_END_RST] = "end_rst",
	[DP_C_END + CW_END_IDLE] = "end_idle",
	[DP_C_END + CW_END_HS_TIMEOUT] = "end_hs_timeout",
	[DP_C_END + CW_END_EVICTED] = "end_evicted",
	[DP_C_END + CW_END_NOT_TLS] = "end_not_tls",
	[DP_C_END + CW_END_BAD] = "end_bad",
	[DP_C_END + CW_END_NO_BUFFER] = "end_no_buffer",
	[DP_C_END + CW_END_SHUTDOWN] = "end_shutdown",
	[DP_C_NON_TLS] = "non_tls_flows",
	[DP_C_EVICT_DONE] = "evict_done",
	[DP_C_EVICT_STALLED] = "evict_stalled",
	[DP_C_EVICT_ACTIVE] = "evict_active",
	[DP_C_EVICT_FAIL] = "evict_fail",
	[DP_C_EXPIRE_IDLE] = "expire_idle",
	[DP_C_EXPIRE_HS] = "expire_hs_timeout",
	[DP_C_EXPIRE_DONE] = "expire_done",
	[DP_C_NO_SESSION] = "no_session",
	[DP_C_BUF_SHORT] = "reasm_buf_short",
	[DP_C_CHAINS_NEW] = "chains_new",
	[DP_C_CHAINS_KNOWN] = "chains_known",
	[DP_C_CHAIN_CACHE_HIT] = "chain_cache_hits",
	[DP_C_CHAIN_TABLE_FULL] = "chain_table_full",
	[DP_C_EV_OUT] = "events_out",
	[DP_C_EV_DROP] = "events_dropped",
	[DP_C_EV_WAIT] = "events_waited",
	[DP_C_BLOB_OUT] = "blobs_out",
	[DP_C_BLOB_DROP] = "blobs_dropped",
	[DP_C_BLOB_RELEASED] = "blobs_released",
	[DP_C_CSUM_BAD] = "csum_bad",
	[DP_C_DISPATCH_OUT] = "dispatch_out",
	[DP_C_DISPATCH_DROP] = "dispatch_dropped",
	[DP_C_DISPATCH_WAIT] = "dispatch_waits",
};

const char *
dp_cnt_name(unsigned int c)
{
	return c < DP_C__MAX && dp_cnt_names[c] != NULL ? dp_cnt_names[c] : "unknown";
}

void
dp_stats_total(struct dp_stats *t)
{
	unsigned int l, c;

	memset(t, 0, sizeof(*t));
	RTE_LCORE_FOREACH(l)
		for (c = 0; c < DP_C__MAX; c++)
			t->c[c] += dp_lcore_stats[l].c[c];
}

/* Counters that mean a packet, flow, event or blob was lost, in the order of the stats line. */
static const unsigned int dp_drop_cnt[] = {
	DP_C_TOO_LONG, DP_C_EVICT_FAIL, DP_C_NO_SESSION, DP_C_BUF_SHORT, DP_C_EV_DROP,
	DP_C_BLOB_DROP, DP_C_BLOB_RELEASED, DP_C_DISPATCH_DROP,
};

void
dp_stats_line(uint64_t dt_ns)
{
	static struct dp_stats prev;
	static uint64_t prev_missed, prev_nombuf;
	static struct dp_xsk_stats prev_xsk;
	struct rte_eth_stats es;
	struct dp_xsk_stats xsk = prev_xsk;
	struct dp_stats t;
	uint64_t missed = prev_missed, nombuf = prev_nombuf;
	double s = (double)dt_ns / 1e9;
	char drops[512];
	size_t off = 0;
	unsigned int k;

	dp_stats_total(&t);
	if (rte_eth_dev_is_valid_port(dp_run.port) && rte_eth_stats_get(dp_run.port, &es) == 0) {
		missed = es.imissed;
		nombuf = es.rx_nombuf;
	}
	if (dp_run.xsk != NULL && dp_xsk_stats_get(dp_run.xsk, &xsk) < 0)
		xsk = prev_xsk;
	if (dt_ns == 0) /* the first call only takes the starting point */
		goto out;
	if (dp_run.xsk != NULL)
		off += (size_t)snprintf(drops, sizeof(drops), " xsk_rx_full=%" PRIu64 " xsk_rx_dropped=%" PRIu64,
					xsk.rx_full - prev_xsk.rx_full, xsk.rx_dropped - prev_xsk.rx_dropped);
	for (k = 0; k < RTE_DIM(dp_drop_cnt) && off < sizeof(drops); k++)
		off += (size_t)snprintf(drops + off, sizeof(drops) - off, " %s=%" PRIu64,
					dp_cnt_name(dp_drop_cnt[k]),
					t.c[dp_drop_cnt[k]] - prev.c[dp_drop_cnt[k]]);
	printf("chainwatch-dp: stats rx_pps=%.0f processed_pps=%.0f handshakes_ps=%.0f"
	       " events_ps=%.0f drops: port_imissed=%" PRIu64 " port_rx_nombuf=%" PRIu64 "%s\n",
	       (double)(t.c[DP_C_RX_PKTS] - prev.c[DP_C_RX_PKTS]) / s,
	       (double)(t.c[DP_C_PROCESSED] - prev.c[DP_C_PROCESSED]) / s,
	       (double)(t.c[DP_C_HS_DONE] - prev.c[DP_C_HS_DONE]) / s,
	       (double)(t.c[DP_C_EV_OUT] - prev.c[DP_C_EV_OUT]) / s, missed - prev_missed,
	       nombuf - prev_nombuf, drops);
	fflush(stdout);
out:
	prev = t;
	prev_missed = missed;
	prev_nombuf = nombuf;
	prev_xsk = xsk;
}

static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_stats t;
	unsigned int c;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	dp_stats_total(&t);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "mode", dp_modes[dp_run.conf->mode].name);
	rte_tel_data_add_dict_u64(d, "workers", dp_run.nworkers);
	for (c = 0; c < DP_C__MAX; c++)
		rte_tel_data_add_dict_u64(d, dp_cnt_name(c), t.c[c]);
	if (dp_run.shm != NULL) {
		uint64_t pub = 0, drop = 0, bdrop = 0;
		uint32_t i;

		for (i = 0; i < dp_run.shm->nrings; i++) {
			const struct cw_evring_ctl *ctl = dp_run.shm->rings[i].ctl;

			pub += atomic_load_explicit(&ctl->ev_head, memory_order_relaxed);
			drop += atomic_load_explicit(&ctl->events_dropped, memory_order_relaxed);
			bdrop += atomic_load_explicit(&ctl->blobs_dropped, memory_order_relaxed);
		}
		rte_tel_data_add_dict_u64(d, "ring_events_published", pub);
		rte_tel_data_add_dict_u64(d, "ring_events_dropped", drop);
		rte_tel_data_add_dict_u64(d, "ring_blobs_dropped", bdrop);
	}
	return 0;
}

/* One array per counter, indexed by worker id (the dispatcher's own counters are in /chainwatch/stats). */
#define POOL_GAUGES 7
static const char *const pool_names[POOL_GAUGES] = {
	"sessions_in_use",  "sessions_peak",  "reasm_bytes_in_use", "reasm_bytes_peak",
	"reasm_ooo_in_use", "reasm_ooo_peak", "reasm_ooo_short",
};

static void
pool_gauges(const struct dp_worker *w, uint64_t *v)
{
	const struct dp_sess_pool *p = &w->pool;

	v[0] = p->n - p->nfree;
	v[1] = p->peak_sessions;
	v[2] = p->buf_bytes;
	v[3] = p->peak_buf_bytes;
	v[4] = p->n - p->ooo_nfree;
	v[5] = p->peak_ooo;
	v[6] = p->ooo_short;
}

static void
certref_counts(const struct dp_worker *w, uint64_t *v)
{
	dp_certref_counts(&w->refs, v);
}

/*
 * n arrays into d, one per value that vals() gives each worker (at most WORKER_VALUES_MAX),
 * named by names and indexed by worker id.
 */
#define WORKER_VALUES_MAX 8
static int
worker_arrays(struct rte_tel_data *d, const char *const *names, unsigned int n,
	      void (*vals)(const struct dp_worker *w, uint64_t *v))
{
	struct rte_tel_data *a[WORKER_VALUES_MAX];
	uint64_t v[WORKER_VALUES_MAX];
	unsigned int c;

	if (n > WORKER_VALUES_MAX)
		return -1;
	for (c = 0; c < n; c++) {
		a[c] = rte_tel_data_alloc();
		if (a[c] == NULL) {
			while (c > 0)
				rte_tel_data_free(a[--c]);
			return -1;
		}
		rte_tel_data_start_array(a[c], RTE_TEL_U64_VAL);
	}
	for (uint32_t i = 0; i < dp_run.nworkers; i++) {
		vals(dp_run.w[i], v);
		for (c = 0; c < n; c++)
			rte_tel_data_add_array_u64(a[c], v[c]);
	}
	for (c = 0; c < n; c++)
		rte_tel_data_add_dict_container(d, names[c], a[c], 0);
	return 0;
}

static int
tel_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	unsigned int c;
	uint32_t i;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	{
		struct rte_tel_data *a = rte_tel_data_alloc();

		if (a == NULL)
			return -1;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (i = 0; i < dp_run.nworkers; i++)
			rte_tel_data_add_array_u64(a, dp_run.w[i]->lcore);
		rte_tel_data_add_dict_container(d, "lcore", a, 0);
	}
	for (c = 0; c < DP_C__MAX; c++) {
		struct rte_tel_data *a = rte_tel_data_alloc();

		if (a == NULL)
			return -1;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (i = 0; i < dp_run.nworkers; i++)
			rte_tel_data_add_array_u64(a, dp_run.w[i]->st->c[c]);
		rte_tel_data_add_dict_container(d, dp_cnt_name(c), a, 0);
	}
	{
		struct rte_tel_data *a = rte_tel_data_alloc();
		struct rte_tel_data *b = rte_tel_data_alloc();

		if (a == NULL || b == NULL) {
			rte_tel_data_free(a);
			rte_tel_data_free(b);
			return -1;
		}
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		rte_tel_data_start_array(b, RTE_TEL_U64_VAL);
		for (i = 0; i < dp_run.nworkers; i++) {
			const struct cw_evring_ctl *ctl = dp_run.w[i]->ev->ctl;

			rte_tel_data_add_array_u64(a, atomic_load_explicit(&ctl->ev_head,
									   memory_order_relaxed));
			rte_tel_data_add_array_u64(b, atomic_load_explicit(&ctl->events_dropped,
									   memory_order_relaxed));
		}
		rte_tel_data_add_dict_container(d, "ring_events_published", a, 0);
		rte_tel_data_add_dict_container(d, "ring_events_dropped", b, 0);
	}
	/* Session pool gauges: now and the most at once, for sizing --sessions and --reasm-big. */
	if (worker_arrays(d, pool_names, POOL_GAUGES, pool_gauges) < 0)
		return -1;
	/* Expected Certificate messages (--cert-refs). */
	return worker_arrays(d, dp_certref_names, DP_CERTREF_COUNTERS, certref_counts);
}

int
dp_telemetry_init(void)
{
	int rc;

	rc = rte_telemetry_register_cmd("/chainwatch/stats", tel_stats,
					"Dataplane totals over all lcores. No parameters.");
	if (rc < 0)
		return rc;
	return rte_telemetry_register_cmd("/chainwatch/workers", tel_workers,
					  "Per-worker counters: one array per counter, by worker id. No parameters.");
}
