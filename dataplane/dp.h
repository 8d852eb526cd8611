/* SPDX-License-Identifier: BSD-3-Clause */
/* Dataplane-wide configuration, per-lcore counters and the stop flags shared by all dataplane files. */
#ifndef DP_H
#define DP_H

#include <stdint.h>
#include <sys/types.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "cw_event.h"
#include "decode.h"

#define DP_BURST 32            /* packets per rx_burst / ring dequeue */
#define DP_PREFETCH_OFFSET 3   /* prefetch the frame of pkts[i + 3] while working on pkts[i] */
#define DP_PREFETCH_PAYLOAD 2048u /* payload bytes prefetched per segment of a flow in handshake */
#define DP_MAX_WORKERS 64      /* worker lcores (and event rings) per instance */
#define DP_EV_SLOTS_DEFAULT 4096 /* --ring-slots: events per worker ring */
#define DP_BLOB_KIB_DEFAULT 4096 /* --blob-kib: chain-blob bytes per worker ring, in KiB */
#define DP_SCRATCH_BYTES 65536 /* largest multi-segment frame that is linearised */

/* How packets reach the workers; chosen once at start (see dp_modes[] in worker.c). */
enum dp_mode {
	DP_MODE_AUTO = -1,
	DP_MODE_SINGLE = 0, /* the main lcore receives and works: one worker */
	DP_MODE_DISPATCH,   /* the main lcore receives and hashes to worker rings */
	DP_MODE_RSS,        /* one RX queue per worker lcore, symmetric RSS */
	DP_MODE_REPLAY,     /* --replay: every worker lcore reads its share of a preloaded capture */
	DP_MODE__MAX
};

/*
 * Run configuration: filled by main.c from the command line before the
 * workers start, then read-only for every thread.
 */
struct dp_conf {
	const char *pcap;       /* --pcap FILE, or NULL */
	uint64_t pcap_packets;  /* frames in the capture (--pcap, --replay), counted before start */
	const char *replay;     /* --replay FILE, or NULL */
	uint64_t replay_loops;  /* --replay-loops: passes over the capture, 0 = until stopped */
	int replay_copy;        /* --replay-copy: frames copied into the mbufs, not attached */
	uint64_t replay_bytes;  /* bytes of the capture's frames (caplen), counted before start */
	int linktype;           /* enum cw_linktype of the frames (--pcap: the capture's; else Ethernet) */
	const char *chain_key;  /* --chain-key FILE, or NULL: unkeyed ids */
	const char *instance;   /* shared-memory instance name */
	mode_t shm_mode;        /* permission of the shared-memory object */
	uint16_t port_id;
	int port_given;
	int mode;               /* enum dp_mode; DP_MODE_AUTO until resolved */
	uint32_t workers;       /* 0 = one per available worker lcore */
	uint32_t flows;         /* flow-table entries per worker */
	uint32_t sessions;      /* handshake contexts per worker */
	uint32_t reasm_kib;     /* reassembly buffer per direction, KiB */
	uint32_t reasm_big;     /* buffers of reasm_kib per worker, 0 = sessions / 8 */
	uint32_t cert_refs;     /* expected Certificate messages per worker (--cert-refs), 0 = none */
	uint32_t chains;        /* shared chain-table entries */
	uint32_t ev_slots;      /* events per ring (power of 2): DP_EV_SLOTS_DEFAULT */
	uint32_t blob_kib;      /* chain-blob ring per worker, KiB (power of 2) */
	uint32_t idle_s;        /* flow idle timeout, seconds */
	uint32_t hs_s;          /* handshake timeout, seconds */
	uint32_t ring_size;     /* dispatch ring entries per worker (power of 2) */
	uint32_t rxd;           /* RX descriptors per queue */
	uint32_t mbufs;         /* mbuf pool size, 0 = computed */
	uint32_t eof_quiet_ms;  /* --pcap: end of capture after this long without packets */
	int lossless_dispatch;  /* --pcap: the dispatcher waits for ring space instead of dropping */
	int quiet;              /* do not print the final counters */
	uint32_t duration_s;    /* --duration: stop after this many seconds of running, 0 = never */
	uint32_t stats_s;       /* --stats-interval: one rate line every this many seconds, 0 = none */
	int rx_only;            /* --rx-only: workers free what they receive (baseline) */
	int events_discard;     /* --events-discard: a built-in consumer drains the event rings */
	int events_wait;        /* --events-wait (--pcap): a full event ring makes the worker wait */
	int checksums;          /* --checksums: 1 verify, 0 off, -1 unset (verify on live ports) */
};

/*
 * Per-lcore counters. Each lcore writes only its own struct (plain stores);
 * telemetry and the main lcore read them without locks: 64-bit aligned
 * loads are atomic on every target, the totals are approximate while
 * running and exact after the lcores have stopped.
 */
