#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Restarts under load: chainwatch-dp replays the lab capture forever (net_pcap infinite_rx=1,
every pass starts the same 39 TLS connections again) while chainwatchd judges the flows into a
SQLite database.

1. chainwatchd is killed with SIGKILL: the dataplane keeps receiving (rx_packets through
   dpdk-telemetry.py keeps rising), its ring fills and every event it cannot publish is counted
   (events_dropped in the shared header, read with cw-evdump --peek). A new chainwatchd on the same
   database reports the drops (chainwatch_ring_events_dropped_total), keeps the learned baselines
   and judges new flows.
2. The dataplane is killed with SIGKILL and a new one started on the same instance: chainwatchd
   logs the death, attaches to the new one by itself and judges its flows.

Usage: test_restart.py CHAINWATCH_DP CHAINWATCHD CW_EVDUMP SOURCE_ROOT
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DP, CPD, EVDUMP, SRC = (os.path.abspath(a) for a in sys.argv[1:5])
LAB = os.path.join(SRC, "tests/data/lab/small.pcap")
TRUST = os.path.join(SRC, "tests/data/lab/ca/genuine-root.pem")
ANCHORS = os.path.join(SRC, "data/anchors")
INST = "cwrestart-%d" % os.getpid()
SLOTS = 4096

failures = []
procs = []


