#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Bad configuration and command lines: every program refuses each case with a non-zero exit and a
message naming the problem, in time, without a crash, and leaves nothing behind.

Each row runs in its own empty working directory (TMPDIR points there too). After it:
  rc      the exit status is the documented one (never 0, never a signal, never a timeout);
  msg     stderr contains the expected text (the option, file or value at fault);
  debris  the working directory is still empty (no database, JSON or summary created), the input
          files are unchanged, and no shared-memory segment (/dev/shm/chainwatch.*) or EAL runtime
          directory (/var/run/dpdk/*) of the run is left. Only names this run can own are checked:
          its instance name, and chainwatch analyze's "analyze-<pid>-*" instances.
A row may mark one check as a known bug (XFAIL): the check still runs; if it passes while marked,
the test fails (XPASS) so that the mark is removed with the fix. A mark with strict=False is for
a bug that depends on timing (it may or may not show in one run).

Usage: test_badconfig.py BUILD_DIR SOURCE_ROOT [--list]
"""
import glob
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

BUILD, SRC = (os.path.abspath(a) for a in sys.argv[1:3])
LAB = os.path.join(SRC, "tests/data/lab/small.pcap")
ANCH = os.path.join(SRC, "data/anchors")
TAG = "cwbad-%d" % os.getpid()

# Known bugs are marked per row (xfail=); none is marked today (docs/ROBUSTNESS.md,
# "Bad configuration", lists what the table found and how each was fixed).


def row(prog, args, rc, msg, xfail=None, strict=True, timeout=20, eal_prefix=False, slow=False):
    """xfail: {"rc"|"msg"|"debris": bug}; eal_prefix: an explicit EAL --file-prefix (DPDK keeps its
    runtime directory by design; the test removes it); slow: only with CW_ROBUSTNESS_SLOW=1."""
    return {"prog": prog, "args": args, "rc": rc, "msg": msg, "xfail": xfail or {},
            "strict": strict, "timeout": timeout, "eal_prefix": eal_prefix, "slow": slow}


def cases():
    dp_i = ["--instance", "{INST}"]
    pcap = dp_i + ["--pcap", LAB]
    cpd = ["--db", "{W}/cw.db", "--metrics", "off", "--shm", "{INST}", "--anchors-dir", ANCH]
    an = ["analyze", "-q", "--anchors-dir", ANCH, "--json", "{W}/out.json", "--db", "{W}/cw.db"]
    eal = ["--no-huge", "-m", "64", "--no-pci", "--file-prefix", "{INST}",
           "--log-level=lib.eal:warning", "-l", "0", "--"]
    eal2 = ["--no-huge", "-m", "256", "--no-pci", "--file-prefix", "{INST}",
            "--log-level=lib.eal:warning", "--lcores", "0@0,1@0", "--"]
    return [
        # chainwatch-dp: options (exit 2), capture files (exit 1), setup (exit 1).
        row("chainwatch-dp", dp_i + ["--bogus"], 2, "unknown or incomplete option '--bogus'"),
        row("chainwatch-dp", dp_i + ["--flows"], 2, "incomplete option '--flows'"),
        row("chainwatch-dp", pcap + ["--flows", "0"], 2, "bad value '0' for --flows"),
        row("chainwatch-dp", pcap + ["--flows", "-1"], 2, "bad value '-1' for --flows"),
        row("chainwatch-dp", pcap + ["--flows", "4294967296"], 2, "for --flows"),
        row("chainwatch-dp", pcap + ["--flows", "12abc"], 2, "bad value '12abc' for --flows"),
        row("chainwatch-dp", pcap + ["--sessions", "0"], 2, "bad value '0' for --sessions"),
        row("chainwatch-dp", pcap + ["--workers", "1000"], 2, "bad value '1000' for --workers"),
        row("chainwatch-dp", pcap + ["--workers", "0"], 2, "bad value '0' for --workers"),
        row("chainwatch-dp", pcap + ["--reasm-kib", "0"], 2, "bad value '0' for --reasm-kib"),
        row("chainwatch-dp", pcap + ["--reasm-kib", "1000000"], 2, "for --reasm-kib"),
        row("chainwatch-dp", pcap + ["--reasm-big", "0"], 2, "bad value '0' for --reasm-big"),
        row("chainwatch-dp", pcap + ["--cert-refs", "3"], 2, "--cert-refs: 0, or at least 4: '3'"),
        row("chainwatch-dp", pcap + ["--cert-refs", "2000000"], 2, "for --cert-refs"),
        row("chainwatch-dp", pcap + ["--reasm-kib", "64", "--blob-kib", "64"], 2,
            "blob-kib must be larger"),
        row("chainwatch-dp", pcap + ["--chains", "0"], 2, "bad value '0' for --chains"),
        row("chainwatch-dp", pcap + ["--ring-slots", "1000"], 2, "for --ring-slots"),
        row("chainwatch-dp", pcap + ["--dispatch-ring", "1000"], 2, "for --dispatch-ring"),
        row("chainwatch-dp", pcap + ["--mbufs", "1"], 2, "for --mbufs"),
        row("chainwatch-dp", pcap + ["--idle-timeout", "0"], 2, "for --idle-timeout"),
        row("chainwatch-dp", pcap + ["--hs-timeout", "0"], 2, "for --hs-timeout"),
        row("chainwatch-dp", pcap + ["--eof-quiet-ms", "0"], 2, "for --eof-quiet-ms"),
        row("chainwatch-dp", pcap + ["--shm-mode", "999"], 2, "for --shm-mode"),
        row("chainwatch-dp", pcap + ["--mode", "fastest"], 2, "bad --mode 'fastest'"),
        row("chainwatch-dp", pcap + ["stray"], 2, "unexpected argument 'stray'"),
        row("chainwatch-dp", ["--instance", "a/b", "--pcap", LAB], 2, "bad --instance 'a/b'"),
        row("chainwatch-dp", ["--instance", "", "--pcap", LAB], 2, "bad --instance ''"),
        row("chainwatch-dp", ["--shm", "..", "--pcap", LAB], 2, "bad --instance '..'"),
        row("chainwatch-dp", ["--instance", "x" * 300, "--pcap", LAB], 2, "bad --instance"),
        row("chainwatch-dp", dp_i + ["--pcap", "{F}/missing.pcap"], 1,
            "cannot read capture {F}/missing.pcap"),
        row("chainwatch-dp", dp_i + ["--pcap", "{F}/adir"], 1, "Is a directory"),
        row("chainwatch-dp", dp_i + ["--pcap", "{F}/empty.pcap"], 1,
            "cannot read capture {F}/empty.pcap"),
        row("chainwatch-dp", dp_i + ["--pcap", "{F}/text.pcap"], 1, "unknown file format"),
        row("chainwatch-dp", dp_i + ["--pcap", "{F}/trunc.pcap"], 1, "truncated dump file"),
        row("chainwatch-dp", dp_i + ["--pcap", "{F}/a,b.pcap"], 2, "must not contain ','"),
        row("chainwatch-dp", pcap + ["--mode", "rss"], 1, "the port has no RSS"),
        # --replay: the in-memory replay, no port.
        row("chainwatch-dp", dp_i + ["--replay", "{F}/missing.pcap"], 1,
            "cannot read capture {F}/missing.pcap"),
        row("chainwatch-dp", dp_i + ["--replay", "{F}/noframes.pcap"], 1, "holds no frames"),
        row("chainwatch-dp", pcap + ["--replay", LAB], 2, "--replay excludes --pcap and --iface"),
        row("chainwatch-dp", dp_i + ["--replay", LAB, "--mode", "single"], 2,
            "--replay has its own mode"),
        row("chainwatch-dp", dp_i + ["--replay", LAB, "--dispatch"], 2, "--replay has its own mode"),
        row("chainwatch-dp", pcap + ["--replay-loops", "2"], 2,
            "--replay-loops and --replay-copy go with --replay"),
        row("chainwatch-dp", pcap + ["--replay-copy"], 2,
            "--replay-loops and --replay-copy go with --replay"),
        row("chainwatch-dp", eal2 + dp_i + ["--replay", "{F}/jumbo.pcap", "--flows", "65536"], 1,
            "has a frame longer than 65535 B", eal_prefix=True),
        row("chainwatch-dp", dp_i + ["--replay", LAB, "--replay-loops", "0"], 2,
            "bad value '0' for --replay-loops"),
        row("chainwatch-dp", eal + dp_i + ["--replay", LAB], 1,
            "--replay runs each worker on a worker lcore", eal_prefix=True),
        # --chain-key: the file is checked before EAL starts.
        row("chainwatch-dp", dp_i + ["--chain-key"], 2, "incomplete option '--chain-key'"),
        row("chainwatch-dp", pcap + ["--chain-key", "{F}/missing.key"], 1,
            "cannot open chain key {F}/missing.key"),
        row("chainwatch-dp", pcap + ["--chain-key", "{F}/open.key"], 1,
            "accessible to group or others (mode 0644): chmod 600 it"),
        row("chainwatch-dp", pcap + ["--chain-key", "{F}/tiny.key"], 1,
            "chain key {F}/tiny.key has too few bytes"),
        row("chainwatch-dp", pcap + ["--chain-key", "{F}/adir"], 1, "is not a regular file"),
        row("chainwatch-dp", pcap + ["--xxh3", "avx2"], 2,
            "--xxh3 avx2: expected auto, baseline or wide"),
        # Tables far beyond RAM: refused before EAL maps anything.
        row("chainwatch-dp", pcap + ["--flows", "268435456", "--sessions", "16777216"], 1,
            "--sessions"),
        row("chainwatch-dp", eal + dp_i + ["--port", "3"], 1, "no DPDK port", eal_prefix=True),
        row("chainwatch-dp", eal + dp_i + ["--pcap", LAB, "--flows", "1048576"], 1,
            "cannot allocate worker tables (--flows, --sessions, --reasm-kib; EAL memory -m)",
            eal_prefix=True),

        # chainwatchd: usage (exit 2), files and sockets (exit 1).
        row("chainwatchd", cpd + ["--bogus"], 2, "unknown option --bogus"),
        row("chainwatchd", cpd + ["--db"], 2, "option --db needs a value"),
        row("chainwatchd", cpd + ["stray"], 2, "unexpected argument \"stray\""),
        row("chainwatchd", cpd + ["--flush-events", "0"], 2, "--flush-events 0"),
        row("chainwatchd", cpd + ["--fanout-names", "abc"], 2, "--fanout-names abc"),
        row("chainwatchd", cpd + ["--anon-v4-prefix", "33"], 2, "--anon-v4-prefix 33"),
        row("chainwatchd", cpd + ["--anonymise", "bogus"], 2, "--anonymise bogus"),
        row("chainwatchd", cpd + ["--anonymise", "keyed"], 2,
            "--anonymise keyed needs --anon-key-file"),
        row("chainwatchd", cpd + ["--anon-key-file", "{F}/short.key"], 2,
            "--anon-key-file is only used with --anonymise keyed"),
        row("chainwatchd", cpd + ["--anonymise", "keyed", "--anon-key-file", "{F}/short.key"], 1,
            "anonymisation key {F}/short.key: need exactly 32 raw bytes or 64 hex digits"),
        row("chainwatchd", cpd + ["--anonymise", "keyed", "--anon-key-file", "{F}/garbage.key"],
            1, "anonymisation key {F}/garbage.key: not a hex digit"),
        row("chainwatchd", cpd + ["--anonymise", "keyed", "--anon-key-file", "{F}/missing.key"],
            1, "{F}/missing.key"),
        row("chainwatchd", cpd + ["--anonymise", "keyed", "--anon-key-file", "{F}/open-anon.key"],
            1, "anonymisation key {F}/open-anon.key is accessible to group or others (mode 0640): "
            "chmod 600 it", timeout=3),
        row("chainwatchd", cpd + ["--anonymise", "keyed", "--anon-key-file", "{F}/adir"],
            1, "anonymisation key {F}/adir is not a regular file"),
        row("chainwatchd", cpd + ["--trust-store-extend"], 2,
            "--trust-store-extend needs --trust-store", timeout=3),
        row("chainwatchd", cpd + ["--trust-store", "{F}/missing.pem"], 1,
            "cannot load trust store {F}/missing.pem"),
        row("chainwatchd", cpd + ["--trust-store", "{F}/adir"], 1,
            "cannot load trust store {F}/adir"),
        row("chainwatchd", cpd + ["--trust-store", "{F}/garbage.pem"], 1,
            "cannot load trust store {F}/garbage.pem"),
        row("chainwatchd", cpd + ["--trust-store", "{F}/text.pcap"], 1,
            "cannot load trust store {F}/text.pcap"),
        row("chainwatchd", cpd + ["--anchors", "{F}/missing.tsv"], 1,
            "cannot open {F}/missing.tsv"),
        row("chainwatchd", cpd + ["--anchors", "{F}/anchors.bad"], 1, "{F}/anchors.bad",
            timeout=3),
        row("chainwatchd", cpd[:-2] + ["--anchors-dir", "{F}/badanch"], 1,
            "{F}/badanch/manifest.tsv",
            timeout=3),
        row("chainwatchd", cpd[:-2] + ["--anchors-dir", "{F}/adir"], 1,
            "cannot open {F}/adir/manifest.tsv"),
        row("chainwatchd", cpd + ["--pins", "{F}/pins.bad"], 1, "{F}/pins.bad:1: bad pin line"),
        row("chainwatchd", cpd + ["--pins", "{F}/pins.nonhex"], 1,
            "{F}/pins.nonhex:1: bad pin line", timeout=3),
        row("chainwatchd", cpd + ["--pins", "{F}/pins.space"], 1,
            "{F}/pins.space:3: bad pin line", timeout=3),
        row("chainwatchd", cpd + ["--pins", "{F}/empty.pcap"], 1, "{F}/empty.pcap: no pins",
            timeout=3),
        row("chainwatchd", cpd + ["--pins", "{F}/missing.pins"], 1,
            "cannot open {F}/missing.pins"),
        row("chainwatchd", ["--db", "{W}/no/such/dir/cw.db"] + cpd[2:], 1,
            "{W}/no/such/dir/cw.db"),
        row("chainwatchd", ["--db", "{F}/notsqlite.db"] + cpd[2:], 1,
            "{F}/notsqlite.db: file is not a database"),
        row("chainwatchd", ["--db", "{F}/adir"] + cpd[2:], 1, "cannot open {F}/adir"),
        row("chainwatchd", ["--db", "/proc/version"] + cpd[2:], 1, "/proc/version"),
        row("chainwatchd", cpd + ["--json", "{W}/no/such/dir/out.json"], 1,
            "--json {W}/no/such/dir/out.json"),
        row("chainwatchd", cpd + ["--json", "{F}/adir"], 1, "--json {F}/adir"),
        row("chainwatchd", cpd + ["--json", "/proc/version"], 1, "--json /proc/version"),
        row("chainwatchd", cpd + ["--summary", "{W}/no/such/dir/s.txt"], 1,
            "--summary {W}/no/such/dir/s.txt"),
        row("chainwatchd", cpd[:2] + ["--metrics", "nonsense"] + cpd[4:], 2,
            "--metrics nonsense"),
        row("chainwatchd", cpd[:2] + ["--metrics", "127.0.0.1:99999"] + cpd[4:], 2,
            "--metrics 127.0.0.1:99999"),
        row("chainwatchd", cpd[:2] + ["--metrics", "999.1.1.1:80"] + cpd[4:], 2,
            "--metrics 999.1.1.1:80"),
        row("chainwatchd", cpd[:2] + ["--metrics", "127.0.0.1:0"] + cpd[4:], 2,
            "--metrics 127.0.0.1:0: expected ADDR:PORT", timeout=3),
        row("chainwatchd", cpd[:2] + ["--metrics", "[::1]:0"] + cpd[4:], 2,
            "--metrics [::1]:0: expected ADDR:PORT", timeout=3),
        row("chainwatchd", cpd[:2] + ["--metrics", "127.0.0.1:{BUSY}"] + cpd[4:], 1,
            "Address already in use"),
        row("chainwatchd", cpd[:4] + ["--shm", "a/b", "--anchors-dir", ANCH], 1,
            "dataplane instance \"a/b\""),
        row("chainwatchd", cpd[:4] + ["--shm", "", "--anchors-dir", ANCH], 1,
            "dataplane instance \"\""),
        row("chainwatchd", cpd + ["--user", "no-such-user-cw"], 2,
            "--user no-such-user-cw: no such user", timeout=3),

        # chainwatch: usage (exit 2), failures (exit 1).
        row("chainwatch", [], 2, "Usage: chainwatch COMMAND"),
        row("chainwatch", ["bogus"], 2, "unknown command \"bogus\""),
        row("chainwatch", ["analyze"], 2, "no capture FILE given"),
        row("chainwatch", ["analyze", "--bogus", LAB], 2, "unknown option --bogus"),
        row("chainwatch", ["analyze", "-qz", LAB], 2, "unknown option -z "),
        row("chainwatch", an + ["{F}/missing.pcap"], 1, "{F}/missing.pcap"),
        row("chainwatch", an + ["{F}/adir"], 1, "{F}/adir: not a regular file"),
        row("chainwatch", an + ["{F}/empty.pcap"], 1, "cannot read capture {F}/empty.pcap"),
        row("chainwatch", an + ["{F}/text.pcap"], 1, "unknown file format"),
        row("chainwatch", an[:-2] + ["--db", "{W}/no/such/dir/cw.db", LAB], 1,
            "{W}/no/such/dir/cw.db", strict=False),
        row("chainwatch", an[:-2] + ["--db", "{F}/notsqlite.db", LAB], 1,
            "{F}/notsqlite.db: file is not a database",
            strict=False),
        row("chainwatch", an[:4] + ["--json", "{W}/no/such/dir/out.json"] + an[6:] + [LAB], 1,
            "--json {W}/no/such/dir/out.json"),
        row("chainwatch", an[:4] + ["--json", "{F}/adir"] + an[6:] + [LAB], 1,
            "--json {F}/adir"),
        # --json never destroys a capture, nor earlier results on a failed run.
        row("chainwatch", an[:4] + ["--json", "{F}/noframes.pcap"] + an[6:] + [LAB], 2,
            "--json {F}/noframes.pcap holds a capture (pcap/pcapng): not overwritten"),
        row("chainwatch", an[:4] + ["--json", "{F}/magic.pcapng"] + an[6:] + [LAB], 2,
            "--json {F}/magic.pcapng holds a capture"),
        row("chainwatch", an[:4] + ["--json", "{F}/text.pcap"] + an[6:] + [LAB, "{F}/text.pcap"],
            2, "--json {F}/text.pcap is the capture {F}/text.pcap: not overwritten"),
        row("chainwatch", an[:4] + ["--json", "{F}/old.json"] + an[6:] + ["{F}/text.pcap"], 1,
            "unknown file format"),
        row("chainwatch", an + ["--trust-store", "{F}/garbage.pem", LAB], 1,
            "cannot load trust store {F}/garbage.pem",
            strict=False),
        row("chainwatch", an + ["--anchors", "{F}/anchors.bad", LAB], 1, "{F}/anchors.bad"),
        row("chainwatch", an + ["--pins", "{F}/pins.bad", LAB], 1, "{F}/pins.bad:1: bad pin line",
            strict=False),
        row("chainwatch", an + ["--anonymise", "keyed", LAB], 1,
            "--anonymise keyed needs --anon-key-file",
            strict=False),
        row("chainwatch", an + ["--anonymise", "keyed", "--anon-key-file", "{F}/short.key", LAB],
            1, "need exactly 32 raw bytes or 64 hex digits",
            strict=False),
        row("chainwatch", an + ["--metrics", "nonsense", LAB], 1, "--metrics nonsense", strict=False),
        # Numbers forwarded to chainwatchd are checked first: usage errors, no child started.
        row("chainwatch", an + ["--fanout-names", "abc", LAB], 2,
            "analyze: --fanout-names abc: expected an integer in 2..1000000"),
        row("chainwatch", an + ["--max-flows", "0", LAB], 2, "analyze: --max-flows 0: expected"),
        row("chainwatch", an + ["--retention-days", "36501", LAB], 2,
            "analyze: --retention-days 36501: expected an integer in 1..36500"),
        row("chainwatch", an + ["--anon-v6-prefix", "0x10", LAB], 2,
            "analyze: --anon-v6-prefix 0x10: expected"),
        row("chainwatch", an + ["--trust-store-extend", LAB], 2,
            "analyze: --trust-store-extend needs --trust-store"),
        row("chainwatch", an + ["--dp-arg", "--flows=0", LAB], 1, "bad value '0' for --flows"),
        row("chainwatch", an + ["--dp-arg", "--bogus", LAB], 1, "'--bogus'"),
        row("chainwatch", ["report", "--db", "{W}/missing.db"], 1, "--db {W}/missing.db"),
        row("chainwatch", ["report", "--db", "{F}/notsqlite.db"], 1,
            "{F}/notsqlite.db: file is not a database"),
        row("chainwatch", ["report", "--db", "{F}/empty.pcap"], 1, "not a chainwatch database"),
        row("chainwatch", ["report", "--db", "{F}/adir"], 1, "--db {F}/adir"),
        row("chainwatch", ["report", "--db"], 2, "option --db needs a value"),
        row("chainwatch", ["report", "--bogus"], 2, "unknown option --bogus"),
        # An option another command takes names itself, not its value.
        row("chainwatch", ["report", "--limit", "5"], 2, "unknown option --limit "),
        row("chainwatch", ["chains", "x", "--verdict=all"], 2, "unknown option --verdict "),
        row("chainwatch", ["flows", "--verdict", "bogus", "--db", "{W}/missing.db"], 2,
            "--verdict bogus"),
        row("chainwatch", ["flows", "--limit", "0", "--db", "{W}/missing.db"], 2, "--limit 0"),
        row("chainwatch", ["flows", "--limit", "abc", "--db", "{W}/missing.db"], 2,
            "--limit abc"),
        row("chainwatch", ["flows", "--db", "{F}/notsqlite.db"], 1, "file is not a database"),
        row("chainwatch", ["chains"], 2, "expected exactly one NAME"),
        row("chainwatch", ["chains", "a", "b"], 2, "expected exactly one NAME"),
        row("chainwatch", ["chains", "x", "--db", "{W}/missing.db"], 1, "--db {W}/missing.db"),
        row("chainwatch", ["chains", "x", "--db", "{F}/notsqlite.db"], 1,
            "file is not a database"),

        # chainwatch-scan: every error exits 1.
        row("chainwatch-scan", [], 1, "no capture file given"),
        row("chainwatch-scan", ["--bogus", LAB], 1, "unrecognized option '--bogus'"),
        row("chainwatch-scan", ["-n", "0", LAB], 1, "--max-flows: expected"),
        row("chainwatch-scan", ["-n", "abc", LAB], 1, "--max-flows: expected"),
        row("chainwatch-scan", ["-r", "0", LAB], 1, "--reasm-kib: expected 1..1024, got '0'"),
        row("chainwatch-scan", ["-r", "5000", LAB], 1, "--reasm-kib: expected 1..1024"),
        row("chainwatch-scan", ["--xxh3", "sse", LAB], 1,
            "--xxh3: expected auto, baseline or wide (wide needs x86-64 with AVX2), got 'sse'"),
        row("chainwatch-scan", ["{F}/missing.pcap"], 1, "{F}/missing.pcap"),
        row("chainwatch-scan", ["{F}/adir"], 1, "Is a directory"),
        row("chainwatch-scan", ["{F}/empty.pcap"], 1, "truncated dump file"),
        row("chainwatch-scan", ["{F}/text.pcap"], 1, "unknown file format"),
        row("chainwatch-scan", ["{F}/trunc.pcap"], 1, "truncated dump file"),
        row("chainwatch-scan", [LAB, "{F}/missing.pcap"], 1, "{F}/missing.pcap"),
        row("chainwatch-scan", ["-k", "{F}/open.key", LAB], 1, "(mode 0644): chmod 600 it"),
        row("chainwatch-scan", ["--chain-key", "{F}/tiny.key", LAB], 1, "has too few bytes"),

        # cw-evdump: 2 bad usage, 1 attach failed, 3 timeout.
        row("cw-evdump", ["--bogus"], 2, "unrecognized option '--bogus'"),
        row("cw-evdump", ["--shm"], 2, "'--shm' requires an argument"),
        row("cw-evdump", ["--shm", "{INST}"], 1, "cannot attach to instance '{INST}'"),
        row("cw-evdump", ["--shm", "a/b"], 1, "cannot attach to instance 'a/b'"),
        row("cw-evdump", ["--shm", ".."], 1, "cannot attach to instance '..'"),
        row("cw-evdump", ["--shm", "{INST}", "--peek"], 1, "cannot attach"),
        row("cw-evdump", ["--shm", "{INST}", "--wait-done", "--timeout", "0"], 2,
            "--timeout: expected 1..86400"),
        row("cw-evdump", ["--shm", "{INST}", "--wait-done", "--timeout", "1"], 3,
            "did not appear in 1 s"),
        row("cw-evdump", ["--shm", "{INST}", "stray"], 2, "unexpected argument 'stray'"),

        # cw-xdp-steer (usage 2, runtime 1); nothing is attached by any row.
        row("cw-xdp-steer", [], 2, "usage: cw-xdp-steer"),
        row("cw-xdp-steer", ["bogus"], 2, "usage: cw-xdp-steer"),
        row("cw-xdp-steer", ["attach"], 2, "usage: cw-xdp-steer"),
        row("cw-xdp-steer", ["attach", "cwnosuch0"], 1, "cwnosuch0: No such device"),
        row("cw-xdp-steer", ["stats", "cwnosuch0"], 1, "cwnosuch0: No such device"),
        row("cw-xdp-steer", ["detach", "cwnosuch0"], 1, "cwnosuch0: No such device"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--ports", "0"], 2, "bad --ports '0'"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--ports", "70000"], 2,
            "bad --ports '70000'"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--ports",
                             ",".join(str(p) for p in range(1, 18))], 2, "bad --ports"),
        # An empty item is an error, as in chainwatch-dp --steer-ports: never fewer ports.
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--ports", "443,,8443"], 2,
            "bad --ports '443,,8443'"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--ports", ",443"], 2, "bad --ports ',443'"),
        row("cw-xdp-steer", ["object", "{W}/out.o", "--ports", "443,"], 2, "bad --ports '443,'"),
        row("cw-xdp-steer", ["object", "{W}/out.o", "--ports", " 443"], 2, "bad --ports ' 443'"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--mode", "turbo"], 2, "bad --mode 'turbo'"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--flow-budget", "abc"], 2,
            "bad --flow-budget 'abc'"),
        row("cw-xdp-steer", ["attach", "cwnosuch0", "--port-all"], 2,
            "--port-all needs --ports"),
        row("cw-xdp-steer", ["object", "{W}/no/such/dir/out.o"], 1, "{W}/no/such/dir/out.o"),
        row("cw-xdp-steer", ["object", "{W}/out.o", "--in", "{F}/missing.o"], 1,
            "{F}/missing.o"),
        row("cw-xdp-steer", ["object", "{W}/out.o", "--in", "{F}/text.pcap"], 1,
            "not a cw_steer BPF object"),
    ]


def make_fixtures(d):
    os.makedirs(os.path.join(d, "adir"))
    os.makedirs(os.path.join(d, "badanch"))

    def put(name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    put("empty.pcap", b"")
    put("text.pcap", b"not a capture\n")
    with open(LAB, "rb") as f:
        put("trunc.pcap", f.read(10))
    put("a,b.pcap", b"")
    with open(LAB, "rb") as f:
        put("noframes.pcap", f.read(24))  # the file header alone: a valid capture of no frames
    # One 70 000-byte Ethernet frame (snaplen 262144): longer than an mbuf can point to.
    put("jumbo.pcap", struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1) +
        struct.pack("<IIII", 0, 0, 70000, 70000) + bytes(70000))
    put("notsqlite.db", b"this is not sqlite\n" * 100)
    put("magic.pcapng", b"\x0a\x0d\x0d\x0a" + bytes(24))
    put("old.json", b'{"type": "flow", "earlier": "results"}\n')
    put("garbage.pem", b"-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n")
    put("anchors.bad", b"zzz\tlabel\nnot an anchor at all\n")
    put("badanch/manifest.tsv", b"garbage line\nzz\tyy\tqq\n")
    put("pins.bad", b"example.com\tnothex\nexample.org\t" + b"a" * 63 + b"\n")
    put("pins.nonhex", b"example.com\t" + b"g" * 64 + b"\n")
    put("pins.space", b"# a comment, then a blank line\n\nexample.com " + b"a" * 64 + b"\n")
    put("short.key", b"0011223344556677\n")
    put("garbage.key", b"z" * 64 + b"\n")
    put("open-anon.key", b"0" * 64 + b"\n")
    for k, mode in (("short.key", 0o600), ("garbage.key", 0o600), ("open-anon.key", 0o640)):
        os.chmod(os.path.join(d, k), mode)
    put("open.key", bytes(range(32)))
    os.chmod(os.path.join(d, "open.key"), 0o644)
    put("tiny.key", bytes(8))
    os.chmod(os.path.join(d, "tiny.key"), 0o600)


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[p] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[p] = "dir"
    return out


def run_case(i, c, fx, base):
    inst = "%s-%d" % (TAG, i)
    work = os.path.join(base, "case%03d" % i)
    os.makedirs(work)
    sub = {"{F}": fx, "{W}": work, "{INST}": inst, "{BUSY}": str(BUSY_PORT)}

    def s(x):
        for k, v in sub.items():
            x = x.replace(k, v)
        return x

    prog = os.path.join(BUILD, c["prog"])
    args = [s(a) for a in c["args"]]
    msg = s(c["msg"])
    env = dict(os.environ, TMPDIR=work, CHAINWATCH_DP=os.path.join(BUILD, "chainwatch-dp"),
               CHAINWATCHD=os.path.join(BUILD, "chainwatchd"))
    default_shm = os.path.exists("/dev/shm/chainwatch.default")
    t0 = time.monotonic()
    p = subprocess.Popen([prog] + args, cwd=work, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=c["timeout"])
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group this row started (analyze's children too)
        out, err = p.communicate()
        rc = "timeout"
    wall = time.monotonic() - t0

    debris = sorted(os.listdir(work))
    own = [inst, "analyze-%d-" % p.pid]
    for pat in ("/dev/shm/chainwatch.%s*", "/var/run/dpdk/*%s*"):
        for o in own:
            for path in glob.glob(pat % o):
                if c["eal_prefix"] and path == "/var/run/dpdk/" + inst:
                    shutil.rmtree(path, ignore_errors=True)  # DPDK keeps an explicit prefix
                    continue
                debris.append(path)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
    if not default_shm and os.path.exists("/dev/shm/chainwatch.default"):
        debris.append("/dev/shm/chainwatch.default")
    changed = [k for k, v in snapshot(fx).items() if FIXTURES.get(k) != v]
    changed += [k for k in FIXTURES if not os.path.exists(k)]
    debris += ["changed " + k for k in changed]
    shutil.rmtree(work, ignore_errors=True)
    if changed:
        shutil.rmtree(fx)
        os.makedirs(fx)
        make_fixtures(fx)

    res = {
        "rc": rc == c["rc"],
        "msg": msg in err,
        "debris": not debris,
    }
    detail = {"rc": "exit %s (want %s)" % (rc, c["rc"]), "msg": err.strip().splitlines()[-1:]
              if err.strip() else "(no stderr)", "debris": debris}
    return args, rc, res, detail, wall, err


def main():
    global BUSY_PORT, FIXTURES
    only_list = "--list" in sys.argv[3:]
    base = tempfile.mkdtemp(prefix="cwbad.")
    fx = os.path.join(base, "fixtures")
    os.makedirs(fx)
    make_fixtures(fx)
    FIXTURES = snapshot(fx)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    BUSY_PORT = busy.getsockname()[1]
    failures, xfails, rows = [], [], []
    try:
        for i, c in enumerate(cases()):
            if not os.path.exists(os.path.join(BUILD, c["prog"])):
                print("skip  #%03d %s not built" % (i, c["prog"]))
                continue
            if c["slow"] and os.environ.get("CW_ROBUSTNESS_SLOW") != "1":
                print("skip  #%03d slow (CW_ROBUSTNESS_SLOW=1 runs it)" % i)
                continue
            args, rc, res, detail, wall, err = run_case(i, c, fx, base)
            verdict = "ok"
            for k in ("rc", "msg", "debris"):
                bug = c["xfail"].get(k)
                if bug and res[k]:
                    if c["strict"]:
                        verdict = "XPASS"
                        failures.append("#%d %s %s: %s passes but is marked %s"
                                        % (i, c["prog"], " ".join(args), k, bug.split(":")[0]))
                elif bug:
                    verdict = "XFAIL" if verdict == "ok" else verdict
                    xfails.append("#%d %s: %s (%s)" % (i, k, bug.split(":")[0], detail[k]))
                elif not res[k]:
                    verdict = "FAIL"
                    failures.append("#%d %s %s: %s: %s" % (i, c["prog"], " ".join(args), k,
                                                           detail[k]))
            short = " ".join(a if len(a) < 60 else a[:20] + "..." for a in args)
            short = short.replace(base, "$T").replace(SRC, "$SRC")
            line = "%-5s #%03d %-15s %-70s -> %s %.1fs" % (verdict, i, c["prog"], short, rc, wall)
            print(line, flush=True)
            if verdict not in ("ok",) or only_list:
                print("        stderr: %s" % (err.strip().replace(base, "$T")[-300:]
                                            .replace("\n", "\n                ")), flush=True)
            rows.append(line)
    finally:
        busy.close()
        shutil.rmtree(base, ignore_errors=True)
    if xfails:
        print("%d expected failures (known bugs):" % len(xfails))
        for x in xfails:
            print("  " + x)
    if failures:
        print("%d failures:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all %d rows passed" % len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
