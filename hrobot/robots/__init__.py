"""Robot registry: built-in robots (spec YAML + model generator) and user spec YAMLs.

A robot is named either by a built-in name (`go2`, `g1`, `leap_hand`) or by the path
of a spec YAML that points at any MJCF or URDF file MuJoCo can compile.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import mujoco

from hrobot.errors import HRobotError
from hrobot.spec import BUILTIN_MODEL, RobotSpec, load_spec_file

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


def robot_mjspec(robot: RobotSpec) -> mujoco.MjSpec:
    """The robot alone (no scene) as an editable MjSpec."""
    if robot.model == BUILTIN_MODEL:
        if robot.name not in BUILTIN:
            raise HRobotError(f"{robot.source}: model 'builtin' is only for {', '.join(BUILTIN)}, got '{robot.name}'")
        return importlib.import_module(f"hrobot.robots.{robot.name}").build(robot)
    try:
        s = mujoco.MjSpec.from_file(robot.model)
    except Exception as e:  # MuJoCo raises ValueError with the parser's message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HRobotError(f"{robot.model}: MuJoCo cannot load the model: {first}") from None
    s.compiler.fusestatic = False  # keep every named body (URDF import fuses fixed links by default)
    return s
