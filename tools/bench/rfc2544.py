#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""RFC 2544-style throughput search: the highest rate cw-txgen can offer chainwatch-dp with zero loss.

Starts chainwatch-dp once (it keeps running; its counters are read as deltas around each trial),
then runs cw-txgen once per trial: first with --max, whose sent rate is the upper bound, then paced
trials of --duration seconds in a binary search until the bounds are within --resolution. A trial
passes when

    loss = offered - received + dp_drops <= tolerance x offered

where offered is cw-txgen's sent + tx_failed (frames its TX queue did not take were offered and
never arrived), received is the delta of chainwatch-dp's rx_packets and dp_drops the delta of the
frames it received but did not process (dispatch_dropped). The port's imissed/ierrors/rx_nombuf
deltas are printed too; they are already part of offered - received. A paced trial also fails
when it offered less than (1 - resolution) x its target. A trial in which cw-txgen's
send loop was descheduled for more than --max-stall of the time (a busy host) is run again, up
to --retries times; the result is the offered rate of the fastest passing trial.

Wiring (default): a net_memif shared-memory wire on this machine, chainwatch-dp as the memif
server on --dp-cpu, cw-txgen as the client on --tx-cpu, both with --no-huge. Lab hardware (two
NICs cabled back to back): give each process its EAL arguments with --dp-eal and --tx-eal
(lcores, device, memory); the memif defaults are then not used.

  tools/bench/rfc2544.py --pcap build-bench/bench-cache/realistic.pcap
  tools/bench/rfc2544.py --pcap mix.pcap --dp-eal "-l 4,5 -a 0000:3b:00.0" \\
      --tx-eal "-l 2 -a 0000:3b:00.1" --dp-args "--workers 1 --mode single"

Prints one line per trial, the result, and with --markdown a table; --json FILE writes every
trial and the result. Exit status: 0 done, 1 a process failed, 2 bad usage.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

WIRE_OVERHEAD = 24  # bytes per frame on Ethernet: FCS, preamble, inter-frame gap (as cw-txgen)


def telemetry_path(prefix):
    runtime = os.environ.get('XDG_RUNTIME_DIR') if os.getuid() != 0 else None
    return os.path.join(runtime or '/var/run', 'dpdk', prefix, 'dpdk_telemetry.v2')


