"""The robot spec: one definition per robot.

The same `RobotSpec` drives the simulator (actuators, gains, rates), training (action
and observation order), the ONNX metadata, the runtime and safety layer, the ROS nodes
and the hardware drivers. The order of `joints` is the action and observation order
everywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrobot.errors import HRobotError, fail

ROBOT_CLASSES = ("quadruped", "humanoid", "hand")
BUILTIN_MODEL = "builtin"
INTEGRATORS = ("implicitfast", "implicit", "euler", "rk4")  # MuJoCo's; implicitfast is stable with stiff PD


@dataclass(frozen=True)
class JointSpec:
    """One actuated joint: default angle, limits and PD gains (SI units, radians)."""

    name: str
    default: float
    lower: float
    upper: float
    velocity_limit: float  # rad/s
    torque_limit: float  # N m
    kp: float  # N m / rad
    kd: float  # N m s / rad
    # Joint dynamics from the vendor (None: keep the model's own value).
    armature: float | None = None  # reflected rotor inertia (kg m^2)
    damping: float | None = None  # viscous joint damping (N m s / rad)
    friction: float | None = None  # dry friction (MuJoCo frictionloss, N m)
    motor_index: int | None = None  # the driver's motor slot of this joint (Unitree low-level motor order)


@dataclass(frozen=True)
class RobotSpec:
    """Everything about a robot that training and deployment must agree on."""

    name: str
    robot_class: str
    model: str  # "builtin" or an absolute path to an MJCF / URDF file
    joints: tuple[JointSpec, ...]
    base_body: str
    floating_base: bool
    base_height: float  # initial height of the base body in the default pose (m)
    action_scale: float  # joint target = default + action_scale * action
    pd_rate_hz: float  # physics and PD rate
    policy_rate_hz: float
    imu_site: str | None = None
    feet: tuple[str, ...] = ()  # foot or fingertip sites
    contact_bodies: tuple[str, ...] = ()  # bodies whose contact with the world is tracked
    passive: tuple[str, ...] = ()  # model joints that are deliberately not actuated (spring, free wheel, ...)
    integrator: str = "implicitfast"
    published_mass_kg: float | None = None
    published_mass_source: str = ""
    description: str = ""
    source: str = field(default="<memory>", compare=False)  # file it came from, for messages

    # ---- derived views (computed, never stored twice) ----
    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def _array(self, attr: str) -> np.ndarray:
        return np.array([getattr(j, attr) for j in self.joints], dtype=np.float64)

    @property
    def default_pose(self) -> np.ndarray:
        return self._array("default")

    @property
    def lower(self) -> np.ndarray:
        return self._array("lower")

    @property
    def upper(self) -> np.ndarray:
        return self._array("upper")

    @property
    def kp(self) -> np.ndarray:
        return self._array("kp")

    @property
    def kd(self) -> np.ndarray:
        return self._array("kd")

    @property
    def torque_limits(self) -> np.ndarray:
        return self._array("torque_limit")

    @property
    def velocity_limits(self) -> np.ndarray:
        return self._array("velocity_limit")

    @property
    def sim_dt(self) -> float:
        return 1.0 / self.pd_rate_hz

    @property
    def decimation(self) -> int:
        return int(round(self.pd_rate_hz / self.policy_rate_hz))

    @property
    def policy_dt(self) -> float:
        return 1.0 / self.policy_rate_hz

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        """The spec in its YAML form (the same fields `from_dict` reads), e.g. for ONNX metadata."""
        d = asdict(self)
        d.pop("source")
        d["feet"], d["contact_bodies"], d["passive"] = list(self.feet), list(self.contact_bodies), list(self.passive)
        d["joints"] = [{"name": j.name, "default": j.default, "range": [j.lower, j.upper],
                        "velocity": j.velocity_limit, "torque": j.torque_limit, "kp": j.kp, "kd": j.kd,
                        **{k: getattr(j, k) for k in OPTIONAL_JOINT_FIELDS if getattr(j, k) is not None}}
                       for j in self.joints]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any, source: str = "<memory>", base_dir: Path | None = None) -> RobotSpec:
        """Validate a plain mapping (from YAML or ONNX metadata) and build the spec."""
        r = _Reader(d, source)
        model = r.string("model")
        if model != BUILTIN_MODEL:
            path = Path(model).expanduser()
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            if not path.is_file():
                raise fail(source, f"field 'model': file not found: {path}")
            model = str(path.resolve())
        joints = tuple(_joint(r.sub(f"joints[{i}]", j)) for i, j in enumerate(r.list("joints")))
        spec = cls(
            name=r.string("name"),
            robot_class=r.choice("robot_class", ROBOT_CLASSES),
            model=model,
            joints=joints,
            base_body=r.string("base_body"),
            floating_base=r.boolean("floating_base"),
            base_height=r.number("base_height", default=0.0),
            action_scale=r.number("action_scale"),
            pd_rate_hz=r.number("pd_rate_hz"),
            policy_rate_hz=r.number("policy_rate_hz"),
            imu_site=r.optional_string("imu_site"),
            feet=tuple(r.strings("feet", default=[])),
            contact_bodies=tuple(r.strings("contact_bodies", default=[])),
            passive=tuple(r.strings("passive", default=[])),
            integrator=r.choice("integrator", INTEGRATORS, default="implicitfast"),
            published_mass_kg=r.optional_number("published_mass_kg"),
            published_mass_source=r.string("published_mass_source", default=""),
            description=r.string("description", default=""),
            source=source,
        )
        r.reject_unknown()
        spec.validate()
        return spec

    def validate(self) -> None:
        """Checks that need no model: sizes, ranges, rates, names."""
        src = self.source
        if not self.joints:
            raise fail(src, "field 'joints': expected at least one joint, got none")
        seen: set[str] = set()
        for i, j in enumerate(self.joints):
            where = f"joints[{i}] ({j.name})"
            if j.name in seen:
                raise fail(src, f"{where}: duplicate joint name")
            seen.add(j.name)
            if not j.lower < j.upper:
                raise fail(src, f"{where}: range must have lower < upper, got [{j.lower}, {j.upper}]")
            if not j.lower <= j.default <= j.upper:
                raise fail(src, f"{where}: default {j.default} outside range [{j.lower}, {j.upper}]")
            for attr in ("velocity_limit", "torque_limit"):
                if not getattr(j, attr) > 0:
                    raise fail(src, f"{where}: {attr} must be > 0, got {getattr(j, attr)}")
            for attr in ("kp", "kd"):
                if not getattr(j, attr) >= 0:
                    raise fail(src, f"{where}: {attr} must be >= 0, got {getattr(j, attr)}")
        if not self.action_scale > 0:
            raise fail(src, f"field 'action_scale': must be > 0, got {self.action_scale}")
        if not (self.pd_rate_hz > 0 and self.policy_rate_hz > 0):
            raise fail(src, "fields 'pd_rate_hz' and 'policy_rate_hz' must be > 0")
        ratio = self.pd_rate_hz / self.policy_rate_hz
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
            raise fail(
                src,
                f"pd_rate_hz / policy_rate_hz must be a whole number >= 1, "
                f"got {self.pd_rate_hz} / {self.policy_rate_hz} = {ratio:g}",
            )
        if self.floating_base and not self.base_height > 0:
            raise fail(src, f"field 'base_height': a floating-base robot needs > 0, got {self.base_height}")
        if len(set(self.feet)) != len(self.feet):
            raise fail(src, f"field 'feet': duplicate names in {list(self.feet)}")
        both = sorted(set(self.passive) & set(self.joint_names))
        if both:
            raise fail(src, f"field 'passive': joint '{both[0]}' is also in joints (a joint is actuated or passive)")
        slots = [j.motor_index for j in self.joints]
        if any(m is not None for m in slots):
            if any(m is None for m in slots):
                missing = [j.name for j in self.joints if j.motor_index is None]
                raise fail(src, f"field 'motor_index': given for some joints but not for {missing[0]} "
                                "(a driver needs it for every joint)")
            if len(set(slots)) != len(slots):
                dup = next(m for m in slots if slots.count(m) > 1)
                raise fail(src, f"field 'motor_index': motor {dup} is given to two joints")


def load_spec_file(path: str | Path) -> RobotSpec:
    """Load and validate a spec YAML; the model path is relative to the YAML file."""
    from hrobot.files import read_yaml

    path = Path(path)
    return RobotSpec.from_dict(read_yaml(path, what="spec file"), source=str(path), base_dir=path.parent)


# ---------------------------------------------------------------- field reading


OPTIONAL_JOINT_FIELDS = ("armature", "damping", "friction", "motor_index")


def _joint(r: _Reader) -> JointSpec:
    lo, hi = r.pair("range")
    dyn = {k: r.optional_number(k) for k in ("armature", "damping", "friction")}
    for k, v in dyn.items():
        if v is not None and v < 0:
            raise r._bad(k, "a number >= 0", v)
    j = JointSpec(
        name=r.string("name"),
        default=r.number("default"),
        lower=lo,
        upper=hi,
        velocity_limit=r.number("velocity"),
        torque_limit=r.number("torque"),
        kp=r.number("kp"),
        kd=r.number("kd"),
        motor_index=r.optional_index("motor_index"),
        **dyn,
    )
    r.reject_unknown()
    return j


class _Reader:
    """Reads typed fields from a mapping and names the field in every error."""

    def __init__(self, data: Any, source: str, prefix: str = ""):
        if not isinstance(data, dict):
            what = f"'{prefix}'" if prefix else "the document"
            raise fail(source, f"{what}: expected a mapping, got {type(data).__name__}")
        self.data, self.source, self.prefix = data, source, prefix
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def _get(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise fail(self.source, f"field '{self._name(key)}': required but missing")
            return default
        return self.data[key]

    def _bad(self, key: str, expected: str, got: Any) -> HRobotError:
        return fail(self.source, f"field '{self._name(key)}': expected {expected}, got {got!r}")

    def sub(self, name: str, data: Any) -> _Reader:
        return _Reader(data, self.source, self._name(name) if self.prefix else name)

    def string(self, key: str, default: Any = ...) -> str:
        v = self._get(key, default)
        if not isinstance(v, str) or (default is ... and not v):
            raise self._bad(key, "a non-empty string", v)
        return v

    def optional_string(self, key: str) -> str | None:
        v = self._get(key, None)
        if v is not None and not isinstance(v, str):
            raise self._bad(key, "a string", v)
        return v

    def number(self, key: str, default: Any = ...) -> float:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self._bad(key, "a finite number", v)
        return float(v)

    def optional_number(self, key: str) -> float | None:
        return None if self._get(key, None) is None else self.number(key)

    def optional_index(self, key: str) -> int | None:
        v = self._get(key, None)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise self._bad(key, "an integer >= 0", v)
        return v

    def boolean(self, key: str) -> bool:
        v = self._get(key)
        if not isinstance(v, bool):
            raise self._bad(key, "true or false", v)
        return v

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        v = self._get(key, default)
        if v not in options:
            raise self._bad(key, f"one of {', '.join(options)}", v)
        return v

    def list(self, key: str) -> list:
        v = self._get(key)
        if not isinstance(v, list):
            raise self._bad(key, "a list", v)
        return v

    def strings(self, key: str, default: Any = ...) -> list[str]:
        v = self._get(key, default)
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            raise self._bad(key, "a list of names", v)
        return v

    def pair(self, key: str) -> tuple[float, float]:
        v = self._get(key)
        ok = isinstance(v, list) and len(v) == 2
        ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        if not ok:
            raise self._bad(key, "[lower, upper]", v)
        return float(v[0]), float(v[1])

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise fail(self.source, f"unknown field '{self._name(unknown[0])}'")
