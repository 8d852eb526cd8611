/* SPDX-License-Identifier: BSD-3-Clause */
/* Prometheus /metrics (text format 0.0.4) served on a local address by a small bounded HTTP/1.0
 * responder. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

void
cp_metrics_init(struct cp_metrics *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->listen_fd = -1;
	m->wake[0] = m->wake[1] = -1;
}

void
cp_metrics_flow(struct cp_metrics *m, const struct cp_verdict *v)
{
	unsigned int i, j, nsig = v->nsignals < CP_MAX_SIGNALS ? v->nsignals : CP_MAX_SIGNALS;

	pthread_mutex_lock(&m->lock);
	if ((unsigned int)v->result <= CP_SUBSTITUTED)
		m->flows[v->result]++;
	for (i = 0; i < nsig; i++) {
		const char *name = v->sig[i].name;

		for (j = 0; j < m->nsig; j++)
			if (strncmp(m->sig[j].name, name, sizeof(m->sig[j].name)) == 0)
				break;
		if (j == m->nsig) {
			if (m->nsig == CP_METRICS_MAX_SIGNALS) {
				m->sig_other++;
				continue;
			}
			snprintf(m->sig[j].name, sizeof(m->sig[j].name), "%.*s",
				 (int)sizeof(v->sig[i].name) - 1, name);
			m->nsig++;
		}
		m->sig[j].n++;
	}
	pthread_mutex_unlock(&m->lock);
}

struct out {
	char *p;
	size_t len, cap;
	int overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	o->len += (size_t)n;
}

/* Label value escaping of the text format: backslash, double quote and newline. */
static void
label_escape(const char *in, size_t max, char *out, size_t cap)
{
	size_t i, k = 0;

	for (i = 0; i < max && in[i] != '\0' && k + 3 < cap; i++) {
		if (in[i] == '\\' || in[i] == '"') {
			out[k++] = '\\';
			out[k++] = in[i];
		} else if (in[i] == '\n') {
			out[k++] = '\\';
			out[k++] = 'n';
		} else {
			out[k++] = in[i];
		}
	}
	out[k] = '\0';
}

static void
help(struct out *o, const char *name, const char *type, const char *text)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A baseline cache's reads: a counter with result="hit" and result="miss". */
static void
put_reads(struct out *o, const char *name, const char *text, uint64_t hits, uint64_t misses)
{
	help(o, name, "counter", text);
	put(o, "%s{result=\"hit\"} %" PRIu64 "\n", name, hits);
	put(o, "%s{result=\"miss\"} %" PRIu64 "\n", name, misses);
}

