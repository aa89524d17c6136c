"""Robot registry: built-in robots (spec YAML + model generator) and user spec YAMLs.

A robot is named either by a built-in name (`go2`, `g1`, `leap_hand`) or by the path
of a spec YAML that points at any MJCF or URDF file MuJoCo can compile.
"""

from __future__ import annotations

from pathlib import Path

from hrobot.errors import HRobotError
from hrobot.spec import RobotSpec, load_spec_file

HERE = Path(__file__).parent
BUILTIN = ("go2", "g1", "leap_hand")


def robot_names() -> list[str]:
    return list(BUILTIN)


def load_robot(name_or_path: str) -> RobotSpec:
    """Spec of a built-in robot, or of the spec YAML at the given path."""
    if name_or_path in BUILTIN:
        return load_spec_file(HERE / f"{name_or_path}.yaml")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_spec_file(path)
    raise HRobotError(
        f"unknown robot '{name_or_path}': expected one of {', '.join(BUILTIN)} or the path of a spec YAML"
    )
