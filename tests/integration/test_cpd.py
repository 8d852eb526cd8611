#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""chainwatchd and the chainwatch CLI end to end: real chainwatch-dp runs on captures, JSON lines,
the SQLite file (read back with the sqlite3 tool), /metrics scraped with curl, restarts of either
side, anonymisation and bad invocations.

Usage: test_cpd.py CHAINWATCH CHAINWATCHD CHAINWATCH_DP SOURCE_ROOT
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CLI, CPD, DP, SRC = (os.path.abspath(a) for a in sys.argv[1:5])
PCAPS = os.path.join(SRC, "tests/data/conformance/ja4/pcap")
LATEST = os.path.join(PCAPS, "latest.pcapng")
CURVEBALL = os.path.join(PCAPS, "badcurveball.pcap")
TLS12 = os.path.join(PCAPS, "tls12.pcap")
ANCHORS = os.path.join(SRC, "data/anchors")
LAB = os.path.join(SRC, "tests/data/lab/small.pcap")
LAB_ROOT = os.path.join(SRC, "tests/data/lab/ca/genuine-root.pem")
PADDED = os.path.join(SRC, "tests/data/adversarial/padded_genuine_after_leaf.pcap")
TAG = "cpdtest-%d" % os.getpid()
ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ISO_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    else:
        print("ok:", what, flush=True)


