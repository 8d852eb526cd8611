/* SPDX-License-Identifier: BSD-3-Clause */
/* cw-xdp-steer: attach, inspect and remove the AF_XDP steering program on a kernel interface. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_config.h"
#include "xdp_steer.h"

#define CW_DEFAULT_OBJ CW_DATADIR "/bpf/cw_steer.bpf.o"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: cw-xdp-steer attach IFACE [CONFIG] [--mode native|generic|auto]\n"
		"       cw-xdp-steer detach IFACE\n"
		"       cw-xdp-steer stats IFACE [--json]\n"
		"       cw-xdp-steer object OUT.o [CONFIG] [--in SRC.o]\n"
		"\n"
		"attach  load the program with CONFIG and attach it (it stays after exit; default mode\n"
		"        auto: native, else generic). Refuses an interface that has an XDP program.\n"
		"detach  remove the cw_steer program from IFACE (refuses other programs).\n"
		"stats   configuration and counters of the cw_steer program on IFACE, whoever loaded it\n"
		"        (this tool or DPDK net_af_xdp with xdp_prog=).\n"
		"object  write a copy of SRC.o (default %s) with CONFIG\n"
		"        stored in it, for net_af_xdp's xdp_prog= devarg, which loads files as they are.\n"
		"\n"
		"CONFIG:\n"
		"  --ports P1,P2,...   only consider TCP segments with a listed source or destination\n"
		"                      port (at most %d); others go to the kernel\n"
		"  --port-all          steer every segment on a listed port (needs --ports)\n"
		"  --no-ctl            do not steer SYN, SYN-ACK, FIN and RST\n"
		"  --no-tls            do not steer on the TLS/SSLv2 record heuristic\n"
		"  --no-flow           do not follow a handshake past its first record\n"
		"  --flow-budget BYTES payload bytes per direction followed (default %u)\n",
		CW_DEFAULT_OBJ, CW_STEER_MAX_PORTS, CW_STEER_FLOW_BUDGET_DEFAULT);
}

static void
print_cfg(const struct cw_steer_cfg *cfg, int json)
{
	static const char *const fl[] = {"tls", "ctl", "flow", "port_all"};
	int first = 1;

	printf(json ? "\"flags\":[" : "config flags=");
	for (unsigned int i = 0; i < 4; i++) {
		if (!(cfg->flags & (1u << i)))
			continue;
		printf(json ? "%s\"%s\"" : "%s%s", first ? "" : ",", fl[i]);
		first = 0;
	}
	printf(json ? "],\"flow_budget\":%u,\"ports\":[" : " flow_budget=%u ports=", cfg->flow_budget);
	for (unsigned int i = 0; i < cfg->nports && i < CW_STEER_MAX_PORTS; i++)
		printf("%s%u", i ? "," : "", cfg->ports[i]);
	printf(json ? "]," : "%s\n", cfg->nports ? "" : "any");
}

static int
cmd_stats(const char *ifname, int json)
{
	struct dp_xdp_steer_counters c;
	struct dp_xdp_steer *h;
	struct cw_steer_cfg cfg;
	int err, have_cfg;

	err = dp_xdp_steer_open(ifname, &h);
	if (err) {
		fprintf(stderr, "cw-xdp-steer: %s: %s\n", ifname,
			err == -ENOENT   ? "no XDP program attached"
			: err == -EPROTO ? "the attached XDP program is not cw_steer"
					 : strerror(-err));
		return 1;
	}
	err = dp_xdp_steer_counters(h, &c);
	if (err) {
		fprintf(stderr, "cw-xdp-steer: %s: reading counters: %s\n", ifname, strerror(-err));
		dp_xdp_steer_close(h);
		return 1;
	}
	have_cfg = dp_xdp_steer_config(h, &cfg) == 0;

	if (json) {
		printf("{\"iface\":\"%s\",\"prog_id\":%u,\"mode\":\"%s\",", ifname,
		       dp_xdp_steer_prog_id(h), dp_xdp_steer_mode_name(h));
		if (have_cfg)
			print_cfg(&cfg, 1);
		for (unsigned int i = 0; i < CW_CNT_MAX; i++)
			printf("\"%s\":%llu,", dp_xdp_steer_counter_name(i),
			       (unsigned long long)c.v[i]);
		printf("\"redirected\":%llu,\"flow_held\":%llu,\"flow_evicted\":%llu}\n",
		       (unsigned long long)c.redirected,
		       (unsigned long long)c.flows_held, (unsigned long long)c.flows_evicted);
	} else {
		printf("iface %s prog_id %u mode %s\n", ifname, dp_xdp_steer_prog_id(h),
		       dp_xdp_steer_mode_name(h));
		if (have_cfg)
			print_cfg(&cfg, 0);
		for (unsigned int i = 0; i < CW_CNT_MAX; i++)
			printf("%s %llu\n", dp_xdp_steer_counter_name(i),
			       (unsigned long long)c.v[i]);
		printf("redirected %llu\n",
		       (unsigned long long)c.redirected);
		printf("flow_held %llu\nflow_evicted %llu\n", (unsigned long long)c.flows_held,
		       (unsigned long long)c.flows_evicted);
	}
	dp_xdp_steer_close(h);
	return 0;
}

static int
cmd_detach(const char *ifname)
{
	struct dp_xdp_steer *h;
	int err;

	err = dp_xdp_steer_open(ifname, &h);
	if (err == -ENOENT) {
		fprintf(stderr, "cw-xdp-steer: %s: no XDP program attached\n", ifname);
		return 0;
	}
	if (!err)
		err = dp_xdp_steer_detach(h);
	if (err) {
		fprintf(stderr, "cw-xdp-steer: %s: %s\n", ifname,
			err == -EPROTO ? "the attached XDP program is not cw_steer, left in place"
				       : strerror(-err));
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_PORTS = 256, OPT_PORT_ALL, OPT_NO_CTL, OPT_NO_TLS, OPT_NO_FLOW, OPT_BUDGET,
	       OPT_MODE, OPT_JSON, OPT_IN };
	static const struct option opts[] = {
		{"ports", required_argument, NULL, OPT_PORTS},
		{"port-all", no_argument, NULL, OPT_PORT_ALL},
		{"no-ctl", no_argument, NULL, OPT_NO_CTL},
		{"no-tls", no_argument, NULL, OPT_NO_TLS},
		{"no-flow", no_argument, NULL, OPT_NO_FLOW},
		{"flow-budget", required_argument, NULL, OPT_BUDGET},
		{"mode", required_argument, NULL, OPT_MODE},
		{"json", no_argument, NULL, OPT_JSON},
		{"in", required_argument, NULL, OPT_IN},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	enum dp_xdp_mode mode = DP_XDP_MODE_AUTO;
	const char *src = CW_DEFAULT_OBJ;
	struct cw_steer_cfg cfg;
	const char *cmd, *arg;
	int json = 0, opt, err;

	dp_xdp_steer_cfg_default(&cfg);
	while ((opt = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PORTS:
			if (dp_xdp_steer_parse_ports(optarg, &cfg) < 0) {
				fprintf(stderr, "cw-xdp-steer: bad --ports '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_PORT_ALL:
			cfg.flags |= CW_STEER_F_PORT_ALL;
			break;
		case OPT_NO_CTL:
			cfg.flags &= ~CW_STEER_F_CTL;
			break;
		case OPT_NO_TLS:
			cfg.flags &= ~CW_STEER_F_TLS;
			break;
		case OPT_NO_FLOW:
			cfg.flags &= ~CW_STEER_F_FLOW;
			break;
		case OPT_BUDGET: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || v > 0xffffffffUL) {
				fprintf(stderr, "cw-xdp-steer: bad --flow-budget '%s'\n", optarg);
				return 2;
			}
			cfg.flow_budget = (__u32)v;
			break;
		}
		case OPT_MODE:
			if (strcmp(optarg, "native") == 0) {
				mode = DP_XDP_MODE_NATIVE;
			} else if (strcmp(optarg, "generic") == 0) {
				mode = DP_XDP_MODE_GENERIC;
			} else if (strcmp(optarg, "auto") == 0) {
				mode = DP_XDP_MODE_AUTO;
			} else {
				fprintf(stderr, "cw-xdp-steer: bad --mode '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_IN:
			src = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cw-xdp-steer %s\n", CW_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	arg = argv[optind + 1];
	if (dp_xdp_steer_cfg_check(&cfg)) {
		fprintf(stderr, "cw-xdp-steer: inconsistent configuration (--port-all needs --ports)\n");
		return 2;
	}

	if (strcmp(cmd, "attach") == 0) {
		struct dp_xdp_steer *h;

		err = dp_xdp_steer_attach(arg, &cfg, mode, &h);
		if (err) {
			fprintf(stderr, "cw-xdp-steer: attach %s: %s\n", arg,
				err == -EEXIST ? "interface already has an XDP program"
					       : strerror(-err));
			return 1;
		}
		printf("attached cw_steer to %s prog_id %u mode %s\n", arg,
		       dp_xdp_steer_prog_id(h), dp_xdp_steer_mode_name(h));
		dp_xdp_steer_close(h);
		return 0;
	}
	if (strcmp(cmd, "detach") == 0)
		return cmd_detach(arg);
	if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "show") == 0)
		return cmd_stats(arg, json);
	if (strcmp(cmd, "object") == 0) {
		err = dp_xdp_steer_write_object(src, arg, &cfg);
		if (err) {
			fprintf(stderr, "cw-xdp-steer: object %s -> %s: %s\n", src, arg,
				err == -ENOEXEC ? "not a cw_steer BPF object of this version"
						: strerror(-err));
			return 1;
		}
		return 0;
	}
	usage(stderr);
	return 2;
}