def query(path, cmd):
    """One telemetry command; returns its dict (empty when the reply is not a dict)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.settimeout(5)
        s.connect(path)
        s.recv(16384)  # greeting: version, pid, max_output_len
        s.send(cmd.encode())
        data = json.loads(s.recv(1 << 20).decode())
    finally:
        s.close()
    val = data.get(cmd.split(',')[0])
    return val if isinstance(val, dict) else {}


class Dataplane:
    """chainwatch-dp running for the whole search; counters read through its telemetry socket."""

    def __init__(self, a, prefix, sock):
        self.a = a
        self.prefix = prefix
        self.instance = 'rfc2544-%d' % os.getpid()
        self.tel = telemetry_path(prefix)
        if a.dp_eal:
            eal = shlex.split(a.dp_eal)
        else:
            eal = ['--no-huge', '-m', str(a.dp_mem), '--no-pci', '-l', str(a.dp_cpu),
                   '--vdev', 'net_memif0,role=server,socket=%s' % sock]
        cmd = [a.dp] + eal + ['--file-prefix', prefix, '--log-level=error', '--',
                              '--instance', self.instance] + shlex.split(a.dp_args)
        self.log = open(os.path.join(a.logdir, 'dp.log'), 'w')
        print('# dp: %s' % ' '.join(shlex.quote(c) for c in cmd), flush=True)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('chainwatch-dp exited with %d (log: %s)' %
                                   (self.proc.returncode, self.log.name))
            try:
                if 'rx_packets' in query(self.tel, '/chainwatch/stats'):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError('no telemetry from chainwatch-dp at %s' % self.tel)

    def counters(self):
        if self.proc.poll() is not None:
            raise RuntimeError('chainwatch-dp exited with %d (log: %s)' %
                               (self.proc.returncode, self.log.name))
        st = query(self.tel, '/chainwatch/stats')
        port = query(self.tel, '/ethdev/stats,%d' % self.a.dp_port)
        c = {k: int(st.get(k, 0)) for k in ('rx_packets', 'dispatch_dropped', 'handshakes_done')}
        c.update({'port_' + k: int(port.get(k, 0)) for k in ('imissed', 'ierrors', 'rx_nombuf')})
        return c

    def settle(self, quiet_s=0.3, limit_s=10):
        """Counters once rx_packets has stopped moving (the wire is drained)."""
        prev = self.counters()
        t_end = time.monotonic() + limit_s
        while time.monotonic() < t_end:
            time.sleep(quiet_s)
            cur = self.counters()
            if cur['rx_packets'] == prev['rx_packets']:
                return cur
            prev = cur
        return prev

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        try:
            os.unlink('/dev/shm/chainwatch.' + self.instance)
        except OSError:
            pass


def run_txgen(a, prefix, sock, rate_args, trial_no):
    if a.tx_eal:
        eal = shlex.split(a.tx_eal)
    else:
        ring = ',log2-ring-size=%d' % a.memif_ring if a.memif_ring else ''
        eal = ['--no-huge', '-m', str(a.tx_mem), '--no-pci', '-l', str(a.tx_cpu),
               '--vdev', 'net_memif0,role=client,socket=%s%s' % (sock, ring)]
    cmd = [a.txgen] + eal + ['--file-prefix', prefix, '--log-level=error', '--',
                             '--pcap', a.pcap, '--port', str(a.tx_port), '--loop',
                             '--duration', str(a.duration), '--quiet'] + rate_args
    logpath = os.path.join(a.logdir, 'txgen-%02d.log' % trial_no)
    with open(logpath, 'w') as log:
        log.write('# %s\n' % ' '.join(shlex.quote(c) for c in cmd))
        log.flush()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                           timeout=a.duration + 120)
        log.write(p.stdout)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith('{'):
            res = json.loads(line)
    if p.returncode != 0 or res is None:
        raise RuntimeError('cw-txgen failed (exit %d, log: %s)' % (p.returncode, logpath))
    return res


def trial(a, dp, tx_prefix, sock, no, target_pps):
    rate_args = ['--max'] if target_pps is None else ['--rate-pps', '%.0f' % target_pps]
    c0 = dp.settle()
    tx = run_txgen(a, tx_prefix, sock, rate_args, no)
    c1 = dp.settle()
    d = {k: c1[k] - c0[k] for k in c1}
    secs = tx['duration_s']
    offered = tx['offered']
    loss = offered - d['rx_packets'] + d['dispatch_dropped']
    t = {
        'trial': no,
        'target_pps': target_pps,
        'offered': offered,
        'sent': tx['sent'],
        'tx_failed': tx['tx_failed'],
        'received': d['rx_packets'],
        'dp_drops': d['dispatch_dropped'],
        'port_imissed': d['port_imissed'],
        'port_ierrors': d['port_ierrors'],
        'port_rx_nombuf': d['port_rx_nombuf'],
        'loss': loss,
        'loss_ratio': loss / offered if offered else 0.0,
        'duration_s': secs,
        'offered_pps': offered / secs,
        'sent_pps': tx['sent'] / secs,
        # wire rate of what was offered: frame bytes of the sent frames scaled to the offered count
        'gbps_wire': ((tx['bytes'] / max(tx['sent'], 1) + WIRE_OVERHEAD) * 8 * offered / secs / 1e9),
        'handshakes_per_s': d['handshakes_done'] / secs,
        'stalled_s': tx.get('stalled_s', 0.0),
    }
    # A trial that offered clearly less than its target (the sender was descheduled) says nothing
    # about the target rate: it does not pass.
    t['short'] = target_pps is not None and t['offered_pps'] < (1 - a.resolution) * target_pps
    t['pass'] = loss <= a.tolerance * offered and offered > 0 and not t['short']
    t['stalled'] = t['stalled_s'] > a.max_stall * secs
    kind = 'max' if target_pps is None else '%.4f' % (target_pps / 1e6)
    print('trial %2d: target %s Mpps: offered %.4f Mpps (%.3f Gbit/s), sent %d, tx_failed %d, '
          'received %d, dp drops %d, loss %d (%.2e), imissed %d, handshakes/s %.0f, '
          'tx stalled %.2f s: %s%s' %
          (no, kind, t['offered_pps'] / 1e6, t['gbps_wire'], t['sent'], t['tx_failed'],
           t['received'], t['dp_drops'], loss, t['loss_ratio'], t['port_imissed'],
           t['handshakes_per_s'], t['stalled_s'],
           'pass' if t['pass'] else 'FAIL' + (' (offered short of target)' if t['short'] else ''),
           ' (generator stalled)' if t['stalled'] else ''),
          flush=True)
    return t


def trial_steady(a, dp, tx_prefix, sock, no, target_pps, trials):
    """A trial, repeated up to --retries times while cw-txgen was descheduled for more than
    --max-stall of it (a busy host: the offered rate fell short and the receiver was likely
    descheduled too). Every run is kept in trials; returns the last."""
    for attempt in range(a.retries + 1):
        t = trial(a, dp, tx_prefix, sock, no, target_pps)
        t['attempt'] = attempt
        trials.append(t)
        if not t['stalled']:
            break
    return t


def search(a, dp, tx_prefix, sock):
    trials = []
    no = 1
    if a.start_pps:
        hi = a.start_pps
    else:
        t = trial_steady(a, dp, tx_prefix, sock, no, None, trials)
        no += 1
        hi = t['sent_pps']
    lo = 0.0
    best = None
    rate = hi
    while no <= a.max_trials:
        t = trial_steady(a, dp, tx_prefix, sock, no, rate, trials)
        no += 1
        if t['pass']:
            lo = rate
            if best is None or t['offered_pps'] > best['offered_pps']:
                best = t
            if rate >= hi:
                break
        else:
            hi = rate
        if hi - lo <= a.resolution * hi:
            break
        rate = (lo + hi) / 2
    return trials, best


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Logs of every process go to --logdir. See BENCHMARKS.md, "Lab-hardware mode".',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pcap', required=True, help='capture to replay (a cw-synth mix)')
    ap.add_argument('--duration', type=float, default=10, help='seconds per trial (default 10)')
    ap.add_argument('--resolution', type=float, default=0.02,
                    help='stop when (high - low) <= this x high (default 0.02)')
    ap.add_argument('--tolerance', type=float, default=0.0,
                    help='loss ratio still counted as a pass (default 0: zero loss)')
    ap.add_argument('--max-trials', type=int, default=20, help='paced trials at most (default 20)')
    ap.add_argument('--max-stall', type=float, default=0.02,
                    help='repeat a trial when cw-txgen was descheduled for more than this share '
                    'of it (default 0.02)')
    ap.add_argument('--retries', type=int, default=2,
                    help='repeats of a stalled trial before it counts as it is (default 2)')
    ap.add_argument('--start-pps', type=float, default=0,
                    help='upper bound in frames/s instead of a --max trial')
    ap.add_argument('--build', default='build', help='build directory (default build)')
    ap.add_argument('--dp', help='chainwatch-dp binary (default BUILD/chainwatch-dp)')
    ap.add_argument('--txgen', help='cw-txgen binary (default BUILD/cw-txgen)')
    ap.add_argument('--dp-args', default='--workers 1 --mode single',
                    help='chainwatch-dp options after "--" (default "--workers 1 --mode single")')
    ap.add_argument('--dp-eal', help='chainwatch-dp EAL arguments (lab hardware; replaces the memif defaults)')
    ap.add_argument('--tx-eal', help='cw-txgen EAL arguments (lab hardware; replaces the memif defaults)')
    ap.add_argument('--dp-port', type=int, default=0, help='chainwatch-dp port id for /ethdev/stats (default 0)')
    ap.add_argument('--tx-port', type=int, default=0, help='cw-txgen port id (default 0)')
    ap.add_argument('--dp-cpu', default='1', help='memif wiring: chainwatch-dp lcore list (default 1)')
    ap.add_argument('--tx-cpu', default='0', help='memif wiring: cw-txgen lcore (default 0)')
    ap.add_argument('--dp-mem', type=int, default=1024, help='memif wiring: chainwatch-dp -m MiB (default 1024)')
    ap.add_argument('--tx-mem', type=int, default=1024, help='memif wiring: cw-txgen -m MiB (default 1024)')
    ap.add_argument('--memif-ring', type=int, default=0,
                    help='memif wiring: log2 ring size, 1..14 (default: the PMD default, 10)')
    ap.add_argument('--logdir', help='process logs (default: a new directory under /tmp)')
    ap.add_argument('--json', help='write trials and result as JSON to this file')
    ap.add_argument('--markdown', action='store_true', help='also print a markdown table of the trials')
    a = ap.parse_args()
    if (a.duration <= 0 or not 0 < a.resolution < 1 or a.tolerance < 0 or a.max_trials < 1 or
            a.retries < 0 or a.max_stall < 0):
        ap.error('bad --duration, --resolution, --tolerance, --max-trials, --retries or --max-stall')
    a.dp = a.dp or os.path.join(a.build, 'chainwatch-dp')
    a.txgen = a.txgen or os.path.join(a.build, 'cw-txgen')
    for b in (a.dp, a.txgen):
        if not os.access(b, os.X_OK):
            ap.error('%s is not an executable (build it, or give --build/--dp/--txgen)' % b)
    if not os.path.isfile(a.pcap):
        ap.error('no capture %s' % a.pcap)
    own_logdir = a.logdir is None
    if own_logdir:
        a.logdir = '/tmp/cw-rfc2544-%d' % os.getpid()
    os.makedirs(a.logdir, exist_ok=True)

    pid = os.getpid()
    dp_prefix, tx_prefix = 'cwrfc-dp-%d' % pid, 'cwrfc-tx-%d' % pid
    sock = '/run/cw-memif-rfc2544-%d.sock' % pid
    print('# capture %s, %g s trials, resolution %.1f %%, loss tolerance %g; load average %s; '
          'logs in %s%s' % (a.pcap, a.duration, a.resolution * 100, a.tolerance,
                            ' '.join('%.2f' % x for x in os.getloadavg()), a.logdir,
                            ' (removed on success)' if own_logdir else ''), flush=True)
    dp = None
    rc = 0
    try:
        dp = Dataplane(a, dp_prefix, sock)
        trials, best = search(a, dp, tx_prefix, sock)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print('rfc2544: %s' % e, file=sys.stderr)
        trials, best, rc = [], None, 1
    except KeyboardInterrupt:
        trials, best, rc = [], None, 1
    finally:
        if dp is not None:
            dp.stop()
        for p in (dp_prefix, tx_prefix):
            shutil.rmtree(os.path.dirname(telemetry_path(p)), ignore_errors=True)
        try:
            os.unlink(sock)  # a filesystem socket when the PMD was told socket-abstract=no
        except OSError:
            pass
    if rc:
        return rc

    if best is None:
        print('result: no rate passed (lowest tried %.4f Mpps)' %
              (min(t['target_pps'] or t['sent_pps'] for t in trials) / 1e6))
    else:
        print('result: zero-loss rate %.4f Mpps, %.3f Gbit/s on the wire (%.0f handshakes/s), '
              'trial %d' % (best['offered_pps'] / 1e6, best['gbps_wire'], best['handshakes_per_s'],
                            best['trial']))
    if a.markdown:
        print()
        print('| trial | target Mpps | offered Mpps | Gbit/s (wire) | tx_failed | received | '
              'loss | handshakes/s | tx stalled s | result |')
        print('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
        for t in trials:
            target = 'max' if t['target_pps'] is None else '%.4f' % (t['target_pps'] / 1e6)
            print('| %s | %s | %.4f | %.3f | %d | %d | %d | %.0f | %.2f | %s |' %
                  ('%d%s' % (t['trial'], ' (stalled)' if t['stalled'] else ''), target,
                   t['offered_pps'] / 1e6, t['gbps_wire'], t['tx_failed'], t['received'],
                   t['loss'], t['handshakes_per_s'], t['stalled_s'], 'pass' if t['pass'] else 'fail'))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'pcap': a.pcap, 'duration_s': a.duration, 'resolution': a.resolution,
                       'tolerance': a.tolerance, 'trials': trials, 'result': best}, f, indent=1)
    if own_logdir:
        shutil.rmtree(a.logdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