def run(args, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("timeout", 120)
    return subprocess.run(args, text=True, **kw)


def sql(db, query):
    r = run(["sqlite3", "-batch", "-noheader", db, query])
    if r.returncode != 0:
        raise RuntimeError("sqlite3 %s: %s" % (db, r.stderr))
    return r.stdout.strip()


def shm_segments():
    """Segments of chainwatch analyze runs that have ended: "chainwatch.analyze-PID-..." whose
    PID is gone (a run of another test going on at the same time is not ours to judge)."""
    out = set()
    for n in os.listdir("/dev/shm"):
        if not n.startswith("chainwatch.analyze-"):
            continue
        try:
            os.kill(int(n.split("-")[1]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            out.add(n)
        except PermissionError:
            pass
    return out


def tls_flows_in(pcap, tmp):
    """The dataplane's own count of TLS flows in a capture (its final counters)."""
    inst = "%s-count" % TAG
    r = run([DP, "--pcap", pcap, "--shm", inst])
    try:
        os.unlink("/dev/shm/chainwatch." + inst)
    except FileNotFoundError:
        pass
    m = re.search(r"^\s*events_out\s+(\d+)", r.stdout, re.M)
    if r.returncode != 0 or m is None:
        raise RuntimeError("chainwatch-dp --pcap %s: rc %d\n%s%s" % (pcap, r.returncode, r.stdout,
                                                                    r.stderr))
    return int(m.group(1))


def parse_jsonl(path_or_text, is_text=False):
    text = path_or_text if is_text else open(path_or_text, encoding="utf-8").read()
    objs = []
    for line in text.splitlines():
        if line.strip():
            objs.append(json.loads(line))  # raises on invalid JSON
    return objs


def check_flow_schema(o):
    for k in ("ts", "src_ip", "src_port", "dst_ip", "dst_port", "tls", "verdict"):
        if k not in o:
            return "missing %s" % k
    if not ISO_US.match(o["ts"]):
        return "ts %r" % o["ts"]
    t = o["tls"]
    for k in ("version", "sni", "alpn", "ja3", "ja3s", "ja4", "chain", "chain_id"):
        if k not in t:
            return "missing tls.%s" % k
    if not isinstance(t["alpn"], list) or not isinstance(t["chain"], list):
        return "alpn/chain not lists"
    for c in t["chain"]:
        for k in ("sha256", "spki_sha256", "subject", "issuer", "not_before", "not_after"):
            if k not in c:
                return "missing chain[].%s" % k
        if c["not_before"] is not None and not ISO_S.match(c["not_before"]):
            return "not_before %r" % c["not_before"]
    v = o["verdict"]
    if v.get("result") not in ("substituted", "suspicious", "consistent", "unknown"):
        return "verdict.result %r" % v.get("result")
    if not 0.0 <= v.get("confidence", -1) <= 1.0:
        return "confidence"
    for s in v.get("signals", None) or []:
        if "name" not in s or "detail" not in s:
            return "signal fields"
    if not isinstance(v.get("signals"), list):
        return "signals not a list"
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port):
    r = run(["curl", "-s", "-i", "--max-time", "5", "http://127.0.0.1:%d/metrics" % port])
    return r.returncode, r.stdout


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


def test_analyze(tmp):
    db = os.path.join(tmp, "a.db")
    js = os.path.join(tmp, "a.jsonl")
    before = shm_segments()
    r = run([CLI, "analyze", "--anchors-dir", ANCHORS, "--db", db, "--json", js, LATEST,
             CURVEBALL])
    check(r.returncode == 0, "analyze exits 0 (%s)" % r.stderr.strip()[-300:])
    check("TLS flows judged" in r.stdout, "analyze prints the summary on stdout")
    check("flows judged" in r.stderr, "analyze shows progress on stderr")
    check(shm_segments() == before, "analyze removes its shm segments")
    objs = parse_jsonl(js)
    flows = [o for o in objs if o.get("type") == "flow"]
    chains = [o for o in objs if o.get("type") == "chain"]
    expected = tls_flows_in(LATEST, tmp) + tls_flows_in(CURVEBALL, tmp)
    check(len(flows) == expected,
          "one JSON flow object per TLS flow (%d, dataplane says %d)" % (len(flows), expected))
    bad = [check_flow_schema(o) for o in flows]
    bad = [b for b in bad if b]
    check(not bad, "every flow object has the documented fields (%s)" % bad[:3])
    check(all(o["type"] in ("flow", "chain") for o in objs), "type discriminator on every line")
    ids = {c["chain_id"] for c in chains}
    check(all(o["tls"]["chain_id"] in ids for o in flows if o["tls"]["chain"]),
          "each visible chain has a chain object")
    check(all(o["tls"]["chain"] == [] for o in flows if o["tls"]["chain_id"] is None),
          "chain is [] when not visible")
    cb = [o for o in flows if o["tls"]["sni"] == "bad.curveballtest.com"]
    check(len(cb) == 1 and cb[0]["verdict"]["result"] in ("substituted", "suspicious"),
          "the CurveBall flow is flagged (%s)" % [o["verdict"]["result"] for o in cb])
    slack = [o for o in flows if o["tls"]["version"] == "TLS 1.3"]
    check(all(o["tls"]["chain"] == [] for o in slack), "TLS 1.3 flows carry no chain")

    check(sql(db, "PRAGMA integrity_check") == "ok", "database integrity_check ok")
    n = int(sql(db, "SELECT count(*) FROM flows"))
    check(n == len(flows), "flows table has one row per JSON flow (%d)" % n)
    check(int(sql(db, "SELECT count(*) FROM chains")) == len(ids),
          "chains table has one row per chain object")
    check(sql(db, "SELECT verdict FROM flows WHERE sni = 'bad.curveballtest.com'")
          in ("substituted", "suspicious"), "the CurveBall row in the database")

    r = run([CLI, "report", "--db", db])
    check(r.returncode == 0 and "%d TLS flows judged" % n in r.stdout, "chainwatch report")
    r = run([CLI, "flows", "--verdict", "suspicious", "--db", db, "--limit", "5"])
    susp = int(sql(db, "SELECT count(*) FROM flows WHERE verdict = 'suspicious'"))
    check(r.returncode == 0 and (susp == 0 or "bad.curveballtest.com" in r.stdout
                                 or susp > 5), "chainwatch flows --verdict suspicious")
    r = run([CLI, "flows", "--substituted", "--db", db])
    check(r.returncode == 0, "chainwatch flows --substituted")
    r = run([CLI, "chains", "bad.curveballtest.com", "--db", db])
    check(r.returncode == 0 and "INFIGO" in r.stdout and "first seen" in r.stdout,
          "chainwatch chains NAME shows issuer and first/last seen")
    r = run([CLI, "flows", "--verdict", "bogus", "--db", db])
    check(r.returncode != 0 and "--verdict" in r.stderr, "flows rejects a bad verdict")
    r = run([CLI, "report", "--db", os.path.join(tmp, "missing.db")])
    check(r.returncode != 0 and "missing.db" in r.stderr, "report on a missing database fails")
    check(not os.path.exists(os.path.join(tmp, "missing.db")), "report creates no database")

    # Default output: JSON lines on stdout, summary on stderr.
    r = run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, TLS12])
    check(r.returncode == 0, "analyze with JSON on stdout exits 0")
    out = parse_jsonl(r.stdout, is_text=True)
    check(len(out) >= 1 and "TLS flows judged" in r.stderr,
          "stdout is pure JSON lines, summary on stderr")
    # -q: the summary is all there is on stderr (no notices from chainwatchd or DPDK's EAL).
    notices = [l for l in r.stderr.splitlines()
               if l.strip() and not re.match(r"\d+ TLS flows judged: |NAME  |No substituted", l)
               and not re.search(r" (substituted|suspicious) +\d+ ", l)]
    check(not notices, "analyze -q prints only the summary on stderr: %r" % notices[:3])
    r = run([CLI, "analyze", "--anchors-dir", ANCHORS, "--json", os.devnull, TLS12])
    check(r.returncode == 0 and "chainwatchd: attached to dataplane instance" in r.stderr
          and "chainwatch: analysing" in r.stderr, "without -q, progress and notices on stderr")

    # --json FILE is replaced only by a run that succeeded, keeping its mode, through a link.
    old = os.path.join(tmp, "old.jsonl")
    link = os.path.join(tmp, "old-link.jsonl")
    with open(old, "w") as f:
        f.write("earlier results\n")
    os.chmod(old, 0o640)
    os.symlink(old, link)
    junk = os.path.join(tmp, "junk-for-json.pcap")
    with open(junk, "w") as f:
        f.write("not a capture\n")
    r = run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--json", link, junk])
    check(r.returncode == 1 and open(old).read() == "earlier results\n",
          "a failed analyze leaves an existing --json FILE as it was")
    r = run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--json", link, TLS12])
    check(r.returncode == 0 and os.path.islink(link) and len(parse_jsonl(old)) >= 1 and
          "earlier results" not in open(old).read(),
          "a successful analyze replaces the file --json FILE names")
    check(os.stat(old).st_mode & 0o777 == 0o640, "the replaced --json FILE keeps its mode")
    check(not [n for n in os.listdir(tmp) if n.startswith(".old")],
          "no temporary JSON file is left next to --json FILE")
    for h in (["--help"], ["analyze", "--help"], ["report", "--help"], ["flows", "--help"],
              ["chains", "--help"]):
        r = run([CLI] + h)
        check(r.returncode == 0 and "Usage" in r.stdout, "chainwatch %s" % " ".join(h))
    r = run([CPD, "--help"])
    check(r.returncode == 0 and "--exit-when-done" in r.stdout, "chainwatchd --help")
    # Every option of chainwatchd and of chainwatch analyze is named in docs/*.md.
    docs = "".join(open(os.path.join(SRC, "docs", n), encoding="utf-8").read()
                   for n in os.listdir(os.path.join(SRC, "docs")) if n.endswith(".md"))
    for prog, h in (("chainwatchd", [CPD, "--help"]), ("chainwatch analyze",
                                                       [CLI, "analyze", "--help"])):
        opts = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", run(h).stdout))
        undocumented = sorted(o for o in opts
                              if not re.search(re.escape(o) + r"(?![a-z0-9-])", docs))
        check(opts and not undocumented, "docs name every %s option (missing: %s)"
              % (prog, undocumented))


