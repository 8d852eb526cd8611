/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * chainwatchd's ring consumer on a real shared-memory segment: a flow event whose chain blob is
 * on another worker's ring waits for it, and one whose blob never comes is judged without it
 * once every ring has been read past the point where the blob would have been. The end-of-run
 * summary (--summary) shows names and issuers without their terminal controls.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "cp_testlib.h"
#include "evring.h"
#include "ingest.h"
#include "metrics.h"

#define SRV "203.0.113.10"
#define CLI "198.51.100.7"

struct rig {
	char inst[48];
	struct cw_shm prod;
	struct cp_engine *e;
	struct cp_metrics m;
	struct cp_anon anon;
	struct cp_ingest in;
	volatile sig_atomic_t stop;
};

static int
rig_open(struct rig *r, const char *tag)
{
	struct cp_ingest_opts o = {.exit_when_done = 1, .flush_events = 1000, .flush_ms = 1000};
	struct cp_config cfg;
	char err[256] = "";

	memset(r, 0, sizeof(*r));
	snprintf(r->inst, sizeof(r->inst), "test-ingest-%d-%s", (int)getpid(), tag);
	o.instance = r->inst;
	t_config(&cfg);
	r->e = cp_engine_open(&cfg, err, sizeof(err));
	CHECK(r->e != NULL, "engine: %s", err);
	if (r->e == NULL)
		return -1;
	cp_metrics_init(&r->m);
	CHECK(cp_anon_init(&r->anon, CP_ANON_NONE, 24, 48, NULL) == 0, "anon");
	CHECK(cw_shm_create(&r->prod, r->inst, 2, 64, 1u << 16, 0600) == 0, "shm");
	cw_shm_set_state(&r->prod, CW_SHM_RUNNING);
	CHECK(cp_ingest_init(&r->in, &o, r->e, &r->anon, NULL, &r->m, &r->stop) == 0, "ingest");
	CHECK(cp_ingest_attach(&r->in) == 0, "attach");
	return 0;
}

static void
rig_close(struct rig *r)
{
	cp_ingest_fini(&r->in);
	cw_shm_close(&r->prod);
	cw_shm_unlink(r->inst);
	cp_anon_fini(&r->anon);
	cp_metrics_fini(&r->m);
	cp_engine_close(r->e);
}

static uint64_t
metric(struct rig *r, uint64_t *field)
{
	uint64_t v;

	pthread_mutex_lock(&r->m.lock);
	v = *field;
	pthread_mutex_unlock(&r->m.lock);
	return v;
}

/*
 * The blob is on ring 1, the other flow of the same chain on ring 0: the reader reads ring 0
 * first, so that flow has to wait for the blob of the same round.
 */
static void
test_blob_on_later_ring(const struct t_chain *g)
{
	struct cw_flow_event ev;
	struct rig r;

	if (rig_open(&r, "later") != 0)
		return;
	t_event(&ev, t_time(2020, 1, 1), "example.com", SRV, CLI, g, 0x0303, "ja3s", 0);
	CHECK(cw_evring_publish(&r.prod.rings[0], &ev, NULL, 0) == 0, "publish without blob");
	ev.flags |= CW_EVF_CHAIN_NEW;
	ev.cli_port++;
	CHECK(cw_evring_publish(&r.prod.rings[1], &ev, &g->blob, g->blob.total_len) == 0,
	      "publish with blob");
	cw_shm_set_state(&r.prod, CW_SHM_DONE);
	CHECK(cp_ingest_run(&r.in) == 0, "run");
	CHECK(r.in.flows == 2, "both flows judged (%lu)", (unsigned long)r.in.flows);
	CHECK(r.in.by_result[CP_CONSISTENT] == 2, "both judged with the trusted chain (%lu)",
	      (unsigned long)r.in.by_result[CP_CONSISTENT]);
	CHECK(r.m.chain_waits == 1 && r.m.chain_missing == 0, "one wait, nothing missing (%lu %lu)",
	      (unsigned long)r.m.chain_waits, (unsigned long)r.m.chain_missing);
	rig_close(&r);
}

static void *
run_thread(void *arg)
{
	struct rig *r = arg;

	return (void *)(intptr_t)cp_ingest_run(&r->in);
}

/*
 * A chain that never comes: with the dataplane running, the event is judged without its chain
 * once both rings have been read past their heads noted after it was read.
 */
