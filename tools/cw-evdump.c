/* SPDX-License-Identifier: BSD-3-Clause */
/* cw-evdump: attach to a dataplane's shared-memory event rings and print each flow event as a text line. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cw_config.h"
#include "evtext.h"
#include "evring.h"
#include "fingerprint.h"

/*
 * Chains seen in blobs, so that later events that reference a known chain
 * can list its certificates too. Open addressing, bounded: when full, new
 * chains are not remembered and their later events print certs=?.
 */
#define EVD_CHAINS (1u << 16)
#define EVD_CERTS_STR (CW_EV_CHAIN_MAX * (2 * CW_SHA256_LEN + 1) + 1)

struct evd_chain {
	uint8_t used;
	uint8_t id[CW_ID_LEN];
	char certs[EVD_CERTS_STR];
};

static struct evd_chain *chains;
static uint64_t chains_used;

/*
 * Events that name a chain not seen yet, without a blob: another worker
 * published the blob, on its own ring, and that ring may not have been read
 * yet (a worker marks a chain sent just before it publishes the blob). They
 * wait until the blob has been read, up to EVD_PENDING_MS or the end of the
 * run; then they print with certs=?. Bounded: when full, the oldest prints
 * at once.
 */
#define EVD_PENDING 1024
#define EVD_PENDING_MS 1000u

struct evd_pending {
	struct cw_flow_event ev;
	uint64_t since_ms;
};

static struct evd_pending *pending;
static unsigned int npending;

static const char *const end_names[CW_END__MAX] = {
	[CW_END_DONE] = "done",
	[CW_END_FIN] = "fin",
	[CW_END_RST] = "rst",
	[CW_END_IDLE] = "idle",
	[CW_END_HS_TIMEOUT] = "hs_timeout",
	[CW_END_EVICTED] = "evicted",
	[CW_END_NOT_TLS] = "not_tls",
	[CW_END_BAD] = "bad",
	[CW_END_NO_BUFFER] = "no_buffer",
	[CW_END_SHUTDOWN] = "shutdown",
};

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: cw-evdump [options]\n"
		"\n"
		"Reads flow events from a chainwatch-dp instance's shared-memory rings and prints one\n"
		"line per event (the fields of chainwatch-scan, plus worker= and seq=). Reading\n"
		"consumes: events read here are gone for any other consumer.\n"
		"\n"
		"  --shm NAME        instance to attach to (default \"default\"); also --instance\n"
		"  --wait-done       wait for the instance to appear, then read until the dataplane\n"
		"                    is DONE or EXITED (or died, or restarted) and the rings are empty\n"
		"  --timeout S       give up waiting after S seconds (default 60); exit status 3\n"
		"  --counters        print per-ring counters at the end (lines starting with '#')\n"
		"  --peek            read nothing; print the header and per-ring counters only\n"
		"  --version         print the version and exit\n"
		"  -h, --help        this text\n"
		"\n"
		"Exit status: 0 ok, 1 attach failed, 2 bad usage, 3 timeout.\n");
}

static struct evd_chain *
chain_slot(const uint8_t id[CW_ID_LEN], int insert)
{
	uint32_t h, i;

	memcpy(&h, id, sizeof(h));
	for (i = 0; i < EVD_CHAINS; i++) {
		struct evd_chain *c = &chains[(h + i) & (EVD_CHAINS - 1)];

		if (!c->used) {
			if (!insert || chains_used >= EVD_CHAINS / 2)
				return NULL;
			c->used = 1;
			memcpy(c->id, id, CW_ID_LEN);
			chains_used++;
			return c;
		}
		if (memcmp(c->id, id, CW_ID_LEN) == 0)
			return c;
	}
	return NULL;
}

/* Remember the SHA-256 of each certificate in a blob; returns 0 or -1 for a malformed blob. */
static int
chain_learn(const struct cw_chain_blob *b)
{
	struct evd_chain *c;
	const uint8_t *der = (const uint8_t *)(b + 1);
	uint32_t off = 0, i;
	size_t o = 0;

	if (b->ncerts > CW_EV_CHAIN_MAX)
		return -1;
	for (i = 0; i < b->ncerts; i++) {
		if (b->len[i] > b->total_len - sizeof(*b) - off)
			return -1;
		off += b->len[i];
	}
	c = chain_slot(b->chain_id, 1);
	if (c == NULL)
		return 0;
	c->certs[0] = '\0';
	for (i = 0, off = 0; i < b->ncerts; i++) {
		uint8_t sha[CW_SHA256_LEN];
		char hex[2 * CW_SHA256_LEN + 1];

		cw_cert_sha256(der + off, b->len[i], sha);
		cw_hex(sha, sizeof(sha), hex);
		o += (size_t)snprintf(c->certs + o, sizeof(c->certs) - o, "%s%s", i ? "," : "", hex);
		off += b->len[i];
	}
	return 0;
}

