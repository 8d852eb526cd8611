/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory SPSC event and chain-blob rings: creation, publishing, attaching and reading. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "evring.h"

#define CW_SHM_ALIGN 64u
#define CW_SHM_PAGE 4096u

static inline int
is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static inline uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t
now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Counters written by one thread only: a plain load/store pair, no locked add. */
static inline void
cnt_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

int
cw_shm_name(const char *instance, char out[CW_SHM_NAME_MAX])
{
	size_t n;
	const char *p;

	if (instance == NULL || instance[0] == '\0' || instance[0] == '.')
		return -EINVAL;
	n = strlen(instance);
	if (n + sizeof(CW_SHM_PREFIX) > CW_SHM_NAME_MAX)
		return -EINVAL;
	for (p = instance; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return -EINVAL;
	}
	snprintf(out, CW_SHM_NAME_MAX, "%s%s", CW_SHM_PREFIX, instance);
	return 0;
}

static int
params_ok(uint32_t nrings, uint32_t slots, uint32_t blob_bytes)
{
	return nrings >= 1 && nrings <= CW_EVRING_MAX_RINGS && is_pow2(slots) &&
	       slots >= CW_EVRING_MIN_SLOTS && slots <= CW_EVRING_MAX_SLOTS && is_pow2(blob_bytes) &&
	       blob_bytes >= CW_EVRING_MIN_BLOB && blob_bytes <= CW_EVRING_MAX_BLOB;
}

/* Offsets of ring i's areas; the same function serves the producer and the consumer's check. */
static void
ring_layout(uint32_t nrings, uint32_t slots, uint32_t blob_bytes, uint32_t i, uint64_t *ev_off,
	    uint64_t *blob_off)
{
	uint64_t base = align_up(sizeof(struct cw_shm_hdr) +
					 (uint64_t)nrings * sizeof(struct cw_evring_ctl),
				 CW_SHM_PAGE);
	uint64_t stride = align_up((uint64_t)slots * sizeof(struct cw_flow_event) + blob_bytes,
				   CW_SHM_PAGE);

	*ev_off = base + (uint64_t)i * stride;
	*blob_off = *ev_off + (uint64_t)slots * sizeof(struct cw_flow_event);
}

uint64_t
cw_shm_size(uint32_t nrings, uint32_t slots, uint32_t blob_bytes)
{
	uint64_t ev_off, blob_off;

	if (!params_ok(nrings, slots, blob_bytes))
		return 0;
	ring_layout(nrings, slots, blob_bytes, nrings - 1, &ev_off, &blob_off);
	return align_up(blob_off + blob_bytes, CW_SHM_PAGE);
}

static void
ring_view(struct cw_shm *shm, uint32_t i)
{
	uint8_t *base = (uint8_t *)shm->hdr;
	struct cw_evring *r = &shm->rings[i];
	struct cw_evring_ctl *ctl =
		(struct cw_evring_ctl *)(base + shm->hdr->ctl_off) + i;

	memset(r, 0, sizeof(*r));
	r->ctl = ctl;
	r->slots = (struct cw_flow_event *)(base + ctl->ev_off);
	r->blob = base + ctl->blob_off;
	r->nslots = shm->hdr->slots;
	r->blob_bytes = shm->hdr->blob_bytes;
	r->ev_limit = atomic_load_explicit(&ctl->ev_tail, memory_order_acquire) + r->nslots;
	r->blob_limit = atomic_load_explicit(&ctl->blob_tail, memory_order_acquire) + r->blob_bytes;
	r->attempts = atomic_load_explicit(&ctl->ev_head, memory_order_relaxed) +
		      atomic_load_explicit(&ctl->events_dropped, memory_order_relaxed);
}

/* Generation of an existing object of that name, or 0. */
static uint64_t
old_generation(const char *name)
{
	struct cw_shm_hdr h;
	int fd = shm_open(name, O_RDONLY, 0);
	uint64_t g = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.magic == CW_SHM_MAGIC)
		g = h.generation;
	close(fd);
	return g;
}

