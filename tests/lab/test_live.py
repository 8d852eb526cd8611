#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live detection in the interception lab: chainwatch-dp --iface on a SPAN port, chainwatchd beside it.

The lab (tools/lab/lab.sh) runs real clients, origins, sslsplit and mitmproxy. Inside its ISP
namespace, the --exec-in-isp script below builds a SPAN port: a veth pair span0/span1 and tc mirred
rules that copy both directions of the client link (isp-cli ingress and egress) to span0, as a
switch's mirror port would. chainwatch-dp reads span1 through AF_XDP with the cw_steer program
(--iface), chainwatchd judges the events as they come, and both stop when the workload ends.

Checks:
  a. verdicts were written while the traffic flowed (the JSON file's line count is sampled during the
     run; every line's latest possible write time is compared with the end of its connection);
  b. the live verdicts equal `chainwatch analyze` on the lab's own capture of the same traffic: same
     5-tuples judged, same result for every flow, and the same chain for every visible chain;
  c. visible chains: live `substituted` if and only if the labels say intercepted (P = R = 1.00);
  d. the XDP program's counters agree with the dataplane's: redirected == packets the port received
     == rx_packets, no redirect failures, and the program saw every frame of the capture; the
     dataplane verified checksums (the default on AF_XDP) and found none wrong;
  e. the lab's non-TLS noise (DNS, plain HTTP, ICMP) still worked, and nothing is left behind
     (namespaces, processes, shared memory, DPDK runtime directory, the XDP object).
Exit 77 (skipped) without root, without the lab tools, or without --iface in this build.
"""
import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
SKIP = 77

# Runs in the ISP namespace: $CW_LAB_IFACE is the client link, $CW_LAB_TRUST the genuine root.
# chainwatch-dp and chainwatchd get their own sessions (setsid): the lab's SIGINT goes to this
# script's process group only, and the script then stops them in order (dataplane first, the
# daemon once it has drained the rings).
ISP_SCRIPT = r"""#!/bin/bash
set -u
B=@BUILD@
W=@WORK@
NAME=@NAME@
IF=$CW_LAB_IFACE
stop=0
DP=
D=
trap 'stop=1' INT TERM
cleanup() {
	trap - INT TERM
	[ -n "$DP" ] && kill -TERM "$DP" 2>/dev/null && wait "$DP"
	[ -n "$D" ] && kill -TERM "$D" 2>/dev/null && wait "$D"
	tc qdisc del dev "$IF" clsact 2>/dev/null
	ip link del span0 2>/dev/null
}
trap cleanup EXIT
lines() { if [ -f "$W/live.jsonl" ]; then wc -l <"$W/live.jsonl"; else echo 0; fi; }
tel() { echo "$1" | timeout 10 dpdk-telemetry.py -f "chainwatch-$NAME" 2>/dev/null | grep "\"$1\"" || true; }

# SPAN port: both directions of the client link mirrored into span0; span1 is the sensor port.
ip link add span0 type veth peer name span1 || exit 1
for d in span0 span1; do
	sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"
	ip link set "$d" arp off
done
# Mirrored copies leave through span0's xmit path: without offloads there, GSO packets from the
# server side are cut into wire-sized frames and partial checksums are filled in.
ethtool -K span0 tso off gso off tx off >/dev/null 2>&1
ip link set span1 up
ip link set span0 up
date +%s.%N >"$W/mirror-begin"
tc qdisc add dev "$IF" clsact || exit 1
for dir in ingress egress; do
	# matchall where the kernel has it, else the equivalent match-everything u32 filter
	tc filter add dev "$IF" "$dir" matchall action mirred egress mirror dev span0 2>/dev/null ||
		tc filter add dev "$IF" "$dir" protocol all u32 match u32 0 0 \
			action mirred egress mirror dev span0 || exit 1
done

# DPDK 22.11's net_af_xdp never frees the umem it creates with libxdp (xsk_umem__create) nor
# the BPF object it loads: in sanitizer builds, leak checking is off for this one process (and
# stays on for every other one, chainwatchd included).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
setsid "$B/chainwatch-dp" --iface span1 --instance "$NAME" --flows 65536 --sessions 1024 \
	>"$W/dp.log" 2>&1 </dev/null &
DP=$!
for _ in $(seq 150); do
	grep -q "^chainwatch-dp: port" "$W/dp.log" && break
	kill -0 "$DP" 2>/dev/null || { echo "chainwatch-dp exited" >&2; DP=; exit 1; }
	sleep 0.1
done
setsid "$B/chainwatchd" --shm "$NAME" --json "$W/live.jsonl" --db "$W/live.db" \
	--trust-store "$CW_LAB_TRUST" --metrics off --user root >"$W/chainwatchd.log" 2>&1 </dev/null &
D=$!
for _ in $(seq 100); do
	grep -q "attached" "$W/chainwatchd.log" && break
	sleep 0.1
done
date +%s.%N >"$W/ready"
while [ "$stop" = 0 ]; do
	echo "$(date +%s.%N) $(lines)" >>"$W/samples"
	sleep 0.2
done
date +%s.%N >"$W/stopped"
tel /chainwatch/xdp >"$W/tel-xdp.json"
tel /chainwatch/stats >"$W/tel-stats.json"
date +%s.%N >"$W/stopping"
kill -TERM "$DP"
wait "$DP"
echo $? >"$W/dp.rc"
DP=
# The daemon commits at least every second: done when the file has not grown for 2 s.
last=-1
same=0
for _ in $(seq 30); do
	n=$(lines)
	if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; last=$n; fi
	[ $same -ge 8 ] && break
	sleep 0.25
done
kill -TERM "$D"
wait "$D"
echo $? >"$W/chainwatchd.rc"
D=
"""


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def key(o):
    return (o["src_ip"], int(o["src_port"]), o["dst_ip"], int(o["dst_port"]))


def counters(path):
    """name -> value from chainwatch-dp's final report (every "  name value" line)."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.split()
            if line.startswith("  ") and len(p) == 2 and p[1].isdigit():
                out[p[0]] = int(p[1])
    return out


def pcap_times(path):
    """Timestamps of the frames of a classic pcap file (the lab's tcpdump -w output)."""
    out = []
    with open(path, "rb") as f:
        magic = f.read(24)[:4]
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        frac = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            sec, sub, incl, _ = struct.unpack(endian + "IIII", h)
            f.seek(incl, 1)
            out.append(sec + sub * frac)
    return out


def score(pred, truth):
    tp = sum(1 for p, t in zip(pred, truth) if p and t)
    fp = sum(1 for p, t in zip(pred, truth) if p and not t)
    fn = sum(1 for p, t in zip(pred, truth) if not p and t)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0), tp, fp, fn


