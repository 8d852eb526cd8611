#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The adversarial capture suite: regenerate it, check the committed files did not drift, and check
chainwatch-scan (and chainwatch-dp, when given) on every capture against EXPECTED.tsv.

Usage: test_adversarial.py SOURCE_ROOT CHAINWATCH_SCAN [CHAINWATCH_DP CW_EVDUMP]

chainwatch-scan runs with a timeout and under an address-space limit (RLIMIT_AS, 512 MiB; skipped
when the build uses a sanitizer, which reserves terabytes of address space). With CHAINWATCH_DP,
each capture also goes through the dataplane (net_pcap vdev, no hugepages): it must exit 0 within
the timeout, report the same TLS flows (identity fields and anomaly bits) and the same decoder
counters as chainwatch-scan.
"""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.abspath(sys.argv[1])
SCAN = os.path.abspath(sys.argv[2])
DP = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
EVDUMP = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None
DATA = os.path.join(SRC, 'tests/data/adversarial')
GEN = os.path.join(SRC, 'tools/adversarial/gen_adversarial.py')
TIMEOUT = 30
MEM_LIMIT = 512 << 20
MAX_TOTAL = 1 << 20
# Fields that identify a flow and its handshake (chainwatch-scan and cw-evdump print them alike).
# t13_recs: the TLS 1.3 encrypted flight's record lengths ('-' where a flow has none).
IDENTITY = ('cli', 'srv', 'sni', 'ch_ver', 'sh_ver', 'cipher', 'alpn', 'ja3', 'ja3s', 'ja4',
            'chain_id', 'certs', 'ncerts', 'anomalies', 't13_recs')

failures = []


def fail(msg):
    failures.append(msg)
    print('FAIL ' + msg)


def sanitized():
    """True when the build that holds chainwatch-scan uses a sanitizer."""
    info = os.path.join(os.path.dirname(SCAN), 'meson-info', 'intro-buildoptions.json')
    try:
        with open(info) as f:
            opts = json.load(f)
    except OSError:
        return False
    for o in opts:
        if o['name'] == 'b_sanitize' and o['value'] not in ('none', ''):
            return True
        if o['name'] == 'sanitize' and o['value'] not in ('none', '', False):
            return True
    return False


def limit_as():
    resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))


def parse_lines(text):
    return [dict(kv.split('=', 1) for kv in line.split()[1:]) for line in text.splitlines()
            if line and not line.startswith('#')]


def parse_stats(stderr):
    """The counters of chainwatch-scan's last stderr line (key=value pairs)."""
    stats = {}
    for line in stderr.splitlines():
        if line.startswith('packets='):
            stats = dict(kv.split('=', 1) for kv in line.split())
    return stats