def test_anonymise(tmp):
    key = os.path.join(tmp, "anon.key")
    with open(key, "w") as f:
        f.write("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n")
    os.chmod(key, 0o600)
    res = {}
    for mode in ("none", "truncate", "keyed", "keyed2"):
        args = [CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--db",
                os.path.join(tmp, "anon-%s.db" % mode), "--json",
                os.path.join(tmp, "anon-%s.jsonl" % mode)]
        if mode != "none":
            args += ["--anonymise", mode.rstrip("2")]
        if mode.startswith("keyed"):
            args += ["--anon-key-file", key]
        r = run(args + [LATEST])
        check(r.returncode == 0, "analyze --anonymise %s" % mode)
        flows = [o for o in parse_jsonl(os.path.join(tmp, "anon-%s.jsonl" % mode))
                 if o["type"] == "flow"]
        res[mode] = [o["src_ip"] for o in flows]
        dbips = sql(os.path.join(tmp, "anon-%s.db" % mode),
                    "SELECT cli_ip FROM flows ORDER BY id").split("\n")
        check(sorted(dbips) == sorted(res[mode]), "database holds the same %s addresses" % mode)
    check(all(ip.endswith(".0") for ip in res["truncate"] if ":" not in ip),
          "truncate keeps /24 (%s)" % res["truncate"][:2])
    check(res["keyed"] == res["keyed2"], "keyed is deterministic with the same key")
    check(all(a != b for a, b in zip(res["keyed"], res["none"])), "keyed changes every address")
    r = run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--anonymise", "keyed", LATEST])
    check(r.returncode != 0 and "anon-key-file" in r.stderr, "keyed without a key fails")


