#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""chainwatch interception lab.

Builds three network namespaces (clients, "ISP" router, origin servers),
runs TLS origins, two transparent interceptors (sslsplit, mitmproxy) on the
router, captures the client-facing router interface, drives real TLS clients
through it, writes per-connection ground-truth labels and removes everything.

Called through lab.sh; see docs/LAB.md.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PREFIX = "cw-lab"
STATE_ROOT = "/run/cw-lab"

# ---------------------------------------------------------------- topology
CLI_IP = "198.18.1.2"
CLI_GW = "198.18.1.1"
ISP_SRV_IP = "198.19.0.1"
SRV_LINK_IP = "198.19.0.2"
DNS_IP = "198.19.1.53"
HTTP_IP = "198.19.1.80"
CAP_IFACE = "isp-cli"  # client-facing router interface (the capture point)
SSLSPLIT_PORT = 10443
MITM_PORT = 10444
# Client source ports the runner binds itself (curl, the Python client), one per attempt. The client
# namespace reserves them, so the kernel never hands one to a client that cannot choose its port
# (gnutls-cli, openssl s_client): such a client could otherwise take a port a later attempt binds,
# and two connections would share a 5-tuple (or the bind would fail on a TIME_WAIT socket).
BOUND_PORTS = (41001, 48999)
REQUIRED_TOOLS = ["ip", "iptables", "openssl", "gnutls-serv", "gnutls-cli", "curl",
                  "sslsplit", "mitmdump", "tcpdump", "tshark", "ss"]


@dataclass
class Origin:
    name: str
    ip: str
    server: str  # "openssl" | "gnutls"
    key: str  # "rsa" | "ec"
    backend_port: int
    ports: dict = field(default_factory=dict)  # port -> interceptor or None


ORIGINS = [
    Origin("www.example-bank.test", "198.19.1.10", "openssl", "rsa", 20010, {443: None, 8443: None}),
    Origin("mail.example.test", "198.19.1.11", "gnutls", "ec", 20011, {443: None, 8443: "mitmproxy"}),
    Origin("social.example.test", "198.19.1.12", "openssl", "rsa", 20012, {443: "sslsplit", 8443: None}),
    Origin("video.example.test", "198.19.1.13", "gnutls", "ec", 20013, {443: "sslsplit", 8443: "sslsplit"}),
    Origin("api.example.test", "198.19.1.14", "openssl", "ec", 20014, {443: "mitmproxy", 8443: None}),
]
ORIGIN_BY_NAME = {o.name: o for o in ORIGINS}
INTERCEPTOR_PORT = {"sslsplit": SSLSPLIT_PORT, "mitmproxy": MITM_PORT}


