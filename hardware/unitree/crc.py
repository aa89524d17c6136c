"""The CRC Unitree robots check on low-level messages (unitree_sdk2 `utils/crc.py`).

The message is packed little-endian with C struct padding (the formats below), split into
32-bit words without the last (the crc field), and run through crc32_core: polynomial
0x04C11DB7, init 0xFFFFFFFF, MSB first, no reflection, no final XOR, which is CRC-32/MPEG-2
over each word's big-endian bytes. Computed here through zlib's reflected CRC-32 on bit-reversed
bytes (microseconds per message instead of a Python bit loop).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

PACK_FORMATS = {
    "unitree_go.msg.dds_.LowCmd_": "<4B4IH2x" + "B3x5f3I" * 20 + "4B" + "55Bx2I",  # 812 bytes
    "unitree_go.msg.dds_.LowState_": "<4B4IH2x" + "13fB3x" + "B3x7fB3x3I" * 20 + "4BiH4B15H" + "8hI41B3xf2B2x2f4H2I",
    "unitree_hg.msg.dds_.LowCmd_": "<2B2x" + "B3x5fI" * 35 + "5I",  # 1004 bytes
    "unitree_hg.msg.dds_.LowState_": "<2I2B2xI" + "13fh2x" + "B3x4f2hf7I" * 35 + "40B5I",  # 2092 bytes
}
_REVERSE_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


_PLANS: dict[type, list[tuple[str, int]]] = {}  # per message class: (field, kind) in order
_SCALAR, _ARRAY, _STRUCT, _STRUCTS = range(4)


def _plan(cls) -> list[tuple[str, int]]:
    if cls not in _PLANS:
        sample = cls()
        plan = []
        for f in dataclasses.fields(cls):
            v = getattr(sample, f.name)
            if dataclasses.is_dataclass(v):
                plan.append((f.name, _STRUCT))
            elif isinstance(v, list):
                plan.append((f.name, _STRUCTS if v and dataclasses.is_dataclass(v[0]) else _ARRAY))
            else:
                plan.append((f.name, _SCALAR))
        _PLANS[cls] = plan
    return _PLANS[cls]


def _flatten(msg, out: list) -> list:
    for name, kind in _plan(type(msg)):
        v = getattr(msg, name)
        if kind == _SCALAR:
            out.append(v)
        elif kind == _ARRAY:
            out.extend(v)
        elif kind == _STRUCT:
            _flatten(v, out)
        else:
            for item in v:
                _flatten(item, out)
    return out


def packed(msg) -> bytes:
    """The message as the robot's CRC sees it (C layout, little-endian)."""
    return struct.pack(PACK_FORMATS[msg.__idl_typename__], *_flatten(msg, []))


def crc32_mpeg2_words(data: bytes) -> int:
    """crc32_core over the little-endian 32-bit words of `data` (length a multiple of 4)."""
    words_be = np.frombuffer(data, dtype="<u4").astype(">u4").tobytes()
    reflected = zlib.crc32(words_be.translate(_REVERSE_BITS)) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def crc(msg) -> int:
    """The crc field value for a LowCmd_ / LowState_ (go or hg)."""
    return crc32_mpeg2_words(packed(msg)[:-4])


def sign(msg):
    msg.crc = crc(msg)
    return msg


def valid(msg) -> bool:
    return msg.crc == crc(msg)