int
cp_metrics_render(struct cp_metrics *m, char *buf, size_t cap)
{
	static const char *const results[] = {"unknown", "consistent", "suspicious", "substituted"};
	struct out o = {buf, 0, cap, 0};
	struct timespec now;
	char esc[2 * sizeof(m->sig[0].name) + 1];
	unsigned int i;

	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&m->lock);
	help(&o, "chainwatch_flows_total", "counter", "TLS flows judged, by verdict.");
	for (i = 0; i <= CP_SUBSTITUTED; i++)
		put(&o, "chainwatch_flows_total{verdict=\"%s\"} %" PRIu64 "\n", results[i],
		    m->flows[i]);
	help(&o, "chainwatch_signals_total", "counter",
	     "Verdict signals fired, by signal name (\"other\" past the series bound).");
	for (i = 0; i < m->nsig; i++) {
		label_escape(m->sig[i].name, sizeof(m->sig[i].name), esc, sizeof(esc));
		put(&o, "chainwatch_signals_total{signal=\"%s\"} %" PRIu64 "\n", esc, m->sig[i].n);
	}
	if (m->sig_other)
		put(&o, "chainwatch_signals_total{signal=\"other\"} %" PRIu64 "\n", m->sig_other);
	help(&o, "chainwatch_events_total", "counter", "Events consumed from the dataplane rings.");
	put(&o, "chainwatch_events_total %" PRIu64 "\n", m->events);
	help(&o, "chainwatch_events_not_tls_total", "counter",
	     "Events without a ClientHello or ServerHello (not judged).");
	put(&o, "chainwatch_events_not_tls_total %" PRIu64 "\n", m->events_not_tls);
	help(&o, "chainwatch_chains_new_total", "counter", "New certificate chains analysed.");
	put(&o, "chainwatch_chains_new_total %" PRIu64 "\n", m->chains_new);
	help(&o, "chainwatch_chains_known", "gauge",
	     "Distinct certificate chains seen since this process started.");
	put(&o, "chainwatch_chains_known %" PRIu64 "\n", m->chains_seen);
	help(&o, "chainwatch_chain_waits_total", "counter",
	     "Flow events held until the blob of their chain, published on another worker's ring, "
	     "was read.");
	put(&o, "chainwatch_chain_waits_total %" PRIu64 "\n", m->chain_waits);
	help(&o, "chainwatch_chain_missing_total", "counter",
	     "Flow events judged without their chain: its blob did not come within the wait.");
	put(&o, "chainwatch_chain_missing_total %" PRIu64 "\n", m->chain_missing);
	help(&o, "chainwatch_intermediates_cached", "gauge",
	     "Intermediates learned from valid paths and held to complete chains that lack "
	     "theirs (--intermediates).");
	put(&o, "chainwatch_intermediates_cached %" PRIu64 "\n", m->icache.cached);
	help(&o, "chainwatch_intermediates_learned_total", "counter",
	     "Intermediates learned since start: from valid paths, and at start from the "
	     "database.");
	put(&o, "chainwatch_intermediates_learned_total %" PRIu64 "\n", m->icache.learned);
	help(&o, "chainwatch_intermediates_replaced_total", "counter",
	     "Learned intermediates given up for newer ones at the --intermediates bound.");
	put(&o, "chainwatch_intermediates_replaced_total %" PRIu64 "\n", m->icache.replaced);
	help(&o, "chainwatch_paths_completed_total", "counter",
	     "Chain validations whose path took a learned intermediate the chain did not carry.");
	put(&o, "chainwatch_paths_completed_total %" PRIu64 "\n", m->icache.completed);
	put_reads(&o, "chainwatch_chain_cache_reads_total",
		  "Chain lookups of judged flows and of new chain blobs, by where they were "
		  "answered: the in-memory chain cache (hit) or not (miss: analysed from the blob "
		  "or the database).",
		  m->chain_cache.hits, m->chain_cache.misses);
	put_reads(&o, "chainwatch_certificate_cache_reads_total",
		  "Certificates of analysed chains found parsed in the certificate cache (hit) or "
		  "parsed (miss).",
		  m->chain_cache.cert_hits, m->chain_cache.cert_misses);
	help(&o, "chainwatch_chain_validations_remembered_total", "counter",
	     "Chains reloaded from the database that took the validation they had when the chain "
	     "cache gave them up, instead of validating again.");
	put(&o, "chainwatch_chain_validations_remembered_total %" PRIu64 "\n",
	    m->chain_cache.memo_hits);
	put_reads(&o, "chainwatch_server_baseline_reads_total",
		  "Server-baseline reads of judged flows, by where they were answered: the "
		  "in-memory cache (hit) or the database (miss).",
		  m->srv_cache.hits, m->srv_cache.misses);
	put_reads(&o, "chainwatch_name_baseline_reads_total",
		  "Name-baseline (learned leaves) reads of judged flows, by where they were "
		  "answered: the in-memory cache (hit) or the database (miss).",
		  m->srv_cache.name_hits, m->srv_cache.name_misses);
	help(&o, "chainwatch_server_baseline_cache_drops_total", "counter",
	     "Times the server- and name-baseline caches were emptied: retention passes, rolled-back "
	     "transactions, another connection's commit to the database.");
	put(&o, "chainwatch_server_baseline_cache_drops_total %" PRIu64 "\n", m->srv_cache.cleared);
	help(&o, "chainwatch_flows_pruned_total", "counter",
	     "Flow rows (and so alerts) deleted from the database for --max-flows or "
	     "--retention-days, a bounded step at each commit.");
	put(&o, "chainwatch_flows_pruned_total %" PRIu64 "\n", m->flows_pruned);
	help(&o, "chainwatch_errors_total", "counter", "Events not fully processed, by stage.");
	put(&o, "chainwatch_errors_total{stage=\"chain\"} %" PRIu64 "\n", m->chain_errors);
	put(&o, "chainwatch_errors_total{stage=\"flow\"} %" PRIu64 "\n", m->flow_errors);
	put(&o, "chainwatch_errors_total{stage=\"json\"} %" PRIu64 "\n", m->json_errors);
	put(&o, "chainwatch_errors_total{stage=\"store\"} %" PRIu64 "\n", m->store_errors);
	help(&o, "chainwatch_dataplane_attached", "gauge",
	     "1 while attached to a dataplane shared-memory segment.");
	put(&o, "chainwatch_dataplane_attached %d\n", m->attached);
	if (m->attaches > 0) {
		static const uint8_t unkeyed[8];
		char kid[17];

		for (i = 0; i < 8; i++)
			snprintf(kid + 2 * i, 3, "%02x", m->chain_key_id[i]);
		help(&o, "chainwatch_dataplane_chain_key_info", "gauge",
		     "The chain-key id of the dataplane attached last; 1 when its chain ids are "
		     "keyed, 0 when they are not (no --chain-key).");
		put(&o, "chainwatch_dataplane_chain_key_info{key_id=\"%s\"} %d\n", kid,
		    memcmp(m->chain_key_id, unkeyed, 8) != 0);
	}
	help(&o, "chainwatch_dataplane_attaches_total", "counter",
	     "Attaches to a dataplane segment (first one and every reattach).");
	put(&o, "chainwatch_dataplane_attaches_total %" PRIu64 "\n", m->attaches);
	help(&o, "chainwatch_dataplane_state", "gauge",
	     "Dataplane state: 0 starting, 1 running, 2 done, 3 exited.");
	put(&o, "chainwatch_dataplane_state %u\n", m->dp_state);
	help(&o, "chainwatch_ring_events_dropped_total", "counter",
	     "Events the dataplane dropped on full rings (its own counter; resets with the "
	     "dataplane).");
	put(&o, "chainwatch_ring_events_dropped_total %" PRIu64 "\n", m->ring_events_dropped);
	help(&o, "chainwatch_ring_blobs_dropped_total", "counter",
	     "Chain blobs the dataplane dropped on full blob rings.");
	put(&o, "chainwatch_ring_blobs_dropped_total %" PRIu64 "\n", m->ring_blobs_dropped);
	help(&o, "chainwatch_ring_pending_events", "gauge",
	     "Events waiting in the rings (lag in events).");
	put(&o, "chainwatch_ring_pending_events %" PRIu64 "\n", m->ring_pending);
	help(&o, "chainwatch_rings", "gauge", "Rings (dataplane workers) in the attached segment.");
	put(&o, "chainwatch_rings %u\n", m->nrings);
	help(&o, "chainwatch_last_capture_timestamp_seconds", "gauge",
	     "Capture time of the newest event consumed.");
	put(&o, "chainwatch_last_capture_timestamp_seconds %.6f\n",
	    (double)m->last_capture_ns / 1e9);
	help(&o, "chainwatch_lag_seconds", "gauge",
	     "Now minus the capture time of the newest event consumed (0 before the first).");
	put(&o, "chainwatch_lag_seconds %.6f\n",
	    m->last_capture_ns == 0 ? 0.0
				    : ((double)now.tv_sec + (double)now.tv_nsec / 1e9) -
					      (double)m->last_capture_ns / 1e9);
	help(&o, "chainwatch_dataplane_heartbeat_timestamp_seconds", "gauge",
	     "Last heartbeat of the attached dataplane.");
	put(&o, "chainwatch_dataplane_heartbeat_timestamp_seconds %.6f\n",
	    (double)m->heartbeat_ns / 1e9);
	pthread_mutex_unlock(&m->lock);
	return o.overflow ? -ENOSPC : (int)o.len;
}