def check_regenerated():
    """The committed captures must be exactly what the generator writes today."""
    tmp = tempfile.mkdtemp(prefix='cw-adv-')
    try:
        r = subprocess.run([sys.executable, GEN, '--scan', SCAN, '--src', SRC, '--out', tmp],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        if r.returncode != 0:
            fail('generator exited %d: %s' % (r.returncode, r.stdout.decode(errors='replace')))
            return
        want = sorted(os.listdir(tmp))
        have = sorted(f for f in os.listdir(DATA) if f.endswith('.pcap') or f == 'EXPECTED.tsv')
        if want != have:
            fail('committed files differ from the generated set: only committed %s, only generated %s'
                 % (sorted(set(have) - set(want)), sorted(set(want) - set(have))))
        for name in want:
            a = os.path.join(tmp, name)
            b = os.path.join(DATA, name)
            if not os.path.exists(b):
                continue
            with open(a, 'rb') as fa, open(b, 'rb') as fb:
                if fa.read() != fb.read():
                    fail('%s: committed copy differs from the generator output '
                         '(run tools/adversarial/gen_adversarial.py --scan BUILD/chainwatch-scan)' % name)
        print('ok   regenerated %d files, committed copies identical' % len(want))
    finally:
        shutil.rmtree(tmp)


def check_expect(name, expect, lines, stats, stderr):
    """Each token of the expectation column against the scan result; returns the mismatches."""
    failures = []

    def fail(msg):
        failures.append(msg)

    for tok in expect.split():
        if tok.startswith('xfail=') or tok.startswith('opt='):
            continue
        if tok.startswith('stderr~'):
            if tok[7:] not in stderr:
                fail('%s: stderr lacks "%s"' % (name, tok[7:]))
            continue
        key, _, want = tok.partition('=')
        if key == 'lines':
            if len(lines) != int(want):
                fail('%s: %d flow lines, expected %s' % (name, len(lines), want))
                return failures
            continue
        if key.startswith('stat.'):
            got = stats.get(key[5:], '0')
            if got != want:
                fail('%s: counter %s=%s, expected %s' % (name, key[5:], got, want))
            continue
        if len(lines) != 1:
            fail('%s: field check %s needs exactly one flow line' % (name, tok))
            continue
        f = lines[0]
        if '&' in key:
            field, mask = key.split('&')
            got = int(f.get(field, '0'), 16) & int(mask, 16)
            if got != int(want, 16):
                fail('%s: %s & %s = %#x, expected %s' % (name, field, mask, got, want))
            continue
        if f.get(key, '-') != want:
            fail('%s: %s=%s, expected %s' % (name, key, f.get(key, '-'), want))
    return failures


def run_scan(cap, bounded, opts):
    return subprocess.run([SCAN, '-a'] + opts + [cap], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=TIMEOUT, preexec_fn=limit_as if bounded else None)


def run_dp(name, cap, opts):
    """(rc, event lines, counters) of chainwatch-dp on one capture."""
    inst = 'cwadv%d%s' % (os.getpid(), re.sub('[^a-z0-9]', '', name)[:16])
    shm = '/dev/shm/chainwatch.' + inst
    if os.path.exists(shm):
        os.unlink(shm)
    ev = subprocess.Popen([EVDUMP, '--shm', inst, '--wait-done', '--timeout', str(TIMEOUT)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r = subprocess.run([DP, '--no-huge', '-m', '512', '--no-pci', '--file-prefix', inst, '--',
                            '--pcap', cap, '--instance', inst, '--workers', '1', '--flows', '4096',
                            '--sessions', '256', '--chains', '4096', '--blob-kib', '1024'] + opts,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
        out, err = ev.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        ev.kill()
        ev.wait()
        return None, [], {}, 'timeout'
    finally:
        if os.path.exists(shm):
            os.unlink(shm)
        # EAL leaves its runtime directory behind; one per capture would pile up.
        shutil.rmtree(os.path.join('/var/run/dpdk', inst), ignore_errors=True)
    counters = {}
    for line in r.stdout.decode(errors='replace').splitlines():
        m = re.match(r'^\s+(\w+)\s+(\d+)$', line)
        if m:
            counters[m.group(1)] = m.group(2)
    if ev.returncode != 0:
        return r.returncode, [], counters, 'cw-evdump exited %d: %s' % (ev.returncode, err.decode())
    return r.returncode, parse_lines(out.decode()), counters, r.stdout.decode(errors='replace')


def identity(lines):
    return sorted(tuple(f.get(k, '-') for k in IDENTITY) for f in lines)


def main():
    with open(os.path.join(DATA, 'EXPECTED.tsv')) as f:
        rows = [line.rstrip('\n').split('\t') for line in f if line.strip() and not line.startswith('#')]
    total = sum(os.path.getsize(os.path.join(DATA, r[1])) for r in rows)
    if total >= MAX_TOTAL:
        fail('captures total %d bytes, expected under %d' % (total, MAX_TOTAL))

    check_regenerated()

    bounded = not sanitized()
    if not bounded:
        print('note: sanitizer build, address-space limit not applied')
    for name, capture, source, expect in rows:
        cap = os.path.join(DATA, capture)
        # opt=--x=y: an option both tools take for this capture (the same name in each)
        opts = [t[4:] for t in expect.split() if t.startswith('opt=')]
        try:
            r = run_scan(cap, bounded, opts)
        except subprocess.TimeoutExpired:
            fail('%s: chainwatch-scan did not finish within %d s' % (name, TIMEOUT))
            continue
        stderr = r.stderr.decode(errors='replace')
        if r.returncode != 0:
            fail('%s: chainwatch-scan exited %d: %s' % (name, r.returncode, stderr.strip()))
            continue
        lines = parse_lines(r.stdout.decode())
        stats = parse_stats(stderr)
        bad = check_expect(name, expect, lines, stats, stderr)
        xfail = [t[6:] for t in expect.split() if t.startswith('xfail=')]
        if xfail and bad:
            print('xfail %s: known gap %s (see docs/ROBUSTNESS.md): %s' % (name, xfail[0], '; '.join(bad)))
        elif xfail:
            fail('%s: passes now although marked xfail=%s: drop the mark in the generator' % (name, xfail[0]))
        elif bad:
            for msg in bad:
                fail(msg)
        else:
            print('ok   %s (from %s)' % (name, source))

        # The largest reassembly buffer the tool allows must stay inside the same bound.
        try:
            r = subprocess.run([SCAN, '-a', '-r', '1024'] + opts + [cap], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=TIMEOUT,
                               preexec_fn=limit_as if bounded else None)
            if r.returncode != 0:
                fail('%s: chainwatch-scan -r 1024 exited %d: %s' % (name, r.returncode,
                                                                     r.stderr.decode(errors='replace')))
        except subprocess.TimeoutExpired:
            fail('%s: chainwatch-scan -r 1024 did not finish within %d s' % (name, TIMEOUT))

        if not DP:
            continue
        rc, dp_lines, counters, log = run_dp(name, cap, opts)
        if rc is None:
            fail('%s: chainwatch-dp or cw-evdump did not finish within %d s' % (name, TIMEOUT))
            continue
        if rc != 0:
            fail('%s: chainwatch-dp exited %d\n%s' % (name, rc, log[-2000:]))
            continue
        tls = [f for f in lines if int(f['flags'], 16) & 0x3]
        if identity(tls) != identity(dp_lines):
            fail('%s: chainwatch-dp and chainwatch-scan report different TLS flows:\n  scan %s\n  dp   %s'
                 % (name, identity(tls), identity(dp_lines)))
            continue
        bad = [k for k in stats if (k.startswith('dec_') or k == 'csum_bad') and
               counters.get(k, '0') != stats[k]]
        bad += [k for k in counters if k.startswith('dec_') and k != 'dec_tcp' and
                counters[k] != stats.get(k, '0')]
        if bad:
            fail('%s: decoder counters differ: %s' % (name, ', '.join(
                '%s scan=%s dp=%s' % (k, stats.get(k, '0'), counters.get(k, '0')) for k in sorted(set(bad)))))
            continue
        # Out-of-order tables are lent per flow from the worker's pool (one per session): a
        # capture with out-of-order segments borrows at least one, and a pool of 256 never
        # runs short on these few flows.
        reordered = any(int(f.get('anomalies', '0'), 16) & 0x1 for f in tls)
        if counters.get('reasm_ooo_short') != '0' or \
                (counters.get('reasm_ooo_peak', '0') != '0') != reordered:
            fail('%s: reasm_ooo_peak=%s reasm_ooo_short=%s, out-of-order segments %s'
                 % (name, counters.get('reasm_ooo_peak'), counters.get('reasm_ooo_short'),
                    'seen' if reordered else 'not seen'))
            continue
        print('ok   %s: chainwatch-dp agrees (%d TLS flows)' % (name, len(dp_lines)))

    if failures:
        print('%d failures' % len(failures))
        return 1
    print('all %d adversarial captures ok' % len(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
