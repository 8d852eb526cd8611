/* SPDX-License-Identifier: BSD-3-Clause */
/* Loads, finds, reads and removes the cw_steer XDP program (libbpf and the generated skeleton). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "xdp_steer.h" /* struct cw_steer_cfg, which the skeleton uses */
#include "cw_steer.skel.h"

#define DP_PROG_NAME "cw_steer"
#define DP_OBJ_MAX_SIZE (16u << 20)

/*
 * Either skel != NULL (we loaded the program; the fds below belong to the skeleton) or skel == NULL
 * (found on the interface; the fds are ours and closed on free).
 */
struct dp_xdp_steer {
	struct cw_steer *skel;
	int ifindex;
	__u32 attach_flags; /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	__u32 prog_id;
	int prog_fd;
	int counters_fd;
	int flows_fd;
	int rodata_fd;
	int xsks_fd;
	char ifname[IF_NAMESIZE];
};

static const char *const dp_cnt_names[CW_CNT_MAX] = {
	[CW_CNT_SEEN] = "seen",
	[CW_CNT_STEER_TLS_RECORD] = "steer_tls_record",
	[CW_CNT_STEER_SSLV2] = "steer_sslv2",
	[CW_CNT_STEER_SYN] = "steer_syn",
	[CW_CNT_STEER_FIN_RST] = "steer_fin_rst",
	[CW_CNT_STEER_PORT] = "steer_port",
	[CW_CNT_STEER_FLOW] = "steer_flow",
	[CW_CNT_REDIRECT_FAIL] = "redirect_fail",
	[CW_CNT_PASS_NON_IP] = "pass_non_ip",
	[CW_CNT_PASS_NON_TCP] = "pass_non_tcp",
	[CW_CNT_PASS_NO_TLS] = "pass_no_tls",
	[CW_CNT_PASS_PORT] = "pass_port",
	[CW_CNT_PASS_FRAG] = "pass_frag",
	[CW_CNT_PASS_MALFORMED] = "pass_malformed",
	[CW_CNT_FLOW_NEW] = "flow_new",
	[CW_CNT_FLOW_END] = "flow_end",
	[CW_CNT_FLOW_FULL] = "flow_full",
	[CW_CNT_FLOW_KEPT] = "flow_kept",
	[CW_CNT_FLOW_ADDED] = "flow_added",
};

const char *
dp_xdp_steer_counter_name(unsigned int idx)
{
	return idx < CW_CNT_MAX ? dp_cnt_names[idx] : NULL;
}

void
dp_xdp_steer_cfg_default(struct cw_steer_cfg *cfg)
{
	const struct cw_steer_cfg def = CW_STEER_CFG_DEFAULT;

	*cfg = def;
}