def check(cond, what):
    if cond:
        print("ok:", what, flush=True)
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_dp(tmp, n):
    args = [DP, "--no-huge", "-m", "256", "--no-pci", "--file-prefix", INST,
            "--log-level=lib.eal:warning", "-l", "0",
            "--vdev", "net_pcap_restart0,rx_pcap=%s,infinite_rx=1" % LAB, "--",
            "--instance", INST, "--workers", "1", "--flows", "4096", "--sessions", "256",
            "--chains", "4096", "--blob-kib", "1024", "--ring-slots", str(SLOTS),
            "--shm-mode", "0666"]
    p = subprocess.Popen(args, stdout=open(os.path.join(tmp, "dp%d.log" % n), "w"),
                         stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def start_cpd(tmp, db, port, n):
    log = os.path.join(tmp, "cpd%d.log" % n)
    args = [CPD, "--shm", INST, "--db", db, "--metrics", "127.0.0.1:%d" % port,
            "--trust-store", TRUST, "--anchors-dir", ANCHORS, "--flush-interval-ms", "200"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    procs.append(p)
    return p, log


def kill9(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def stats():
    """/chainwatch/stats of the running dataplane, or {}."""
    r = subprocess.run(["dpdk-telemetry.py", "-f", INST], input="/chainwatch/stats\n",
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=20)
    m = re.search(r'"rx_packets": (\d+)', r.stdout)
    if m is None:
        return {}
    return {k: int(v) for k, v in re.findall(r'"([a-z0-9_]+)": (\d+)', r.stdout)}


def peek():
    """Header and ring 0 counters of the shared-memory segment (cw-evdump --peek)."""
    r = subprocess.run([EVDUMP, "--peek", "--shm", INST], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=20)
    out = {}
    for line in r.stdout.splitlines():
        for k, v in re.findall(r"([a-z_]+)=(\S+)", line):
            out[k] = int(v) if v.isdigit() else v
    return out


def metrics(port):
    r = subprocess.run(["curl", "-s", "--max-time", "5", "http://127.0.0.1:%d/metrics" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = {}
    for line in r.stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, _, v = line.rpartition(" ")
        try:
            m[k] = float(v)
        except ValueError:
            pass
    m["judged"] = sum(v for k, v in m.items() if k.startswith("chainwatch_flows_total{"))
    return m


def sql(db, q):
    r = subprocess.run(["sqlite3", "-batch", "-noheader", db, q], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("sqlite3: %s" % r.stderr)
    return r.stdout.strip()


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    check(False, "timed out waiting for " + what)
    return None


def log_has(path, text):
    with open(path) as f:
        return text in f.read()


def rx_rises(n, what):
    """n samples of rx_packets 0.5 s apart, each larger than the one before."""
    xs = []
    for _ in range(n):
        xs.append(stats().get("rx_packets", -1))
        time.sleep(0.5)
    return check(all(b > a for a, b in zip(xs, xs[1:])) and xs[0] > 0,
                 "%s: the dataplane keeps receiving (rx_packets %s)" % (what, xs))


def test(tmp):
    db = os.path.join(tmp, "cw.db")
    port = free_port()

    dp = start_dp(tmp, 1)
    if not wait_for("packets through telemetry", lambda: stats().get("rx_packets", 0) > 0):
        return
    cpd, log1 = start_cpd(tmp, db, port, 1)
    if not wait_for("flows judged and baselines stored",
                    lambda: metrics(port)["judged"] >= 500 and
                    int(sql(db, "SELECT count(*) FROM baselines") or 0) > 0):
        return
    print("judged %d so far" % metrics(port)["judged"], flush=True)

    # 1. SIGKILL chainwatchd while the dataplane runs.
    kill9(cpd)
    base_before = int(sql(db, "SELECT count(*) FROM baselines"))
    flows_before = int(sql(db, "SELECT count(*) FROM flows"))
    check(base_before > 0 and flows_before > 0,
          "database before the kill: %d baselines, %d flows" % (base_before, flows_before))
    time.sleep(0.5)  # the ring fills within milliseconds without a consumer
    p0, s0 = peek(), stats()
    rx_rises(5, "control down")
    p1, s1 = peek(), stats()
    check(p0.get("state") == "running" and p1.get("pending") == SLOTS,
          "control down: the ring is full (pending %s of %d)" % (p1.get("pending"), SLOTS))
    check(p1.get("published") == p0.get("published"),
          "control down: nothing published into the full ring (%s -> %s)"
          % (p0.get("published"), p1.get("published")))
    lost = p1.get("events_dropped", 0) - p0.get("events_dropped", 0)
    attempted = (s1.get("events_out", 0) + s1.get("events_dropped", 0)) - \
        (s0.get("events_out", 0) + s0.get("events_dropped", 0))
    check(lost > 0, "control down: events lost are counted in the shared header (+%d)" % lost)
    check(s1.get("events_dropped", 0) - s0.get("events_dropped", 0) == attempted and attempted > 0,
          "control down: every event the dataplane ended was counted as dropped (+%d)" % attempted)
    check(sql(db, "PRAGMA integrity_check") == "ok", "control down: the database is consistent")

    cpd, log2 = start_cpd(tmp, db, port, 2)
    m = wait_for("the new chainwatchd to judge flows", lambda: (lambda m: m if m["judged"] >= 4096
                                                               + 200 else None)(metrics(port)))
    if m is None:
        return
    check(m.get("chainwatch_ring_events_dropped_total", 0) >= p1["events_dropped"],
          "restarted chainwatchd reports the drops (%d >= %d)"
          % (m.get("chainwatch_ring_events_dropped_total", 0), p1["events_dropped"]))
    check(log_has(log2, "attached to dataplane instance"), "restarted chainwatchd attached")
    time.sleep(1)
    base_after = int(sql(db, "SELECT count(*) FROM baselines"))
    flows_after = int(sql(db, "SELECT count(*) FROM flows"))
    check(base_after >= base_before,
          "learned baselines intact after SIGKILL (%d -> %d)" % (base_before, base_after))
    check(flows_after > flows_before + 4096,
          "flows keep being judged into the database (%d -> %d)" % (flows_before, flows_after))

    # 2. SIGKILL the dataplane; a new one on the same instance.
    m0 = metrics(port)
    kill9(dp)
    wait_for("chainwatchd to notice the dead dataplane",
             lambda: log_has(log2, "died without finishing"))
    check(metrics(port).get("chainwatch_dataplane_attached") == 0,
          "chainwatchd is detached while no dataplane runs")
    time.sleep(0.5)
    dp = start_dp(tmp, 2)
    pat = 'attached to dataplane instance "%s" (pid %d)' % (INST, dp.pid)
    check(wait_for("chainwatchd to attach to the new dataplane", lambda: log_has(log2, pat)),
          "chainwatchd reattached to the new dataplane by itself (%s)" % pat)
    m1 = wait_for("flows of the new dataplane to be judged",
                  lambda: (lambda m: m if m["judged"] >= m0["judged"] + 1000 else None)(
                      metrics(port)))
    if m1 is None:
        return
    attaches = m1["chainwatch_dataplane_attaches_total"]
    check(attaches == m0["chainwatch_dataplane_attaches_total"] + 1,
          "one more attach counted (%d)" % attaches)
    check(m1["judged"] > m0["judged"], "flows judged increase again (%d -> %d)"
          % (m0["judged"], m1["judged"]))
    rx_rises(3, "new dataplane")

    cpd.send_signal(signal.SIGTERM)
    check(cpd.wait(timeout=30) == 0, "chainwatchd exits 0 on SIGTERM")
    dp.send_signal(signal.SIGTERM)
    check(dp.wait(timeout=30) == 0, "the new dataplane exits 0 on SIGTERM")
    check(sql(db, "PRAGMA integrity_check") == "ok", "the database is consistent at the end")
    check(int(sql(db, "SELECT count(*) FROM baselines")) >= base_before,
          "baselines at the end >= before the first kill")


def main():
    for tool in ("sqlite3", "curl", "dpdk-telemetry.py"):
        if shutil.which(tool) is None:
            print("SKIP: %s not installed" % tool)
            return 77
    tmp = tempfile.mkdtemp(prefix="cwrestart.")
    os.chmod(tmp, 0o755)
    try:
        test(tmp)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if failures:
            for name in sorted(os.listdir(tmp)):
                if name.endswith(".log"):
                    print("--- %s" % name)
                    print(open(os.path.join(tmp, name)).read()[-2000:])
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree("/var/run/dpdk/" + INST, ignore_errors=True)
        try:
            os.unlink("/dev/shm/chainwatch." + INST)
        except FileNotFoundError:
            pass
    if failures:
        print("%d failures:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