def start_cpd(inst, db, port, extra=()):
    args = [CPD, "--shm", inst, "--db", db, "--anchors-dir", ANCHORS,
            "--metrics", "127.0.0.1:%d" % port if port else "off"] + list(extra)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p


def terminate(p, timeout=20):
    """SIGTERM, then SIGKILL after timeout s: (exit status, -9 when killed; stdout; stderr)."""
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return -9, out, err
    return p.returncode, out, err


def stop_cpd(p):
    rc, _, err = terminate(p)
    return rc, err


def wait_metric(port, name, want, labels="", timeout=20):
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        rc, text = scrape(port)
        if rc == 0 and metric(text, name, labels) == want:
            return text
        time.sleep(0.1)
    return text


def test_daemon(tmp):
    inst = "%s-d" % TAG
    db = os.path.join(tmp, "d.db")
    port = free_port()
    n1 = tls_flows_in(LATEST, tmp)
    n2 = tls_flows_in(CURVEBALL, tmp)
    # The segment is world-accessible so chainwatchd can reattach after dropping root.
    dp_args = ["--shm", inst, "--shm-mode", "0666", "--quiet"]

    p = start_cpd(inst, db, port)
    r = run([DP, "--pcap", LATEST] + dp_args)
    check(r.returncode == 0, "chainwatch-dp run 1")
    text = wait_metric(port, "chainwatch_events_total", float(n1))
    check(text.startswith("HTTP/1.0 200") and "text/plain; version=0.0.4" in text,
          "/metrics answers 200 with the 0.0.4 content type")
    judged = sum(metric(text, "chainwatch_flows_total", '{verdict="%s"}' % v) or 0
                 for v in ("unknown", "consistent", "suspicious", "substituted"))
    check(judged == n1, "/metrics counts the flows judged by verdict (%s of %d)" % (judged, n1))
    reads = [metric(text, "chainwatch_server_baseline_reads_total", '{result="%s"}' % r)
             for r in ("hit", "miss")]
    check(None not in reads and 0 < sum(reads) <= judged and reads[1] > 0,
          "/metrics counts server-baseline reads, at most one per judged flow (%s)" % reads)
    names = [metric(text, "chainwatch_name_baseline_reads_total", '{result="%s"}' % r)
             for r in ("hit", "miss")]
    check(None not in names and 0 < sum(names) <= judged and names[1] > 0,
          "/metrics counts name-baseline reads, at most one per judged flow (%s)" % names)
    chains = [metric(text, "chainwatch_chain_cache_reads_total", '{result="%s"}' % r)
              for r in ("hit", "miss")]
    certs = [metric(text, "chainwatch_certificate_cache_reads_total", '{result="%s"}' % r)
             for r in ("hit", "miss")]
    new = metric(text, "chainwatch_chains_new_total")
    check(None not in chains and new is not None and chains[1] >= new > 0 and chains[0] > 0,
          "/metrics counts chain lookups, each new chain a miss (%s, %s new)" % (chains, new))
    check(None not in certs and certs[1] > 0,
          "/metrics counts the certificates parsed (%s)" % certs)
    for name in ("chainwatch_chains_known", "chainwatch_ring_events_dropped_total",
                 "chainwatch_ring_pending_events", "chainwatch_lag_seconds",
                 "chainwatch_dataplane_attached"):
        check(metric(text, name) is not None, "/metrics has %s" % name)
    r404 = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                "http://127.0.0.1:%d/other" % port])
    check(r404.stdout == "404", "/metrics server answers 404 elsewhere")
    rc, err = stop_cpd(p)
    check(rc == 0, "chainwatchd exits 0 on SIGTERM (%s)" % err[-200:])
    flows1 = int(sql(db, "SELECT count(*) FROM flows"))
    base1 = int(sql(db, "SELECT count(*) FROM baselines"))
    check(flows1 == n1, "all flows of run 1 stored (%d)" % flows1)

    # Restart chainwatchd: the old segment is still there, its events already consumed.
    p = start_cpd(inst, db, port)
    text = wait_metric(port, "chainwatch_dataplane_attaches_total", 1.0)
    time.sleep(0.5)
    check(int(sql(db, "SELECT count(*) FROM flows")) == flows1,
          "a restarted chainwatchd does not judge consumed events again")
    # A new dataplane run on the same instance: chainwatchd reattaches by itself.
    r = run([DP, "--pcap", CURVEBALL] + dp_args)
    check(r.returncode == 0, "chainwatch-dp run 2")
    text = wait_metric(port, "chainwatch_events_total", float(n2))
    check(metric(text, "chainwatch_events_total") == n2, "reattached to the restarted dataplane")
    check(metric(text, "chainwatch_dataplane_chain_key_info", '{key_id="0000000000000000"}') == 0,
          "metrics: the dataplane's chain ids are unkeyed (no --chain-key)")
    rc, err = stop_cpd(p)
    check(rc == 0, "chainwatchd exits 0 on SIGTERM after reattaching")
    flows2 = int(sql(db, "SELECT count(*) FROM flows"))
    base2 = int(sql(db, "SELECT count(*) FROM baselines"))
    check(flows2 == n1 + n2, "flows accumulate across restarts (%d)" % flows2)
    check(base2 >= base1 and base1 > 0, "baselines survive the restart (%d -> %d)" % (base1, base2))
    check(sql(db, "PRAGMA integrity_check") == "ok", "database still consistent")

    # A lower --max-flows: the commits after the next flows trim the table to it.
    p = start_cpd(inst, db, port, ["--max-flows", "2"])
    r = run([DP, "--pcap", LATEST] + dp_args)
    check(r.returncode == 0, "chainwatch-dp run 3")
    text = wait_metric(port, "chainwatch_flows_pruned_total", float(flows2 + n1 - 2))
    check(metric(text, "chainwatch_flows_pruned_total") == flows2 + n1 - 2,
          "/metrics counts the flows pruned to --max-flows 2 (%s of %d)"
          % (metric(text, "chainwatch_flows_pruned_total"), flows2 + n1 - 2))
    rc, err = stop_cpd(p)
    check(rc == 0 and sql(db, "SELECT count(*) FROM flows") == "2",
          "the newest 2 flows kept (%s)" % sql(db, "SELECT count(*) FROM flows"))
    try:
        os.unlink("/dev/shm/chainwatch." + inst)
    except FileNotFoundError:
        pass

    # --exit-when-done on a finished segment of a fresh instance.
    inst2 = "%s-e" % TAG
    r = run([DP, "--pcap", TLS12] + ["--shm", inst2, "--quiet"])
    r = run([CPD, "--shm", inst2, "--db", "none", "--metrics", "off", "--anchors-dir", ANCHORS,
             "--exit-when-done", "--json", "-"], timeout=30)
    check(r.returncode == 0 and len(parse_jsonl(r.stdout, is_text=True)) >= 1,
          "--exit-when-done drains a finished segment and exits 0")
    os.unlink("/dev/shm/chainwatch." + inst2)