int
cw_shm_create(struct cw_shm *shm, const char *instance, uint32_t nrings, uint32_t slots,
	      uint32_t blob_bytes, mode_t mode)
{
	struct cw_shm_hdr *h;
	uint64_t size, gen, now;
	void *m;
	uint32_t i;
	int fd, rc;

	memset(shm, 0, sizeof(*shm));
	rc = cw_shm_name(instance, shm->name);
	if (rc < 0)
		return rc;
	size = cw_shm_size(nrings, slots, blob_bytes);
	if (size == 0)
		return -EINVAL;

	now = now_realtime_ns();
	gen = old_generation(shm->name) + 1;
	if (gen < now)
		gen = now;
	if (shm_unlink(shm->name) < 0 && errno != ENOENT)
		return -errno;
	fd = shm_open(shm->name, O_CREAT | O_EXCL | O_RDWR, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	/*
	 * Reserve every page now. A sparse object would take its pages on the
	 * producer's first write to each: a page fault on the fast path, and a
	 * SIGBUS there when the shm filesystem (/dev/shm, 64 MiB in a default
	 * container) is full. posix_fallocate() fails here instead, with ENOSPC.
	 */
	rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc != 0) {
		rc = -rc;
		goto err_unlink;
	}
	/* Populate the page tables too, so the producer never faults on the rings. */
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto err_unlink;
	}
	close(fd);

	/* The object is zero-filled (ftruncate, fallocate); magic goes last so a consumer never sees a half header. */
	h = m;
	h->abi_version = CW_ABI_VERSION;
	h->hdr_size = sizeof(struct cw_shm_hdr);
	h->ctl_size = sizeof(struct cw_evring_ctl);
	h->event_size = sizeof(struct cw_flow_event);
	h->nrings = nrings;
	h->slots = slots;
	h->blob_bytes = blob_bytes;
	h->total_size = size;
	h->ctl_off = sizeof(struct cw_shm_hdr);
	h->generation = gen;
	h->pid = (int32_t)getpid();
	h->start_ns = now;
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	cw_chain_key_id(h->chain_key_id);
	atomic_store_explicit(&h->state, CW_SHM_STARTING, memory_order_relaxed);
	atomic_store_explicit(&h->heartbeat_ns, now, memory_order_relaxed);
	for (i = 0; i < nrings; i++) {
		struct cw_evring_ctl *ctl = (struct cw_evring_ctl *)((uint8_t *)m + h->ctl_off) + i;

		ring_layout(nrings, slots, blob_bytes, i, &ctl->ev_off, &ctl->blob_off);
	}
	atomic_thread_fence(memory_order_release);
	h->magic = CW_SHM_MAGIC;

	shm->hdr = h;
	shm->size = size;
	shm->producer = 1;
	shm->generation = gen;
	shm->pid = h->pid;
	shm->nrings = nrings;
	for (i = 0; i < nrings; i++)
		ring_view(shm, i);
	return 0;

err_unlink:
	close(fd);
	shm_unlink(shm->name);
	return rc;
}

void
cw_shm_set_state(struct cw_shm *shm, enum cw_shm_state st)
{
	atomic_store_explicit(&shm->hdr->heartbeat_ns, now_realtime_ns(), memory_order_relaxed);
	atomic_store_explicit(&shm->hdr->state, (uint32_t)st, memory_order_release);
}

void
cw_shm_heartbeat(struct cw_shm *shm)
{
	atomic_store_explicit(&shm->hdr->heartbeat_ns, now_realtime_ns(), memory_order_relaxed);
}

void
cw_shm_close(struct cw_shm *shm)
{
	uint32_t i;

	/* A consumer's last blob is read: the producer may reuse its room. */
	for (i = 0; shm->hdr != NULL && i < shm->nrings; i++)
		cw_evring_release(&shm->rings[i]);
	if (shm->hdr != NULL)
		munmap(shm->hdr, shm->size);
	shm->hdr = NULL;
	shm->size = 0;
	shm->nrings = 0;
}

