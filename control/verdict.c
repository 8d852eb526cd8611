/* SPDX-License-Identifier: BSD-3-Clause */
/* Signals and verdicts: turns the facts gathered for one flow into a judged, explained result. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "verdict.h"

/*
 * Signal classes (docs/DETECTION.md):
 *  STRONG   alone makes the result substituted;
 *  PRIMARY  alone is suspicious, with any other signal substituted;
 *  SUPPORT  alone (however many) is suspicious.
 * learn_cert: the signal may fire on a flow whose chain is still learned into
 * the name baseline (change signals on a publicly valid chain, which is what a
 * routine CA switch or key roll looks like).
 */
enum sig_class { SIG_STRONG, SIG_PRIMARY, SIG_SUPPORT };

static const struct sig_def {
	const char *name;
	enum sig_class cls;
	int weight;
	int learn_cert;
	int learn_srv;
} sig_defs[] = {
	{"known_interception_anchor", SIG_STRONG, 100, 0, 0},
	{"pin_mismatch", SIG_STRONG, 100, 0, 0},
	{"distrusted_anchor", SIG_PRIMARY, 50, 0, 0},
	{"untrusted_path", SIG_PRIMARY, 40, 0, 1},
	{"issuer_change_for_name", SIG_PRIMARY, 50, 1, 1},
	{"key_change_same_subject", SIG_PRIMARY, 40, 1, 1},
	{"issuer_fanout", SIG_PRIMARY, 60, 0, 0},
	{"t13_assoc_substituted", SIG_PRIMARY, 50, 0, 0},
	{"mimicry_extensions_stripped", SIG_SUPPORT, 25, 0, 1},
	{"mimicry_no_sct", SIG_SUPPORT, 25, 0, 1},
	{"weak_key", SIG_SUPPORT, 30, 0, 1},
	{"leaf_reuses_issuer_key", SIG_SUPPORT, 40, 0, 1},
	{"validity_shift", SIG_SUPPORT, 25, 0, 1},
	{"name_mismatch", SIG_SUPPORT, 20, 0, 1},
	{"server_hello_change", SIG_SUPPORT, 25, 1, 1},
	{"t13_size_divergence", SIG_SUPPORT, 30, 1, 0},
	{"t13_assoc_name", SIG_SUPPORT, 30, 0, 0},
	{"downgrade_sentinel", SIG_SUPPORT, 30, 0, 0},
	{"client_abort", SIG_SUPPORT, 15, 1, 1},
	{"evasion_attempt", SIG_SUPPORT, 30, 0, 0},
};

#define NSIG_DEFS (sizeof(sig_defs) / sizeof(sig_defs[0]))

static const struct sig_def *
sig_def(const char *name)
{
	size_t i;

	for (i = 0; i < NSIG_DEFS; i++)
		if (strcmp(sig_defs[i].name, name) == 0)
			return &sig_defs[i];
	return NULL;
}

static void
fire(struct cp_verdict *v, const char *name, const char *fmt, ...)
{
	const struct sig_def *d = sig_def(name);
	struct cp_signal *s;
	va_list ap;

	if (d == NULL || v->nsignals >= CP_MAX_SIGNALS)
		return;
	s = &v->sig[v->nsignals++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->weight = d->weight;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
}

/* "1a2b3c4d.." : enough of a hash to tell keys apart in a detail line. */
static const char *
short_hash(const char *h, char buf[16])
{
	if (strncmp(h, "aki:", 4) == 0)
		snprintf(buf, 16, "aki:%.8s..", h + 4);
	else
		snprintf(buf, 16, "%.8s..", h);
	return buf;
}

static const char *
day(int64_t t, char buf[16])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, 16, "?");
	else
		strftime(buf, 16, "%Y-%m-%d", &tm);
	return buf;
}

static const char *
ver_name(unsigned int v)
{
	switch (v) {
	case 0x0304:
		return "TLS1.3";
	case 0x0303:
		return "TLS1.2";
	case 0x0302:
		return "TLS1.1";
	case 0x0301:
		return "TLS1.0";
	case 0x0300:
		return "SSL3";
	default:
		return "?";
	}
}