def test_metrics_unattached(tmp):
    """/metrics answers before any dataplane appears, with chainwatch_dataplane_attached 0."""
    inst = "%s-none" % TAG  # no dataplane ever serves this instance
    port = free_port()
    p = start_cpd(inst, "none", port)
    text = wait_metric(port, "chainwatch_dataplane_attached", 0.0, timeout=5)
    check(text.startswith("HTTP/1.0 200") and
          metric(text, "chainwatch_dataplane_attached") == 0,
          "/metrics answers while no dataplane is attached (attached 0)")
    check(metric(text, "chainwatch_dataplane_attaches_total") == 0,
          "/metrics counts no attach before a dataplane appears")
    rc, err = stop_cpd(p)
    check(rc == 0, "chainwatchd waiting for a dataplane exits 0 on SIGTERM (%s)" % err[-200:])


def test_chain_key(tmp):
    """Keyed chain ids: other ids than unkeyed, stable under one key, one key per database."""
    keys = []
    for i in range(2):
        k = os.path.join(tmp, "chain%d.key" % i)
        with open(k, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(k, 0o600)
        keys.append(k)

    def ids(js):
        return sorted({c["chain_id"] for c in parse_jsonl(js) if c.get("type") == "chain"})

    def analyze(db, js, key):
        extra = ["--chain-key", key] if key else []
        return run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--db", db, "--json", js]
                   + extra + [LATEST])

    plain_db, plain_js = os.path.join(tmp, "plain.db"), os.path.join(tmp, "plain.jsonl")
    db, js = os.path.join(tmp, "keyed.db"), os.path.join(tmp, "keyed.jsonl")
    r = analyze(plain_db, plain_js, None)
    check(r.returncode == 0, "analyze without a key (%s)" % r.stderr.strip()[-300:])
    r = analyze(db, js, keys[0])
    check(r.returncode == 0, "analyze --chain-key (%s)" % r.stderr.strip()[-300:])
    plain, keyed = ids(plain_js), ids(js)
    check(len(keyed) > 0 and len(keyed) == len(plain) and not set(keyed) & set(plain),
          "keyed chain ids: as many as unkeyed, none equal (%d, %d)" % (len(keyed), len(plain)))
    kid = sql(db, "SELECT value FROM meta WHERE key = 'chain_key_id'")
    check(len(kid) == 16 and kid != "0" * 16, "the database records the key id (%s)" % kid)
    check(sql(plain_db, "SELECT value FROM meta WHERE key = 'chain_key_id'") == "0" * 16,
          "an unkeyed database records the all-zero key id")
    r = run([CLI, "report", "--db", db])
    check(r.returncode == 0 and ("Chain ids: keyed, key id %s" % kid) in r.stdout,
          "chainwatch report names the database's chain key")
    r = run([CLI, "report", "--db", plain_db])
    check(r.returncode == 0 and "Chain ids: unkeyed" in r.stdout,
          "chainwatch report says an unkeyed database is unkeyed")
    r = analyze(db, js, keys[0])
    check(r.returncode == 0 and ids(js) == keyed, "the same key again: the same chain ids")
    check(int(sql(db, "SELECT count(*) FROM chains")) == len(keyed),
          "the same key again: no new chain rows")
    for key, what in ((keys[1], "another key"), (None, "no key")):
        r = analyze(db, os.path.join(tmp, "x.jsonl"), key)
        check(r.returncode != 0 and "chain key" in r.stderr and kid in r.stderr,
              "%s on a keyed database is refused (%s)" % (what, r.stderr.strip()[-300:]))
    r = analyze(plain_db, os.path.join(tmp, "y.jsonl"), keys[0])
    check(r.returncode != 0 and "chain key" in r.stderr,
          "a key on an unkeyed database is refused (%s)" % r.stderr.strip()[-300:])
    check(int(sql(db, "SELECT count(*) FROM chains")) == len(keyed),
          "a refused run adds no chain rows")