/*
 * "ADDR:PORT" or "[ADDR]:PORT" (numeric address, port 1..65535) into a
 * sockaddr. Port 0 is refused: the kernel would pick a port nobody is told.
 */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	char *end;
	unsigned long p;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		port = rb + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	errno = 0;
	p = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || *end != '\0' || errno || p == 0 || p > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

/* parse_addr() with the message for the operator in err. */
static int
parse_metrics_addr(const char *addrport, struct sockaddr_storage *ss, socklen_t *len, char *err,
		   size_t errlen)
{
	if (parse_addr(addrport, ss, len) == 0)
		return 0;
	snprintf(err, errlen,
		 "--metrics %s: expected ADDR:PORT, [ADDR6]:PORT (numeric address, port 1..65535) "
		 "or off",
		 addrport);
	return -EINVAL;
}

int
cp_metrics_check_addr(const char *addrport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return parse_metrics_addr(addrport, &ss, &len, err, errlen);
}

int
cp_metrics_listen(struct cp_metrics *m, const char *addrport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, rc;

	rc = parse_metrics_addr(addrport, &ss, &len, err, errlen);
	if (rc < 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "--metrics %s: socket: %s", addrport, strerror(errno));
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, CP_METRICS_MAX_CONN) < 0) {
		rc = -errno;
		snprintf(err, errlen, "--metrics %s: %s", addrport, strerror(errno));
		goto err_close;
	}
	if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		snprintf(err, errlen, "--metrics: pipe: %s", strerror(errno));
		goto err_close;
	}
	m->listen_fd = fd;
	return 0;