int
dp_xdp_steer_parse_ports(const char *list, struct cw_steer_cfg *cfg)
{
	const char *p = list;

	cfg->nports = 0;
	for (;;) {
		unsigned long v;
		char *end;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || v == 0 || v > 65535 || cfg->nports >= CW_STEER_MAX_PORTS ||
		    (*end != ',' && *end != '\0'))
			return -EINVAL;
		cfg->ports[cfg->nports++] = (__u16)v;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

int
dp_xdp_steer_cfg_check(const struct cw_steer_cfg *cfg)
{
	if (cfg->flags & ~CW_STEER_F_ALL)
		return -EINVAL;
	if (cfg->nports > CW_STEER_MAX_PORTS)
		return -EINVAL;
	if ((cfg->flags & CW_STEER_F_FLOW) && cfg->flow_budget == 0)
		return -EINVAL;
	if ((cfg->flags & CW_STEER_F_PORT_ALL) && cfg->nports == 0)
		return -EINVAL;
	for (unsigned int i = 0; i < cfg->nports; i++)
		if (cfg->ports[i] == 0)
			return -EINVAL;
	return 0;
}

static struct dp_xdp_steer *
dp_handle_new(const char *ifname)
{
	struct dp_xdp_steer *h;

	if (strlen(ifname) >= IF_NAMESIZE)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->prog_fd = h->counters_fd = h->flows_fd = h->rodata_fd = h->xsks_fd = -1;
	snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
	return h;
}

static void
dp_handle_free(struct dp_xdp_steer *h)
{
	if (h->skel) {
		cw_steer__destroy(h->skel);
	} else {
		if (h->xsks_fd >= 0)
			close(h->xsks_fd);
		if (h->rodata_fd >= 0)
			close(h->rodata_fd);
		if (h->counters_fd >= 0)
			close(h->counters_fd);
		if (h->flows_fd >= 0)
			close(h->flows_fd);
		if (h->prog_fd >= 0)
			close(h->prog_fd);
	}
	free(h);
}

static int
dp_prog_id_of(int prog_fd, __u32 *id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

int
dp_xdp_steer_attach(const char *ifname, const struct cw_steer_cfg *cfg, enum dp_xdp_mode mode,
		    struct dp_xdp_steer **out)
{
	struct cw_steer_cfg def;
	struct dp_xdp_steer *h;
	int err;

	if (!cfg) {
		dp_xdp_steer_cfg_default(&def);
		cfg = &def;
	}
	err = dp_xdp_steer_cfg_check(cfg);
	if (err)
		return err;
	h = dp_handle_new(ifname);
	if (!h)
		return -ENOMEM;
	h->ifindex = (int)if_nametoindex(ifname);
	if (h->ifindex == 0) {
		err = -ENODEV;
		goto err_free;
	}
	h->skel = cw_steer__open();
	if (!h->skel) {
		err = errno ? -errno : -ENOMEM;
		goto err_free;
	}
	h->skel->rodata->cw_cfg = *cfg;
	err = cw_steer__load(h->skel);
	if (err)
		goto err_free;
	h->prog_fd = bpf_program__fd(h->skel->progs.cw_steer);
	h->counters_fd = bpf_map__fd(h->skel->maps.cw_counters);
	h->flows_fd = bpf_map__fd(h->skel->maps.cw_flows);
	h->rodata_fd = bpf_map__fd(h->skel->maps.rodata);
	h->xsks_fd = bpf_map__fd(h->skel->maps.xsks_map);
	err = dp_prog_id_of(h->prog_fd, &h->prog_id);
	if (err)
		goto err_free;

	err = -EOPNOTSUPP;
	if (mode == DP_XDP_MODE_AUTO || mode == DP_XDP_MODE_NATIVE) {
		h->attach_flags = XDP_FLAGS_DRV_MODE;
		err = bpf_xdp_attach(h->ifindex, h->prog_fd,
				     XDP_FLAGS_UPDATE_IF_NOEXIST | h->attach_flags, NULL);
	}
	/* A driver without native XDP answers EOPNOTSUPP (or EINVAL on some older kernels). */
	if (mode == DP_XDP_MODE_GENERIC ||
	    (mode == DP_XDP_MODE_AUTO && (err == -EOPNOTSUPP || err == -EINVAL))) {
		h->attach_flags = XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach(h->ifindex, h->prog_fd,
				     XDP_FLAGS_UPDATE_IF_NOEXIST | h->attach_flags, NULL);
	}
	if (err == -EBUSY)
		err = -EEXIST;
	if (err)
		goto err_free;
	*out = h;
	return 0;

err_free:
	dp_handle_free(h);
	return err;
}

/* fd of the map of prog_fd whose kernel name is name, or ends with name when suffix is set. */
static int
dp_find_map(int prog_fd, const char *name, int suffix, int *map_fd)
{
	struct bpf_prog_info pinfo;
	__u32 ids[16];
	__u32 len = sizeof(pinfo);
	__u32 n;

	memset(&pinfo, 0, sizeof(pinfo));
	pinfo.nr_map_ids = 16;
	pinfo.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &pinfo, &len))
		return -errno;
	n = pinfo.nr_map_ids < 16 ? pinfo.nr_map_ids : 16;
	for (__u32 i = 0; i < n; i++) {
		struct bpf_map_info minfo;
		__u32 mlen = sizeof(minfo);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		memset(&minfo, 0, sizeof(minfo));
		if (bpf_obj_get_info_by_fd(fd, &minfo, &mlen) == 0) {
			size_t nl = strnlen(minfo.name, sizeof(minfo.name));
			size_t l = strlen(name);

			if (suffix ? (nl >= l && strcmp(minfo.name + nl - l, name) == 0)
				   : strcmp(minfo.name, name) == 0) {
				*map_fd = fd;
				return 0;
			}
		}
		close(fd);
	}
	return -ENOENT;
}