enum dp_cnt {
	DP_C_RX_PKTS = 0,
	DP_C_RX_BYTES,
	DP_C_PROCESSED,                      /* frames a worker decoded and followed (not --rx-only) */
	DP_C_DEC,                            /* + enum cw_dec_res: decode results by reason */
	DP_C_LINEARIZED = DP_C_DEC + CW_DEC__MAX, /* multi-segment frames copied to scratch */
	DP_C_TOO_LONG,                       /* frames longer than DP_SCRATCH_BYTES: dropped */
	DP_C_FLOWS_NEW,
	DP_C_DONE_PKTS,                      /* packets of finished flows: no session work */
	DP_C_DONE_CACHED,                    /* of those, found in the finished-flow cache alone */
	DP_C_DONE_REPLACED,                  /* finished flows pushed out of a full cache bucket */
	DP_C_UNTRACKED,                      /* no flow, not a SYN, payload not TLS-like: no state */
	DP_C_TLS_FLOWS,                      /* flows where a hello was seen */
	DP_C_HS_DONE,                        /* handshakes followed to completion */
	DP_C_END,                            /* + enum cw_end_reason: flows ended, by reason */
	DP_C_NON_TLS = DP_C_END + CW_END__MAX, /* flows ended without a hello: no event */
	DP_C_EVICT_DONE,                     /* full table: finished flow evicted */
	DP_C_EVICT_STALLED,                  /* full table: flow without handshake progress evicted */
	DP_C_EVICT_ACTIVE,                   /* full table: progressing flow evicted */
	DP_C_EVICT_FAIL,                     /* full table and no victim: packet dropped */
	DP_C_EXPIRE_IDLE,
	DP_C_EXPIRE_HS,
	DP_C_EXPIRE_DONE,                    /* finished flows retired after the idle timeout */
	DP_C_NO_SESSION,                     /* session pool empty: flow abandoned */
	DP_C_BUF_SHORT,                      /* no larger reassembly buffer free: handshake bytes cut */
	DP_C_CHAINS_NEW,
	DP_C_CHAINS_KNOWN,
	DP_C_CHAIN_CACHE_HIT,
	DP_C_CHAIN_TABLE_FULL,               /* chain not stored: sent as new */
	DP_C_EV_OUT,
	DP_C_EV_DROP,                        /* event ring full */
	DP_C_EV_WAIT,                        /* event ring full, worker waited (--events-wait) */
	DP_C_BLOB_OUT,
	DP_C_BLOB_DROP,                      /* blob ring full or blob larger than the ring */
	DP_C_BLOB_RELEASED,                  /* chain known when its bytes were released, new at the end */
	DP_C_CSUM_BAD,                       /* segment of a followed flow with a wrong checksum: dropped */
	DP_C_DISPATCH_OUT,
	DP_C_DISPATCH_DROP,                  /* worker ring full (live input) */
	DP_C_DISPATCH_WAIT,                  /* worker ring full, dispatcher waited (--pcap) */
	DP_C__MAX
};

struct dp_stats {
	uint64_t c[DP_C__MAX];
} __rte_cache_aligned;

/* Name of a counter, for telemetry and the final report. */
const char *dp_cnt_name(unsigned int c);

/* Per-lcore counters, indexed by lcore id. */
extern struct dp_stats dp_lcore_stats[RTE_MAX_LCORE];

/*
 * Stop flags. dp_quit: set by the signal handler; dp_stop: set by the main
 * lcore when workers must finish (signal or end of capture). Workers read
 * dp_stop once per loop iteration.
 */
extern volatile int dp_quit;
extern volatile int dp_stop;

/*
 * One step of waiting for room that a capture file's lossless paths take (the dispatcher for
 * a worker's input ring, a worker with --events-wait for its event ring). *spins counts the
 * steps of this wait: a short spin first, then sleeps. Nothing arrives on a capture file
 * while it waits, so sleeping loses nothing, and a spinning thread would take the CPU the
 * thread it waits for needs when the two share a core (a small host, chainwatch analyze).
 */
#define DP_WAIT_SPINS 64u    /* rte_pause() steps before the first sleep (~2 µs) */
#define DP_WAIT_SLEEP_US 50u /* then each step sleeps this long */

static inline void
dp_wait_step(unsigned int *spins)
{
	if (*spins < DP_WAIT_SPINS) {
		(*spins)++;
		rte_pause();
	} else {
		rte_delay_us_sleep(DP_WAIT_SLEEP_US);
	}
}

/* Buffers of the full --reasm-kib per worker: --reasm-big, or one per 8 sessions (at least 1). */
static inline uint32_t
dp_conf_reasm_big(const struct dp_conf *conf)
{
	if (conf->reasm_big != 0)
		return conf->reasm_big;
	return conf->sessions / 8 > 0 ? conf->sessions / 8 : 1;
}

/* --cert-refs's default: 2048 expected Certificate messages per worker, 16 MiB. */
#define DP_CERT_REFS_DEFAULT 2048u

static inline int
dp_should_stop(void)
{
	return __atomic_load_n(&dp_stop, __ATOMIC_RELAXED);
}

#endif /* DP_H */