def log(*a):
    print("[lab]", *a, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r


def nsx(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


def proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


# ---------------------------------------------------------------- state / cleanup
class Lab:
    def __init__(self, suffix, out, pki, small, exec_cmd=None):
        self.suffix = suffix
        self.ns_cli = f"{PREFIX}-cli-{suffix}"
        self.ns_isp = f"{PREFIX}-isp-{suffix}"
        self.ns_srv = f"{PREFIX}-srv-{suffix}"
        self.state = os.path.join(STATE_ROOT, suffix)
        self.out = out
        self.work = os.path.join(out, "work")
        self.pki = pki
        self.small = small
        self.exec_cmd = exec_cmd
        self.procs = {}

    # every started process is recorded as "pid starttime name" so clean can
    # kill exactly those processes and nothing else
    def record(self, name, p):
        self.procs[name] = p
        with open(os.path.join(self.state, "pids"), "a") as f:
            f.write(f"{p.pid} {proc_starttime(p.pid)} {name}\n")

    def spawn(self, name, ns, cmd, logname=None, env=None):
        logf = open(os.path.join(self.work, logname or f"{name}.log"), "w")
        p = subprocess.Popen(nsx(ns, *cmd), stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self.record(name, p)
        return p

    def setup_netns(self):
        os.makedirs(self.state, exist_ok=True)
        with open(os.path.join(self.state, "namespaces"), "w") as f:
            f.write("\n".join([self.ns_cli, self.ns_isp, self.ns_srv]) + "\n")
        for ns in (self.ns_cli, self.ns_isp, self.ns_srv):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.ns_cli, "link", "add", "cli0", "type", "veth", "peer", "name", CAP_IFACE,
             "netns", self.ns_isp])
        run(["ip", "-n", self.ns_srv, "link", "add", "srv0", "type", "veth", "peer", "name", "isp-srv",
             "netns", self.ns_isp])
        c = [
            (self.ns_cli, ["addr", "add", f"{CLI_IP}/24", "dev", "cli0"]),
            (self.ns_cli, ["link", "set", "cli0", "up"]),
            (self.ns_cli, ["route", "add", "default", "via", CLI_GW]),
            (self.ns_isp, ["addr", "add", f"{CLI_GW}/24", "dev", CAP_IFACE]),
            (self.ns_isp, ["addr", "add", f"{ISP_SRV_IP}/24", "dev", "isp-srv"]),
            (self.ns_isp, ["link", "set", CAP_IFACE, "up"]),
            (self.ns_isp, ["link", "set", "isp-srv", "up"]),
            (self.ns_isp, ["route", "add", "198.19.1.0/24", "via", SRV_LINK_IP]),
            (self.ns_srv, ["addr", "add", f"{SRV_LINK_IP}/24", "dev", "srv0"]),
            (self.ns_srv, ["link", "set", "srv0", "up"]),
            (self.ns_srv, ["route", "add", "default", "via", ISP_SRV_IP]),
        ]
        for ns, args in c:
            run(["ip", "-n", ns, *args])
        for o in ORIGINS:
            run(["ip", "-n", self.ns_srv, "addr", "add", f"{o.ip}/32", "dev", "lo"])
        for ip in (DNS_IP, HTTP_IP):
            run(["ip", "-n", self.ns_srv, "addr", "add", f"{ip}/32", "dev", "lo"])
        run(nsx(self.ns_isp, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"))
        run(nsx(self.ns_cli, "sh", "-c", "echo %d-%d > /proc/sys/net/ipv4/ip_local_reserved_ports"
                % BOUND_PORTS))
        # no offloads: the capture then shows wire-sized segments
        for ns, dev in ((self.ns_cli, "cli0"), (self.ns_isp, CAP_IFACE)):
            subprocess.run(nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"),
                           capture_output=True)
        # origins: each name on its own address; 443 and 8443 NATed to one backend port
        for o in ORIGINS:
            run(nsx(self.ns_srv, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", o.ip, "-p", "tcp",
                    "-m", "multiport", "--dports", ",".join(str(p) for p in o.ports),
                    "-j", "DNAT", "--to-destination", f"{o.ip}:{o.backend_port}"))
        # interception: REDIRECT selected destinations to the local interceptors
        for o in ORIGINS:
            for port, icpt in o.ports.items():
                if icpt:
                    run(nsx(self.ns_isp, "iptables", "-t", "nat", "-A", "PREROUTING", "-i", CAP_IFACE,
                            "-d", o.ip, "-p", "tcp", "--dport", str(port),
                            "-j", "REDIRECT", "--to-ports", str(INTERCEPTOR_PORT[icpt])))

    def start_services(self):
        k = self.pki
        for o in ORIGINS:
            cert = f"{k}/leaf-{o.name}-chain.pem"
            key = f"{k}/leaf-{o.name}.key"
            if o.server == "openssl":
                cmd = ["openssl", "s_server", "-accept", f"{o.ip}:{o.backend_port}", "-cert", f"{k}/leaf-{o.name}.pem",
                       "-cert_chain", f"{k}/genuine-int.pem", "-key", key, "-www", "-alpn", "http/1.1", "-quiet"]
            else:
                cmd = ["gnutls-serv", "--http", "--port", str(o.backend_port), "--x509certfile", cert,
                       "--x509keyfile", key, "--alpn", "http/1.1", "--disable-client-cert",
                       "--httpdata", f"{self.work}/httpdata.txt"]
            self.spawn(f"origin-{o.name.split('.')[0]}", self.ns_srv, cmd)
        self.spawn("dns", self.ns_srv, [PY, os.path.join(HERE, "lab.py"), "_dns", DNS_IP])
        self.spawn("http", self.ns_srv, [PY, "-m", "http.server", "-b", HTTP_IP, "-d", self.work, "80"])
        # interceptors on the router
        self.spawn("sslsplit", self.ns_isp, [
            "sslsplit", "-u", "root", "-k", f"{k}/icpt-int.key", "-c", f"{k}/icpt-int.pem",
            "-C", f"{k}/icpt-root.pem", "-K", f"{k}/icpt-leafkey.key",
            "-l", f"{self.work}/sslsplit-connect.log", "-M", f"{self.work}/sslsplit-keys.log",
            "ssl", "0.0.0.0", str(SSLSPLIT_PORT)])
        confdir = os.path.join(self.work, "mitmproxy")
        shutil.copytree(os.path.join(k, "mitmproxy"), confdir, dirs_exist_ok=True)
        env = dict(os.environ, HOME=self.work)
        self.spawn("mitmproxy", self.ns_isp, [
            "mitmdump", "--mode", "transparent", "--listen-host", "0.0.0.0", "--listen-port",
            str(MITM_PORT), "--ssl-insecure", "--set", f"confdir={confdir}",
            "--set", "termlog_verbosity=info", "--set", "flow_detail=1"], env=env)
        waits = [(self.ns_srv, o.backend_port) for o in ORIGINS] + [(self.ns_srv, 80)] + \
                [(self.ns_isp, SSLSPLIT_PORT), (self.ns_isp, MITM_PORT)]
        deadline = time.time() + 30
        for ns, port in waits:
            while True:
                r = run(nsx(ns, "ss", "-Hltn", f"sport = :{port}"), check=False)
                if r.stdout.strip():
                    break
                for name, p in self.procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{name} exited early, see {self.work}/{name}.log")
                if time.time() > deadline:
                    raise RuntimeError(f"nothing listens on {ns} port {port}")
                time.sleep(0.1)

    def start_capture(self, pcap):
        p = self.spawn("tcpdump", self.ns_isp, ["tcpdump", "-i", CAP_IFACE, "-n", "-s", "0", "-U", "--immediate-mode",
                                                "-Z", "root", "-w", pcap])
        deadline = time.time() + 10
        logp = os.path.join(self.work, "tcpdump.log")
        while "listening on" not in open(logp).read():
            if p.poll() is not None or time.time() > deadline:
                raise RuntimeError("tcpdump did not start: " + open(logp).read())
            time.sleep(0.05)

    def stop(self, name, sig=signal.SIGTERM, wait=5):
        p = self.procs.get(name)
        if not p or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def clean_suffix(suffix, quiet=False):
    """Kill the recorded processes of one lab run and delete its namespaces."""
    state = os.path.join(STATE_ROOT, suffix)
    pidf = os.path.join(state, "pids")
    victims = []
    if os.path.exists(pidf):
        for line in open(pidf):
            parts = line.split()
            if len(parts) >= 2 and proc_starttime(parts[0]) == parts[1]:
                victims.append(int(parts[0]))
    nss = [f"{PREFIX}-{r}-{suffix}" for r in ("cli", "isp", "srv")]
    existing = set(run(["ip", "netns", "list"], check=False).stdout.split())
    for ns in nss:
        if ns in existing:
            # anything still inside a lab namespace was started by this lab run
            r = run(["ip", "netns", "pids", ns], check=False)
            victims += [int(x) for x in r.stdout.split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in set(victims):
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            break
        for _ in range(30):
            if not any(os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split(") ")[1][0] != "Z"
                       for pid in alive):
                break
            time.sleep(0.1)
    for ns in nss:
        if ns in existing:
            run(["ip", "netns", "del", ns], check=False)
    shutil.rmtree(state, ignore_errors=True)
    try:
        os.rmdir(STATE_ROOT)  # only when no other lab run is active
    except OSError:
        pass
    if not quiet:
        log(f"cleaned lab {suffix}")


def lab_suffixes():
    s = set()
    if os.path.isdir(STATE_ROOT):
        s.update(os.listdir(STATE_ROOT))
    for ns in run(["ip", "netns", "list"], check=False).stdout.split():
        m = re.match(rf"^{PREFIX}-(?:cli|isp|srv)-(.+)$", ns)
        if m:
            s.add(m.group(1))
    return sorted(s)


# ---------------------------------------------------------------- workload
@dataclass
class Attempt:
    tool: str  # openssl | gnutls | python | curl
    name: str
    port: int
    version: str  # TLSv1.2 | TLSv1.3 | auto
    sni: bool = True
    alpn: tuple = ()
    verify: bool = False
    resume: str = None  # None | "out" | "in"
    request: bool = False


def build_plan(small, rounds=1):
    return [a for _ in range(rounds) for a in _plan(small)]


def _plan(small):
    P = []
    if small:
        for o in ORIGINS:
            for port in o.ports:
                P.append(Attempt("openssl", o.name, port, "TLSv1.2", alpn=("h2", "http/1.1")))
                P.append(Attempt("openssl", o.name, port, "TLSv1.3"))
        P += [
            Attempt("curl", "www.example-bank.test", 443, "auto", verify=True, alpn=("h2", "http/1.1")),
            Attempt("curl", "social.example.test", 443, "auto", verify=True),
            Attempt("curl", "api.example.test", 443, "TLSv1.3", verify=True, alpn=("h2", "http/1.1")),
            Attempt("curl", "mail.example.test", 8443, "TLSv1.2", verify=False),
            Attempt("curl", "video.example.test", 8443, "auto", verify=False, alpn=("http/1.1",)),
            Attempt("gnutls", "social.example.test", 443, "TLSv1.2", alpn=("h2", "http/1.1")),
            Attempt("gnutls", "mail.example.test", 443, "TLSv1.3", verify=True),
            Attempt("gnutls", "api.example.test", 443, "TLSv1.3", verify=True),
            Attempt("gnutls", "video.example.test", 443, "auto", sni=False),
            Attempt("python", "api.example.test", 443, "TLSv1.2", sni=False),
            Attempt("python", "www.example-bank.test", 443, "TLSv1.3", verify=True, alpn=("h2", "http/1.1")),
            Attempt("python", "social.example.test", 8443, "auto", verify=True),
            Attempt("openssl", "www.example-bank.test", 443, "TLSv1.3", resume="out", request=True),
            Attempt("openssl", "www.example-bank.test", 443, "TLSv1.3", resume="in", request=True),
            Attempt("openssl", "social.example.test", 443, "TLSv1.2", resume="out", request=True),
            Attempt("openssl", "social.example.test", 443, "TLSv1.2", resume="in", request=True),
            Attempt("openssl", "api.example.test", 443, "TLSv1.3", resume="out", request=True),
            Attempt("openssl", "api.example.test", 443, "TLSv1.3", resume="in", request=True),
            Attempt("openssl", "mail.example.test", 8443, "auto", sni=False, verify=True),
        ]
        return P
    alpns = [("h2", "http/1.1"), ("http/1.1",), ()]
    i = 0
    for o in ORIGINS:
        for port in o.ports:
            for tool in ("openssl", "gnutls", "python", "curl"):
                for ver in ("TLSv1.2", "TLSv1.3", "auto"):
                    i += 1
                    P.append(Attempt(tool, o.name, port, ver, alpn=alpns[(i + i // 3) % 3], verify=(i % 2 == 0),
                                     request=(tool == "curl" or i % 5 == 0)))
            for tool in ("openssl", "gnutls", "python", "curl"):
                P.append(Attempt(tool, o.name, port, "auto", sni=False))
            for ver in ("TLSv1.2", "TLSv1.3"):
                P.append(Attempt("openssl", o.name, port, ver, resume="out", request=True))
                P.append(Attempt("openssl", o.name, port, ver, resume="in", request=True))
    return P


PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s+(.*?)-----END CERTIFICATE-----", re.S)


def pem_chain_sha256(text):
    return [hashlib.sha256(base64.b64decode("".join(b.split()))).hexdigest() for b in PEM_RE.findall(text)]


def http_req(name):
    return f"GET / HTTP/1.0\r\nHost: {name}\r\n\r\n"


class Runner:
    def __init__(self, lab):
        self.lab = lab
        self.root = os.path.join(lab.pki, "genuine-root.pem")
        self.sess = os.path.join(lab.work, "sessions")
        os.makedirs(self.sess, exist_ok=True)
        self.port_seq = BOUND_PORTS[0] - 1

    def attempt(self, a: Attempt):
        o = ORIGIN_BY_NAME[a.name]
        rec = {
            "src_ip": CLI_IP, "src_port": None, "dst_ip": o.ip, "dst_port": a.port,
            "sni": a.name if a.sni else None, "requested_version": a.version,
            "negotiated_version": None, "tool": a.tool,
            "intercepted": o.ports[a.port] is not None, "interceptor": o.ports[a.port],
            "client_verified": None, "chain_sha256": [],
            "alpn_offered": list(a.alpn), "alpn_negotiated": None, "resumed": False,
            "chain_complete": True, "handshake_ok": False,
        }
        t0 = time.time()
        getattr(self, "run_" + a.tool)(a, o, rec)
        rec["t_start"] = round(t0, 6)
        rec["t_end"] = round(time.time(), 6)
        return rec

    def next_port(self):
        if self.port_seq >= BOUND_PORTS[1]:
            raise RuntimeError("more bound-port attempts than BOUND_PORTS holds")
        self.port_seq += 1
        return self.port_seq

    def cli(self, cmd, inp=None, timeout=20):
        try:
            return subprocess.run(nsx(self.lab.ns_cli, *cmd), input=inp, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(cmd, 124, e.stdout or "", e.stderr or "")

    def run_openssl(self, a, o, rec):
        cmd = ["openssl", "s_client", "-connect", f"{o.ip}:{a.port}", "-showcerts", "-CAfile", self.root]
        cmd += ["-servername", a.name] if a.sni else ["-noservername"]
        if a.version == "TLSv1.2":
            cmd.append("-tls1_2")
        elif a.version == "TLSv1.3":
            cmd.append("-tls1_3")
        if a.alpn:
            cmd += ["-alpn", ",".join(a.alpn)]
        if a.verify:
            cmd += ["-verify_return_error", "-verify_hostname", a.name]
        sessf = os.path.join(self.sess, f"{a.name}-{a.port}-{a.version}.sess")
        if a.resume == "out":
            cmd += ["-sess_out", sessf]
        elif a.resume == "in":
            if os.path.exists(sessf):
                cmd += ["-sess_in", sessf]
        if a.request:
            cmd.append("-ign_eof")
        r = self.cli(cmd, inp=http_req(a.name) if a.request else "")
        out = r.stdout
        m = re.search(r"^(New|Reused), (TLSv1\.\d|\(NONE\))", out, re.M)
        if m and m.group(2) != "(NONE)":
            rec["negotiated_version"] = m.group(2)
            rec["resumed"] = m.group(1) == "Reused"
            rec["handshake_ok"] = True
        m = re.search(r"^ALPN protocol: (\S+)", out, re.M)
        rec["alpn_negotiated"] = m.group(1) if m else None
        if "Certificate chain" in out:
            rec["chain_sha256"] = pem_chain_sha256(out.split("Certificate chain", 1)[1].split("---\nServer certificate")[0])
        if a.verify:
            vm = re.search(r"Verify return code: (\d+)", out)
            rec["client_verified"] = bool(rec["handshake_ok"] and vm and vm.group(1) == "0")
        rec["exit"] = r.returncode

    def run_gnutls(self, a, o, rec):
        prio = {"TLSv1.2": "NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLSv1.3": "NORMAL:-VERS-ALL:+VERS-TLS1.3",
                "auto": "NORMAL"}[a.version]
        cmd = ["gnutls-cli", "-p", str(a.port), o.ip, "--print-cert", "--priority", prio]
        cmd += ["--sni-hostname", a.name] if a.sni else ["--disable-sni"]
        for p in a.alpn:
            cmd += ["--alpn", p]
        if a.verify:
            cmd += ["--x509cafile", self.root, "--verify-hostname", a.name]
        else:
            cmd += ["--insecure"]
        r = self.cli(cmd, inp=http_req(a.name) if a.request else "")
        out = r.stdout + r.stderr
        m = re.search(r"- Description: \((TLS1\.\d)", out)
        if m:
            rec["negotiated_version"] = "TLSv" + m.group(1)[3:]
            rec["handshake_ok"] = True
        m = re.search(r"- Application protocol: (\S+)", out)
        rec["alpn_negotiated"] = m.group(1) if m else None
        rec["chain_sha256"] = pem_chain_sha256(out)
        if a.verify:
            ok = rec["handshake_ok"] and "- Status: The certificate is trusted." in out
            rec["client_verified"] = bool(ok)
            if not ok:
                rec["handshake_ok"] = False  # gnutls-cli aborts on a failed verification
        rec["exit"] = r.returncode

    def run_python(self, a, o, rec):
        port = self.next_port()
        args = [PY, os.path.join(HERE, "lab.py"), "_pyclient", o.ip, str(a.port), str(port),
                a.name if a.sni else "", a.version, ",".join(a.alpn), self.root if a.verify else "",
                "1" if a.request else ""]
        r = self.cli(args)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            res = {"error": r.stdout + r.stderr}
        rec["src_port"] = port
        rec["negotiated_version"] = res.get("version")
        rec["handshake_ok"] = res.get("version") is not None
        rec["alpn_negotiated"] = res.get("alpn")
        rec["chain_sha256"] = res.get("chain", [])
        rec["chain_complete"] = False  # Python 3.11 ssl exposes only the leaf
        if a.verify:
            rec["client_verified"] = bool(res.get("verified"))
        if "error" in res:
            rec["error"] = res["error"][:200]

    def run_curl(self, a, o, rec):
        port = self.next_port()
        url = f"https://{a.name}:{a.port}/" if a.sni else f"https://{o.ip}:{a.port}/"
        cmd = ["curl", "-sS", "-v", "-o", "/dev/null", "--max-time", "10", "--local-port", str(port),
               "--resolve", f"{a.name}:{a.port}:{o.ip}", "-w", "%{certs}\n@@ssl_verify=%{ssl_verify_result}\n"]
        if a.version == "TLSv1.2":
            cmd += ["--tlsv1.2", "--tls-max", "1.2"]
        elif a.version == "TLSv1.3":
            cmd += ["--tlsv1.3"]
        if a.alpn == ("h2", "http/1.1"):
            cmd.append("--http2")
        elif a.alpn == ("http/1.1",):
            cmd.append("--http1.1")
        else:
            cmd.append("--no-alpn")
        cmd += ["--cacert", self.root] if a.verify else ["-k"]
        cmd.append(url)
        r = self.cli(cmd)
        rec["src_port"] = port
        m = re.search(r"SSL connection using (TLSv1\.\d)", r.stderr)
        if m:
            rec["negotiated_version"] = m.group(1)
            rec["handshake_ok"] = True
        m = re.search(r"ALPN: server accepted (\S+)", r.stderr)
        rec["alpn_negotiated"] = m.group(1) if m else None
        rec["chain_sha256"] = pem_chain_sha256(r.stdout)
        if a.verify:
            rec["client_verified"] = r.returncode == 0
            if r.returncode == 60:
                rec["handshake_ok"] = False
        rec["exit"] = r.returncode

    def noise(self):
        """Non-TLS traffic through the capture point: DNS, plain HTTP, ICMP, raw UDP."""
        recs = []
        r = self.cli([PY, os.path.join(HERE, "lab.py"), "_noise", DNS_IP, HTTP_IP, CLI_GW])
        for line in r.stdout.splitlines():
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
        return recs


# ---------------------------------------------------------------- helpers run inside namespaces
def cmd_pyclient(argv):
    ip, port, sport, sni, version, alpn, cafile, request = argv
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = bool(sni)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version == "TLSv1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "TLSv1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    if alpn:
        ctx.set_alpn_protocols(alpn.split(","))
    res = {}
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((CLI_IP, int(sport)))
    s.settimeout(10)
    try:
        s.connect((ip, int(port)))
        t = ctx.wrap_socket(s, server_hostname=sni or None)
        res["version"] = t.version()
        res["alpn"] = t.selected_alpn_protocol()
        der = t.getpeercert(binary_form=True)
        res["chain"] = [hashlib.sha256(der).hexdigest()] if der else []
        res["verified"] = bool(cafile)
        if request:
            t.sendall(http_req(sni or ip).encode())
            try:
                while t.recv(4096):
                    pass
            except (OSError, ssl.SSLError):
                pass
        t.close()
    except ssl.SSLCertVerificationError as e:
        res["verified"] = False
        res["error"] = str(e)
    except (OSError, ssl.SSLError) as e:
        res["error"] = str(e)
    finally:
        s.close()
    print(json.dumps(res))


def dns_query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return q + struct.pack(">HH", 1, 1)


def cmd_dns(argv):
    """A tiny authoritative responder for *.test (A records of the lab origins)."""
    table = {o.name: o.ip for o in ORIGINS}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((argv[0], 53))
    while True:
        data, peer = s.recvfrom(2048)
        if len(data) < 12:
            continue
        qid = struct.unpack(">H", data[:2])[0]
        i, labels = 12, []
        while i < len(data) and data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode(errors="replace"))
            i += 1 + data[i]
        qname = ".".join(labels)
        question = data[12:i + 5]
        ip = table.get(qname)
        flags = 0x8400 if ip else 0x8403
        resp = struct.pack(">HHHHHH", qid, flags, 1, 1 if ip else 0, 0, 0) + question
        if ip:
            resp += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
        s.sendto(resp, peer)


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def cmd_noise(argv):
    dns_ip, http_ip, gw = argv
    out = []
    for i, name in enumerate(["www.example-bank.test", "social.example.test", "nonexistent.test"]):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(dns_query(name, 0x4000 + i), (dns_ip, 53))
        try:
            data = s.recv(2048)
            ok = len(data) > 12 and (data[3] & 0x0F) == 0
        except OSError:
            ok = False
        out.append({"kind": "dns", "dst_ip": dns_ip, "dst_port": 53, "src_port": s.getsockname()[1],
                    "qname": name, "answered": ok})
        s.close()
    s = socket.create_connection((http_ip, 80), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\nHost: plain.example.test\r\n\r\n")
    resp = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        resp += d
    out.append({"kind": "http", "dst_ip": http_ip, "dst_port": 80, "src_port": s.getsockname()[1],
                "status": resp.split(b"\r\n", 1)[0].decode(errors="replace")})
    s.close()
    for dst in (gw, http_ip):
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.settimeout(2)
        body = b"chainwatch-lab"
        hdr = struct.pack(">BBHHH", 8, 0, 0, 0x1234, 1)
        pkt = struct.pack(">BBHHH", 8, 0, icmp_checksum(hdr + body), 0x1234, 1) + body
        s.sendto(pkt, (dst, 0))
        try:
            s.recv(2048)
            ok = True
        except OSError:
            ok = False
        out.append({"kind": "icmp", "dst_ip": dst, "answered": ok})
        s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"\x16\x03\x01 not-tls-just-udp", (http_ip, 4433))
    out.append({"kind": "udp", "dst_ip": http_ip, "dst_port": 4433, "src_port": s.getsockname()[1]})
    s.close()
    for o in out:
        print(json.dumps(o))


# ---------------------------------------------------------------- pcap analysis
def tshark(pcap, filt, fields):
    cmd = ["tshark", "-r", pcap, "-n", "-d", "tcp.port==8443,tls", "-Y", filt, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    r = run(cmd)
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


def analyse_pcap(pcap):
    """Per TCP stream: SYN time/ports, ClientHello/ServerHello facts, certificate chain (cleartext only)."""
    streams = {}
    for t, src, sport, dst, dport, st in tshark(pcap, "tcp.flags.syn==1 && tcp.flags.ack==0",
                                                  ["frame.time_epoch", "ip.src", "tcp.srcport", "ip.dst",
                                                   "tcp.dstport", "tcp.stream"]):
        streams.setdefault(int(st), {"t_syn": float(t), "src_ip": src, "src_port": int(sport),
                                     "dst_ip": dst, "dst_port": int(dport)})
    for row in tshark(pcap, "tls.handshake.type==1", ["tcp.stream", "tls.handshake.extensions_server_name",
                                                       "tls.handshake.ja3"]):
        st = streams.setdefault(int(row[0]), {})
        st["client_hellos"] = st.get("client_hellos", 0) + 1
        st["ch_sni"] = row[1] or None
        st["ja3"] = row[2]
    for row in tshark(pcap, "tls.handshake.type==2",
                      ["tcp.stream", "tls.handshake.version", "tls.handshake.extensions.supported_version",
                       "tls.handshake.ciphersuite", "tls.handshake.extensions_alpn_str", "tls.handshake.ja3s",
                       "tls.handshake.extensions_length"]):
        st = streams.setdefault(int(row[0]), {})
        sv = row[2] or row[1]
        st["sh_version"] = {"0x0304": "TLSv1.3", "0x0303": "TLSv1.2"}.get(sv, sv)
        st["sh_cipher"] = row[3]
        st["sh_alpn"] = row[4] or None
        st["ja3s"] = row[5]
    for row in tshark(pcap, "tls.handshake.type==11", ["tcp.stream", "tls.handshake.certificate"]):
        st = streams.setdefault(int(row[0]), {})
        st["chain_sha256"] = [hashlib.sha256(bytes.fromhex(c.replace(":", ""))).hexdigest()
                              for c in row[1].split(",") if c]
    for row in tshark(pcap, "tls.alert_message", ["tcp.stream", "tls.alert_message.desc"]):
        streams.setdefault(int(row[0]), {}).setdefault("alerts", []).extend(row[1].split(","))
    return streams


def postprocess(lab, recs, pcap):
    """Fill src_port from the capture where the client could not bind it, then check the labels."""
    streams = analyse_pcap(pcap)
    # A source port comes back, even towards the same destination (the server closed first, so the
    # client holds no TIME_WAIT): match each attempt to its own stream by destination and the time
    # of its SYN (attempts run one after another), and keep that stream for the checks below.
    syns = sorted((s["t_syn"], k) for k, s in streams.items() if "t_syn" in s and s["dst_port"] != 80)
    used = set()
    errors = []
    stream_of = {}
    for i, r in enumerate(recs):
        cand = [k for t, k in syns if k not in used and r["t_start"] - 0.002 <= t <= r["t_end"] + 0.002
                and streams[k]["dst_ip"] == r["dst_ip"] and streams[k]["dst_port"] == r["dst_port"]
                and r["src_port"] in (None, streams[k]["src_port"])]
        if r["src_port"] is not None:
            if not cand:
                errors.append(f"no SYN in capture for bound port {r['src_port']} ({r['tool']} {r['dst_ip']}:{r['dst_port']})")
                continue
            r["src_port_source"] = "bound"
        elif len(cand) != 1:
            errors.append(f"{len(cand)} candidate SYNs for {r['tool']} {r['dst_ip']}:{r['dst_port']} at {r['t_start']}")
            continue
        else:
            r["src_port"] = streams[cand[0]]["src_port"]
            r["src_port_source"] = "pcap-time-match"
        used.add(cand[0])
        stream_of[i] = streams[cand[0]]
    # a client that aborts on a bad chain does not report the version; the ServerHello does
    for i, r in enumerate(recs):
        st = stream_of.get(i, {})
        r["wire_version"] = st.get("sh_version")
        if r["negotiated_version"] is None and st.get("sh_version"):
            r["negotiated_version"] = st["sh_version"]
            r["negotiated_version_source"] = "pcap"
        elif r["negotiated_version"] and st.get("sh_version") and r["negotiated_version"] != st["sh_version"]:
            errors.append(f"version mismatch on port {r['src_port']}: client {r['negotiated_version']} wire {st['sh_version']}")
    # TLS 1.2: the client's view of the chain must equal the cleartext Certificate message
    checked = 0
    for i, r in enumerate(recs):
        if r["src_port"] is None or r["negotiated_version"] != "TLSv1.2" or r["resumed"] or not r["chain_sha256"]:
            continue
        st = stream_of.get(i, {})
        wire = st.get("chain_sha256")
        want = wire[:1] if not r["chain_complete"] else wire
        if wire is None or want != r["chain_sha256"]:
            errors.append(f"TLS1.2 chain mismatch on port {r['src_port']}: client {r['chain_sha256']} wire {wire}")
        else:
            checked += 1
            r["chain_checked_against_pcap"] = True
    # ground truth vs what the client saw: a forged leaf is never one of the lab's genuine leaves
    genuine = set()
    for o in ORIGINS:
        der = ssl.PEM_cert_to_DER_cert(open(f"{lab.pki}/leaf-{o.name}.pem").read())
        genuine.add(hashlib.sha256(der).hexdigest())
    for r in recs:
        if r["chain_sha256"]:
            forged = r["chain_sha256"][0] not in genuine
            if forged != r["intercepted"]:
                errors.append(f"label intercepted={r['intercepted']} but leaf forged={forged} (port {r['src_port']})")
    return streams, checked, errors


# ---------------------------------------------------------------- main flows
def check_tools(skip_code=None):
    """Exit when a tool is missing or we are not root; with skip_code (77 = meson 'skipped') for the selftest."""
    missing = [t for t in REQUIRED_TOOLS if not shutil.which(t)]
    why = None
    if missing:
        why = "missing tools: " + " ".join(missing) + " (see docs/LAB.md for the apt-get line)"
    elif os.geteuid() != 0:
        why = "the lab needs root (network namespaces)"
    if why:
        print(("SKIP: " if skip_code else "") + why, file=sys.stderr)
        raise SystemExit(skip_code or 2)


def do_run(args):
    check_tools()
    suffix = args.suffix or f"{os.getpid()}{random.randint(0, 999):03d}"
    if not re.fullmatch(r"[A-Za-z0-9]{1,24}", suffix):
        raise SystemExit("--suffix: 1-24 letters/digits")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    pki = os.path.abspath(args.pki) if args.pki else os.path.join(out, "pki")
    run(["bash", os.path.join(HERE, "pki.sh"), pki])
    lab = Lab(suffix, out, pki, args.small, args.exec_in_isp)
    os.makedirs(lab.work, exist_ok=True)
    with open(os.path.join(lab.work, "httpdata.txt"), "w") as f:
        f.write("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")
    with open(os.path.join(lab.work, "index.html"), "w") as f:
        f.write("plain http\n")
    pcap = os.path.join(out, "capture.pcap")

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    t_begin = time.time()
    summary = {"suffix": suffix, "namespaces": [lab.ns_cli, lab.ns_isp, lab.ns_srv], "capture_iface": CAP_IFACE}
    ok = False
    try:
        log(f"lab {suffix}: namespaces {lab.ns_cli} {lab.ns_isp} {lab.ns_srv}")
        lab.setup_netns()
        lab.start_services()
        lab.start_capture(pcap)
        t_ready = time.time()
        execp = None
        if args.exec_in_isp:
            env = dict(os.environ, CW_LAB_IFACE=CAP_IFACE, CW_LAB_OUT=out, CW_LAB_NS=lab.ns_isp,
                       CW_LAB_TRUST=os.path.join(pki, "genuine-root.pem"))
            execp = lab.spawn("exec-in-isp", lab.ns_isp, ["bash", "-c", args.exec_in_isp], env=env)
            time.sleep(args.exec_delay)
        runner = Runner(lab)
        plan = build_plan(args.small, args.rounds)
        recs = []
        log(f"workload: {len(plan)} TLS connection attempts")
        for a in plan:
            recs.append(runner.attempt(a))
        noise = runner.noise()
        time.sleep(0.5)
        t_work = time.time()
        if execp:
            if execp.poll() is None:
                time.sleep(args.exec_grace)
            lab.stop("exec-in-isp", signal.SIGINT, wait=10)
            summary["exec_in_isp_rc"] = execp.returncode
        lab.stop("tcpdump", signal.SIGINT)
        streams, checked, errors = postprocess(lab, recs, pcap)
        labels = os.path.join(out, "labels.jsonl")
        with open(labels, "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(out, "noise.jsonl"), "w") as f:
            for r in noise:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(out, "streams.json"), "w") as f:
            json.dump({str(k): v for k, v in sorted(streams.items())}, f, indent=1)
        hello_streams = sum(1 for s in streams.values() if s.get("client_hellos"))
        summary.update({
            "attempts": len(recs),
            "handshakes_ok": sum(r["handshake_ok"] for r in recs),
            "client_hello_streams": hello_streams,
            "intercepted": {k: sum(1 for r in recs if r["interceptor"] == k) for k in ("sslsplit", "mitmproxy")},
            "genuine": sum(1 for r in recs if not r["intercepted"]),
            "by_version": {v: sum(1 for r in recs if r["negotiated_version"] == v) for v in ("TLSv1.2", "TLSv1.3")},
            "tls12_chains_checked": checked,
            "errors": errors,
            "seconds_setup": round(t_ready - t_begin, 1),
            "seconds_workload": round(t_work - t_ready, 1),
            "pcap_bytes": os.path.getsize(pcap),
            "pki": pki,
        })
        if hello_streams != len(recs):
            errors.append(f"{hello_streams} streams with a ClientHello but {len(recs)} labels")
        ok = not errors
    finally:
        if args.keep:
            log(f"--keep: lab left up; remove with: tools/lab/lab.sh clean --suffix {suffix}")
        else:
            if os.path.exists(os.path.join(lab.state, "pids")):
                shutil.copy(os.path.join(lab.state, "pids"), os.path.join(lab.work, "pids.copy"))
            for name in list(lab.procs):
                lab.stop(name)
            clean_suffix(suffix, quiet=True)
        summary["seconds_total"] = round(time.time() - t_begin, 1)
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    if not args.keep_work and not args.keep:
        shutil.rmtree(lab.work, ignore_errors=True)
    for e in summary.get("errors", []):
        log("ERROR:", e)
    log(json.dumps({k: v for k, v in summary.items() if k != "errors"}))
    return 0 if ok else 1


def do_selftest(args):
    out = tempfile.mkdtemp(prefix="cw-lab-selftest-")
    suffix = f"st{os.getpid()}"
    failures, passes = [], 0

    def check(cond, what):
        nonlocal passes
        if cond:
            passes += 1
            print(f"ok - {what}")
        else:
            failures.append(what)
            print(f"not ok - {what}")

    try:
        ns = argparse.Namespace(out=out, small=True, rounds=1, keep=False, keep_work=True, pki=None, suffix=suffix,
                                exec_in_isp="tcpdump -c 1 -i \"$CW_LAB_IFACE\" -w \"$CW_LAB_OUT/exec.pcap\" tcp",
                                exec_delay=0.5, exec_grace=0.5)
        rc = do_run(ns)
        check(rc == 0, "lab run succeeded (labels consistent with capture)")
        summ = json.load(open(os.path.join(out, "summary.json")))
        recs = [json.loads(line) for line in open(os.path.join(out, "labels.jsonl"))]
        check(summ["client_hello_streams"] == len(recs) and len(recs) >= 20,
              f"{summ['client_hello_streams']} TLS handshakes in pcap == {len(recs)} labels")
        for icpt in ("sslsplit", "mitmproxy"):
            check(any(r["interceptor"] == icpt and r["handshake_ok"] for r in recs),
                  f"intercepted flow via {icpt}")
            check(any(r["dst_ip"] == next(o.ip for o in ORIGINS if icpt in o.ports.values())
                      and not r["intercepted"] and r["handshake_ok"] for r in recs),
                  f"genuine flow to a host that {icpt} intercepts on another port")
        check(any(not r["intercepted"] and r["handshake_ok"] for r in recs), "genuine flows")
        for v in ("TLSv1.2", "TLSv1.3"):
            check(any(r["negotiated_version"] == v and r["intercepted"] for r in recs), f"intercepted {v} flow")
            check(any(r["negotiated_version"] == v and not r["intercepted"] for r in recs), f"genuine {v} flow")
        check(summ["tls12_chains_checked"] > 0 and not summ["errors"],
              f"TLS1.2 chains checked against pcap: {summ['tls12_chains_checked']}")
        check(any(r["client_verified"] is False and r["intercepted"] for r in recs),
              "a verifying client rejected a forged chain")
        check(any(r["client_verified"] is True and not r["intercepted"] for r in recs),
              "a verifying client accepted a genuine chain")
        check(any(r["resumed"] for r in recs), "session resumption happened")
        lo, hi = BOUND_PORTS
        check(all((lo <= r["src_port"] <= hi) == (r.get("src_port_source") == "bound")
                  for r in recs if r["src_port"] is not None),
              f"bound source ports inside {lo}-{hi} (reserved), kernel-chosen ones outside")
        check(os.path.exists(os.path.join(out, "exec.pcap")) and summ.get("exec_in_isp_rc") == 0,
              "--exec-in-isp command ran with CW_LAB_IFACE")
        left = [n for n in run(["ip", "netns", "list"]).stdout.split() if n.endswith("-" + suffix)]
        check(not left, "no lab namespaces left")
        check(not os.path.exists(os.path.join(STATE_ROOT, suffix)), "state removed")
        stray = []
        pidlog = os.path.join(out, "work", "pids.copy")
        if os.path.exists(pidlog):
            for line in open(pidlog):
                pid, st, name = line.split()[:3]
                if proc_starttime(pid) == st:
                    stray.append(name)
        check(os.path.exists(pidlog) and not stray, f"no stray processes {stray}")
    finally:
        if not failures:
            shutil.rmtree(out, ignore_errors=True)
        else:
            print(f"# output kept in {out}")
        clean_suffix(suffix, quiet=True)
    print(f"{passes} passed, {len(failures)} failed")
    return 1 if failures else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        return {"_pyclient": cmd_pyclient, "_dns": cmd_dns, "_noise": cmd_noise}[sys.argv[1]](sys.argv[2:])
    ap = argparse.ArgumentParser(prog="lab.sh", description="chainwatch TLS interception lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="build the lab, run the workload, capture, label, tear down")
    r.add_argument("--out", required=True, help="output directory (capture.pcap, labels.jsonl, ...)")
    r.add_argument("--small", action="store_true", help="small workload (bundled capture)")
    r.add_argument("--rounds", type=int, default=1, help="repeat the workload N times")
    r.add_argument("--keep", action="store_true", help="leave namespaces and daemons up afterwards")
    r.add_argument("--keep-work", action="store_true", help="keep OUT/work (daemon logs, sessions)")
    r.add_argument("--pki", help="PKI directory to reuse (created if missing); default OUT/pki")
    r.add_argument("--suffix", default=os.environ.get("CW_LAB_SUFFIX"), help="namespace suffix (default: pid-based)")
    r.add_argument("--exec-in-isp", metavar="CMD", help="run CMD (bash -c) in the ISP namespace during the workload; "
                   "env: CW_LAB_IFACE, CW_LAB_OUT, CW_LAB_NS, CW_LAB_TRUST")
    r.add_argument("--exec-delay", type=float, default=1.0, help="seconds between starting CMD and the workload")
    r.add_argument("--exec-grace", type=float, default=2.0, help="seconds CMD may run on after the workload before SIGINT")
    c = sub.add_parser("clean", help="remove leftover lab namespaces and kill recorded processes")
    c.add_argument("--suffix", default=os.environ.get("CW_LAB_SUFFIX"), help="only this run (default: all cw-lab runs)")
    sub.add_parser("selftest", help="run a small lab and check capture, labels and cleanup")
    args = ap.parse_args()
    if args.cmd == "run":
        return do_run(args)
    if args.cmd == "clean":
        for s in ([args.suffix] if args.suffix else lab_suffixes()):
            clean_suffix(s)
        return 0
    check_tools(skip_code=77)
    return do_selftest(args)


if __name__ == "__main__":
    sys.exit(main())
