#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Rate of DPDK counters over a steady-state window, read from the EAL telemetry socket.

Usage: dp-rate.py FILE_PREFIX COMMAND FIELD [FIELD...] [--warmup S] [--duration S] [--timeout S]
                  [--pid PID]

Waits for /var/run/dpdk/FILE_PREFIX/dpdk_telemetry.v2, waits until FIELD[0] is non-zero (the
application is receiving) plus --warmup seconds, samples COMMAND, sleeps --duration seconds,
samples again and prints one line "FIELD=per_second ..." (e.g. /ethdev/stats,0 ipackets, or
/chainwatch/stats rx_packets handshakes_done). Exit status 1 if the socket never appears, or
if process PID (--pid: the application) exits first.
"""
import argparse
import json
import os
import socket
import sys
import time


def query(path, cmd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.recv(16384)  # greeting: version, pid, max_output_len
    s.send(cmd.encode())
    data = json.loads(s.recv(1 << 20).decode())
    s.close()
    val = data.get(cmd.split(',')[0])
    return val if isinstance(val, dict) else {}


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('prefix')
    ap.add_argument('command')
    ap.add_argument('fields', nargs='+')
    ap.add_argument('--warmup', type=float, default=2.0)
    ap.add_argument('--duration', type=float, default=5.0)
    ap.add_argument('--timeout', type=float, default=120.0)
    ap.add_argument('--pid', type=int, default=0)
    a = ap.parse_args()
    runtime = os.environ.get('XDG_RUNTIME_DIR') if os.getuid() != 0 else None
    base = os.path.join(runtime or '/var/run', 'dpdk', a.prefix, 'dpdk_telemetry.v2')
    deadline = time.monotonic() + a.timeout
    first = None
    while time.monotonic() < deadline:
        try:
            v = query(base, a.command)
            if int(v.get(a.fields[0], 0)) > 0:
                first = v
                break
        except (OSError, ValueError):
            pass
        if a.pid and not alive(a.pid):
            sys.exit('dp-rate: process %d exited before its telemetry answered' % a.pid)
        time.sleep(0.2)
    if first is None:
        sys.exit('dp-rate: no telemetry from %s within %.0f s' % (base, a.timeout))
    time.sleep(a.warmup)
    t0, v0 = time.monotonic(), query(base, a.command)
    time.sleep(a.duration)
    t1, v1 = time.monotonic(), query(base, a.command)
    dt = t1 - t0
    print(' '.join('%s=%.1f' % (f, (int(v1.get(f, 0)) - int(v0.get(f, 0))) / dt) for f in a.fields))


if __name__ == '__main__':
    main()