static void
test_blob_never_comes(const struct t_chain *g)
{
	struct cw_flow_event ev;
	pthread_t th;
	void *ret = NULL;
	struct rig r;
	int i;

	if (rig_open(&r, "never") != 0)
		return;
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0, "thread");
	t_event(&ev, t_time(2020, 1, 1), "example.com", SRV, CLI, g, 0x0303, "ja3s", 0);
	CHECK(cw_evring_publish(&r.prod.rings[1], &ev, NULL, 0) == 0, "publish");
	/* Up to 10 s; it takes CP_CHAIN_SNAP_MS and a poll or two. */
	for (i = 0; i < 1000 && metric(&r, &r.m.chain_missing) == 0; i++) {
		cw_shm_heartbeat(&r.prod);
		usleep(10000);
	}
	CHECK(metric(&r, &r.m.chain_waits) == 1 && metric(&r, &r.m.chain_missing) == 1,
	      "judged without the chain while running (%lu %lu)",
	      (unsigned long)metric(&r, &r.m.chain_waits),
	      (unsigned long)metric(&r, &r.m.chain_missing));
	r.stop = 1;
	pthread_join(th, &ret);
	CHECK(ret == NULL, "run returns 0");
	CHECK(r.in.flows == 1, "the flow was judged (%lu)", (unsigned long)r.in.flows);
	rig_close(&r);
}

/*
 * A stop while an event waits for its chain, whose blob is already in another ring: the rings
 * are read up to where they stood at the stop, and the flow is judged with its chain.
 */
static void
test_blob_at_stop(const struct t_chain *g)
{
	struct cw_flow_event ev;
	pthread_t th;
	void *ret = NULL;
	struct rig r;
	int i;

	if (rig_open(&r, "stop") != 0)
		return;
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0, "thread");
	t_event(&ev, t_time(2020, 1, 1), "example.com", SRV, CLI, g, 0x0303, "ja3s", 0);
	CHECK(cw_evring_publish(&r.prod.rings[1], &ev, NULL, 0) == 0, "publish");
	for (i = 0; i < 500 && metric(&r, &r.m.chain_waits) == 0; i++)
		usleep(10000);
	CHECK(metric(&r, &r.m.chain_waits) == 1, "the event waits for its chain");
	/* The chain's blob, with a flow of its own, then the stop at once. */
	ev.cli_port++;
	ev.flags |= CW_EVF_CHAIN_NEW;
	CHECK(cw_evring_publish(&r.prod.rings[0], &ev, &g->blob, g->blob.total_len) == 0,
	      "publish with blob");
	r.stop = 1;
	pthread_join(th, &ret);
	CHECK(ret == NULL, "run returns 0");
	CHECK(r.in.flows == 2 && metric(&r, &r.m.chain_missing) == 0,
	      "both flows judged with the chain (%lu flows, %lu missing)", (unsigned long)r.in.flows,
	      (unsigned long)metric(&r, &r.m.chain_missing));
	rig_close(&r);
}

/* A name and an issuer as a client and a forged certificate sent them, in the --summary table. */
static void
test_summary_text(void)
{
	static struct cp_summary_row rows[2];
	static struct cp_ingest in;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(rows[0].name, sizeof(rows[0].name), "%s", "a.example\x1b[2k\rb.example\n");
	rows[0].result = CP_SUBSTITUTED;
	rows[0].count = 3;
	snprintf(rows[0].evidence, sizeof(rows[0].evidence), "%s",
		 "issuer: CN=x\x1b]0;t\x07\xc2\x9b");
	rows[1].result = CP_SUSPICIOUS;
	rows[1].count = 1;
	in.sum = rows;
	in.nsum = 2;
	in.flows = 4;
	f = open_memstream(&text, &len);
	CHECK(f != NULL, "memstream");
	if (f == NULL)
		return;
	cp_ingest_summary(&in, f);
	fclose(f);
	CHECK(strstr(text, "\na.example\\x1b[2k\\x0db.example\\x0a ") != NULL, "name escaped");
	CHECK(strstr(text, " issuer: CN=x\\x1b]0;t\\x07\\xc2\\x9b\n") != NULL, "issuer escaped");
	CHECK(strstr(text, "\n(no name) ") != NULL, "an empty name");
	CHECK(t_term_unsafe(text) < 0, "raw control at byte %ld", t_term_unsafe(text));
	free(text);
}

int
main(void)
{
	static const char *const genuine[] = {"leaf1", "int"};
	static struct t_chain g;

	if (t_mkpki() != 0)
		return 1;
	CHECK(t_chain(&g, genuine, 2, 0) == 0, "chain");
	test_blob_on_later_ring(&g);
	test_blob_never_comes(&g);
	test_blob_at_stop(&g);
	test_summary_text();
	t_rmpki();
	printf("test_ingest: %d checks, %d failed\n", t_run, t_fail);
	return t_fail ? 1 : 0;
}
