/* SPDX-License-Identifier: BSD-3-Clause */
/* Builds fuzz seed corpora from real captures: frame sequences for fuzz_session, hello bodies for fuzz_hello. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_frames.h"

#define SEED_MAX_FRAMES 256
#define SEED_MAX_BYTES (256u * 1024u)

static int
write_file(const char *dir, const char *stem, int idx, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%d", dir, stem, idx);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

int
main(int argc, char **argv)
{
	static uint8_t seed[SEED_MAX_BYTES];
	char err[PCAP_ERRBUF_SIZE];

	if (argc < 4 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc < 4 ? stderr : stdout,
			"Usage: fuzz_mkseeds SESSION_DIR HELLO_DIR CAPTURE...\n"
			"Writes one frame-sequence seed per capture into SESSION_DIR and the body of\n"
			"every handshake message that starts a TCP payload into HELLO_DIR.\n");
		return argc < 4 ? 1 : 0;
	}
	for (int a = 3; a < argc; a++) {
		pcap_t *p = pcap_open_offline(argv[a], err);
		struct pcap_pkthdr *h;
		const u_char *d;
		size_t used = 1;
		int sel, frames = 0, hello = 0;
		const char *stem = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];

		if (!p) {
			fprintf(stderr, "fuzz_mkseeds: %s: %s\n", argv[a], err);
			return 1;
		}
		sel = fz_link_selector(pcap_datalink(p));
		if (sel < 0) {
			pcap_close(p);
			continue;
		}
		seed[0] = (uint8_t)sel;
		while (pcap_next_ex(p, &h, &d) == 1 && frames < SEED_MAX_FRAMES) {
			struct cw_pkt pkt;
			uint32_t n = h->caplen > 0xffff ? 0xffff : h->caplen;

			if (used + 2 + n <= sizeof(seed)) {
				seed[used] = (uint8_t)(n >> 8);
				seed[used + 1] = (uint8_t)n;
				memcpy(seed + used + 2, d, n);
				used += 2 + n;
				frames++;
			}
			/* A record header + handshake header at the start of a payload. */
			if (cw_decode((enum cw_linktype)(sel == 1 ? CW_LINK_RAW : pcap_datalink(p)), d,
				      h->caplen, &pkt) == CW_DEC_TCP &&
			    pkt.payload_len > 9 && pkt.payload[0] == 0x16 && pkt.payload[1] == 3 &&
			    hello < 64) {
				if (write_file(argv[2], stem, hello++, pkt.payload + 9,
					       pkt.payload_len - 9) < 0) {
					fprintf(stderr, "fuzz_mkseeds: cannot write into %s\n", argv[2]);
					pcap_close(p);
					return 1;
				}
			}
		}
		pcap_close(p);
		if (frames > 0 && write_file(argv[1], stem, 0, seed, used) < 0) {
			fprintf(stderr, "fuzz_mkseeds: cannot write into %s\n", argv[1]);
			return 1;
		}
	}
	return 0;
}
