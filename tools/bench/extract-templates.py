#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Cut real ClientHello/ServerHello/ServerKeyExchange messages out of a capture as synthesizer templates.

Usage: extract-templates.py CAPTURE OUTDIR CLIENT_PORT_TLS12 CLIENT_PORT_TLS13

For the TLS 1.2 flow (chosen by its client port) it writes ch12.bin, sh12.bin and ske12.bin; for the
TLS 1.3 flow ch13.bin and sh13.bin. Each file is one whole handshake message: the 4-byte header
(type, u24 length) and the body, with the record layer removed. The capture must be a classic
Ethernet pcap; each direction is reassembled in sequence order (retransmissions are dropped).
"""
import struct
import sys


def read_pcap(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('<I', data[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        end = '<'
    elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
        end = '>'
    else:
        sys.exit('extract-templates: %s: not a classic pcap' % path)
    linktype = struct.unpack(end + 'I', data[20:24])[0]
    if linktype != 1:
        sys.exit('extract-templates: %s: link type %d, expected Ethernet' % (path, linktype))
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + 'IIII', data[off:off + 16])
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def tcp_segment(frame):
    """(src, sport, dst, dport, seq, payload) of an IPv4 TCP frame, else None."""
    off, etype = 14, struct.unpack('>H', frame[12:14])[0]
    while etype in (0x8100, 0x88a8):
        etype = struct.unpack('>H', frame[off + 2:off + 4])[0]
        off += 4
    if etype != 0x0800 or frame[off + 9] != 6:
        return None
    ihl = (frame[off] & 0x0f) * 4
    total = struct.unpack('>H', frame[off + 2:off + 4])[0]
    src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
    tcp = off + ihl
    sport, dport, seq = struct.unpack('>HHI', frame[tcp:tcp + 8])
    doff = (frame[tcp + 12] >> 4) * 4
    return src, sport, dst, dport, seq, frame[tcp + doff:off + total]


def streams(path, cport):
    """Client->server and server->client byte streams of the first flow with this client port."""
    out = {}
    nxt = {}
    for frame in read_pcap(path):
        seg = tcp_segment(frame)
        if seg is None:
            continue
        src, sport, dst, dport, seq, payload = seg
        if cport not in (sport, dport) or not payload:
            continue
        d = 'c' if sport == cport else 's'
        if d not in nxt:
            nxt[d] = seq
            out[d] = bytearray()
        if seq != nxt[d]:
            continue  # retransmission or reordering: the lab capture has neither on these flows
        out[d] += payload
        nxt[d] = (seq + len(payload)) & 0xffffffff
    if 'c' not in out or 's' not in out:
        sys.exit('extract-templates: no two-way flow with client port %d' % cport)
    return bytes(out['c']), bytes(out['s'])


def handshake_messages(stream):
    """Plaintext handshake messages from the start of a TLS stream (stops at the first non-handshake record)."""
    hs = bytearray()
    off = 0
    while off + 5 <= len(stream):
        ctype, _, rlen = struct.unpack('>BHH', stream[off:off + 5])
        if ctype != 22:
            break
        hs += stream[off + 5:off + 5 + rlen]
        off += 5 + rlen
    msgs = []
    off = 0
    while off + 4 <= len(hs):
        mlen = int.from_bytes(hs[off + 1:off + 4], 'big')
        if off + 4 + mlen > len(hs):
            break
        msgs.append(bytes(hs[off:off + 4 + mlen]))
        off += 4 + mlen
    return msgs


def pick(msgs, hstype, what):
    for m in msgs:
        if m[0] == hstype:
            return m
    sys.exit('extract-templates: no %s in the chosen flow' % what)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[2])
    path, outdir = sys.argv[1], sys.argv[2]
    for ver, cport in (('12', int(sys.argv[3])), ('13', int(sys.argv[4]))):
        cli, srv = streams(path, cport)
        cmsgs, smsgs = handshake_messages(cli), handshake_messages(srv)
        files = {'ch': pick(cmsgs, 1, 'ClientHello'), 'sh': pick(smsgs, 2, 'ServerHello')}
        if ver == '12':
            files['ske'] = pick(smsgs, 12, 'ServerKeyExchange')
        for name, msg in files.items():
            with open('%s/%s%s.bin' % (outdir, name, ver), 'wb') as f:
                f.write(msg)
            print('%s%s.bin: %d bytes (client port %d)' % (name, ver, len(msg), cport))


if __name__ == '__main__':
    main()
