"""Fast CDR for Unitree's fixed-layout low-level messages (LowCmd_ / LowState_, unitree_go and unitree_hg).

The CycloneDDS Python binding (de)serializes a message field by field: 150-200 us per LowCmd_ or
LowState_ here, at 500 Hz in both the driver and the simulated device, most of a core between
them. These messages are final structs of fixed-size primitives and arrays (no sequences, strings
or 64-bit fields), so their CDR is one `struct.pack` with CDR's alignment (each primitive aligned to
its size from the start of the payload), after the binding's own 4-byte encapsulation header:
XCDR1 little-endian, what the binding uses for these final types (anything else goes to the binding). `fast_cdr(cls)` installs it on a message class; the
output is byte-equal to the binding's (tests/test_unitree.py).
"""

from __future__ import annotations

import struct
import typing

from cyclonedds.idl.types import array

_PRIMITIVES = {"uint8": "B", "int8": "b", "uint16": "H", "int16": "h", "uint32": "I", "int32": "i", "float32": "f"}


def _layout(cls, fmt: list[str], offset: int, build: list) -> int:
    """Append cls's fields to the struct format (with CDR padding); `build` gets a rebuild plan per field."""
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        args = typing.get_args(hint)
        if len(args) == 2 and isinstance(args[1], array):
            sub, n = args[1].subtype, args[1].length
            if isinstance(sub, type):  # an array of structs
                plans = []
                for _ in range(n):
                    plan: list = []
                    offset = _layout(sub, fmt, offset, plan)
                    plans.append(plan)
                build.append((name, "structs", sub, plans))
                continue
            code = _PRIMITIVES[typing.get_args(sub)[1]]
            size = struct.calcsize(code)
            pad = -offset % size
            fmt.append(f"{pad}x{n}{code}" if pad else f"{n}{code}")
            offset += pad + n * size
            build.append((name, "bytes" if code == "B" else "array", n))  # uint8[]: bytes, as the binding
        elif len(args) == 2 and isinstance(args[1], str):
            code = _PRIMITIVES[args[1]]
            size = struct.calcsize(code)
            pad = -offset % size
            fmt.append(f"{pad}x{code}" if pad else code)
            offset += pad + size
            build.append((name, "scalar"))
        elif isinstance(hint, type):  # a nested struct
            plan = []
            offset = _layout(hint, fmt, offset, plan)
            build.append((name, "struct", hint, plan))
        else:
            raise TypeError(f"{cls.__name__}.{name}: {hint} is not a fixed-size CDR field")
    return offset


def _flatten(msg, plan, out: list) -> None:
    for entry in plan:
        v = getattr(msg, entry[0])
        if entry[1] == "scalar":
            out.append(v)
        elif entry[1] in ("array", "bytes"):
            out.extend(v)
        elif entry[1] == "struct":
            _flatten(v, entry[3], out)
        else:
            for item, p in zip(v, entry[3]):
                _flatten(item, p, out)


def _rebuild(cls, plan, values, i: int):
    kwargs = {}
    for entry in plan:
        if entry[1] == "scalar":
            kwargs[entry[0]], i = values[i], i + 1
        elif entry[1] == "array":
            kwargs[entry[0]], i = list(values[i : i + entry[2]]), i + entry[2]
        elif entry[1] == "bytes":
            kwargs[entry[0]], i = bytes(values[i : i + entry[2]]), i + entry[2]
        elif entry[1] == "struct":
            kwargs[entry[0]], i = _rebuild(entry[2], entry[3], values, i)
        else:
            items = []
            for p in entry[3]:
                item, i = _rebuild(entry[2], p, values, i)
                items.append(item)
            kwargs[entry[0]] = items
    return cls(**kwargs), i


def fast_cdr(cls):
    """Give a fixed-layout IdlStruct class a struct-based serialize / deserialize (same bytes)."""
    fmt: list[str] = []
    plan: list = []
    _layout(cls, fmt, 0, plan)
    packer = struct.Struct("<" + "".join(fmt))
    headers = {v2: cls.__idl__.serialize(cls(), use_version_2=v2)[:4] for v2 in (None, False)}
    binding_serialize, binding_deserialize = cls.serialize, cls.deserialize.__func__

    def serialize(self, buffer=None, endianness=None, use_version_2=None) -> bytes:
        if buffer is not None or endianness is not None or use_version_2:  # XCDR2 adds headers: the binding
            return binding_serialize(self, buffer=buffer, endianness=endianness, use_version_2=use_version_2)
        values: list = []
        _flatten(self, plan, values)
        return headers[use_version_2] + packer.pack(*values)

    def deserialize(kls, data: bytes, has_header: bool = True, use_version_2=None):
        body = data[4:] if has_header else data
        if kls is not cls or use_version_2 or len(body) != packer.size or (has_header and data[:2] != b"\x00\x01"):
            return binding_deserialize(kls, data, has_header=has_header, use_version_2=use_version_2)
        return _rebuild(cls, plan, packer.unpack_from(body), 0)[0]

    cls.serialize, cls.deserialize = serialize, classmethod(deserialize)
    cls.cdr_size = packer.size
    return cls