int
dp_xdp_steer_open(const char *ifname, struct dp_xdp_steer **out)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info pinfo;
	__u32 len = sizeof(pinfo);
	struct dp_xdp_steer *h;
	int err;

	h = dp_handle_new(ifname);
	if (!h)
		return -ENOMEM;
	h->ifindex = (int)if_nametoindex(ifname);
	if (h->ifindex == 0) {
		err = -ENODEV;
		goto err_free;
	}
	err = bpf_xdp_query(h->ifindex, 0, &q);
	if (err)
		goto err_free;
	if (q.attach_mode == XDP_ATTACHED_DRV) {
		h->attach_flags = XDP_FLAGS_DRV_MODE;
		h->prog_id = q.drv_prog_id;
	} else if (q.attach_mode == XDP_ATTACHED_SKB) {
		h->attach_flags = XDP_FLAGS_SKB_MODE;
		h->prog_id = q.skb_prog_id;
	} else if (q.attach_mode == XDP_ATTACHED_NONE) {
		err = -ENOENT;
		goto err_free;
	} else {
		err = -EPROTO; /* offloaded or several programs: not ours */
		goto err_free;
	}
	h->prog_fd = bpf_prog_get_fd_by_id(h->prog_id);
	if (h->prog_fd < 0) {
		err = -errno;
		goto err_free;
	}
	memset(&pinfo, 0, sizeof(pinfo));
	if (bpf_obj_get_info_by_fd(h->prog_fd, &pinfo, &len)) {
		err = -errno;
		goto err_free;
	}
	if (strcmp(pinfo.name, DP_PROG_NAME) != 0) {
		err = -EPROTO;
		goto err_free;
	}
	err = dp_find_map(h->prog_fd, "cw_counters", 0, &h->counters_fd);
	if (err)
		goto err_free;
	err = dp_find_map(h->prog_fd, "xsks_map", 0, &h->xsks_fd);
	if (err)
		goto err_free;
	err = dp_find_map(h->prog_fd, "cw_flows", 0, &h->flows_fd);
	if (err)
		goto err_free;
	/* libbpf names it "<up to 8 chars of the file name>.rodata"; only config reads need it. */
	if (dp_find_map(h->prog_fd, ".rodata", 1, &h->rodata_fd))
		h->rodata_fd = -1;
	*out = h;
	return 0;

err_free:
	dp_handle_free(h);
	return err;
}

/*
 * Entries in the follow table now: its keys walked with BPF_MAP_GET_NEXT_KEY, at most
 * max_entries of them (the program adds and removes entries meanwhile; when the key just read
 * was removed the walk restarts, so the bound keeps a busy table's count finite).
 */
static int
dp_flows_held(int fd, uint64_t *n)
{
	struct cw_steer_flow_key key, next;
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	void *prev = NULL;

	*n = 0;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	while (*n < info.max_entries) {
		if (bpf_map_get_next_key(fd, prev, &next)) {
			if (errno == ENOENT)
				return 0;
			return -errno;
		}
		key = next;
		prev = &key;
		(*n)++;
	}
	return 0;
}

int
dp_xdp_steer_counters(struct dp_xdp_steer *h, struct dp_xdp_steer_counters *out)
{
	int ncpu = libbpf_num_possible_cpus(), err;
	uint64_t gone;
	__u64 *vals;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	for (__u32 k = 0; k < CW_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(h->counters_fd, &k, vals)) {
			err = -errno;
			free(vals);
			return err;
		}
		for (int c = 0; c < ncpu; c++)
			out->v[k] += vals[c];
	}
	free(vals);
	for (unsigned int i = CW_CNT_STEER_TLS_RECORD; i <= CW_CNT_STEER_FLOW; i++)
		out->redirected += out->v[i];
	out->redirected -= out->v[CW_CNT_REDIRECT_FAIL];
	err = dp_flows_held(h->flows_fd, &out->flows_held);
	if (err)
		return err;
	gone = out->v[CW_CNT_FLOW_END] + out->flows_held;
	out->flows_evicted = out->v[CW_CNT_FLOW_ADDED] > gone ? out->v[CW_CNT_FLOW_ADDED] - gone : 0;
	return 0;
}

int
dp_xdp_steer_config(struct dp_xdp_steer *h, struct cw_steer_cfg *out)
{
	struct bpf_map_info minfo;
	__u32 mlen = sizeof(minfo);
	const size_t off = offsetof(struct cw_steer__rodata, cw_cfg);
	__u32 key = 0;
	void *buf;

	if (h->skel) {
		*out = h->skel->rodata->cw_cfg;
		return 0;
	}
	if (h->rodata_fd < 0)
		return -ENOENT;
	memset(&minfo, 0, sizeof(minfo));
	if (bpf_obj_get_info_by_fd(h->rodata_fd, &minfo, &mlen))
		return -errno;
	if (minfo.value_size < off + sizeof(*out))
		return -EPROTO;
	buf = calloc(1, minfo.value_size);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(h->rodata_fd, &key, buf)) {
		int err = -errno;

		free(buf);
		return err;
	}
	memcpy(out, (char *)buf + off, sizeof(*out));
	free(buf);
	return 0;
}

int
dp_xdp_steer_xsks_map_fd(const struct dp_xdp_steer *h)
{
	return h->xsks_fd;
}

const char *
dp_xdp_steer_mode_name(const struct dp_xdp_steer *h)
{
	return h->attach_flags == XDP_FLAGS_SKB_MODE ? "generic" : "native";
}

uint32_t
dp_xdp_steer_prog_id(const struct dp_xdp_steer *h)
{
	return h->prog_id;
}

int
dp_xdp_steer_detach(struct dp_xdp_steer *h)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = h->prog_fd);
	int err;

	/* XDP_FLAGS_REPLACE with old_prog_fd: only removes the program if it is still ours. */
	err = bpf_xdp_detach(h->ifindex, h->attach_flags, &opts);
	if (err == -EEXIST)
		err = -ESTALE;
	dp_handle_free(h);
	return err;
}