static int
popcount32(uint32_t x)
{
	int n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

/* Comparison leaf: same subject and key type, else same subject, else the most recent. */
static const struct cp_base_leaf *
pick_base(const struct cp_facts *f, const struct cp_cert *leaf, int *same_subject)
{
	const struct cp_base_leaf *subj = NULL;
	unsigned int i;

	*same_subject = 0;
	for (i = 0; i < f->nbase; i++) {
		if (strcmp(f->base[i].subject, leaf->subject) != 0)
			continue;
		if (strcmp(f->base[i].key_type, leaf->key_type) == 0) {
			*same_subject = 1;
			return &f->base[i];
		}
		if (subj == NULL)
			subj = &f->base[i];
	}
	if (subj != NULL) {
		*same_subject = 1;
		return subj;
	}
	return f->nbase ? &f->base[0] : NULL;
}

static void
chain_signals(const struct cp_config *cfg, const struct cp_facts *f, struct cp_verdict *v)
{
	const struct cp_chain *c = f->chain;
	const struct cp_cert *leaf = c->cert[0];
	const struct cp_base_leaf *b;
	char h1[16], h2[16], d1[16];
	int leaf_known = 0, issuer_known = 0, same_subject;
	unsigned int i;

	if (c->anchor_match >= 0) {
		int strong = strcmp(c->anchor_category, "interception") == 0 ||
			     strcmp(c->anchor_category, "operator") == 0;

		fire(v, strong ? "known_interception_anchor" : "distrusted_anchor",
		     "chain %s %s anchor \"%.120s\" (%s)",
		     f->anchor_key[0] ? "is issued by" : "contains", c->anchor_category,
		     c->anchor_name, f->anchor_key[0] ? short_hash(f->anchor_key, h1) : "by SPKI");
	}
	if (f->npins > 0 && !f->pin_matched)
		fire(v, "pin_mismatch", "no certificate in the chain has a key pinned for %.80s (%u pins, e.g. %s)",
		     f->name, f->npins, short_hash(f->pin_example, h1));
	if (c->path_valid == 0)
		fire(v, "untrusted_path", "chain does not validate to the trust store at capture time: %.80s%s",
		     c->path_error,
		     (f->ev->anomalies & (CW_EVA_CAP | CW_EVA_CHAIN_TRUNC)) == (CW_EVA_CAP | CW_EVA_CHAIN_TRUNC)
			     ? " (chain cut at the sensor's reassembly cap: certificates past it not seen)"
			     : "");
	if (f->name[0] != '\0' && f->ev->sni[0] != '\0' && !cp_name_covered(leaf, f->name))
		fire(v, "name_mismatch", "leaf SAN \"%.80s\" does not cover %.80s", leaf->san, f->name);

	for (i = 0; i < c->n; i++) {
		const struct cp_cert *x = c->cert[i];

		if (strncmp(x->key_type, "RSA", 3) == 0 &&
		    ((x->rsa_e != 0 && x->rsa_e < 65537) ||
		     x->key_bits < (int)cfg->min_rsa_bits)) {
			fire(v, "weak_key", "certificate %u (%.60s) has RSA-%d with e=%llu", i,
			     x->subject, x->key_bits, (unsigned long long)x->rsa_e);
			break;
		}
		if (strcmp(x->key_type, "EC") == 0 && x->key_bits < 256) {
			fire(v, "weak_key", "certificate %u (%.60s) has a %d-bit EC key", i, x->subject,
			     x->key_bits);
			break;
		}
	}

	/*
	 * A CA never certifies its own key for a server name; interceptors that
	 * skip per-site key generation do (one key for the CA and every leaf).
	 */
	if (strcmp(leaf->subject, leaf->issuer) != 0) {
		for (i = 1; i < c->n; i++) {
			if (strcmp(c->cert[i]->spki_sha256, leaf->spki_sha256) == 0) {
				fire(v, "leaf_reuses_issuer_key",
				     "leaf key %s is also the key of certificate %u (%.80s)",
				     short_hash(leaf->spki_sha256, h1), i, c->cert[i]->subject);
				break;
			}
		}
		if (i == c->n && leaf->ski[0] != '\0' && strcmp(leaf->ski, leaf->aki) == 0)
			fire(v, "leaf_reuses_issuer_key",
			     "leaf subject key id equals its authority key id (%.16s...)", leaf->ski);
	}

	if (f->issuer_key[0] != '\0' && c->path_valid == 0 &&
	    f->fanout_names + 1 >= cfg->fanout_names)
		fire(v, "issuer_fanout",
		     "untrusted issuer key %s signed leaves for %u unrelated names since %s (threshold %u in %us)",
		     short_hash(f->issuer_key, h1), f->fanout_names + 1,
		     day(f->fanout_first ? f->fanout_first : (int64_t)(f->ev->ts_ns / 1000000000ull), d1),
		     cfg->fanout_names, cfg->fanout_window_s);

	if (f->nbase == 0)
		return;
	for (i = 0; i < f->nbase; i++) {
		if (strcmp(f->base[i].leaf_spki, leaf->spki_sha256) == 0)
			leaf_known = 1;
		if (f->issuer_key[0] != '\0' && strcmp(f->base[i].issuer_key, f->issuer_key) == 0)
			issuer_known = 1;
	}
	if (!issuer_known && f->issuer_key[0] != '\0') {
		/* Report the baseline issuer that carries the most history. */
		const char *bk = f->base[0].issuer_key;
		uint64_t best = 0, cnt;
		int64_t since;
		unsigned int j;

		for (i = 0; i < f->nbase; i++) {
			for (cnt = 0, j = 0; j < f->nbase; j++)
				if (strcmp(f->base[j].issuer_key, f->base[i].issuer_key) == 0)
					cnt += f->base[j].count;
			if (cnt > best) {
				best = cnt;
				bk = f->base[i].issuer_key;
			}
		}
		for (since = INT64_MAX, i = 0; i < f->nbase; i++)
			if (strcmp(f->base[i].issuer_key, bk) == 0 && f->base[i].first_seen < since)
				since = f->base[i].first_seen;
		fire(v, "issuer_change_for_name",
		     "issuer SPKI %s differs from baseline %s seen %llu times since %s for %.80s",
		     short_hash(f->issuer_key, h1), short_hash(bk, h2), (unsigned long long)best,
		     day(since, d1), f->name);
	}
	if (leaf_known)
		return; /* a leaf already learned is no mimic of itself */

	b = pick_base(f, leaf, &same_subject);
	if (b == NULL)
		return;
	if (same_subject && leaf->not_before <= b->not_before)
		fire(v, "key_change_same_subject",
		     "leaf key %s replaces %s for the same subject, yet is not newer (not_before %lld <= %lld)",
		     short_hash(leaf->spki_sha256, h1), short_hash(b->leaf_spki, h2),
		     (long long)leaf->not_before, (long long)b->not_before);
	{
		const uint32_t watched = CP_EXT_SCT | CP_EXT_AIA | CP_EXT_CRLDP | CP_EXT_EKU |
					 CP_EXT_SKI | CP_EXT_AKI;
		uint32_t lost = b->ext & watched & ~leaf->ext;

		if (popcount32(lost) >= (int)cfg->strip_min)
			fire(v, "mimicry_extensions_stripped",
			     "leaf lacks %d extensions the baseline leaf had (mask 0x%02x:%s%s%s%s%s%s)",
			     popcount32(lost), lost, lost & CP_EXT_SCT ? " SCT" : "",
			     lost & CP_EXT_AIA ? " AIA" : "", lost & CP_EXT_CRLDP ? " CRLDP" : "",
			     lost & CP_EXT_EKU ? " EKU" : "", lost & CP_EXT_SKI ? " SKI" : "",
			     lost & CP_EXT_AKI ? " AKI" : "");
		if ((b->ext & CP_EXT_SCT) && !(leaf->ext & CP_EXT_SCT))
			fire(v, "mimicry_no_sct",
			     "baseline leaf for %.80s carried SCTs (seen %llu times), this one has none",
			     f->name, (unsigned long long)b->count);
	}
	if (same_subject) {
		int64_t dnb = leaf->not_before - b->not_before;
		int64_t dna = leaf->not_after - b->not_after;
		int64_t diff = dnb > dna ? dnb - dna : dna - dnb;

		/* A successor moves forward; a copy backdated by a constant is what forgers emit. */
		if (diff <= 60 && dnb < -60 && -dnb <= (int64_t)cfg->validity_shift_max_s)
			fire(v, "validity_shift",
			     "validity shifted by %+lld s against baseline leaf %s (both ends)",
			     (long long)dnb, short_hash(b->leaf_spki, h1));
	}
}

static int
fp_known(const struct cp_srv_base *s, const struct cw_flow_event *ev)
{
	unsigned int i;

	for (i = 0; i < s->nfp; i++)
		if (strcmp(s->fp[i].ja3s, ev->ja3s) == 0 && s->fp[i].version == ev->sh_version &&
		    s->fp[i].cipher == ev->cipher)
			return 1;
	return 0;
}

/*
 * What the sensor saw that a sender trying to show it other bytes than the
 * client got would cause: a second copy of bytes with other content (the
 * first was kept), segments the endpoint drops (a wrong checksum, no ACK),
 * TCP signature options some endpoints drop, a SYN-ACK the client would not
 * take. None occurs in an ordinary handshake.
 */
static const struct {
	uint32_t bit;
	const char *what;
} evasion_anomalies[] = {
	{CW_EVA_OVERLAP_CONFLICT, "bytes sent twice with other content (first kept)"},
	{CW_EVA_BAD_CSUM, "segments with a wrong checksum (dropped)"},
	{CW_EVA_NO_ACK, "segments without ACK (dropped)"},
	{CW_EVA_TCP_SIG, "TCP-MD5/AO options"},
	{CW_EVA_IP_FRAG, "handshake bytes in IP fragments (not reassembled)"},
	{CW_EVA_BAD_SYN, "SYN-ACKs the client would not take (ignored)"},
};

static void
evasion_signal(const struct cw_flow_event *ev, struct cp_verdict *v)
{
	char what[CP_DETAIL_MAX];
	size_t n = 0;

	what[0] = '\0';
	for (size_t i = 0; i < sizeof(evasion_anomalies) / sizeof(evasion_anomalies[0]); i++) {
		int w;

		if (!(ev->anomalies & evasion_anomalies[i].bit))
			continue;
		w = snprintf(what + n, sizeof(what) - n, "%s%s", n ? "; " : "", evasion_anomalies[i].what);
		if (w < 0 || (size_t)w >= sizeof(what) - n)
			break;
		n += (size_t)w;
	}
	if (n > 0)
		fire(v, "evasion_attempt", "%s: the bytes judged may not be the client's", what);
}

static void
handshake_signals(const struct cp_config *cfg, const struct cp_facts *f, struct cp_verdict *v)
{
	const struct cw_flow_event *ev = f->ev;
	const struct cp_srv_base *s = f->srv;
	char d1[16];
	int mature = s != NULL && s->n >= cfg->t13_min_baseline;

	evasion_signal(ev, v);
	if ((ev->flags & (CW_EVF_DOWNGRADE12 | CW_EVF_DOWNGRADE11)) && ev->ch_version >= 0x0304)
		fire(v, "downgrade_sentinel",
		     "client offered TLS1.3 but the ServerHello random carries the %s downgrade sentinel (%s negotiated)",
		     ev->flags & CW_EVF_DOWNGRADE12 ? "DOWNGRD\\x01" : "DOWNGRD\\x00",
		     ver_name(ev->sh_version));
	/* Resumption changes the ServerHello (pre_shared_key) and drops the certificate. */
	int resumed = (ev->flags & CW_EVF_RESUMED) != 0;

	/*
	 * A visible chain that validates speaks for itself; the ServerHello also
	 * varies with what each client offers, so it only stands in for a chain
	 * that is hidden or does not validate.
	 */
	int chain_ok = f->chain != NULL && f->chain->path_valid == 1;

	if (mature && !resumed && !chain_ok && (ev->flags & CW_EVF_SH) && !fp_known(s, ev))
		fire(v, "server_hello_change",
		     "ServerHello %s/%s/0x%04x not among %u learned for this server and name (%llu flows)",
		     ev->ja3s, ver_name(ev->sh_version), ev->cipher, s->nfp,
		     (unsigned long long)s->n);
	if (f->chain != NULL)
		return; /* the rest stands in for a chain that could not be seen */
	if (ev->t13_bytes > 0 && !resumed && s != NULL && s->t13_n >= cfg->t13_min_baseline) {
		uint64_t lo = (uint64_t)s->min_bytes * (100 - cfg->t13_size_tolerance_pct) / 100;
		uint64_t hi = (uint64_t)s->max_bytes * (100 + cfg->t13_size_tolerance_pct) / 100;

		if (ev->t13_bytes < lo || ev->t13_bytes > hi)
			fire(v, "t13_size_divergence",
			     "encrypted server flight %u bytes in %u records, learned %u..%u (+-%u%%) over %llu flows",
			     ev->t13_bytes, ev->t13_nrec, s->min_bytes, s->max_bytes,
			     cfg->t13_size_tolerance_pct, (unsigned long long)s->t13_n);
	}
	if (f->assoc_srv > 0)
		fire(v, "t13_assoc_substituted",
		     "%u substituted TLS<=1.2 flows to this server address and port within %us, last %s",
		     f->assoc_srv, cfg->assoc_window_s, day(f->assoc_last, d1));
	else if (f->assoc_name > 0 && (s == NULL || s->n == 0))
		/* Only for a service with no clean history of its own: interception keyed
		 * on the name shows up on every path, a per-service redirect does not. */
		fire(v, "t13_assoc_name",
		     "%u substituted TLS<=1.2 flows to %.80s (other servers) within %us, last %s",
		     f->assoc_name, f->name, cfg->assoc_window_s, day(f->assoc_last, d1));
	if ((ev->flags & CW_EVF_CLIENT_ABORT) && ev->sh_version == 0x0304)
		fire(v, "client_abort", "client aborted right after the encrypted server flight");
}

void
cp_verdict_judge(const struct cp_config *cfg, const struct cp_facts *f, struct cp_verdict *v)
{
	int strong = 0, primary = 0, sum = 0;
	unsigned int i;

	v->nsignals = 0;
	if (f->chain != NULL && f->chain->n > 0)
		chain_signals(cfg, f, v);
	handshake_signals(cfg, f, v);

	for (i = 0; i < v->nsignals; i++) {
		const struct sig_def *d = sig_def(v->sig[i].name);

		sum += v->sig[i].weight;
		strong += d->cls == SIG_STRONG;
		primary += d->cls == SIG_PRIMARY;
	}
	if (strong || (primary && v->nsignals >= 2)) {
		v->result = CP_SUBSTITUTED;
		v->confidence = strong ? 0.95 : 0.6 + 0.35 * (sum > 150 ? 1.0 : sum / 150.0);
	} else if (v->nsignals > 0) {
		v->result = CP_SUSPICIOUS;
		v->confidence = 0.3 + 0.3 * (sum > 100 ? 1.0 : sum / 100.0);
	} else if (f->chain != NULL && f->chain->path_valid == 1) {
		v->result = CP_CONSISTENT;
		v->confidence = f->nbase > 0 ? 0.9 : 0.6; /* trusted, and matching history if any */
	} else if (f->chain == NULL && f->srv != NULL && f->srv->n >= cfg->t13_min_baseline &&
		   (f->ev->flags & CW_EVF_SH) && !(f->ev->flags & CW_EVF_CERT) &&
		   f->ev->ncerts == 0 &&
		   (f->ev->sh_version == 0x0304 || (f->ev->flags & CW_EVF_RESUMED))) {
		/*
		 * Only a handshake that shows no certificate by design (TLS 1.3, a
		 * resumption): a chain that was sent in the clear but is not here
		 * (its blob lost on a full ring, a wait that ran out, or a Certificate
		 * message too large for the sensor's reassembly cap) is unknown, not
		 * vouched for by the ServerHello alone.
		 */
		v->result = CP_CONSISTENT;
		v->confidence = f->srv->t13_n >= cfg->t13_min_baseline ? 0.6 : 0.4;
	} else {
		v->result = CP_UNKNOWN;
		v->confidence = 0.0;
	}
}

int
cp_verdict_blocks_cert_learning(const struct cp_verdict *v)
{
	unsigned int i;

	if (v->result == CP_SUBSTITUTED)
		return 1;
	for (i = 0; i < v->nsignals; i++)
		if (!sig_def(v->sig[i].name)->learn_cert)
			return 1;
	return 0;
}

int
cp_verdict_blocks_srv_learning(const struct cp_verdict *v)
{
	unsigned int i;

	if (v->result == CP_SUBSTITUTED)
		return 1;
	for (i = 0; i < v->nsignals; i++)
		if (!sig_def(v->sig[i].name)->learn_srv)
			return 1;
	return 0;
}

void
cp_base_domain(const char *name, char *out, size_t outlen)
{
	const char *p = name + strlen(name), *dots[3] = {NULL, NULL, NULL};
	size_t tld, second;

	/* Find the last three dots from the right. */
	while (p > name) {
		p--;
		if (*p == '.') {
			if (dots[0] == NULL)
				dots[0] = p;
			else if (dots[1] == NULL)
				dots[1] = p;
			else {
				dots[2] = p;
				break;
			}
		}
	}
	if (dots[1] == NULL) {
		snprintf(out, outlen, "%s", name);
		return;
	}
	tld = strlen(dots[0] + 1);
	second = (size_t)(dots[0] - dots[1] - 1);
	/* co.uk, com.kz, net.au: a two-letter TLD under a short second label is a public suffix. */
	if (tld == 2 && second <= 3)
		snprintf(out, outlen, "%s", dots[2] ? dots[2] + 1 : name);
	else
		snprintf(out, outlen, "%s", dots[1] + 1);
}

static int
host_match(const char *pat, size_t plen, const char *name)
{
	size_t nlen = strlen(name);

	if (plen == nlen && strncasecmp(pat, name, plen) == 0)
		return 1;
	/* "*.example.com" covers exactly one leftmost label. */
	if (plen > 2 && pat[0] == '*' && pat[1] == '.') {
		const char *dot = strchr(name, '.');

		return dot != NULL && dot != name && strlen(dot) == plen - 1 &&
		       strncasecmp(dot, pat + 1, plen - 1) == 0;
	}
	return 0;
}

int
cp_name_covered(const struct cp_cert *leaf, const char *name)
{
	const char *p = leaf->san, *cn;

	if (p[0] != '\0') {
		while (*p) {
			size_t l = strcspn(p, ",");

			if (host_match(p, l, name))
				return 1;
			p += l;
			if (*p == ',')
				p++;
		}
		/*
		 * Only a list that lost names for room may have dropped the covering
		 * one. A long list that is whole (a CDN's 40 names) is judged by what
		 * it holds.
		 */
		return leaf->san_truncated;
	}
	cn = strstr(leaf->subject, "CN=");
	if (cn == NULL)
		return 0;
	cn += 3;
	return host_match(cn, strcspn(cn, ",+"), name);
}

static void
json_str(char **p, char *end, const char *s)
{
	if (*p < end)
		*(*p)++ = '"';
	for (; *s && *p + 7 < end; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			*(*p)++ = '\\';
			*(*p)++ = (char)c;
		} else if (c < 0x20) {
			*p += snprintf(*p, (size_t)(end - *p), "\\u%04x", c);
		} else {
			*(*p)++ = (char)c;
		}
	}
	if (*p < end)
		*(*p)++ = '"';
}