def test_two_workers(tmp):
    """A chain's blob travels on the ring of the worker that saw it first; a flow of the same
    chain on another worker's ring is judged with the chain all the same."""
    handshake = os.path.join(PCAPS, "tls-handshake.pcapng")
    for i in range(5):
        js = os.path.join(tmp, "w2-%d.jsonl" % i)
        r = run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--json", js,
                 "--dp-arg=--workers", "--dp-arg=2", LATEST, handshake])
        check(r.returncode == 0, "analyze with 2 workers (%s)" % r.stderr.strip()[-300:])
        flows = [o for o in parse_jsonl(js) if o.get("type") == "flow"]
        with_id = [o for o in flows if o["tls"]["chain_id"] is not None]
        lost = [o["tls"]["sni"] for o in with_id if not o["tls"]["chain"]]
        check(len(with_id) > 0 and not lost,
              "run %d: every flow with a chain id is judged with its chain (%d flows, "
              "without: %s)" % (i, len(with_id), lost[:5]))


def test_lossless(tmp):
    """chainwatch analyze judges every flow of a capture even when chainwatchd reads slower than
    the dataplane fills a 16-slot event ring: the dataplane waits (--events-wait), and without
    the wait the same ring loses flows."""
    r = run([os.path.join(os.path.dirname(CLI), "chainwatch-scan"), LAB])
    want = len(r.stdout.splitlines())
    js = os.path.join(tmp, "lossless.jsonl")
    r = run([CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--json", js,
             "--dp-arg=--ring-slots=16", LAB])
    check(r.returncode == 0, "analyze with a 16-slot ring exits 0 (%s)" % r.stderr.strip()[-300:])
    flows = [o for o in parse_jsonl(js) if o.get("type") == "flow"] if os.path.exists(js) else []
    check(want > 16 and len(flows) == want,
          "every flow judged through a 16-slot ring: %d of %d" % (len(flows), want))
    # The same run without the wait: chainwatch-dp alone on the ring, no consumer, drops.
    inst = TAG + "-nowait"
    r = run([DP, "--pcap", LAB, "--instance", inst, "--ring-slots", "16"])
    m = re.search(r"^  events_dropped +(\d+)$", r.stdout, re.M)
    check(r.returncode == 0 and m is not None and int(m.group(1)) == want - 16,
          "without --events-wait and a consumer, %s of %d dropped" % (m and m.group(1), want))
    # With the wait and no consumer the run waits on the full ring until a signal; then the
    # waiting events are dropped, each counted as waited and as dropped.
    p = subprocess.Popen([DP, "--pcap", LAB, "--instance", inst, "--ring-slots", "16",
                          "--events-wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(3)
    waiting = p.poll() is None
    rc, out, _ = terminate(p, timeout=30)
    cnt = {k: int(v) for k, v in re.findall(r"^  (events_\w+) +(\d+)$", out, re.M)}
    check(waiting and rc == 0 and cnt.get("events_out") == 16 and
          cnt.get("events_waited", 0) >= 1 and cnt.get("events_dropped") == cnt.get("events_waited"),
          "--events-wait without a consumer waits until SIGTERM (running %s, exit %s, %s)"
          % (waiting, rc, cnt))
    r = run([DP, "--replay", LAB, "--events-wait", "--instance", inst])
    check(r.returncode == 2 and "--events-wait goes with --pcap" in r.stderr,
          "--events-wait without --pcap is a usage error")
    try:
        os.unlink("/dev/shm/chainwatch." + inst)
    except FileNotFoundError:
        pass


def test_learned_intermediates(tmp):
    """A genuine chain whose intermediate lies past the sensor's reassembly cap (a real server's
    flight padded after its leaf): untrusted until a valid path of that CA was seen, in this run
    or in the database of an earlier one, then completed with the learned intermediate."""
    def padded_verdict(name, db, files, extra=()):
        js = os.path.join(tmp, name + ".jsonl")
        args = [CLI, "analyze", "-q", "--anchors-dir", ANCHORS, "--trust-store", LAB_ROOT,
                "--json", js] + (["--db", db] if db else []) + list(extra) + files
        r = run(args)
        check(r.returncode == 0, "%s: analyze exits 0 (%s)" % (name, r.stderr.strip()[-300:]))
        objs = parse_jsonl(js) if os.path.exists(js) else []
        flows = [o for o in objs if o.get("type") == "flow" and
                 "reassembly_cap" in o["tls"]["anomalies"]]
        chains = {o["chain_id"]: o for o in objs if o.get("type") == "chain"}
        check(len(flows) == 1, "%s: one flow with its chain cut (%d)" % (name, len(flows)))
        if len(flows) != 1:
            return None, None
        f = flows[0]
        check(f["tls"]["sni"] == "www.example-bank.test" and len(f["tls"]["chain"]) == 1 and
              "chain_truncated" in f["tls"]["anomalies"],
              "%s: the leaf alone, chain_truncated" % name)
        return f, chains.get(f["tls"]["chain_id"])

    f, c = padded_verdict("cut-alone", None, [PADDED])
    if f is not None:
        sigs = {s["name"]: s["detail"] for s in f["verdict"]["signals"]}
        check(f["verdict"]["result"] == "suspicious" and "untrusted_path" in sigs and
              "reassembly cap" in sigs["untrusted_path"],
              "nothing learned: suspicious, the cut said (%s %s)" % (f["verdict"]["result"], sigs))
        check(c is not None and c["path_valid"] is False and c["path_cached"] == 0,
              "nothing learned: the chain record says path_cached 0")

    # The lab capture first (the genuine server's complete chains), in the same database.
    db = os.path.join(tmp, "learned.db")
    f, c = padded_verdict("cut-after-lab", db, [LAB, PADDED])
    if f is not None:
        check(f["verdict"]["result"] == "consistent" and f["verdict"]["path_valid"] is True and
              not f["verdict"]["signals"],
              "after the lab capture: consistent (%s %s)" % (f["verdict"]["result"],
                                                             f["verdict"]["signals"]))
        check(c is not None and c["path_valid"] is True and c["path_cached"] == 1,
              "the chain record says path_cached 1 (%s)" % (c and c.get("path_cached")))
    n = sql(db, "SELECT COUNT(*) FROM chains WHERE path_valid=1 AND ncerts=1")
    check(n.strip() == "1", "the cut chain is stored as valid (%s)" % n.strip())

    # --intermediates 0: the same captures leave it untrusted, and against the name's baseline
    # (the intermediate's key) its unverifiable issuer reads as a change: a false alarm.
    f, c = padded_verdict("cut-no-learning", None, [LAB, PADDED], ["--intermediates", "0"])
    if f is not None:
        sigs = [s["name"] for s in f["verdict"]["signals"]]
        check(f["verdict"]["result"] in ("suspicious", "substituted") and
              "untrusted_path" in sigs and c is not None and c["path_cached"] == 0,
              "--intermediates 0: untrusted (%s %s)" % (f["verdict"]["result"], sigs))


def test_bad(tmp):
    before = shm_segments()
    r = run([CLI, "analyze", "--anchors-dir", ANCHORS, os.path.join(tmp, "nope.pcap")])
    check(r.returncode != 0 and "nope.pcap" in r.stderr, "analyze: missing capture fails")
    r = run([CLI, "analyze", "--bogus", LATEST])
    check(r.returncode != 0 and "--bogus" in r.stderr, "analyze: bad option fails")
    bad_db = os.path.join(tmp, "no-such-dir", "x.db")
    r = run([CLI, "analyze", "--anchors-dir", ANCHORS, "--db", bad_db, LATEST])
    check(r.returncode != 0 and "x.db" in r.stderr, "analyze: unwritable --db fails")
    junk = os.path.join(tmp, "junk.pcap")
    with open(junk, "w") as f:
        f.write("not a capture\n")
    db = os.path.join(tmp, "junk.db")
    js = os.path.join(tmp, "junk.jsonl")
    r = run([CLI, "analyze", "--anchors-dir", ANCHORS, "--db", db, "--json", js, junk])
    check(r.returncode != 0 and "chainwatch-dp" in r.stderr, "analyze: dataplane failure reported")
    check(not os.path.exists(db) and not os.path.exists(js),
          "no half-written database or JSON after a failed run")
    r = run([CLI, "analyze", "--anchors-dir", ANCHORS, "--trust-store",
             os.path.join(tmp, "none.pem"), "--db", db, LATEST])
    check(r.returncode != 0 and "chainwatchd" in r.stderr, "analyze: chainwatchd failure reported")
    check(not os.path.exists(db), "no database left after chainwatchd failed")
    check(shm_segments() == before, "no shm segment left behind by failed runs")
    r = run([CPD, "--metrics", "nonsense"])
    check(r.returncode != 0 and "--metrics" in r.stderr, "chainwatchd: bad --metrics fails")
    r = run([CPD, "--db"])
    check(r.returncode != 0 and "needs a value" in r.stderr, "chainwatchd: missing value fails")
    for v in ("3", "262145"):
        r = run([CPD, "--chain-cache", v])
        check(r.returncode == 2 and "--chain-cache" in r.stderr and "4..262144" in r.stderr,
              "chainwatchd: --chain-cache %s refused (%s)" % (v, r.stderr.strip()))
        r = run([CLI, "analyze", "--chain-cache", v, LATEST])
        check(r.returncode == 2 and "--chain-cache" in r.stderr,
              "analyze: --chain-cache %s refused (%s)" % (v, r.stderr.strip()))
    r = run([CPD, "--db", bad_db, "--metrics", "off", "--anchors-dir", ANCHORS, "--shm",
             TAG + "-x"])
    check(r.returncode != 0 and "x.db" in r.stderr, "chainwatchd: unwritable --db fails")


def main():
    for tool in ("sqlite3", "curl"):
        if shutil.which(tool) is None:
            print("SKIP: %s not installed" % tool)
            return 77
    tmp = tempfile.mkdtemp(prefix="cpdtest.")
    try:
        test_analyze(tmp)
        test_anonymise(tmp)
        test_metrics_unattached(tmp)
        test_daemon(tmp)
        test_chain_key(tmp)
        test_two_workers(tmp)
        test_learned_intermediates(tmp)
        test_lossless(tmp)
        test_bad(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for n in os.listdir("/dev/shm"):
            if n.startswith("chainwatch." + TAG):
                os.unlink("/dev/shm/" + n)
    if failures:
        print("%d failures:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