class Checks:
    def __init__(self):
        self.fails = 0

    def __call__(self, cond, what):
        print(("ok   - " if cond else "FAIL - ") + what)
        if not cond:
            self.fails += 1
        return cond


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="the lab's small workload (too short for check a)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    build = os.path.abspath(args.builddir)

    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, XDP, AF_XDP)")
        return SKIP
    for t in ("tc", "ethtool", "setsid", "ip", "dpdk-telemetry.py"):
        if shutil.which(t) is None:
            print("SKIP: %s not installed" % t)
            return SKIP
    dp = os.path.join(build, "chainwatch-dp")
    helptext = subprocess.run([dp, "--help"], capture_output=True, text=True).stdout
    if "--iface" not in helptext or not os.path.exists(os.path.join(build, "bpf", "cw_steer.bpf.o")):
        print("SKIP: this build has no --iface (cw_steer needs clang and bpftool at build time)")
        return SKIP
    sys.path.insert(0, os.path.join(SRC, "tools/lab"))
    import lab as labmod
    missing = [t for t in labmod.REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        print("SKIP: lab tools missing: " + " ".join(missing))
        return SKIP

    name = "cwlive%d" % os.getpid()
    prefix_dir = "/var/run/dpdk/chainwatch-" + name
    shm = "/dev/shm/chainwatch." + name
    xdp_obj = "/run/chainwatch/dp-%s.cw_steer.bpf.o" % name
    suffix = "live%d" % os.getpid()
    work = tempfile.mkdtemp(prefix="cw-live.")
    out = os.path.join(work, "lab")
    analyze_prefix = None
    ok = Checks()
    try:
        script = os.path.join(work, "isp.sh")
        with open(script, "w") as f:
            f.write(ISP_SCRIPT.replace("@BUILD@", build).replace("@WORK@", work).replace("@NAME@", name))
        cmd = [os.path.join(SRC, "tools/lab/lab.sh"), "run", "--out", out, "--suffix", suffix,
               "--rounds", str(args.rounds), "--exec-in-isp", "bash " + script,
               "--exec-delay", "6", "--exec-grace", "3", "--keep-work"]
        if args.small:
            cmd.append("--small")
        t0 = time.time()
        lab = subprocess.run(cmd, timeout=900)
        print("# lab run: exit %d, %.1f s" % (lab.returncode, time.time() - t0))
        summary = json.load(open(os.path.join(out, "summary.json")))
        ok(lab.returncode == 0 and not summary.get("errors"),
           "lab run consistent (%s)" % (summary.get("errors") or "no errors"))
        ok(summary.get("exec_in_isp_rc") == 0, "ISP script exit status %s" % summary.get("exec_in_isp_rc"))
        for f in ("dp.log", "chainwatchd.log"):
            p = os.path.join(work, f)
            if os.path.exists(p):
                print("# ---- %s (tail)" % f)
                sys.stdout.write("".join(open(p, errors="replace").readlines()[-12:]))
        rc_dp = open(os.path.join(work, "dp.rc")).read().strip() if os.path.exists(os.path.join(work, "dp.rc")) else "?"
        rc_d = (open(os.path.join(work, "chainwatchd.rc")).read().strip()
                if os.path.exists(os.path.join(work, "chainwatchd.rc")) else "?")
        ok(rc_dp == "0" and rc_d == "0", "chainwatch-dp exit %s, chainwatchd exit %s after SIGTERM" % (rc_dp, rc_d))
        if not os.path.exists(os.path.join(work, "live.jsonl")):
            ok(False, "chainwatchd wrote live verdicts")
            return 1

        labels = load_jsonl(os.path.join(out, "labels.jsonl"))
        trust = os.path.join(out, "pki", "genuine-root.pem")
        live_lines = load_jsonl(os.path.join(work, "live.jsonl"))
        live = {key(o): o for o in live_lines if o.get("type") == "flow"}

        # ---- offline: the same traffic from the lab's own capture
        off_json = os.path.join(work, "offline.jsonl")
        p = subprocess.Popen([os.path.join(build, "chainwatch"), "analyze", "--trust-store", trust, "--json", off_json,
                              "--db", os.path.join(work, "offline.db"), os.path.join(out, "capture.pcap")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        an_out = p.communicate(timeout=600)[0]
        analyze_prefix = "/var/run/dpdk/chainwatch-analyze-%d-" % p.pid
        if not ok(p.returncode == 0, "chainwatch analyze on capture.pcap"):
            sys.stdout.write(an_out)
            return 1
        offline = {key(o): o for o in load_jsonl(off_json) if o.get("type") == "flow"}

        # ---- a. verdicts while the traffic flowed
        ready = float(open(os.path.join(work, "ready")).read())
        t_first = min(l["t_start"] for l in labels)
        t_last = max(l["t_end"] for l in labels)
        ok(ready < t_first, "dataplane and daemon ready %.1f s before the first connection" % (t_first - ready))
        samples = []
        for line in open(os.path.join(work, "samples")):
            t, n = line.split()
            samples.append((float(t), int(n)))
        written = {}  # line index -> first sample time at which the line was in the file
        j = 0
        for t, n in samples:
            while j < min(n, len(live_lines)):
                written[j] = t
                j += 1
        idx = {key(o): i for i, o in enumerate(live_lines) if o.get("type") == "flow"}
        lat, before_end, early, early_in_time = [], 0, 0, 0
        for l in labels:
            i = idx.get(key(l))
            t = written.get(i) if i is not None else None
            if t is not None:
                lat.append(t - l["t_end"])
                before_end += t < t_last
            if l["t_end"] < t_last - 5:
                early += 1
                early_in_time += t is not None and t < t_last
        during = max((n for t, n in samples if t < t_last), default=0)
        print("# workload %.1f s; JSON lines written before it ended: %d of %d; labelled flows written before "
              "the end: %d of %d" % (t_last - t_first, during, len(live_lines), before_end, len(labels)))
        if lat:
            print("# connection end -> verdict line on disk (upper bound, 0.2 s sampling): median %.2f s, "
                  "max %.2f s" % (statistics.median(lat), max(lat)))
        ok(during > 0 and early > 0 and early_in_time == early,
           "verdicts appeared while traffic flowed: all %d connections that ended > 5 s before the workload "
           "end were judged before it ended (%d)" % (early, early_in_time))

        # ---- b. live == offline
        only_off = sorted(set(offline) - set(live))
        only_live = sorted(set(live) - set(offline))
        both = set(live) & set(offline)
        diff = [k for k in both if live[k]["verdict"]["result"] != offline[k]["verdict"]["result"]]
        chain_diff = [k for k in both if (live[k]["tls"].get("chain_id") or "") != (offline[k]["tls"].get("chain_id") or "")]
        print("# flows judged: live %d, offline %d, both %d, same result %d" % (
            len(live), len(offline), len(both), len(both) - len(diff)))
        for k in only_off:
            print("#   offline only: %s %s" % (k, offline[k]["verdict"]["result"]))
        for k in only_live:
            print("#   live only: %s %s" % (k, live[k]["verdict"]["result"]))
        for k in sorted(diff):
            print("#   result differs: %s live=%s %s offline=%s %s" % (
                k, live[k]["verdict"]["result"], [s["name"] for s in live[k]["verdict"]["signals"]],
                offline[k]["verdict"]["result"], [s["name"] for s in offline[k]["verdict"]["signals"]]))
        ok(not only_off and not only_live, "same 5-tuples judged live and offline")
        ok(not diff, "same verdict result for all %d flows" % len(both))
        ok(not chain_diff, "same chain id for all %d flows" % len(both))

        # ---- c. visible chains scored against the labels
        vis_pred, vis_truth, missing = [], [], 0
        for l in labels:
            o = live.get(key(l))
            if o is None:
                missing += 1
                continue
            if o["tls"].get("chain"):
                vis_pred.append(o["verdict"]["result"] == "substituted")
                vis_truth.append(bool(l["intercepted"]))
        vp, vr, tp, fp, fn = score(vis_pred, vis_truth)
        print("# labelled connections %d, judged live %d; visible chains n=%d precision=%.2f recall=%.2f "
              "(tp=%d fp=%d fn=%d)" % (len(labels), len(labels) - missing, len(vis_pred), vp, vr, tp, fp, fn))
        ok(missing == 0, "every labelled connection judged live")
        ok(len(vis_pred) > 0 and any(vis_truth) and not all(vis_truth) and vp == 1.0 and vr == 1.0,
           "visible chains: substituted iff intercepted (P=%.2f R=%.2f)" % (vp, vr))

        # ---- d. XDP program vs dataplane
        c = counters(os.path.join(work, "dp.log"))
        # Frames between `ready` (the dataplane had attached the program) and `stopping` reached
        # the program for sure; none before `mirror-begin` could.
        t_begin = float(open(os.path.join(work, "mirror-begin")).read())
        t_stop = float(open(os.path.join(work, "stopping")).read())
        times = pcap_times(os.path.join(out, "capture.pcap"))
        frames = sum(1 for t in times if ready <= t <= t_stop)
        frames_after = sum(1 for t in times if t >= t_begin)
        print("# capture frames %d (%d while the dataplane ran); XDP seen %d, redirected %d (tls_record %d, sslv2 %d, syn %d, fin_rst %d, "
              "flow %d), redirect_fail %d, passed non-TCP %d, no-TLS %d; port ipackets %d imissed %d; "
              "dataplane rx_packets %d, dec_tcp %d, tls_flows %d" % (
                  len(times), frames, c.get("xdp_seen", -1), c.get("xdp_redirected", -1), c.get("xdp_steer_tls_record", -1),
                  c.get("xdp_steer_sslv2", -1), c.get("xdp_steer_syn", -1), c.get("xdp_steer_fin_rst", -1),
                  c.get("xdp_steer_flow", -1), c.get("xdp_redirect_fail", -1), c.get("xdp_pass_non_tcp", -1),
                  c.get("xdp_pass_no_tls", -1), c.get("port_ipackets", -1), c.get("port_imissed", -1),
                  c.get("rx_packets", -1), c.get("dec_tcp", -1), c.get("tls_flows", -1)))
        ok("xdp_redirected" in c, "the XDP program's counters are in the final report")
        ok(c.get("xdp_redirected") == c.get("port_ipackets") == c.get("rx_packets") and c.get("port_imissed") == 0,
           "redirected by XDP == received by the port == dataplane rx_packets, nothing missed")
        ok(c.get("xdp_redirect_fail") == 0, "no redirect failures")
        ok(c.get("xdp_flow_evicted") == 0 and
           c.get("xdp_flow_added", -1) == c.get("xdp_flow_end", -1) + c.get("xdp_flow_held", -1),
           "follow table: every direction added ended or is held, none evicted (%s added, %s "
           "ended, %s held)" % (c.get("xdp_flow_added"), c.get("xdp_flow_end"),
                                c.get("xdp_flow_held")))
        ok("checksums verify" in open(os.path.join(work, "dp.log")).read() and c.get("csum_bad", 0) == 0,
           "checksums verified (the default on AF_XDP) and none wrong: span0 sends complete ones")
        ok(frames <= c.get("xdp_seen", 0) <= frames_after,
           "the program saw every frame captured while the dataplane ran (%d <= %d <= %d)" % (
               frames, c.get("xdp_seen", 0), frames_after))
        ok(0 < c.get("xdp_redirected", 0) < c.get("xdp_seen", 0) and c.get("xdp_pass_non_tcp", 0) > 0,
           "only handshake candidates steered")
        tel = open(os.path.join(work, "tel-xdp.json")).read()
        ok('"redirected"' in tel and '"flow_evicted"' in tel,
           "/chainwatch/xdp answers on the telemetry socket, with the follow table's evictions")

        # ---- e. the host keeps working; nothing left behind
        noise = load_jsonl(os.path.join(out, "noise.jsonl"))
        dns = [n for n in noise if n["kind"] == "dns" and n["qname"] != "nonexistent.test"]
        http = [n for n in noise if n["kind"] == "http"]
        icmp = [n for n in noise if n["kind"] == "icmp"]
        ok(dns and all(n["answered"] for n in dns) and http and all(" 200 " in n["status"] for n in http) and
           len(icmp) == 2 and all(n["answered"] for n in icmp),
           "non-TLS noise worked: %d DNS answered, HTTP %s, %d ICMP echoes answered" % (
               sum(n["answered"] for n in dns), [n["status"] for n in http], sum(n["answered"] for n in icmp)))
        left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.endswith("-" + suffix)]
        ok(not left, "no lab namespaces left %s" % left)
        ok(not os.path.exists(prefix_dir), "DPDK runtime directory removed")
        ok(not os.path.exists(xdp_obj), "configured XDP object removed")
        return 1 if ok.fails else 0
    finally:
        subprocess.run([os.path.join(SRC, "tools/lab/lab.sh"), "clean", "--suffix", suffix], capture_output=True)
        for path in (shm,):
            if os.path.exists(path):
                os.unlink(path)
        shutil.rmtree(prefix_dir, ignore_errors=True)
        if analyze_prefix:
            for d in os.listdir("/var/run/dpdk") if os.path.isdir("/var/run/dpdk") else []:
                if ("/var/run/dpdk/" + d).startswith(analyze_prefix):
                    shutil.rmtree("/var/run/dpdk/" + d, ignore_errors=True)
        if os.path.exists(xdp_obj):
            os.unlink(xdp_obj)
        if args.keep or ok.fails:
            print("# work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print("PASS" if not ok.fails else "FAIL (%d)" % ok.fails)


if __name__ == "__main__":
    sys.exit(main())
