#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the adversarial capture suite: real TLS handshakes re-segmented and re-framed to stress decode,
reassembly and TLS framing.

Usage: gen_adversarial.py --scan CHAINWATCH_SCAN [--src SOURCE_ROOT] [--out DIR]

Every TLS byte comes from a real handshake: the client and server TCP payload streams of a flow in a
real capture (tests/data/lab/small.pcap, zeek traces) are extracted, split into flights, and written
again as new classic pcap files with adversarial TCP segmentation, TLS record framing, L2/L3
encapsulation or capture damage. Hand-made bytes appear only where the case is malformed input
(a lying length field, random payload).

EXPECTED.tsv holds, per capture, the outcome chainwatch-scan must report. Fingerprint values
(sni, ja3, ja3s, ja4, chain_id, certs, t13_recs) are copied from chainwatch-scan's line for the
same flow in the ORIGINAL capture, so the reference answer is always the clean flow's; anomaly bits,
flags, end reasons and decoder counters are the documented outcome of each case (docs/ROBUSTNESS.md).
The output is byte-for-byte deterministic.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys

# ---------------------------------------------------------------------------------------------
# Reading real captures
# ---------------------------------------------------------------------------------------------


def read_pcap(path):
    """(linktype, [(ts_sec, ts_usec, frame)]) of a classic pcap (either byte order, us or ns)."""
    with open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('<I', data[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        end = '<'
    elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
        end = '>'
    else:
        sys.exit('gen_adversarial: %s: not a classic pcap (pcapng inputs are not used)' % path)
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    linktype = struct.unpack(end + 'I', data[20:24])[0] & 0x0fffffff
    pkts = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(end + 'IIII', data[off:off + 16])
        pkts.append((sec, frac // 1000 if nano else frac, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return linktype, pkts


def parse_tcp(frame):
    """(src, dst, sport, dport, seq, flags, payload) of an Ethernet IPv4 TCP frame, else None."""
    off, etype = 14, struct.unpack('>H', frame[12:14])[0]
    while etype in (0x8100, 0x88a8):
        etype = struct.unpack('>H', frame[off + 2:off + 4])[0]
        off += 4
    if etype != 0x0800 or frame[off + 9] != 6:
        return None
    ihl = (frame[off] & 0x0f) * 4
    total = struct.unpack('>H', frame[off + 2:off + 4])[0]
    src, dst = bytes(frame[off + 12:off + 16]), bytes(frame[off + 16:off + 20])
    tcp = off + ihl
    sport, dport, seq, _, offf, flags = struct.unpack('>HHIIBB', frame[tcp:tcp + 14])
    doff = (offf >> 4) * 4
    return src, dst, sport, dport, seq, flags, bytes(frame[tcp + doff:off + total])


class Flow:
    """A real TCP flow reduced to its endpoints and its flights: [(dir, bytes)], dir 0 = client."""

    def __init__(self, path, cport, nflights):
        self.path = path
        self.cport = cport
        linktype, pkts = read_pcap(path)
        if linktype != 1:
            sys.exit('gen_adversarial: %s: link type %d, expected Ethernet' % (path, linktype))
        self.cli = self.srv = None
        nxt = [None, None]
        flights = []
        self.ts = None
        for sec, usec, frame in pkts:
            seg = parse_tcp(frame)
            if seg is None:
                continue
            src, dst, sport, dport, seq, flags, payload = seg
            if sport == cport:
                d = 0
            elif dport == cport:
                d = 1
            else:
                continue
            if self.cli is None:
                self.cli, self.srv = (src, sport), (dst, dport)
                self.ts = (sec, usec)
            if flags & 0x02:  # SYN
                nxt[d] = (seq + 1) & 0xffffffff
                continue
            if not payload:
                continue
            if nxt[d] is None:
                nxt[d] = seq
            # Keep only bytes beyond what was already taken (drops retransmissions).
            rel = (seq - nxt[d]) & 0xffffffff
            if rel >= 0x80000000:
                skip = (nxt[d] - seq) & 0xffffffff
                if skip >= len(payload):
                    continue
                payload, rel = payload[skip:], 0
            if rel != 0:
                sys.exit('gen_adversarial: %s: port %d: hole in the source stream' % (path, cport))
            nxt[d] = (nxt[d] + len(payload)) & 0xffffffff
            if flights and flights[-1][0] == d:
                flights[-1] = (d, flights[-1][1] + payload)
            else:
                flights.append((d, payload))
        if self.cli is None:
            sys.exit('gen_adversarial: %s: no flow with client port %d' % (path, cport))
        self.flights = flights[:nflights]

    def first(self, d):
        """The first flight in direction d."""
        return next(b for fd, b in self.flights if fd == d)


# ---------------------------------------------------------------------------------------------
# TLS record helpers (only for re-framing; the bytes themselves stay the real ones)
# ---------------------------------------------------------------------------------------------


def records(stream):
    """[(type, version, body)] of a stream that is whole TLS records."""
    out, off = [], 0
    while off < len(stream):
        t, v, n = struct.unpack('>BHH', stream[off:off + 5])
        out.append((t, v, stream[off + 5:off + 5 + n]))
        off += 5 + n
    if off != len(stream):
        raise ValueError('stream ends inside a record')
    return out


def record(t, v, body):
    return struct.pack('>BHH', t, v, len(body)) + body


def hs_messages(body):
    """Split concatenated handshake messages into whole messages (header included)."""
    out, off = [], 0
    while off < len(body):
        n = int.from_bytes(body[off + 1:off + 4], 'big')
        out.append(body[off:off + 4 + n])
        off += 4 + n
    return out


def reframe(stream, sizes):
    """Re-frame the leading handshake records of a stream into records of the given sizes (cycled).

    Only the contiguous run of handshake records at the start is re-framed (a TLS 1.3 server's
    flight continues with CCS and encrypted records, which stay as they were).
    """
    recs = records(stream)
    i, hs, ver = 0, b'', None
    while i < len(recs) and recs[i][0] == 22:
        ver = ver or recs[i][1]
        hs += recs[i][2]
        i += 1
    out, off, k = b'', 0, 0
    while off < len(hs):
        n = sizes[k % len(sizes)]
        out += record(22, ver, hs[off:off + n])
        off += n
        k += 1
    return out + b''.join(record(*r) for r in recs[i:])


def merge_handshake(stream):
    """All leading handshake records of a stream merged into one record."""
    recs = records(stream)
    i, hs = 0, b''
    while i < len(recs) and recs[i][0] == 22:
        hs += recs[i][2]
        i += 1
    return record(22, recs[0][1], hs) + b''.join(record(*r) for r in recs[i:])


def find_msg(stream, hs_type):
    """Offset in the stream of the handshake header of the first message of hs_type."""
    off = 0
    for t, _, body in records(stream):
        if t == 22:
            for m in hs_messages(body):
                if m[0] == hs_type:
                    return off + 5 + body.index(m)
        off += 5 + len(body)
    raise ValueError('no handshake message %d' % hs_type)


def sni_range(ch_stream):
    """(start, end) of the server_name host bytes in a stream that starts with a ClientHello record."""
    p = 5 + 4 + 2 + 32
    p += 1 + ch_stream[p]
    p += 2 + int.from_bytes(ch_stream[p:p + 2], 'big')
    p += 1 + ch_stream[p]
    ext_end = p + 2 + int.from_bytes(ch_stream[p:p + 2], 'big')
    p += 2
    while p < ext_end:
        et, el = struct.unpack('>HH', ch_stream[p:p + 4])
        if et == 0:
            # list len(2) type(1) name len(2) name
            nl = int.from_bytes(ch_stream[p + 7:p + 9], 'big')
            return p + 9, p + 9 + nl
        p += 4 + el
    raise ValueError('ClientHello has no server_name')


# ---------------------------------------------------------------------------------------------
# Writing captures
# ---------------------------------------------------------------------------------------------


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('>%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def v4_to_v6(a):
    return bytes.fromhex('20010db8000000000000000000000000')[:12] + a


class Pcap:
    """A classic little-endian microsecond pcap of Ethernet frames."""

    def __init__(self, snaplen=65535):
        self.snaplen = snaplen
        self.recs = []

    def add(self, ts, frame):
        sec, usec = ts
        cap = frame[:self.snaplen]
        self.recs.append(struct.pack('<IIII', sec, usec, len(cap), len(frame)) + cap)

    def data(self):
        hdr = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, self.snaplen, 1)
        return hdr + b''.join(self.recs)


class Conn:
    """One synthetic TCP connection between the endpoints of a real flow.

    Sequence numbers are tracked per direction (dir 0 = client). seg() writes one segment at a
    relative stream offset, so callers can reorder, overlap or repeat segments at will.
    """

    def __init__(self, pcap, flow, ipv6=False, vlans=(), ext6=(), isn=(0x1c2d3e4f, 0x5a6b7c8d)):
        self.p = pcap
        self.ipv6 = ipv6
        self.vlans = vlans
        self.ext6 = ext6
        caddr, saddr = flow.cli[0], flow.srv[0]
        if ipv6:
            caddr, saddr = v4_to_v6(caddr), v4_to_v6(saddr)
        self.addr = (caddr, saddr)
        self.port = (flow.cli[1], flow.srv[1])
        self.isn = isn
        self.sent = [0, 0]  # highest stream offset sent per direction
        self.sec, self.usec = flow.ts
        self.ipid = [0x1000, 0x2000]

    def tick(self, us=100):
        self.usec += us
        self.sec += self.usec // 1000000
        self.usec %= 1000000
        return (self.sec, self.usec)

    def tcp(self, d, flags, seq, ack, payload, urg=0, opts=b'', csum_xor=0):
        """The TCP segment (header, options, payload) with its checksum (changed by csum_xor)."""
        src, dst = self.addr[d], self.addr[1 - d]
        sport, dport = self.port[d], self.port[1 - d]
        hl = 20 + len(opts)
        tcp = struct.pack('>HHIIBBHHH', sport, dport, seq, ack, (hl // 4) << 4, flags,
                          64240, 0, urg) + opts
        seglen = len(tcp) + len(payload)
        if self.ipv6:
            pseudo = src + dst + struct.pack('>IxxxB', seglen, 6)
        else:
            pseudo = src + dst + struct.pack('>BBH', 0, 6, seglen)
        c = csum(pseudo + tcp + payload) ^ csum_xor
        return tcp[:16] + struct.pack('>H', c) + tcp[18:] + payload

    def ipv4(self, d, l4, ident, frag=0x4000, total=None):
        """An IPv4 header for l4 (DF, or the fragment field given) followed by l4."""
        ttl = 64 if d == 0 else 57
        h = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), ident, frag, ttl, 6, 0,
                        self.addr[d], self.addr[1 - d])
        return h[:10] + struct.pack('>H', csum(h)) + h[12:] + l4

    def l2(self, d, etype, l3):
        macs = (b'\x02\x00\x00\x00\x00\x01', b'\x02\x00\x00\x00\x00\x02')
        l2 = macs[1 - d] + macs[d]
        for tpid, vid in self.vlans:
            l2 += struct.pack('>HH', tpid, vid)
        return l2 + struct.pack('>H', etype) + l3

    def frame(self, d, flags, seq, ack, payload, urg=0, opts=b'', csum_xor=0):
        l4 = self.tcp(d, flags, seq, ack, payload, urg, opts, csum_xor)
        if self.ipv6:
            src, dst = self.addr[d], self.addr[1 - d]
            ttl = 64 if d == 0 else 57
            ext = b''
            nh = 6
            for hdr_type, body in reversed(self.ext6):
                ext = bytes([nh]) + body + ext
                nh = hdr_type
            l3 = struct.pack('>IHBB', 6 << 28, len(ext) + len(l4), nh, ttl) + src + dst + ext + l4
            return self.l2(d, 0x86dd, l3)
        self.ipid[d] += 1
        return self.l2(d, 0x0800, self.ipv4(d, l4, self.ipid[d]))

    def emit_fragments(self, d, seq, ack, payload, cut):
        """One IPv4 datagram carrying a segment of direction d, in two fragments split cut bytes
        into the TCP segment (a multiple of 8)."""
        assert not self.ipv6 and cut % 8 == 0
        l4 = self.tcp(d, 0x18, seq, ack, payload)
        self.ipid[d] += 1
        self.p.add(self.tick(), self.l2(d, 0x0800, self.ipv4(d, l4[:cut], self.ipid[d], 0x2000)))
        self.p.add(self.tick(), self.l2(d, 0x0800, self.ipv4(d, l4[cut:], self.ipid[d], cut // 8)))
        self.sent[d] = max(self.sent[d], (seq - self.seqno(d, 0)) % (1 << 32) + len(payload))

    def emit(self, d, flags, seq, ack, payload=b'', urg=0, opts=b'', csum_xor=0):
        self.p.add(self.tick(), self.frame(d, flags, seq, ack, payload, urg, opts, csum_xor))

    def seqno(self, d, off):
        return (self.isn[d] + 1 + off) & 0xffffffff

    def ackno(self, d):
        return self.seqno(1 - d, self.sent[1 - d])

    def handshake(self):
        mss = b'\x02\x04\x05\xb4'
        self.emit(0, 0x02, self.isn[0], 0, opts=mss)
        self.emit(1, 0x12, self.isn[1], self.seqno(0, 0), opts=mss)
        self.emit(0, 0x10, self.seqno(0, 0), self.seqno(1, 0))

    def seg(self, d, off, data, flags=0x18, urg=0, opts=b''):
        """One segment of direction d carrying data at stream offset off."""
        self.emit(d, flags, self.seqno(d, off), self.ackno(d), data, urg, opts)
        self.sent[d] = max(self.sent[d], off + len(data))

    def send(self, d, data, mss=1448, opts=b''):
        """data appended to direction d in order, cut at mss."""
        base = self.sent[d]
        for i in range(0, len(data), mss):
            self.seg(d, base + i, data[i:i + mss], opts=opts)
        self.ack(1 - d)

    def ack(self, d):
        self.emit(d, 0x10, self.seqno(d, self.sent[d]), self.ackno(d))

    def fin(self):
        self.emit(0, 0x11, self.seqno(0, self.sent[0]), self.ackno(0))
        self.emit(1, 0x11, self.seqno(1, self.sent[1]), self.seqno(0, self.sent[0] + 1))
        self.emit(0, 0x10, self.seqno(0, self.sent[0] + 1), self.seqno(1, self.sent[1] + 1))


def replay(c, flow, start=0, stop=None, mss=1448):
    """Send flights[start:stop] of a flow in order with plain segmentation."""
    for d, data in flow.flights[start:stop]:
        c.send(d, data, mss)


def chunks(data, n):
    """data cut into n nearly equal pieces: [(offset, bytes)]."""
    step = -(-len(data) // n)
    return [(i, data[i:i + step]) for i in range(0, len(data), step)]


# ---------------------------------------------------------------------------------------------
# Sources: real flows, chosen by client port
# ---------------------------------------------------------------------------------------------

LAB = 'tests/data/lab/small.pcap'
ZEEK = 'tests/data/conformance/zeek/traces/'
SOURCES = {
    # TLS 1.2, openssl s_client through sslsplit: a substituted three-certificate chain.
    't12': (LAB, 37050, 4),
    # TLS 1.2, openssl s_client to the genuine server: its leaf and the genuine intermediate.
    't12g': (LAB, 37290, 4),
    # TLS 1.3, openssl s_client to the genuine server.
    't13': (LAB, 37302, 3),
    # TLS 1.3 through sslsplit with a HelloRetryRequest (the proxy's server side asks for another group).
    'hrr': (LAB, 37060, 5),
    # TLS 1.3 draft-19 with early data (0-RTT): the second connection of the zeek trace.
    'early': (ZEEK + 'tls-13draft19-early-data.pcap', 65504, 3),
    # A real SSLv2-compatible ClientHello.
    'sslv2': (ZEEK + 'ssl-v2.pcap', 59062, 2),
}

REF_FIELDS = ('sni', 'ch_ver', 'sh_ver', 'cipher', 'alpn', 'ja3', 'ja3s', 'ja4', 'chain_id', 'certs',
              'ncerts', 't13_recs')


def scan_lines(scan, path, all_flows=False):
    args = [scan] + (['-a'] if all_flows else []) + [path]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=True)
    out = []
    for line in r.stdout.decode().splitlines():
        out.append(dict(kv.split('=', 1) for kv in line.split()[1:]))
    return out


def reference(scan, root, key):
    """chainwatch-scan's fields for the source flow, from the original capture."""
    path, cport, _ = SOURCES[key]
    for f in scan_lines(scan, os.path.join(root, path)):
        if f['cli'].endswith(':%d' % cport):
            return f
    sys.exit('gen_adversarial: chainwatch-scan reports no flow for %s port %d' % (path, cport))


def check_lab_labels(root, key, ref):
    """The lab's labels are independent ground truth: the reference must agree with them."""
    path, cport, _ = SOURCES[key]
    if path != LAB:
        return
    with open(os.path.join(root, 'tests/data/lab/small.labels.jsonl')) as f:
        for line in f:
            lab = json.loads(line)
            if lab['src_port'] != cport:
                continue
            if (lab['sni'] or '-') != ref['sni']:
                sys.exit('gen_adversarial: %s: sni %s, label says %s' % (key, ref['sni'], lab['sni']))
            if lab.get('chain_checked_against_pcap') and \
                    ','.join(lab['chain_sha256']) != ref['certs']:
                sys.exit('gen_adversarial: %s: certificates differ from the lab label' % key)
            return
    sys.exit('gen_adversarial: %s: no lab label for port %d' % (key, cport))


# ---------------------------------------------------------------------------------------------
# Cases. Each returns the pcap bytes; CASES lists (name, source, builder, expectation, doc).
# Expectation tokens: FIELD=ref (the reference flow's value), FIELD=leaf (its first
# comma-separated item: the leaf's of certs=), FIELD=VALUE (exact), FIELD&MASK=VALUE
# (bits of a hex field), lines=N (flow lines with -a), stat.NAME=N (stderr counters), stat.NAME=ALL
# (every packet of the capture), stat.NAME=CUT (every packet the snaplen cut), stderr~WORD (a word
# in the diagnostics), xfail=ID (the correct outcome, not met today: a known gap named in
# docs/ROBUSTNESS.md; the test reports it and fails once it starts to pass).
# ---------------------------------------------------------------------------------------------


def t12_default(c, flow):
    c.handshake()
    replay(c, flow)
    c.fin()


def case_ch_1byte(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = flow.flights[0][1]
    for i in range(len(ch)):
        c.seg(0, i, ch[i:i + 1])
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_ooo(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    # Odd pieces first, then even: at most three holes open at once (the reassembler holds six).
    for d, data in flow.flights[:2]:
        base = c.sent[d]
        parts = chunks(data, 6)
        for i in [1, 3, 5, 0, 2, 4]:
            off, b = parts[i]
            c.seg(d, base + off, b)
        c.ack(1 - d)
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_ooo_full(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    srv = flow.flights[1][1]
    parts = chunks(srv, 16)
    # Seven disjoint out-of-order pieces: the seventh finds no free slot and is dropped.
    order = [1, 3, 5, 7, 9, 11, 13] + [0, 2, 4, 6, 8, 10, 12] + [14, 15] + [13]
    for i in order:
        off, b = parts[i]
        c.seg(1, off, b)
    c.ack(0)
    replay(c, flow, 2)
    c.fin()
    return p.data()


def conflict_ch(flow):
    """The ClientHello, a copy with the server_name bytes changed (same length), and the SNI range."""
    ch = flow.flights[0][1]
    s, e = sni_range(ch)
    fake = bytearray(ch)
    for i in range(s, e):
        if 0x61 <= fake[i] <= 0x79:
            fake[i] += 1  # 'social.example.test' -> 'tpdjbm.fybnqmf.uftu'
    return ch, bytes(fake), s, e


def case_overlap_conflict(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch, fake, s, e = conflict_ch(flow)
    cut = e + 10
    c.seg(0, 0, ch[:cut])           # first arrival: the real name
    c.seg(0, s - 4, fake[s - 4:e])  # overlapping copy that would rename the server
    c.seg(0, cut, ch[cut:])
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_overlap_conflict_ooo(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch, fake, s, e = conflict_ch(flow)
    c.seg(0, s - 4, ch[s - 4:e + 10])  # first arrival, beyond a hole: the real name
    c.seg(0, 0, fake)                  # whole hello with the other name over it
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_retrans(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    for d, data in flow.flights[:2]:
        base = c.sent[d]
        mss = 200 if d == 0 else 1000
        for off in range(0, len(data), mss):
            c.seg(d, base + off, data[off:off + mss])
            c.seg(d, base + off, data[off:off + mss])  # spurious retransmission
        c.ack(1 - d)
    c.seg(0, 0, flow.flights[0][1])  # late retransmission of the whole hello
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_zero_window(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    srv = flow.flights[1][1]
    c.seg(1, 0, srv[:1000])
    # The client advertised a zero window: the server probes with the next byte, again and again.
    for _ in range(4):
        c.tick(200000)
        c.seg(1, 1000, srv[1000:1001])
    c.seg(1, 1000, srv[1000:2000])
    c.seg(1, 2000, srv[2000:])
    c.ack(0)
    replay(c, flow, 2)
    c.fin()
    return p.data()


TINY = list(range(1, 17))


def case_reframe(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    for d, data in flow.flights[:2]:
        c.send(d, reframe(data, TINY))
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_record_version_3_5(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    # Every plaintext record of both first flights says version 3.5: legacy_record_version,
    # which receivers ignore (RFC 8446 5.1; TLS stacks check the major on a first record).
    for d, data in flow.flights[:2]:
        c.send(d, b''.join(record(t, 0x0305, body) for t, _, body in records(data)))
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_merged(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    c.send(0, flow.flights[0][1])
    c.send(1, merge_handshake(flow.flights[1][1]))
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_hs_len_16m_cert(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    srv = bytearray(flow.flights[1][1])
    off = find_msg(bytes(srv), 11)
    srv[off + 1:off + 4] = b'\xff\xff\xff'  # Certificate claims 16 MiB - 1
    c.send(1, bytes(srv))
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_hs_len_16m_ch(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = bytearray(flow.flights[0][1])
    ch[6:9] = b'\xff\xff\xff'  # ClientHello claims 16 MiB - 1
    c.send(0, bytes(ch))
    c.fin()
    return p.data()


def case_record_len_max_srv(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    srv = bytearray(flow.flights[1][1])
    off = 5 + len(records(bytes(srv))[0][2])  # second record: the one carrying the Certificate
    srv[off + 3:off + 5] = b'\xff\xff'  # the largest a record length can claim
    c.send(1, bytes(srv))
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_record_len_max_ch(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = bytearray(flow.flights[0][1])
    ch[3:5] = b'\xff\xff'
    c.send(0, bytes(ch))
    c.fin()
    return p.data()


def case_truncated_mid_hs(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    srv = flow.flights[1][1]
    c.seg(1, 0, srv[:1448])  # the capture stops inside the Certificate
    return p.data()


def case_truncated_file(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    srv = flow.flights[1][1]
    shd = find_msg(srv, 14) - 5  # the record carrying ServerHelloDone goes in its own segment
    for off in range(0, shd, 1448):
        c.seg(1, off, srv[off:min(off + 1448, shd)])
    c.seg(1, shd, srv[shd:])
    data = p.data()
    return data[:len(data) - len(srv[shd:]) // 2 - 20]  # cut inside the last packet's bytes


def case_snaplen(flow):
    p = Pcap(snaplen=96)
    c = Conn(p, flow)
    t12_default(c, flow)
    return p.data()


def case_random_443(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    rnd = random.Random(443)
    # First byte outside every TLS/SSLv2 start so the outcome does not depend on luck.
    # More segments than a proxy preamble may take (CW_SESS_PREAMBLE_SEGS), none starting like TLS.
    for i in range(6):
        c.send(0, bytes([0x47]) + bytes(rnd.getrandbits(8) for _ in range(299)))
        c.send(1, bytes([0x48]) + bytes(rnd.getrandbits(8) for _ in range(199)))
    c.fin()
    return p.data()


def case_random_in_record(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    rnd = random.Random(4431)
    body = bytes([1]) + (508).to_bytes(3, 'big') + bytes(rnd.getrandbits(8) for _ in range(508))
    c.send(0, record(22, 0x0301, body))
    c.fin()
    return p.data()


def case_sslv2(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = flow.flights[0][1]
    c.seg(0, 0, ch[:1])  # the 2-byte SSLv2 header split
    c.seg(0, 1, ch[1:20])
    c.seg(0, 20, ch[20:])
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def ext_hdr(kind):
    # hdr_ext_len 0 (8 bytes): a PadN option of 4 bytes fills the rest.
    if kind == 43:
        return (43, bytes([0, 4, 0]) + bytes(4))  # routing type 4 (SRH-style), segments left 0
    return (kind, bytes([0, 1, 4]) + bytes(4))


def case_ipv6_chain(n):
    def build(flow):
        p = Pcap()
        if n == 3:
            ext = [ext_hdr(0), ext_hdr(60), ext_hdr(43)]
        else:
            ext = [ext_hdr(0)] + [ext_hdr(60)] * (n - 1)
        c = Conn(p, flow, ipv6=True, ext6=ext)
        t12_default(c, flow)
        return p.data()
    return build


def case_vlan(n):
    def build(flow):
        p = Pcap()
        tags = [(0x88a8, 100), (0x8100, 200), (0x8100, 300)][:n]
        c = Conn(p, flow, vlans=tags)
        t12_default(c, flow)
        return p.data()
    return build


def case_midstream(flow):
    p = Pcap()
    c = Conn(p, flow)
    replay(c, flow)  # no SYN, no SYN-ACK: the capture starts with the ClientHello
    c.fin()
    return p.data()


def case_midstream_server(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.sent[0] = len(flow.flights[0][1])  # the ClientHello went by before the capture started
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_dup_ch(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = flow.flights[0][1]
    c.send(0, ch)
    c.send(0, ch)  # the same hello again, in its own record and segment
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_hrr(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    # Both hellos re-framed into tiny records and every flight cut into 100-byte segments.
    for d, data in flow.flights:
        if data[0] == 22:
            data = reframe(data, TINY)
        c.send(d, data, mss=100)
    c.fin()
    return p.data()


def case_early_data(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    for d, data in flow.flights:
        c.send(d, data, mss=7 if d == 0 else 1448)  # hello and 0-RTT records in 7-byte segments
    c.fin()
    return p.data()


def case_urg(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = flow.flights[0][1]
    c.seg(0, 0, ch[:100], flags=0x38, urg=1)  # URG|PSH|ACK, urgent pointer 1
    c.seg(0, 100, ch[100:])
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_tcp_opts(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    # Options a receiver stops reading at but whose segment it keeps (Linux tcp_parse_options,
    # BSD tcp_dooptions): a timestamp of length 1 on the ClientHello, a SACK block running past
    # the option area on every segment of the server flight.
    c.send(0, flow.flights[0][1], opts=b'\x08\x01\x01\x01')
    for d, data in flow.flights[1:]:
        c.send(d, data, opts=b'\x05\x28\x00\x00' if d == 1 else b'')
    c.fin()
    return p.data()


def forged_server_flight(c, flow, flags, csum_xor=0):
    """The server flight with, before each of its segments, a copy of it with every byte changed,
    sent with these TCP flags and checksum change; then the rest of the flow."""
    d, data = flow.flights[1]
    assert d == 1
    for i in range(0, len(data), 1448):
        chunk = data[i:i + 1448]
        c.emit(d, flags, c.seqno(d, i), c.ackno(d), bytes(b ^ 0x5a for b in chunk), csum_xor=csum_xor)
        c.seg(d, i, chunk)
    c.ack(0)
    replay(c, flow, 2)
    c.fin()


def case_bad_csum(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    # Segments the client's TCP drops for their wrong checksum: a RST at the server's next
    # sequence number, then forged copies of the server flight's segments. A monitor that took
    # them would end the flow, or keep the forged bytes (first arrival wins).
    c.emit(1, 0x14, c.seqno(1, 0), c.ackno(1), csum_xor=0x0101)
    forged_server_flight(c, flow, 0x18, csum_xor=0x0101)
    return p.data()


def case_no_ack(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    # Forged copies with a right checksum but no ACK flag (PSH alone): every TCP receiver drops
    # them (RFC 9293 3.10.7.4).
    forged_server_flight(c, flow, 0x08)
    return p.data()


def case_tcp_md5(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    # The server flight carries a TCP-MD5 signature option (RFC 2385: kind 19, 18 bytes, padded
    # with two NOPs), which an endpoint without a key for the connection may drop.
    md5 = b'\x13\x12' + bytes(range(16)) + b'\x01\x01'
    d, data = flow.flights[1]
    c.send(d, data, opts=md5)
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_ip_fragments(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    # The server flight's first segment in two IPv4 fragments (TCP header and 1 000 bytes, then
    # the rest): a client reassembles them; the monitor does not, and flags the flow.
    d, data = flow.flights[1]
    assert d == 1
    first = data[:1448]
    c.emit_fragments(d, c.seqno(d, 0), c.ackno(d), first, 1024)
    for i in range(1448, len(data), 1448):
        c.seg(d, i, data[i:i + 1448])
    c.ack(0)
    replay(c, flow, 2)
    c.fin()
    return p.data()


def case_sni_nul(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = bytearray(flow.flights[0][1])
    s, e = sni_range(bytes(ch))
    ch[s + 6] = 0  # 'social.example.test' -> 'social\0example.test', same length
    c.seg(0, 0, bytes(ch))
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_sni_escape(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = bytearray(flow.flights[0][1])
    s, e = sni_range(bytes(ch))
    ch[s + 6] = 0x1b  # 'social.example.test' -> 'social<ESC>example.test': a terminal escape
    ch[s + 7] = 0x0a  # and a newline, which would start a line of its own
    c.seg(0, 0, bytes(ch))
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_seq_wrap(flow):
    p = Pcap()
    c = Conn(p, flow, isn=(0xffffff80, 0xfffffa00))  # both streams wrap past 2^32 mid-handshake
    t12_default(c, flow)
    return p.data()


def case_far_seq(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    ch = flow.flights[0][1]
    top = 0x7fffffff
    c.emit(0, 0x18, c.seqno(0, top), c.ackno(0), b'X' * 100)      # 2^31 - 1 ahead: past the cap
    c.emit(0, 0x18, c.seqno(0, top + 1), c.ackno(0), b'Y' * 100)  # 2^31 away: behind the base
    c.emit(0, 0x18, c.seqno(0, -1 & 0xffffffff), c.ackno(0), b'\0' + ch[:49])  # starts 1 byte early
    c.seg(0, 0, ch)
    c.ack(1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_rst_out_of_window(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    replay(c, flow, 0, 1)
    # A reset 2^30 bytes outside the server's window: any TCP stack ignores it (RFC 9293 3.10.7.4,
    # RFC 5961 3), and the real server flight follows.
    c.emit(1, 0x04, c.seqno(1, 1 << 30), 0)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_rst_before_hello(flow):
    p = Pcap()
    c = Conn(p, flow)
    c.handshake()
    # Between the handshake and the ClientHello, before the flow has a session: a reset 2^30
    # bytes outside the server's window and a FIN without ACK. The client drops both.
    c.emit(1, 0x04, c.seqno(1, 1 << 30), 0)
    c.emit(1, 0x01, c.seqno(1, 0), 0)
    replay(c, flow, 0, 1)
    replay(c, flow, 1)
    c.fin()
    return p.data()


def case_syn_ack_injected(flow):
    p = Pcap()
    c = Conn(p, flow)
    mss = b'\x02\x04\x05\xb4'
    # Before the server's SYN-ACK, one that acknowledges nothing the client sent (the client
    # answers it with a reset and waits on); after it, one with another sequence number (the
    # client, established, ignores it). Taken, either would put the server's stream base 2^16
    # bytes off, and the real flight outside it.
    c.emit(0, 0x02, c.isn[0], 0, opts=mss)
    c.emit(1, 0x12, (c.isn[1] + (1 << 16)) & 0xffffffff, c.seqno(0, 4096), opts=mss)
    c.emit(1, 0x12, c.isn[1], c.seqno(0, 0), opts=mss)
    c.emit(1, 0x12, (c.isn[1] + (1 << 16)) & 0xffffffff, c.seqno(0, 0), opts=mss)
    c.emit(0, 0x10, c.seqno(0, 0), c.seqno(1, 0))
    replay(c, flow)
    c.fin()
    return p.data()


def padded_chain(flow, after):
    """The server flight with a 40 000-byte certificate put into the chain after entry `after`.

    The Certificate message (~43 KB) is longer than chainwatch's default reassembly cap (32 KiB)
    but within what an OpenSSL client takes (100 KiB): an interceptor could pad its chain so to
    keep it from being judged. The handshake records are framed again at 16 KiB.
    """
    recs = records(flow.flights[1][1])
    i, hs = 0, b''
    while i < len(recs) and recs[i][0] == 22:
        hs += recs[i][2]
        i += 1
    msgs = hs_messages(hs)
    k = next(j for j, m in enumerate(msgs) if m[0] == 11)
    lst, entries, off = msgs[k][7:], [], 0
    while off < len(lst):
        n = int.from_bytes(lst[off:off + 3], 'big')
        entries.append(lst[off:off + 3 + n])
        off += 3 + n
    junk = b'\x30\x82' + struct.pack('>H', 40000 - 4) + bytes(40000 - 4)
    entries.insert(after + 1, len(junk).to_bytes(3, 'big') + junk)
    body = b''.join(entries)
    body = len(body).to_bytes(3, 'big') + body
    msgs[k] = b'\x0b' + len(body).to_bytes(3, 'big') + body
    hs = b''.join(msgs)
    out = b''.join(record(22, recs[0][1], hs[o:o + 16384]) for o in range(0, len(hs), 16384))
    return out + b''.join(record(*r) for r in recs[i:])


def case_padded_chain(after):
    def build(flow):
        p = Pcap()
        c = Conn(p, flow)
        c.handshake()
        replay(c, flow, 0, 1)
        c.send(1, padded_chain(flow, after))
        replay(c, flow, 2)
        c.fin()
        return p.data()
    return build


HELLO = 'sni=ref ch_ver=ref sh_ver=ref cipher=ref alpn=ref ja3=ref ja4=ref ja3s=ref'
FP12 = HELLO + ' chain_id=ref certs=ref ncerts=ref'
HELLO12 = HELLO + ' chain_id=- certs=-'
FP13 = HELLO + ' t13_recs=ref'

CASES = [
    ('ch_1byte_segments', 't12', case_ch_1byte, 'lines=1 %s anomalies=0x0 end=done' % FP12),
    ('ooo_segments', 't12', case_ooo, 'lines=1 %s anomalies=0x1 end=done' % FP12),
    ('ooo_slots_full', 't12', case_ooo_full, 'lines=1 %s anomalies=0x11 end=done' % FP12),
    ('overlap_conflict_sni', 't12', case_overlap_conflict,
     'lines=1 %s anomalies=0x4 end=done' % FP12),
    ('overlap_conflict_sni_ooo', 't12', case_overlap_conflict_ooo,
     'lines=1 %s anomalies=0x5 end=done' % FP12),
    ('retransmissions', 't12', case_retrans, 'lines=1 %s anomalies=0x2 end=done' % FP12),
    ('zero_window_probes', 't12', case_zero_window, 'lines=1 %s anomalies=0x2 end=done' % FP12),
    ('tiny_records_t12', 't12', case_reframe, 'lines=1 %s anomalies=0x0 end=done' % FP12),
    ('tiny_records_t13', 't13', case_reframe, 'lines=1 %s anomalies=0x0 end=done' % FP13),
    ('merged_server_flight', 't12', case_merged, 'lines=1 %s anomalies=0x0 end=done' % FP12),
    ('hs_len_16m_certificate', 't12', case_hs_len_16m_cert,
     'lines=1 %s ncerts=0 anomalies=0x8 end=done' % HELLO12),
    ('hs_len_16m_client_hello', 't12', case_hs_len_16m_ch,
     'lines=1 sni=- ja4=- flags&0x3=0x0 anomalies=0x8 end=bad stat.tls_flows=0'),
    ('record_len_max_server', 't12', case_record_len_max_srv,
     'lines=1 %s anomalies=0x40 end=bad' % HELLO12),
    ('record_len_max_client_hello', 't12', case_record_len_max_ch,
     'lines=1 sni=- ja4=- flags&0x3=0x0 flags&0x10000=0x10000 end=fin stat.tls_flows=0'),
    ('truncated_mid_handshake', 't12', case_truncated_mid_hs,
     'lines=1 %s anomalies=0x0 end=eof' % HELLO12),
    ('truncated_file', 't12', case_truncated_file,
     'lines=1 %s anomalies=0x0 end=eof stderr~truncated' % FP12),
    ('snaplen_cut', 't12', case_snaplen, 'lines=1 flags&0x3=0x0 stat.tls_flows=0 stat.dec_trunc_l3=CUT'),
    ('random_443', 't12', case_random_443, 'lines=1 flags&0x3=0x0 flags&0x10000=0x10000 end=not_tls stat.tls_flows=0'),
    ('random_in_record', 't12', case_random_in_record,
     'lines=1 flags&0x3=0x0 anomalies=0x80 end=bad stat.tls_flows=0'),
    ('sslv2_hello', 'sslv2', case_sslv2,
     'lines=1 ja3=ref ja4=ref ch_ver=ref flags&0x41=0x41 anomalies=0x0'),
    ('ipv6_ext_chain_3', 't12', case_ipv6_chain(3), 'lines=1 %s anomalies=0x4000 end=done' % FP12),
    ('ipv6_ext_chain_8', 't12', case_ipv6_chain(8), 'lines=1 %s anomalies=0x4000 end=done' % FP12),
    ('ipv6_ext_chain_9', 't12', case_ipv6_chain(9), 'lines=0 stat.tls_flows=0 stat.dec_ext_depth=ALL'),
    ('vlan_2_tags', 't12', case_vlan(2), 'lines=1 %s anomalies=0x0 end=done' % FP12),
    ('vlan_3_tags', 't12', case_vlan(3), 'lines=0 stat.tls_flows=0 stat.dec_vlan_depth=ALL'),
    ('midstream_client_hello', 't12', case_midstream,
     'lines=1 %s flags&0x80=0x80 anomalies=0x0 end=done' % FP12),
    ('midstream_server_flight', 't12', case_midstream_server,
     'lines=1 sni=- ja4=- ja3s=ref chain_id=ref certs=ref flags&0x83=0x82 end=done'),
    ('duplicate_client_hello', 't12', case_dup_ch, 'lines=1 %s anomalies=0x1000 end=done' % FP12),
    ('hello_retry_request', 'hrr', case_hrr,
     'lines=1 %s flags&0xb=0xb anomalies=0x0 end=done' % FP13),
    ('early_data_0rtt', 'early', case_early_data,
     'lines=1 %s flags&0x601=0x601 anomalies=ref end=ref' % HELLO),
    ('urgent_pointer', 't12', case_urg, 'lines=1 %s anomalies=0x2000 end=done' % FP12),
    ('tcp_options_malformed', 't12', case_tcp_opts, 'lines=1 %s anomalies=0x20000 end=done' % FP12),
    ('bad_checksum_insertion', 't12', case_bad_csum,
     'opt=--checksums=verify lines=1 %s anomalies=0x40000 end=done stat.csum_bad=4' % FP12),
    ('data_without_ack', 't12', case_no_ack, 'lines=1 %s anomalies=0x80000 end=done' % FP12),
    ('tcp_md5_option', 't12', case_tcp_md5, 'lines=1 %s anomalies=0x100000 end=done' % FP12),
    ('ip_fragments', 't12', case_ip_fragments,
     'lines=1 sni=ref ch_ver=ref ja3=ref ja4=ref sh_ver=0000 chain_id=- certs=- '
     'anomalies&0x200000=0x200000 stat.dec_fragment=2'),
    ('sni_embedded_nul', 't12', case_sni_nul,
     'lines=1 sni=social?example.test %s anomalies=0x0 end=done' % FP12[len('sni=ref '):]),
    ('sni_control_bytes', 't12', case_sni_escape,
     'lines=1 sni=social%%1b%%0axample.test %s anomalies=0x0 end=done' % FP12[len('sni=ref '):]),
    ('seq_wraparound', 't12', case_seq_wrap, 'lines=1 %s anomalies=0x0 end=done' % FP12),
    ('seq_far_ahead_behind', 't12', case_far_seq, 'lines=1 %s anomalies=0xa end=done' % FP12),
    ('rst_out_of_window', 't12', case_rst_out_of_window,
     'lines=1 %s anomalies=0x10000 end=done' % FP12),
    ('record_version_3_5', 't12', case_record_version_3_5,
     'lines=1 %s anomalies=0x0 end=done' % FP12),
    ('rst_before_hello', 't12', case_rst_before_hello,
     'lines=1 %s anomalies=0x90000 end=done' % FP12),
    ('syn_ack_injected', 't12', case_syn_ack_injected,
     'lines=1 %s anomalies=0x400000 end=done' % FP12),
    # A chain longer than the cap: the certificates that came whole are the chain, flagged
    # reassembly_cap and chain_truncated. Padding after the leaf leaves the leaf alone to judge;
    # after the last certificate, the chain as it was.
    ('padded_chain_after_leaf', 't12', case_padded_chain(0),
     'lines=1 %s certs=leaf ncerts=1 anomalies=0x208 end=done' % HELLO),
    ('padded_chain_at_end', 't12', case_padded_chain(2),
     'lines=1 %s anomalies=0x208 end=done' % FP12),
    # The same padding in a genuine chain: its intermediate lies past the cap, and control
    # completes the path with the one it learned from the genuine server's complete chains.
    ('padded_genuine_after_leaf', 't12g', case_padded_chain(0),
     'lines=1 %s certs=leaf ncerts=1 anomalies=0x208 end=done' % HELLO),
]


def count_records(data):
    """(records, records cut by the snaplen) of a pcap written by Pcap."""
    n = cut = 0
    off = 24
    while off + 16 <= len(data):
        incl, orig = struct.unpack('<II', data[off + 8:off + 16])
        n += 1
        cut += incl < orig
        off += 16 + incl
    return n, cut


def resolve(expect, ref, data):
    """Expectation tokens with ref (the clean flow's value), ALL (packets) and CUT (snaplen-cut packets)."""
    n, cut = count_records(data)
    out = []
    for tok in expect.split():
        k, _, v = tok.partition('=')
        if v == 'ref':
            v = ref.get(k, '-')
        elif v == 'leaf':
            v = ref.get(k, '-').split(',')[0]
        elif v == 'ALL':
            v = str(n)
        elif v == 'CUT':
            v = str(cut)
        out.append('%s=%s' % (k, v) if _ else tok)
    return ' '.join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scan', required=True, help='chainwatch-scan, for the reference answers')
    ap.add_argument('--src', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'),
                    help='source root (default: this checkout)')
    ap.add_argument('--out', help='output directory (default: SRC/tests/data/adversarial)')
    a = ap.parse_args()
    root = os.path.abspath(a.src)
    out = a.out or os.path.join(root, 'tests/data/adversarial')
    os.makedirs(out, exist_ok=True)

    flows, refs = {}, {}
    for key, (path, cport, nfl) in SOURCES.items():
        flows[key] = Flow(os.path.join(root, path), cport, nfl)
        refs[key] = reference(a.scan, root, key)
        check_lab_labels(root, key, refs[key])

    rows = ['# case\tcapture\tsource\texpect']
    for name, key, build, expect in CASES:
        fname = name + '.pcap'
        data = build(flows[key])
        with open(os.path.join(out, fname), 'wb') as f:
            f.write(data)
        path, cport, _ = SOURCES[key]
        rows.append('%s\t%s\t%s:%d\t%s' % (name, fname, path, cport, resolve(expect, refs[key], data)))
    with open(os.path.join(out, 'EXPECTED.tsv'), 'w') as f:
        f.write('\n'.join(rows) + '\n')


if __name__ == '__main__':
    main()