void
dp_xdp_steer_close(struct dp_xdp_steer *h)
{
	if (h)
		dp_handle_free(h);
}

/* ---- configured copies of the object for loaders that open the file themselves ---- */

static int
dp_read_file(const char *path, unsigned char **buf, size_t *size)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (size_t)st.st_size > DP_OBJ_MAX_SIZE) {
		err = -ENOEXEC;
		goto err_close;
	}
	*buf = malloc((size_t)st.st_size);
	if (!*buf) {
		err = -ENOMEM;
		goto err_close;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto err_free;
		}
		got += (size_t)n;
	}
	*size = got;
	close(fd);
	return 0;

err_free:
	free(*buf);
	*buf = NULL;
err_close:
	close(fd);
	return err;
}

/*
 * File offset of the cw_cfg variable in an ELF64 little-endian BPF relocatable object: the symbol
 * "cw_cfg" of size sizeof(struct cw_steer_cfg) in a PROGBITS section named ".rodata". Every offset
 * read from the file is checked against size before use.
 */
static int
dp_find_cfg(const unsigned char *img, size_t size, size_t *off)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh, *shstr, *symtab = NULL, *strtab;
	size_t nsec;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_BPF || eh->e_shentsize != sizeof(Elf64_Shdr))
		return -ENOEXEC;
	nsec = eh->e_shnum;
	if (eh->e_shoff > size || nsec > (size - eh->e_shoff) / sizeof(Elf64_Shdr) ||
	    eh->e_shstrndx >= nsec)
		return -ENOEXEC;
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	for (size_t i = 0; i < nsec; i++)
		if (sh[i].sh_type != SHT_NOBITS &&
		    (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset))
			return -ENOEXEC;
	shstr = &sh[eh->e_shstrndx];
	for (size_t i = 0; i < nsec; i++)
		if (sh[i].sh_type == SHT_SYMTAB)
			symtab = &sh[i];
	if (!symtab || symtab->sh_link >= nsec || symtab->sh_entsize != sizeof(Elf64_Sym))
		return -ENOEXEC;
	strtab = &sh[symtab->sh_link];

	for (size_t i = 0; i < symtab->sh_size / sizeof(Elf64_Sym); i++) {
		const Elf64_Sym *sym = (const Elf64_Sym *)(img + symtab->sh_offset) + i;
		const Elf64_Shdr *sec;
		const char *name, *secname;

		if (sym->st_name >= strtab->sh_size || sym->st_shndx >= nsec)
			continue;
		name = (const char *)img + strtab->sh_offset + sym->st_name;
		if (strnlen(name, strtab->sh_size - sym->st_name) == strtab->sh_size - sym->st_name ||
		    strcmp(name, "cw_cfg") != 0)
			continue;
		sec = &sh[sym->st_shndx];
		if (sec->sh_name >= shstr->sh_size)
			return -ENOEXEC;
		secname = (const char *)img + shstr->sh_offset + sec->sh_name;
		if (strnlen(secname, shstr->sh_size - sec->sh_name) == shstr->sh_size - sec->sh_name ||
		    strcmp(secname, ".rodata") != 0 || sec->sh_type != SHT_PROGBITS ||
		    sym->st_size != sizeof(struct cw_steer_cfg) || sym->st_value > sec->sh_size ||
		    sec->sh_size - sym->st_value < sizeof(struct cw_steer_cfg))
			return -ENOEXEC;
		*off = sec->sh_offset + sym->st_value;
		return 0;
	}
	return -ENOEXEC;
}

static int
dp_write_file(const char *path, const unsigned char *buf, size_t size)
{
	char tmp[PATH_MAX];
	size_t done = 0;
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	while (done < size) {
		ssize_t n = write(fd, buf + done, size - done);

		if (n < 0) {
			err = -errno;
			goto err_unlink;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, 0644) || fsync(fd)) {
		err = -errno;
		goto err_unlink;
	}
	if (close(fd)) {
		fd = -1;
		err = -errno;
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path)) {
		err = -errno;
		goto err_unlink;
	}
	return 0;

err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return err;
}

int
dp_xdp_steer_write_object(const char *src, const char *dst, const struct cw_steer_cfg *cfg)
{
	unsigned char *img = NULL;
	size_t size = 0, off = 0;
	int err;

	err = dp_xdp_steer_cfg_check(cfg);
	if (err)
		return err;
	err = dp_read_file(src, &img, &size);
	if (err)
		return err;
	err = dp_find_cfg(img, size, &off);
	if (err)
		goto out;
	memcpy(img + off, cfg, sizeof(*cfg));
	err = dp_write_file(dst, img, size);
out:
	free(img);
	return err;
}
