#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sends hand-made TCP segments (TLS record, SSLv2 hello, plain, FIN, RST) through a raw IP socket, or
as Ethernet frames through a packet socket: VLAN-tagged IPv4 (kernels without 802.1Q devices), or
IPv6 behind a Destination Options header of a chosen length."""
import argparse
import ipaddress
import socket
import struct

PAYLOADS = {
    # handshake record, TLS 1.0 record version, start of a ClientHello
    "tls": bytes.fromhex("160301002d0100002903035a") + bytes(40),
    # SSLv2-framed ClientHello: 2-byte length with the high bit, msg type 1, version 3.1
    "sslv2": bytes.fromhex("802e0103010015000000100000") + bytes(40),
    # application bytes that look like nothing TLS
    "plain": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "fin": b"",
    "rst": b"",
}
FLAGS = {"fin": 0x11, "rst": 0x14}  # FIN|ACK, RST|ACK; the others PSH|ACK


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src, dst, sport, dport, seq, kind):
    payload = PAYLOADS[kind]
    flags = FLAGS.get(kind, 0x18)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0)
    length = len(hdr) + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, length)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, socket.IPPROTO_TCP)
    csum = checksum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", csum) + hdr[18:] + payload


def ipv4_header(src, dst, length, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident, 0x4000, 64,
                      socket.IPPROTO_TCP, 0, src.packed, dst.packed)
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]


def send_tagged(a, src, dst):
    """IPv4 in Ethernet with no, one or two VLAN tags (outer first), written to a packet socket."""
    ifname, dmac = a.vlan_dev.split(",")
    tags = b"".join(struct.pack("!HH", 0x88A8 if i == 0 and len(a.vlan) > 1 else 0x8100, vid)
                    for i, vid in enumerate(a.vlan))
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        smac = s.getsockname()[4]
        for i in range(a.count):
            seg = segment(src, dst, a.sport + i, a.dport, a.seq + i, a.kind)
            frame = (bytes.fromhex(dmac.replace(":", "")) + smac + tags + b"\x08\x00" +
                     ipv4_header(src, dst, len(seg), i) + seg)
            s.send(frame)


def dstopts(hdr_ext_len):
    """A Destination Options header of (hdr_ext_len + 1) * 8 bytes before TCP, filled with
    options of type 0x1e (experimental, RFC 4727: skipped when unknown), at most 255 bytes of
    data each (Linux takes up to 8 unknown options; PadN is for alignment only)."""
    room = (hdr_ext_len + 1) * 8 - 2
    opts = b""
    while room > 0:
        n = min(room - 2, 255)
        opts += bytes([0x1E, n]) + bytes(n)
        room -= n + 2
    return bytes([socket.IPPROTO_TCP, hdr_ext_len]) + opts


def send_ipv6_dstopts(a, src, dst):
    """IPv6 in Ethernet with a Destination Options header, written to a packet socket."""
    ifname, dmac = a.vlan_dev.split(",")
    ext = dstopts(a.dstopts)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        smac = s.getsockname()[4]
        for i in range(a.count):
            seg = segment(src, dst, a.sport + i, a.dport, a.seq + i, a.kind)
            ip6 = struct.pack("!IHBB", 6 << 28, len(ext) + len(seg), 60, 64) + src.packed + dst.packed
            s.send(bytes.fromhex(dmac.replace(":", "")) + smac + b"\x86\xdd" + ip6 + ext + seg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, default=443)
    ap.add_argument("--sport", type=int, default=40000)
    ap.add_argument("--kind", choices=sorted(PAYLOADS), default="tls")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--seq", type=int, default=1000,
                    help="sequence number of the first segment (segment i: SEQ + i)")
    ap.add_argument("--vlan", type=lambda v: [int(x) for x in v.split(",")],
                    help="VLAN ids, outer first (IPv4 only); needs --vlan-dev")
    ap.add_argument("--vlan-dev", help="IFNAME,DST_MAC for --vlan, --raw and --dstopts")
    ap.add_argument("--raw", action="store_true",
                    help="IPv4 in an untagged Ethernet frame written to the --vlan-dev packet socket "
                         "(any source address, the receiver's own included)")
    ap.add_argument("--dstopts", type=int,
                    help="IPv6 only: a Destination Options header with this length byte "
                         "(0..255: 8..2048 bytes) before TCP; needs --vlan-dev")
    a = ap.parse_args()
    src, dst = ipaddress.ip_address(a.src), ipaddress.ip_address(a.dst)
    if a.vlan or a.raw:
        a.vlan = a.vlan or []
        send_tagged(a, src, dst)
        return
    if a.dstopts is not None:
        send_ipv6_dstopts(a, src, dst)
        return
    fam = socket.AF_INET if src.version == 4 else socket.AF_INET6
    with socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_TCP) as s:
        for i in range(a.count):
            # a new source port per segment: each one is its own flow
            seg = segment(src, dst, a.sport + i, a.dport, a.seq + i, a.kind)
            s.sendto(seg, (a.dst, 0))


if __name__ == "__main__":
    main()
