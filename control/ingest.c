/* SPDX-License-Identifier: BSD-3-Clause */
/* Ring consumer loop: attach to the dataplane's rings, judge each event, write JSON and metrics. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ingest.h"
#include "json.h"
#include "text.h"

#define CP_ATTACH_POLL_FAST_MS 5 /* --exit-when-done: the dataplane is starting right now */
#define CP_ATTACH_POLL_MS 200
#define CP_CHECK_MS 100	      /* dataplane state check when the rings are idle ... */
#define CP_CHECK_BUSY_MS 1000 /* ... and at least this often when they never are */
#define CP_IDLE_SLEEP_US 1000
#define CP_WARN_MS 10000 /* rate limit of repeated warnings */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
sleep_us(unsigned int us)
{
	struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000};

	nanosleep(&ts, NULL);
}

int
cp_ingest_init(struct cp_ingest *in, const struct cp_ingest_opts *o, struct cp_engine *e,
	       const struct cp_anon *anon, FILE *json, struct cp_metrics *m,
	       volatile sig_atomic_t *stop)
{
	memset(in, 0, sizeof(*in));
	in->o = *o;
	in->engine = e;
	in->anon = anon;
	in->json = json;
	in->m = m;
	in->stop = stop;
	in->jbuf = malloc(CP_JSON_LINE_MAX);
	if (in->jbuf == NULL)
		goto err;
	in->chainset = calloc(CP_INGEST_CHAINSET, sizeof(*in->chainset));
	if (in->chainset == NULL)
		goto err_free_jbuf;
	in->wait = calloc(CP_CHAIN_WAIT_MAX, sizeof(*in->wait));
	if (in->wait == NULL)
		goto err_free_set;
	if (o->summary) {
		in->sum = calloc(CP_SUMMARY_MAX, sizeof(*in->sum));
		if (in->sum == NULL)
			goto err_free_set;
	}
	in->progress_tty = isatty(STDERR_FILENO);
	in->last_flush_ms = in->last_progress_ms = in->last_check_ms = now_ms();
	return 0;

err_free_set:
	free(in->wait);
	free(in->chainset);
err_free_jbuf:
	free(in->jbuf);
err:
	return -ENOMEM;
}

void
cp_ingest_fini(struct cp_ingest *in)
{
	if (in->attached)
		cw_shm_close(&in->shm);
	in->attached = 0;
	free(in->sum);
	free(in->wait);
	free(in->chainset);
	free(in->jbuf);
	in->wait = NULL;
	in->sum = NULL;
	in->chainset = NULL;
	in->jbuf = NULL;
}

static int
is_zero16(const uint8_t *p)
{
	static const uint8_t z[16];

	return memcmp(p, z, 16) == 0;
}

/* Remember a chain id; the set stops growing at 3/4 full so probing stays short. */
static void
chainset_add(struct cp_ingest *in, const uint8_t id[16])
{
	uint32_t h, i;

	if (is_zero16(id))
		return;
	memcpy(&h, id, sizeof(h)); /* the id is already a hash */
	for (i = 0; i < CP_INGEST_CHAINSET; i++) {
		uint8_t *slot = in->chainset[(h + i) & (CP_INGEST_CHAINSET - 1)];

		if (memcmp(slot, id, 16) == 0)
			return;
		if (is_zero16(slot)) {
			if (in->nchains >= CP_INGEST_CHAINSET / 4 * 3)
				return;
			memcpy(slot, id, 16);
			in->nchains++;
			pthread_mutex_lock(&in->m->lock);
			in->m->chains_seen = in->nchains;
			pthread_mutex_unlock(&in->m->lock);
			return;
		}
	}
}