err_close:
	close(fd);
	return rc;
}

struct conn {
	int fd;
	int writing;
	size_t rlen;
	char req[CP_METRICS_REQ_MAX];
	char *out; /* header + body; owned */
	size_t olen, ooff;
	struct timespec last;
};

static uint64_t
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t->tv_sec) * 1000u +
	       (uint64_t)((now.tv_nsec - t->tv_nsec) / 1000000);
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
}

/* Queue the whole answer; send_body = 0 (HEAD) keeps the real Content-Length but no body. */
static void
conn_reply(struct conn *c, const char *status, const char *ctype, const char *body, size_t blen,
	   int send_body)
{
	char head[256];
	size_t hl, sl = send_body ? blen : 0;

	hl = (size_t)snprintf(head, sizeof(head),
			      "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			      "Connection: close\r\n\r\n",
			      status, ctype, blen);
	c->out = malloc(hl + sl);
	if (c->out == NULL) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, hl);
	memcpy(c->out + hl, body, sl);
	c->olen = hl + sl;
	c->ooff = 0;
	c->writing = 1;
}

static void
conn_text(struct conn *c, const char *status, const char *msg)
{
	conn_reply(c, status, "text/plain", msg, strlen(msg), 1);
}

/* The request head is complete: answer GET/HEAD /metrics (and /), refuse the rest. */
static void
conn_answer(struct cp_metrics *m, struct conn *c)
{
	static char body[CP_METRICS_BODY_MAX]; /* only the server thread uses it */
	const char *path;
	size_t plen;
	int head = 0, n;

	if (strncmp(c->req, "GET ", 4) == 0) {
		path = c->req + 4;
	} else if (strncmp(c->req, "HEAD ", 5) == 0) {
		path = c->req + 5;
		head = 1;
	} else {
		conn_text(c, "405 Method Not Allowed", "method not allowed\n");
		return;
	}
	plen = strcspn(path, " ?\r\n");
	if (!((plen == 8 && strncmp(path, "/metrics", 8) == 0) || (plen == 1 && path[0] == '/'))) {
		conn_text(c, "404 Not Found", "not found; try /metrics\n");
		return;
	}
	n = cp_metrics_render(m, body, sizeof(body));
	if (n < 0) {
		conn_text(c, "500 Internal Server Error", "render failed\n");
		return;
	}
	conn_reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, (size_t)n, !head);
}