void
cp_signals_json(const struct cp_verdict *v, char *out, size_t outlen)
{
	char *p = out, *end = out + outlen - 1;
	unsigned int i;

	if (outlen < 3) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	*p++ = '[';
	for (i = 0; i < v->nsignals && p + 64 < end; i++) {
		p += snprintf(p, (size_t)(end - p), "%s{\"name\":", i ? "," : "");
		json_str(&p, end, v->sig[i].name);
		p += snprintf(p, (size_t)(end - p), ",\"weight\":%d,\"detail\":", v->sig[i].weight);
		json_str(&p, end, v->sig[i].detail);
		if (p < end)
			*p++ = '}';
	}
	if (p < end)
		*p++ = ']';
	*p = '\0';
}

/* The hash column of a pin: exactly 64 hex digits, then only blanks. */
static int
pin_hash_ok(const char *h)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)h[i]))
			return 0;
	for (h += 64; *h != '\0'; h++)
		if (*h != ' ' && *h != '\t')
			return 0;
	return 1;
}

static int
blank_line(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

/*
 * Accepts "NAME<TAB>SPKI-SHA256" lines (64 hex digits, any case), "#"
 * comments and blank lines. Anything else, and a file without a single pin,
 * fails with FILE:LINE in errbuf: a mistyped line must not leave a name
 * silently unpinned.
 */
int
cp_pins_load(struct cp_pins *pins, const char *path, char *errbuf, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *fp = fopen(path, "r");
	unsigned int lineno = 0;
	int ret = 0;

	if (fp == NULL) {
		snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	while (getline(&line, &cap, fp) > 0) {
		char *tab, *h, *q;
		struct cp_pin *pn;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || blank_line(line))
			continue;
		tab = strchr(line, '\t');
		if (tab != NULL)
			*tab = '\0';
		if (tab == NULL || line[0] == '\0' || strpbrk(line, " \v\f") != NULL ||
		    strlen(line) >= CP_NAME_MAX || !pin_hash_ok(tab + 1)) {
			snprintf(errbuf, errlen,
				 "%s:%u: bad pin line: expected NAME<TAB>SPKI SHA-256 (64 hex digits)",
				 path, lineno);
			ret = -EINVAL;
			break;
		}
		h = tab + 1;
		h[64] = '\0';
		if (pins->n == pins->cap) {
			unsigned int nc = pins->cap ? pins->cap * 2 : 64;
			struct cp_pin *np;

			if (pins->n >= CP_PINS_MAX) {
				snprintf(errbuf, errlen, "%s: more than %d pins", path, CP_PINS_MAX);
				ret = -E2BIG;
				break;
			}
			np = realloc(pins->p, nc * sizeof(*np));
			if (np == NULL) {
				ret = -ENOMEM;
				break;
			}
			pins->p = np;
			pins->cap = nc;
		}
		pn = &pins->p[pins->n++];
		for (q = line; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		for (q = h; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		snprintf(pn->name, sizeof(pn->name), "%s", line);
		snprintf(pn->spki, sizeof(pn->spki), "%s", h);
	}
	if (ret == 0 && ferror(fp)) {
		ret = errno ? -errno : -EIO;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-ret));
	}
	if (ret == 0 && pins->n == 0) {
		snprintf(errbuf, errlen, "%s: no pins (NAME<TAB>SPKI SHA-256 lines)", path);
		ret = -EINVAL;
	}
	free(line);
	fclose(fp);
	return ret;
}

void
cp_pins_free(struct cp_pins *pins)
{
	free(pins->p);
	memset(pins, 0, sizeof(*pins));
}

unsigned int
cp_pins_check(const struct cp_pins *pins, const char *name, const struct cp_chain *c,
	      const char *extra_spki, int *matched, char *first_pin, size_t first_len)
{
	unsigned int i, j, n = 0;

	*matched = 0;
	if (first_len)
		first_pin[0] = '\0';
	for (i = 0; i < pins->n; i++) {
		const struct cp_pin *p = &pins->p[i];

		if (!host_match(p->name, strlen(p->name), name))
			continue;
		if (n++ == 0 && first_len)
			snprintf(first_pin, first_len, "%s", p->spki);
		for (j = 0; c != NULL && j < c->n; j++)
			if (strcmp(c->cert[j]->spki_sha256, p->spki) == 0)
				*matched = 1;
		if (extra_spki != NULL && strcmp(extra_spki, p->spki) == 0)
			*matched = 1;
	}
	return n;
}