static void
print_event(const struct cw_flow_event *ev, const struct cw_chain_blob *blob)
{
	static const uint8_t zero[CW_ID_LEN];
	char cli[64], srv[64], alpn[512], sni[4 * CW_EV_SNI_MAX], idhex[33], tbuf[32];
	char ja3[4 * 33], ja3s[4 * 33], ja4[4 * 40], t13[160];
	const char *certs = "-";
	time_t secs = (time_t)(ev->ts_ns / 1000000000u);
	int has_chain = memcmp(ev->chain_id, zero, CW_ID_LEN) != 0;
	struct tm tm;

	if (blob != NULL && chain_learn(blob) < 0)
		fprintf(stderr, "cw-evdump: malformed chain blob (worker %u seq %" PRIu64 ")\n",
			ev->worker, ev->seq);
	if (has_chain) {
		struct evd_chain *c = chain_slot(ev->chain_id, 0);

		certs = c != NULL ? c->certs : "?";
	}
	gmtime_r(&secs, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	cw_evtext_addr(ev->cli_addr, ev->ipver, ev->cli_port, cli, sizeof(cli));
	cw_evtext_addr(ev->srv_addr, ev->ipver, ev->srv_port, srv, sizeof(srv));
	cw_evtext_alpn(ev, alpn, sizeof(alpn));
	cw_evtext_str(ev->sni, sizeof(ev->sni), sni, sizeof(sni));
	cw_evtext_str(ev->ja3, sizeof(ev->ja3), ja3, sizeof(ja3));
	cw_evtext_str(ev->ja3s, sizeof(ev->ja3s), ja3s, sizeof(ja3s));
	cw_evtext_str(ev->ja4, sizeof(ev->ja4), ja4, sizeof(ja4));
	cw_hex(ev->chain_id, CW_ID_LEN, idhex);
	printf("%s.%06uZ cli=%s srv=%s sni=%s ch_ver=%04x sh_ver=%04x cipher=%04x alpn=%s "
	       "ja3=%s ja3s=%s ja4=%s chain_id=%s certs=%s ncerts=%u flags=0x%x anomalies=0x%x "
	       "end=%s worker=%u seq=%" PRIu64 " blob=%s",
	       tbuf, (unsigned int)(ev->ts_ns % 1000000000u / 1000u), cli, srv, sni[0] ? sni : "-",
	       ev->ch_version, ev->sh_version, ev->cipher, alpn[0] ? alpn : "-", ja3[0] ? ja3 : "-",
	       ja3s[0] ? ja3s : "-", ja4[0] ? ja4 : "-", has_chain ? idhex : "-",
	       certs[0] ? certs : "-", ev->ncerts, ev->flags, ev->anomalies,
	       ev->end_reason < CW_END__MAX ? end_names[ev->end_reason] : "?", ev->worker, ev->seq,
	       blob != NULL ? "new" : ((ev->flags & CW_EVF_BLOB_DROPPED) ? "dropped" : "-"));
	cw_evtext_t13_recs(ev, t13, sizeof(t13));
	printf("%s\n", t13);
}

static const char *
state_name(uint32_t st)
{
	switch (st) {
	case CW_SHM_STARTING:
		return "starting";
	case CW_SHM_RUNNING:
		return "running";
	case CW_SHM_DONE:
		return "done";
	case CW_SHM_EXITED:
		return "exited";
	}
	return "?";
}

static void
print_counters(const struct cw_shm *shm, const uint64_t *read)
{
	uint32_t i;

	printf("# instance=%s pid=%d generation=%" PRIu64 " state=%s rings=%u slots=%u blob_bytes=%u\n",
	       shm->hdr->instance, shm->hdr->pid, shm->hdr->generation,
	       state_name(atomic_load(&shm->hdr->state)), shm->nrings, shm->hdr->slots,
	       shm->hdr->blob_bytes);
	for (i = 0; i < shm->nrings; i++) {
		const struct cw_evring_ctl *c = shm->rings[i].ctl;

		printf("# ring=%u published=%" PRIu64 " read=%" PRIu64 " pending=%" PRIu64
		       " events_dropped=%" PRIu64 " blobs_written=%" PRIu64 " blobs_dropped=%" PRIu64 "\n",
		       i, atomic_load(&c->ev_head), read ? read[i] : 0,
		       atomic_load(&c->ev_head) - atomic_load(&c->ev_tail), atomic_load(&c->events_dropped),
		       atomic_load(&c->blobs_written), atomic_load(&c->blobs_dropped));
	}
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The event names a chain whose blob is on another ring, not read yet. */
static int
blob_elsewhere(const struct cw_flow_event *ev, const struct cw_chain_blob *blob)
{
	static const uint8_t zero[CW_ID_LEN];

	return blob == NULL && !(ev->flags & CW_EVF_BLOB_DROPPED) &&
	       memcmp(ev->chain_id, zero, CW_ID_LEN) != 0 && chain_slot(ev->chain_id, 0) == NULL;
}

/* Print the waiting events whose chain is known now, or that waited long enough (all: every one). */
static void
pending_flush(int all)
{
	uint64_t now = mono_ms();
	unsigned int i, k = 0;

	for (i = 0; i < npending; i++) {
		struct evd_pending *p = &pending[i];

		if (all || now - p->since_ms >= EVD_PENDING_MS || !blob_elsewhere(&p->ev, NULL))
			print_event(&p->ev, NULL);
		else if (k != i)
			pending[k++] = *p;
		else
			k++;
	}
	npending = k;
}

/* Read everything pending on every ring; returns events read. */
static uint64_t
drain(struct cw_shm *shm, uint64_t *read)
{
	struct cw_flow_event ev;
	const struct cw_chain_blob *blob;
	uint64_t n = 0;
	uint32_t i;
	int rc;

	for (i = 0; i < shm->nrings; i++) {
		while ((rc = cw_evring_read(&shm->rings[i], &ev, &blob)) != 0) {
			if (rc < 0)
				fprintf(stderr, "cw-evdump: ring %u: blob out of step with events\n", i);
			read[i]++;
			n++;
			if (!blob_elsewhere(&ev, blob)) {
				print_event(&ev, blob);
				continue;
			}
			if (npending == EVD_PENDING) {
				print_event(&pending[0].ev, NULL);
				memmove(pending, pending + 1, (EVD_PENDING - 1) * sizeof(*pending));
				npending--;
			}
			pending[npending].ev = ev;
			pending[npending++].since_ms = mono_ms();
		}
		cw_evring_release(&shm->rings[i]);
	}
	pending_flush(0);
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"shm", required_argument, NULL, 's'},
		{"instance", required_argument, NULL, 's'},
		{"wait-done", no_argument, NULL, 'w'},
		{"timeout", required_argument, NULL, 't'},
		{"counters", no_argument, NULL, 'c'},
		{"peek", no_argument, NULL, 'p'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *inst = "default";
	int wait_done = 0, counters = 0, peek = 0, opt, rc;
	unsigned long timeout_s = 60;
	uint64_t deadline, read[CW_EVRING_MAX_RINGS] = {0};
	struct cw_shm shm;
	char *end;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			inst = optarg;
			break;
		case 'w':
			wait_done = 1;
			break;
		case 't':
			errno = 0;
			timeout_s = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || timeout_s == 0 || timeout_s > 86400) {
				fprintf(stderr, "cw-evdump: --timeout: expected 1..86400 seconds, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			counters = 1;
			break;
		case 'p':
			peek = counters = 1;
			break;
		case 'V':
			printf("cw-evdump %s\n", CW_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cw-evdump: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	chains = calloc(EVD_CHAINS, sizeof(*chains));
	pending = calloc(EVD_PENDING, sizeof(*pending));
	if (chains == NULL || pending == NULL) {
		fprintf(stderr, "cw-evdump: out of memory\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	deadline = mono_ms() + timeout_s * 1000u;
	for (;;) {
		rc = cw_shm_attach(&shm, inst);
		if (rc == 0)
			break;
		if (!wait_done || (rc != -ENOENT && rc != -EAGAIN)) {
			fprintf(stderr, "cw-evdump: cannot attach to instance '%s': %s\n", inst,
				rc == -EPROTO ? "layout or ABI version mismatch" : strerror(-rc));
			return 1;
		}
		if (mono_ms() >= deadline) {
			fprintf(stderr, "cw-evdump: instance '%s' did not appear in %lu s\n", inst,
				timeout_s);
			return 3;
		}
		usleep(10000);
	}
	if (peek) {
		print_counters(&shm, NULL);
		cw_shm_close(&shm);
		return 0;
	}
	rc = 0;
	for (;;) {
		enum cw_shm_check st;

		if (drain(&shm, read) > 0 || !wait_done)
			if (!wait_done)
				break;
		st = cw_shm_check(&shm);
		if (st != CW_SHM_OK) {
			/* The producer is finished: whatever it published is visible now. */
			drain(&shm, read);
			if (st == CW_SHM_GONE)
				fprintf(stderr, "cw-evdump: the dataplane died without finishing\n");
			else if (st == CW_SHM_RESTARTED)
				fprintf(stderr, "cw-evdump: the dataplane restarted; attach again\n");
			break;
		}
		if (mono_ms() >= deadline) {
			fprintf(stderr, "cw-evdump: dataplane not done after %lu s\n", timeout_s);
			rc = 3;
			break;
		}
		usleep(1000);
	}
	pending_flush(1);
	if (counters)
		print_counters(&shm, read);
	cw_shm_close(&shm);
	free(pending);
	free(chains);
	return rc;
}