static void
conn_read(struct cp_metrics *m, struct conn *c)
{
	ssize_t n = recv(c->fd, c->req + c->rlen, sizeof(c->req) - 1 - c->rlen, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &c->last);
	if (strstr(c->req, "\r\n\r\n") != NULL || strstr(c->req, "\n\n") != NULL) {
		conn_answer(m, c);
		return;
	}
	if (c->rlen == sizeof(c->req) - 1)
		conn_text(c, "400 Bad Request", "request too large\n");
}

static void
conn_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->ooff += (size_t)n;
	clock_gettime(CLOCK_MONOTONIC, &c->last);
	if (c->ooff == c->olen)
		conn_close(c);
}

/*
 * One thread, poll() over the listener, the wake pipe and at most
 * CP_METRICS_MAX_CONN connections, all non-blocking: a slow client can
 * hold a slot for CP_METRICS_IDLE_MS, never the thread.
 */
static void *
server_main(void *arg)
{
	struct cp_metrics *m = arg;
	static struct conn conns[CP_METRICS_MAX_CONN];
	struct pollfd pfd[2 + CP_METRICS_MAX_CONN];
	int map[2 + CP_METRICS_MAX_CONN];
	unsigned int i;

	for (i = 0; i < CP_METRICS_MAX_CONN; i++)
		conns[i].fd = -1;
	for (;;) {
		nfds_t n = 0;
		int rc;

		pfd[n].fd = m->wake[0];
		pfd[n++].events = POLLIN;
		pfd[n].fd = m->listen_fd;
		pfd[n++].events = POLLIN;
		for (i = 0; i < CP_METRICS_MAX_CONN; i++) {
			if (conns[i].fd < 0)
				continue;
			if (ms_since(&conns[i].last) > CP_METRICS_IDLE_MS) {
				conn_close(&conns[i]);
				continue;
			}
			map[n] = (int)i;
			pfd[n].fd = conns[i].fd;
			pfd[n++].events = conns[i].writing ? POLLOUT : POLLIN;
		}
		rc = poll(pfd, n, 1000);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (pfd[0].revents)
			break;
		for (i = 2; i < n; i++) {
			struct conn *c = &conns[map[i]];

			if (pfd[i].revents == 0 || c->fd < 0)
				continue;
			if (c->writing)
				conn_write(c);
			else
				conn_read(m, c);
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			for (i = 0; i < CP_METRICS_MAX_CONN; i++)
				if (conns[i].fd < 0)
					break;
			if (i == CP_METRICS_MAX_CONN) {
				close(fd); /* full: refusing beats queueing without bound */
				continue;
			}
			memset(&conns[i], 0, sizeof(conns[i]));
			conns[i].fd = fd;
			clock_gettime(CLOCK_MONOTONIC, &conns[i].last);
		}
	}
	for (i = 0; i < CP_METRICS_MAX_CONN; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	return NULL;
}

int
cp_metrics_start(struct cp_metrics *m)
{
	int rc;

	if (m->listen_fd < 0)
		return 0;
	rc = pthread_create(&m->thr, NULL, server_main, m);
	if (rc != 0)
		return -rc;
	m->running = 1;
	return 0;
}

void
cp_metrics_fini(struct cp_metrics *m)
{
	if (m->running) {
		ssize_t n = write(m->wake[1], "x", 1);

		(void)n;
		pthread_join(m->thr, NULL);
		m->running = 0;
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->wake[0] >= 0)
		close(m->wake[0]);
	if (m->wake[1] >= 0)
		close(m->wake[1]);
	m->listen_fd = m->wake[0] = m->wake[1] = -1;
	pthread_mutex_destroy(&m->lock);
}
