"""ROS 2 message definitions for bags: the `ros2msg` text with its dependencies, and the type hash.

rosbag2 embeds in each MCAP schema the complete definition of the topic's type: its .msg text
first, then every type it uses (recursively), each after a line of 80 '=' and `MSG: pkg/msg/Name`
(rosbag2 docs/message_definition_encoding.md). The text and the RIHS01 type hash come from the
installed interface packages (share/<pkg>/msg/<Name>.msg and .json on AMENT_PREFIX_PATH).
"""

from __future__ import annotations

import json
import os
import re
import sys
from functools import cache
from pathlib import Path

from hrobot.errors import HRobotError

PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
              "int64", "uint64", "string", "wstring"}
SEPARATOR = "=" * 80


def _prefixes() -> list[Path]:
    paths = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return paths + [Path(sys.prefix)]


@cache
def _share_file(pkg: str, name: str, suffix: str) -> Path:
    for prefix in _prefixes():
        f = prefix / "share" / pkg / "msg" / f"{name}{suffix}"
        if f.is_file():
            return f
    raise HRobotError(f"message type {pkg}/msg/{name}: no {name}{suffix} in any share/{pkg}/msg on AMENT_PREFIX_PATH")


def split_type(msgtype: str) -> tuple[str, str]:
    """'sensor_msgs/msg/JointState' (or 'sensor_msgs/JointState') -> ('sensor_msgs', 'JointState')."""
    parts = msgtype.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise HRobotError(f"message type {msgtype!r}: expected pkg/msg/Name")


def _dependencies(pkg: str, text: str) -> list[str]:
    """Types a .msg text uses, as pkg/msg/Name, in order of first use."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        base = re.split(r"[\[<]", line.split()[0], maxsplit=1)[0]
        if base in PRIMITIVES:  # constants are primitives too
            continue
        if base == "Header":
            dep = "std_msgs/msg/Header"
        elif "/" in base:
            dep = "/".join((split_type(base)[0], "msg", split_type(base)[1]))
        else:
            dep = f"{pkg}/msg/{base}"
        if dep not in out:
            out.append(dep)
    return out


@cache
def message_definition(msgtype: str) -> str:
    """The complete ros2msg definition of `msgtype` (pkg/msg/Name), dependencies included."""
    pkg, name = split_type(msgtype)
    top = _share_file(pkg, name, ".msg").read_text()
    parts, seen, queue = [top], {f"{pkg}/msg/{name}"}, _dependencies(pkg, top)
    while queue:  # breadth first: each dependency once, in order of first use
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        dpkg, dname = split_type(dep)
        text = _share_file(dpkg, dname, ".msg").read_text()
        parts.append(f"{SEPARATOR}\nMSG: {dep}\n{text}")
        queue += [d for d in _dependencies(dpkg, text) if d not in seen]
    return "\n".join(p.rstrip("\n") for p in parts) + "\n"


@cache
def type_hash(msgtype: str) -> str:
    """The type's RIHS01 hash (what rosbag2 stores as type_description_hash)."""
    pkg, name = split_type(msgtype)
    data = json.loads(_share_file(pkg, name, ".json").read_text())
    full = f"{pkg}/msg/{name}"
    for h in data.get("type_hashes", []):
        if h["type_name"] == full:
            return h["hash_string"]
    raise HRobotError(f"message type {full}: no type hash in {pkg}/msg/{name}.json")