int
cw_shm_unlink(const char *instance)
{
	char name[CW_SHM_NAME_MAX];
	int rc = cw_shm_name(instance, name);

	if (rc < 0)
		return rc;
	return shm_unlink(name) < 0 ? -errno : 0;
}

/* Is the event slot at head h free? The cached limit is refreshed from the consumer's tail. */
static inline int
ev_slot_free(struct cw_evring *r, uint64_t h)
{
	if (h < r->ev_limit)
		return 1;
	r->ev_limit = atomic_load_explicit(&r->ctl->ev_tail, memory_order_acquire) + r->nslots;
	return h < r->ev_limit;
}

/* Are total bytes from blob head bh free? The cached limit is refreshed likewise. */
static inline int
blob_bytes_free(struct cw_evring *r, uint64_t bh, uint64_t total)
{
	if (bh + total <= r->blob_limit)
		return 1;
	r->blob_limit = atomic_load_explicit(&r->ctl->blob_tail, memory_order_acquire) +
			r->blob_bytes;
	return bh + total <= r->blob_limit;
}

/*
 * Bytes a blob of len takes in the blob ring with its head at bh: its record (*need), and the
 * pad record before it when it would wrap.
 */
static inline uint64_t
blob_total(const struct cw_evring *r, uint64_t bh, uint32_t len, uint64_t *need)
{
	uint64_t contig = r->blob_bytes - (uint32_t)(bh & (r->blob_bytes - 1));

	*need = sizeof(struct cw_blob_rec) + align_up(len, 8);
	return *need > contig ? contig + *need : *need;
}

/* Write one blob record; returns 0 or -ENOBUFS. Producer thread only. */
static int
blob_put(struct cw_evring *r, const struct cw_chain_blob *blob, uint32_t len)
{
	struct cw_evring_ctl *ctl = r->ctl;
	uint64_t bh = atomic_load_explicit(&ctl->blob_head, memory_order_relaxed);
	uint32_t mask = r->blob_bytes - 1;
	uint32_t off = (uint32_t)(bh & mask);
	uint64_t contig = r->blob_bytes - off;
	uint64_t need, total = blob_total(r, bh, len, &need);
	struct cw_blob_rec *rec;

	if (need > r->blob_bytes || !blob_bytes_free(r, bh, total))
		return -ENOBUFS;
	if (need > contig) {
		rec = (struct cw_blob_rec *)(r->blob + off);
		rec->len = (uint32_t)(contig - sizeof(*rec));
		rec->type = CW_BLOB_PAD;
		bh += contig;
		off = 0;
	}
	rec = (struct cw_blob_rec *)(r->blob + off);
	rec->len = len;
	rec->type = CW_BLOB_DATA;
	memcpy(rec + 1, blob, len);
	atomic_store_explicit(&ctl->blob_head, bh + need, memory_order_release);
	return 0;
}

int
cw_evring_publish(struct cw_evring *r, struct cw_flow_event *ev, const struct cw_chain_blob *blob,
		  uint32_t blob_len)
{
	struct cw_evring_ctl *ctl = r->ctl;
	uint64_t h = atomic_load_explicit(&ctl->ev_head, memory_order_relaxed);
	int rc = 0;

	ev->seq = r->attempts++;
	if (!ev_slot_free(r, h)) {
		cnt_inc(&ctl->events_dropped);
		return -ENOBUFS;
	}
	if (blob != NULL) {
		if (blob_len < sizeof(*blob) || blob_put(r, blob, blob_len) < 0) {
			cnt_inc(&ctl->blobs_dropped);
			ev->flags &= ~(uint32_t)CW_EVF_CHAIN_NEW;
			ev->flags |= CW_EVF_BLOB_DROPPED;
			rc = CW_EVRING_BLOB_DROPPED;
		} else {
			cnt_inc(&ctl->blobs_written);
		}
	}
	memcpy(&r->slots[h & (r->nslots - 1)], ev, sizeof(*ev));
	atomic_store_explicit(&ctl->ev_head, h + 1, memory_order_release);
	return rc;
}

