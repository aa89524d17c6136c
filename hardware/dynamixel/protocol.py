"""Dynamixel Protocol 2.0 framing: CRC-16, byte stuffing, packets, and a status-packet reader.

Shared by the LEAP driver's state path and the emulated bus. The driver parses status packets
here rather than with dynamixel-sdk 4.1.0, whose un-stuffing is wrong in two ways: the fast sync
read does not undo stuffing at all, and `removeStuffing` works in place and looks back at bytes it
has already overwritten, so a packet that carries a second FF FF FD-like run after a stuffed one
comes back shifted, after its CRC was checked (`tests/test_dynamixel.py` shows both). Packets are
built exactly as the SDK's `addStuffing` and `updateCRC` build them (the same tests check that).
"""

from __future__ import annotations

import struct
import time

from hrobot.hardware.dynamixel.xc330 import STATUS

HEADER = b"\xff\xff\xfd\x00"


def crc16(data: bytes) -> int:
    """Protocol 2.0's CRC-16 (polynomial 0x8005, init 0, MSB first)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def stuff(body: bytes, before: bytes) -> bytes:
    """Insert 0xFD after every FF FF FD in the instruction/parameter bytes (`before`: the two length bytes)."""
    out, window = bytearray(), bytearray(before[-2:])
    for b in body:
        out.append(b)
        if window[-2:] == b"\xff\xff" and b == 0xFD:
            out.append(0xFD)
        window.append(b)
    return bytes(out)


def unstuff(body: bytes, before: bytes) -> bytes:
    out, window, i = bytearray(), bytearray(before[-2:]), 0
    while i < len(body):
        b = body[i]
        out.append(b)
        window.append(b)
        if window[-3:] == b"\xff\xff\xfd" and i + 1 < len(body) and body[i + 1] == 0xFD:
            i += 1  # the stuffed byte
        i += 1
    return bytes(out)


def packet(dxl_id: int, instruction: int, params: bytes = b"") -> bytes:
    """A complete Protocol 2.0 packet (stuffed, with its CRC)."""
    raw = bytes([instruction]) + params
    length = struct.pack("<H", len(raw) + 2)
    body = stuff(raw, length)
    head = HEADER + bytes([dxl_id]) + struct.pack("<H", len(body) + 2)
    return head + body + struct.pack("<H", crc16(head + body))


def status_packets(read, count: int, timeout_s: float) -> list[tuple[int, int, bytes]] | None:
    """Read `count` status packets with `read(n) -> bytes`: [(id, error, params)], or None on a timeout or a
    bad CRC (the whole transaction is then dropped, never partly used)."""
    buf, out = bytearray(), []
    deadline = time.monotonic() + timeout_s
    while len(out) < count:
        start = buf.find(HEADER)
        if start >= 0:
            del buf[:start]
            if len(buf) >= 7:
                total = 7 + struct.unpack_from("<H", buf, 5)[0]
                if len(buf) >= total:
                    pkt = bytes(buf[:total])
                    del buf[:total]
                    if crc16(pkt[:-2]) != struct.unpack_from("<H", pkt, total - 2)[0]:
                        return None
                    body = unstuff(pkt[7:-2], pkt[5:7])
                    if len(body) < 2 or body[0] != STATUS:
                        return None
                    out.append((pkt[4], body[1], body[2:]))
                    continue
        if time.monotonic() > deadline:
            return None
        chunk = read(4096)
        if chunk:
            buf += chunk
        else:
            time.sleep(50e-6)
    return out