static void warn_limited(struct cp_ingest *in, enum cp_warn kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * At most one message of each kind per CP_WARN_MS, so that one failure
 * repeating cannot hide another; the next one printed says how many of its
 * kind were held back.
 */
static void
warn_limited(struct cp_ingest *in, enum cp_warn kind, const char *fmt, ...)
{
	uint64_t t = now_ms();
	va_list ap;

	if (in->last_warn_ms[kind] != 0 && t - in->last_warn_ms[kind] < CP_WARN_MS) {
		in->warn_held[kind]++;
		return;
	}
	in->last_warn_ms[kind] = t;
	va_start(ap, fmt);
	fputs("chainwatchd: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (in->warn_held[kind] > 0)
		fprintf(stderr, " (%" PRIu64 " more like it not shown)", in->warn_held[kind]);
	fputc('\n', stderr);
	in->warn_held[kind] = 0;
}

/* Database reads and writes the engine reports failed since the last look: counted and warned. */
static void
note_store_errors(struct cp_ingest *in)
{
	int last;
	uint64_t n = cp_engine_store_errors(in->engine, &last);

	if (n == in->store_errors)
		return;
	in->store_errors = n;
	pthread_mutex_lock(&in->m->lock);
	in->m->store_errors = n;
	pthread_mutex_unlock(&in->m->lock);
	warn_limited(in, CP_WARN_STORE,
		     "database read or write failed: %s (%" PRIu64
		     " so far; verdicts are still written to the JSON output and metrics)",
		     strerror(-last), n);
}

/* Publish the ring-side gauges: producer drops, backlog and dataplane state. */
static void
update_ring_metrics(struct cp_ingest *in)
{
	uint64_t ev_drop = 0, blob_drop = 0, pending = 0;
	uint32_t i;

	if (in->attached) {
		for (i = 0; i < in->shm.nrings; i++) {
			struct cw_evring *r = &in->shm.rings[i];

			ev_drop +=
				atomic_load_explicit(&r->ctl->events_dropped, memory_order_relaxed);
			blob_drop +=
				atomic_load_explicit(&r->ctl->blobs_dropped, memory_order_relaxed);
			pending += cw_evring_pending(r);
		}
	}
	pthread_mutex_lock(&in->m->lock);
	in->m->attached = in->attached;
	if (in->attached) {
		in->m->ring_events_dropped = ev_drop;
		in->m->ring_blobs_dropped = blob_drop;
		in->m->ring_pending = pending;
		in->m->nrings = in->shm.nrings;
		in->m->dp_state = atomic_load_explicit(&in->shm.hdr->state, memory_order_relaxed);
		memcpy(in->m->chain_key_id, in->shm.hdr->chain_key_id, sizeof(in->m->chain_key_id));
		in->m->heartbeat_ns =
			atomic_load_explicit(&in->shm.hdr->heartbeat_ns, memory_order_relaxed);
	}
	pthread_mutex_unlock(&in->m->lock);
}

/*
 * Commit the database and flush the JSON output. A failed commit is counted
 * (the next flush tries again) and only fails the last flush of a run that
 * ends, whose rows would otherwise be lost without an error.
 */
static int
flush(struct cp_ingest *in, int last)
{
	int rc = cp_engine_flush(in->engine);

	note_store_errors(in);
	pthread_mutex_lock(&in->m->lock);
	in->m->flows_pruned = cp_engine_flows_pruned(in->engine);
	pthread_mutex_unlock(&in->m->lock);
	if (in->json != NULL && fflush(in->json) != 0) {
		fprintf(stderr, "chainwatchd: writing JSON output: %s\n", strerror(errno));
		return -EIO;
	}
	in->since_flush = 0;
	in->last_flush_ms = now_ms();
	if (last && rc < 0) {
		fprintf(stderr, "chainwatchd: final database commit failed: %s\n", strerror(-rc));
		return rc;
	}
	return 0;
}

static void
summary_add(struct cp_ingest *in, const struct cp_verdict *v)
{
	struct cp_summary_row *row = NULL;
	unsigned int i, j, nsig;

	if (in->sum == NULL || (v->result != CP_SUBSTITUTED && v->result != CP_SUSPICIOUS))
		return;
	for (i = 0; i < in->nsum; i++) {
		if (in->sum[i].result == v->result &&
		    strncmp(in->sum[i].name, v->name, sizeof(in->sum[i].name)) == 0) {
			row = &in->sum[i];
			break;
		}
	}
	if (row == NULL) {
		if (in->nsum == CP_SUMMARY_MAX) {
			in->sum_dropped++;
			return;
		}
		row = &in->sum[in->nsum++];
		snprintf(row->name, sizeof(row->name), "%.*s", (int)sizeof(v->name) - 1, v->name);
		row->result = v->result;
	}
	row->count++;
	if (row->evidence[0] == '\0' && v->chain != NULL) {
		const struct cp_chain *c = v->chain;

		if (c->anchor_match >= 0)
			snprintf(row->evidence, sizeof(row->evidence), "anchor: %.*s",
				 (int)sizeof(c->anchor_name) - 1, c->anchor_name);
		else if (c->n > 0)
			snprintf(row->evidence, sizeof(row->evidence), "issuer: %.*s",
				 (int)sizeof(c->cert[0]->issuer) - 1, c->cert[0]->issuer);
	}
	nsig = v->nsignals < CP_MAX_SIGNALS ? v->nsignals : CP_MAX_SIGNALS;
	for (i = 0; i < nsig; i++) {
		for (j = 0; j < row->nsig; j++)
			if (strncmp(row->sig[j], v->sig[i].name, sizeof(row->sig[j])) == 0)
				break;
		if (j == row->nsig && row->nsig < CP_SUMMARY_SIGS)
			snprintf(row->sig[row->nsig++], sizeof(row->sig[0]), "%.*s",
				 (int)sizeof(v->sig[i].name) - 1, v->sig[i].name);
	}
}

static int
write_json(struct cp_ingest *in, int (*fn)(struct cp_jbuf *, const void *, const void *),
	   const void *a, const void *b)
{
	struct cp_jbuf jb;

	cp_jbuf_init(&jb, in->jbuf, CP_JSON_LINE_MAX);
	if (fn(&jb, a, b) < 0) {
		pthread_mutex_lock(&in->m->lock);
		in->m->json_errors++;
		pthread_mutex_unlock(&in->m->lock);
		warn_limited(in, CP_WARN_JSON, "a JSON object exceeded %u bytes and was not written",
			     CP_JSON_LINE_MAX);
		return 0;
	}
	if (fwrite(jb.p, 1, jb.len, in->json) != jb.len) {
		fprintf(stderr, "chainwatchd: writing JSON output: %s\n", strerror(errno));
		return -EIO;
	}
	return 0;
}

static int
json_flow_fn(struct cp_jbuf *b, const void *ev, const void *v)
{
	return cp_json_flow(b, ev, v);
}

static int
json_chain_fn(struct cp_jbuf *b, const void *c, const void *ts)
{
	return cp_json_chain(b, c, *(const uint64_t *)ts);
}

/* A chain blob as the ring delivered it: bounds checked before the engine sees the DER. */
static int
blob_ok(const struct cw_chain_blob *blob)
{
	uint64_t sum = sizeof(*blob);
	unsigned int i;

	if (blob->ncerts == 0 || blob->ncerts > CW_EV_CHAIN_MAX || blob->total_len < sizeof(*blob))
		return 0;
	for (i = 0; i < blob->ncerts; i++)
		sum += blob->len[i];
	return sum <= blob->total_len;
}

/* One event: chain first (when new), then the flow; the event is anonymised before anything. */
static int judge(struct cp_ingest *in, struct cw_flow_event *ev, int chain_new);

/* Every ring has been read up to the heads noted for w. */
static int
caught_up(const struct cp_ingest *in, const struct cp_wait *w)
{
	uint32_t i;

	for (i = 0; i < in->shm.nrings; i++)
		if (cw_evring_tail(&in->shm.rings[i]) < w->need[i])
			return 0;
	return 1;
}

/* Judge a waiting event, counting it when its chain never came. */
static int
wait_judge(struct cp_ingest *in, struct cp_wait *w, int known)
{
	if (!known) {
		pthread_mutex_lock(&in->m->lock);
		in->m->chain_missing++;
		pthread_mutex_unlock(&in->m->lock);
	}
	return judge(in, &w->ev, 0);
}

/*
 * Judge the waiting events whose chain is known now, or whose noted heads
 * every ring has been read past (all: every one, the rings being drained).
 * Returns 0 or the first fatal error.
 */
static int
wait_flush(struct cp_ingest *in, int all)
{
	uint64_t now = now_ms();
	unsigned int i, k = 0;
	uint32_t r;
	int rc = 0, known, ret;

	for (i = 0; i < in->nwait; i++) {
		struct cp_wait *w = &in->wait[i];

		known = 0;
		if (w->blobs_checked != in->blobs) {
			/* A blob came since the last look: the chain may be known now. */
			w->blobs_checked = in->blobs;
			known = cp_engine_chain_known(in->engine, w->ev.chain_id);
		}
		if (!known && !all && !w->snap && now - w->since_ms >= CP_CHAIN_SNAP_MS) {
			for (r = 0; r < in->shm.nrings; r++)
				w->need[r] = cw_evring_head(&in->shm.rings[r]);
			w->snap = 1;
		}
		if (known || all || (w->snap && caught_up(in, w))) {
			ret = wait_judge(in, w, known);
			if (rc == 0)
				rc = ret;
			continue;
		}
		if (k != i)
			in->wait[k] = *w;
		k++;
	}
	in->nwait = k;
	return rc;
}

/* Hold an event until its chain's blob has been read (see struct cp_ingest). */
static int
wait_add(struct cp_ingest *in, const struct cw_flow_event *ev)
{
	struct cp_wait *w;
	int rc = 0;

	pthread_mutex_lock(&in->m->lock);
	in->m->chain_waits++;
	pthread_mutex_unlock(&in->m->lock);
	if (in->nwait == CP_CHAIN_WAIT_MAX) {
		/* Full: the oldest is judged as it is. */
		w = &in->wait[0];
		rc = wait_judge(in, w, cp_engine_chain_known(in->engine, w->ev.chain_id));
		memmove(in->wait, in->wait + 1, (CP_CHAIN_WAIT_MAX - 1) * sizeof(*in->wait));
		in->nwait--;
	}
	w = &in->wait[in->nwait++];
	w->ev = *ev;
	w->since_ms = now_ms();
	w->blobs_checked = in->blobs;
	w->snap = 0;
	return rc;
}

static int
handle(struct cp_ingest *in, struct cw_flow_event *ev, const struct cw_chain_blob *blob)
{
	int rc, chain_new = 0;

	pthread_mutex_lock(&in->m->lock);
	in->m->events++;
	if (ev->ts_last_ns > in->m->last_capture_ns)
		in->m->last_capture_ns = ev->ts_last_ns;
	pthread_mutex_unlock(&in->m->lock);
	in->since_flush++;

	if (blob != NULL) {
		if (blob_ok(blob))
			rc = cp_engine_chain(in->engine, blob, (const uint8_t *)(blob + 1),
					     (int64_t)(ev->ts_ns / 1000000000ull));
		else
			rc = -EPROTO;
		in->blobs++;
		note_store_errors(in);
		pthread_mutex_lock(&in->m->lock);
		if (rc < 0)
			in->m->chain_errors++;
		else
			in->m->chains_new++;
		pthread_mutex_unlock(&in->m->lock);
		if (rc < 0)
			warn_limited(in, CP_WARN_BLOB, "chain blob refused: %s", strerror(-rc));
		else
			chain_new = 1;
	} else if (ev->flags & (CW_EVF_CHAIN_NEW | CW_EVF_BLOB_DROPPED)) {
		pthread_mutex_lock(&in->m->lock);
		in->m->chain_errors++;
		pthread_mutex_unlock(&in->m->lock);
	}
	chainset_add(in, ev->chain_id);

	if (blob == NULL && !(ev->flags & CW_EVF_BLOB_DROPPED) && !is_zero16(ev->chain_id) &&
	    (ev->flags & (CW_EVF_CH | CW_EVF_SH)) && !cp_engine_chain_known(in->engine, ev->chain_id))
		return wait_add(in, ev);
	return judge(in, ev, chain_new);
}

/* Judge one flow event and write its verdict. */
static int
judge(struct cp_ingest *in, struct cw_flow_event *ev, int chain_new)
{
	struct cp_verdict v;
	int rc;

	if (!(ev->flags & (CW_EVF_CH | CW_EVF_SH))) {
		pthread_mutex_lock(&in->m->lock);
		in->m->events_not_tls++;
		pthread_mutex_unlock(&in->m->lock);
		return 0;
	}

	cp_anon_event(in->anon, ev);
	memset(&v, 0, sizeof(v));
	rc = cp_engine_flow(in->engine, ev, &v);
	note_store_errors(in);
	{
		struct cp_icache_stats ics;
		struct cp_srv_cache_stats scs;
		struct cp_chain_cache_stats ccs;

		cp_engine_icache_stats(in->engine, &ics);
		cp_engine_srv_cache_stats(in->engine, &scs);
		cp_engine_chain_cache_stats(in->engine, &ccs);
		pthread_mutex_lock(&in->m->lock);
		in->m->icache = ics;
		in->m->srv_cache = scs;
		in->m->chain_cache = ccs;
		pthread_mutex_unlock(&in->m->lock);
	}
	if (rc < 0) {
		pthread_mutex_lock(&in->m->lock);
		in->m->flow_errors++;
		pthread_mutex_unlock(&in->m->lock);
		warn_limited(in, CP_WARN_FLOW, "judging a flow failed: %s", strerror(-rc));
		return 0;
	}
	in->flows++;
	if ((unsigned int)v.result <= CP_SUBSTITUTED)
		in->by_result[v.result]++;
	cp_metrics_flow(in->m, &v);
	summary_add(in, &v);
	if (in->json == NULL)
		return 0;
	if (chain_new && v.chain != NULL) {
		rc = write_json(in, json_chain_fn, v.chain, &ev->ts_ns);
		if (rc < 0)
			return rc;
	}
	return write_json(in, json_flow_fn, ev, &v);
}

/* Take up to CP_INGEST_BATCH events from each ring. Returns events handled or -errno. */
static int
poll_rings(struct cp_ingest *in)
{
	struct cw_flow_event ev;
	const struct cw_chain_blob *blob;
	uint32_t i;
	int n = 0, k, rc;

	for (i = 0; i < in->shm.nrings; i++) {
		for (k = 0; k < CP_INGEST_BATCH; k++) {
			rc = cw_evring_read(&in->shm.rings[i], &ev, &blob);
			if (rc == 0)
				break;
			if (rc == -EPROTO)
				warn_limited(in, CP_WARN_RING,
					     "ring %u: chain blob out of step, resynchronised",
					     i);
			rc = handle(in, &ev, blob);
			if (rc < 0)
				return rc;
			n++;
		}
	}
	rc = wait_flush(in, 0);
	return rc < 0 ? rc : n;
}

/*
 * Stopping: read each ring up to where its producer stood when the stop
 * came, so that a flow waiting for a blob published before then (on another
 * worker's ring) is judged with its chain, not counted missing. Bounded by
 * what the rings held at that moment, however fast the producer still
 * writes; what comes after stays in the rings for the next run.
 */
static int
read_to_stop(struct cp_ingest *in)
{
	uint64_t head[CW_EVRING_MAX_RINGS];
	uint32_t i;
	int rc, behind;

	if (!in->attached || in->nwait == 0)
		return 0;
	for (i = 0; i < in->shm.nrings; i++)
		head[i] = cw_evring_head(&in->shm.rings[i]);
	do {
		rc = poll_rings(in);
		if (rc < 0)
			return rc;
		behind = 0;
		for (i = 0; i < in->shm.nrings; i++)
			behind |= cw_evring_tail(&in->shm.rings[i]) < head[i];
	} while (rc > 0 && behind);
	return 0;
}

/* Read every ring until empty: the producer has stopped, so this ends. */
static int
drain(struct cp_ingest *in)
{
	int rc;

	do {
		rc = poll_rings(in);
		if (rc < 0)
			return rc;
	} while (rc > 0 && !*in->stop);
	return wait_flush(in, 1);
}

static void
progress(struct cp_ingest *in, int final)
{
	uint64_t t = now_ms();

	if (!in->o.progress)
		return;
	if (!final && t - in->last_progress_ms < (in->progress_tty ? 500u : 10000u))
		return;
	in->last_progress_ms = t;
	fprintf(stderr,
		"%schainwatchd: %" PRIu64 " flows judged (%" PRIu64 " substituted, %" PRIu64
		" suspicious, %" PRIu64 " consistent, %" PRIu64 " unknown)%s",
		in->progress_tty ? "\r" : "", in->flows, in->by_result[CP_SUBSTITUTED],
		in->by_result[CP_SUSPICIOUS], in->by_result[CP_CONSISTENT],
		in->by_result[CP_UNKNOWN], in->progress_tty && !final ? "" : "\n");
	in->progress_shown = 1;
}

static void
detach(struct cp_ingest *in, int finished)
{
	if (!in->attached)
		return;
	if (finished) {
		in->finished_gen = in->shm.generation;
		in->finished_pid = in->shm.pid;
	}
	update_ring_metrics(in);
	cw_shm_close(&in->shm);
	in->attached = 0;
	pthread_mutex_lock(&in->m->lock);
	in->m->attached = 0;
	pthread_mutex_unlock(&in->m->lock);
}

/* One attach attempt. 1 attached, 0 not yet, -EPROTO/-EINVAL/-EKEYREJECTED (in->err) fatal. */
static int
try_attach(struct cp_ingest *in)
{
	int rc = cw_shm_attach(&in->shm, in->o.instance);

	if (rc == -EPROTO || rc == -EINVAL)
		return rc;
	if (rc < 0) {
		if (rc == -EACCES)
			warn_limited(in, CP_WARN_ATTACH,
				     "dataplane segment %s%s: permission denied (the control user "
				     "needs read-write access to it)",
				     CW_SHM_PREFIX, in->o.instance);
		return 0;
	}
	/* The segment of a dataplane already drained to its end: wait for the next one. */
	if (in->shm.generation == in->finished_gen && in->shm.pid == in->finished_pid) {
		cw_shm_close(&in->shm);
		return 0;
	}
	/* The chain ids of this dataplane and of the store must come from one key. */
	rc = cp_engine_chain_key(in->engine, in->shm.hdr->chain_key_id, in->err, sizeof(in->err));
	if (rc < 0) {
		cw_shm_close(&in->shm);
		return rc;
	}
	in->attached = 1;
	pthread_mutex_lock(&in->m->lock);
	in->m->attaches++;
	pthread_mutex_unlock(&in->m->lock);
	update_ring_metrics(in);
	return 1;
}

int
cp_ingest_attach(struct cp_ingest *in)
{
	unsigned int poll_ms = in->o.exit_when_done ? CP_ATTACH_POLL_FAST_MS : CP_ATTACH_POLL_MS;
	uint64_t t0 = now_ms();
	int rc, told = 0;

	while (!*in->stop) {
		rc = try_attach(in);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return 0;
		if (!told && now_ms() - t0 > 2000) {
			fprintf(stderr,
				"chainwatchd: waiting for dataplane instance \"%s\" (%s%s)\n",
				in->o.instance, CW_SHM_PREFIX, in->o.instance);
			told = 1;
		}
		sleep_us(poll_ms * 1000u);
	}
	return -EINTR;
}

/* The segment name no longer exists (removed without a replacement). */
static int
segment_removed(struct cp_ingest *in)
{
	int fd = shm_open(in->shm.name, O_RDONLY, 0);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == ENOENT;
}

int
cp_ingest_run(struct cp_ingest *in)
{
	int rc, n;

	while (!*in->stop) {
		uint64_t t;

		if (!in->attached) {
			rc = try_attach(in);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				sleep_us(CP_ATTACH_POLL_MS * 1000u);
				continue;
			}
			if (!in->o.quiet)
				fprintf(stderr,
					"chainwatchd: attached to dataplane instance \"%s\" (pid %d)\n",
					in->o.instance, (int)in->shm.pid);
		}
		n = poll_rings(in);
		if (n < 0)
			return n;
		t = now_ms();
		if (in->since_flush >= in->o.flush_events ||
		    (in->since_flush > 0 && (n == 0 || t - in->last_flush_ms >= in->o.flush_ms))) {
			rc = flush(in, 0);
			if (rc < 0)
				return rc;
		}
		progress(in, 0);
		if (n > 0 && t - in->last_check_ms < CP_CHECK_BUSY_MS)
			continue;
		if (n == 0 && t - in->last_check_ms < CP_CHECK_MS) {
			sleep_us(CP_IDLE_SLEEP_US);
			continue;
		}
		in->last_check_ms = t;
		update_ring_metrics(in);

		switch (cw_shm_check(&in->shm)) {
		case CW_SHM_OK:
			if (segment_removed(in)) {
				/* Someone removed the name: drain what the mapping holds and wait.
				 */
				rc = drain(in);
				if (rc < 0)
					return rc;
				fprintf(stderr,
					"chainwatchd: segment %s was removed; waiting for the "
					"dataplane\n",
					in->shm.name);
				detach(in, 1);
			}
			break;
		case CW_SHM_IS_DONE:
		case CW_SHM_IS_EXITED:
			/* DONE is set after the last publish: one full drain gets everything. */
			rc = drain(in);
			if (rc < 0)
				return rc;
			if (in->o.exit_when_done) {
				rc = flush(in, 1);
				update_ring_metrics(in);
				progress(in, 1);
				if (rc == 0 && in->store_errors > 0) {
					/* The verdicts are all out; the database misses some. */
					fprintf(stderr,
						"chainwatchd: %" PRIu64 " database reads or writes "
						"failed: the database is incomplete\n",
						in->store_errors);
					rc = -EIO;
				}
				return rc;
			}
			fprintf(stderr,
				"chainwatchd: dataplane (pid %d) finished; waiting for the next "
				"one\n",
				(int)in->shm.pid);
			detach(in, 1);
			break;
		case CW_SHM_GONE:
			rc = drain(in);
			if (rc < 0)
				return rc;
			fprintf(stderr, "chainwatchd: dataplane (pid %d) died without finishing\n",
				(int)in->shm.pid);
			detach(in, 1);
			if (in->o.exit_when_done) {
				flush(in, 1);
				return -EPIPE;
			}
			break;
		case CW_SHM_RESTARTED:
			/* The old mapping stays valid until unmapped: finish it, then move on. */
			rc = drain(in);
			if (rc < 0)
				return rc;
			if (!in->o.quiet)
				fprintf(stderr, "chainwatchd: dataplane restarted; reattaching\n");
			detach(in, 0);
			break;
		}
	}
	rc = read_to_stop(in);
	if (rc == 0)
		rc = wait_flush(in, 1);
	if (rc == 0)
		rc = flush(in, 1);
	progress(in, 1);
	return rc;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct cp_summary_row *x = a, *y = b;

	if (x->result != y->result)
		return x->result == CP_SUBSTITUTED ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

void
cp_ingest_summary(const struct cp_ingest *in, FILE *out)
{
	unsigned int i, j;

	fprintf(out,
		"\n%" PRIu64 " TLS flows judged: %" PRIu64 " substituted, %" PRIu64
		" suspicious, %" PRIu64 " consistent, %" PRIu64 " unknown\n",
		in->flows, in->by_result[CP_SUBSTITUTED], in->by_result[CP_SUSPICIOUS],
		in->by_result[CP_CONSISTENT], in->by_result[CP_UNKNOWN]);
	if (in->sum == NULL || in->nsum == 0) {
		fprintf(out, "No substituted or suspicious flows.\n");
		return;
	}
	qsort(in->sum, in->nsum, sizeof(in->sum[0]), row_cmp);
	fprintf(out, "\n%-40s %-12s %7s  %-40s %s\n", "NAME", "VERDICT", "FLOWS", "SIGNALS",
		"ANCHOR/ISSUER");
	for (i = 0; i < in->nsum; i++) {
		const struct cp_summary_row *r = &in->sum[i];
		char sigs[CP_SUMMARY_SIGS * 49 + 1];
		/* The name and the evidence are what a client, server or certificate sent. */
		char name[CP_TEXT_LEN(sizeof(r->name))], evidence[CP_TEXT_LEN(sizeof(r->evidence))];
		size_t off = 0;

		sigs[0] = '\0';
		for (j = 0; j < r->nsig; j++)
			off += (size_t)snprintf(sigs + off, sizeof(sigs) - off, "%s%s",
						j ? "," : "", r->sig[j]);
		fprintf(out, "%-40s %-12s %7" PRIu64 "  %-40s %s\n",
			r->name[0] ? cp_text_cell(r->name, name, sizeof(name)) : "(no name)",
			cp_result_name(r->result), r->count, sigs,
			cp_text_cell(r->evidence, evidence, sizeof(evidence)));
	}
	if (in->sum_dropped)
		fprintf(out, "(%" PRIu64 " more flows under names past the %u-row table)\n",
			in->sum_dropped, CP_SUMMARY_MAX);
}