int
cw_evring_room(struct cw_evring *r, uint32_t blob_len)
{
	struct cw_evring_ctl *ctl = r->ctl;
	uint64_t bh, need, total;

	if (!ev_slot_free(r, atomic_load_explicit(&ctl->ev_head, memory_order_relaxed)))
		return 0;
	if (blob_len == 0)
		return 1;
	bh = atomic_load_explicit(&ctl->blob_head, memory_order_relaxed);
	total = blob_total(r, bh, blob_len, &need);
	/* total >= need: past the whole ring it never fits, and is dropped without waiting. */
	return total > r->blob_bytes || blob_bytes_free(r, bh, total);
}

uint64_t
cw_evring_published(const struct cw_evring *r)
{
	return atomic_load_explicit(&r->ctl->ev_head, memory_order_relaxed);
}

uint64_t
cw_evring_dropped(const struct cw_evring *r)
{
	return atomic_load_explicit(&r->ctl->events_dropped, memory_order_relaxed);
}

int
cw_shm_attach(struct cw_shm *shm, const char *instance)
{
	struct cw_shm_hdr *h;
	struct stat st;
	void *m;
	uint32_t i;
	int fd, rc;

	memset(shm, 0, sizeof(*shm));
	rc = cw_shm_name(instance, shm->name);
	if (rc < 0)
		return rc;
	fd = shm_open(shm->name, O_RDWR, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto err_close;
	}
	if ((uint64_t)st.st_size < sizeof(struct cw_shm_hdr)) {
		rc = -EAGAIN; /* being created */
		goto err_close;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	close(fd);
	h = m;
	if (h->magic == 0) {
		rc = -EAGAIN;
		goto err_unmap;
	}
	atomic_thread_fence(memory_order_acquire);
	if (h->magic != CW_SHM_MAGIC || h->abi_version != CW_ABI_VERSION ||
	    h->hdr_size != sizeof(struct cw_shm_hdr) || h->ctl_size != sizeof(struct cw_evring_ctl) ||
	    h->event_size != sizeof(struct cw_flow_event) || h->ctl_off != sizeof(struct cw_shm_hdr) ||
	    cw_shm_size(h->nrings, h->slots, h->blob_bytes) != h->total_size ||
	    h->total_size != (uint64_t)st.st_size) {
		rc = -EPROTO;
		goto err_unmap;
	}
	for (i = 0; i < h->nrings; i++) {
		const struct cw_evring_ctl *ctl = (const struct cw_evring_ctl *)((uint8_t *)m + h->ctl_off) + i;
		uint64_t ev_off, blob_off;

		ring_layout(h->nrings, h->slots, h->blob_bytes, i, &ev_off, &blob_off);
		if (ctl->ev_off != ev_off || ctl->blob_off != blob_off) {
			rc = -EPROTO;
			goto err_unmap;
		}
	}
	shm->hdr = h;
	shm->size = (size_t)st.st_size;
	shm->generation = h->generation;
	shm->pid = h->pid;
	shm->nrings = h->nrings;
	for (i = 0; i < h->nrings; i++)
		ring_view(shm, i);
	return 0;

err_unmap:
	munmap(m, (size_t)st.st_size);
	return rc;
err_close:
	close(fd);
	return rc;
}

void
cw_evring_release(struct cw_evring *r)
{
	if (r->blob_held) {
		atomic_store_explicit(&r->ctl->blob_tail, r->blob_next, memory_order_release);
		r->blob_held = 0;
	}
}

int
cw_evring_read(struct cw_evring *r, struct cw_flow_event *ev, const struct cw_chain_blob **blob)
{
	struct cw_evring_ctl *ctl = r->ctl;
	uint64_t t, h, bt, bh;
	uint32_t mask = r->blob_bytes - 1;

	*blob = NULL;
	cw_evring_release(r);
	t = atomic_load_explicit(&ctl->ev_tail, memory_order_relaxed);
	h = atomic_load_explicit(&ctl->ev_head, memory_order_acquire);
	if (t == h)
		return 0;
	memcpy(ev, &r->slots[t & (r->nslots - 1)], sizeof(*ev));
	atomic_store_explicit(&ctl->ev_tail, t + 1, memory_order_release);
	if (!(ev->flags & CW_EVF_CHAIN_NEW))
		return 1;

	bt = atomic_load_explicit(&ctl->blob_tail, memory_order_relaxed);
	bh = atomic_load_explicit(&ctl->blob_head, memory_order_acquire);
	while (bt < bh) {
		const struct cw_blob_rec *rec = (const struct cw_blob_rec *)(r->blob + (bt & mask));
		const struct cw_chain_blob *b = (const struct cw_chain_blob *)(rec + 1);
		uint64_t room = r->blob_bytes - (bt & mask) - sizeof(*rec);

		if (rec->type == CW_BLOB_PAD && rec->len == room) {
			bt += sizeof(*rec) + rec->len;
			continue;
		}
		if (rec->type != CW_BLOB_DATA || rec->len < sizeof(*b) || rec->len > room ||
		    b->total_len != rec->len)
			break;
		if (memcmp(b->chain_id, ev->chain_id, sizeof(b->chain_id)) != 0) {
			/*
			 * A whole blob of another chain ahead of this event's: one whose
			 * event was read by a consumer that stopped while holding it
			 * (cw_evring_release() never came), or whose event the full event
			 * ring dropped. Blobs are in their events' order, so this event's
			 * own comes after it: passed over, not every blob behind it.
			 */
			bt += sizeof(*rec) + align_up(rec->len, 8);
			continue;
		}
		*blob = b;
		r->blob_next = bt + sizeof(*rec) + align_up(rec->len, 8);
		r->blob_held = 1;
		return 1;
	}
	/* Damaged, or this event's blob is not there: skip everything published so far. */
	atomic_store_explicit(&ctl->blob_tail, bh, memory_order_release);
	return -EPROTO;
}

uint64_t
cw_evring_pending(const struct cw_evring *r)
{
	return atomic_load_explicit(&r->ctl->ev_head, memory_order_acquire) -
	       atomic_load_explicit(&r->ctl->ev_tail, memory_order_relaxed);
}

uint64_t
cw_evring_head(const struct cw_evring *r)
{
	return atomic_load_explicit(&r->ctl->ev_head, memory_order_acquire);
}

uint64_t
cw_evring_tail(const struct cw_evring *r)
{
	return atomic_load_explicit(&r->ctl->ev_tail, memory_order_relaxed);
}

enum cw_shm_check
cw_shm_check(struct cw_shm *shm)
{
	struct cw_shm_hdr h;
	uint32_t st;
	int fd = shm_open(shm->name, O_RDONLY, 0);

	if (fd >= 0) {
		ssize_t n = pread(fd, &h, sizeof(h), 0);

		close(fd);
		if (n == (ssize_t)sizeof(h) && (h.generation != shm->generation || h.pid != shm->pid))
			return CW_SHM_RESTARTED;
	}
	st = atomic_load_explicit(&shm->hdr->state, memory_order_acquire);
	if (st == CW_SHM_EXITED)
		return CW_SHM_IS_EXITED;
	if (st == CW_SHM_DONE)
		return CW_SHM_IS_DONE;
	if (kill(shm->pid, 0) < 0 && errno == ESRCH)
		return CW_SHM_GONE;
	return CW_SHM_OK;
}
