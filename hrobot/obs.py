"""Observation terms: the one definition of what a policy sees (core layer: numpy; torch only when given).

Training (batched torch tensors, in simulation) and the deployment runtime (one robot,
numpy arrays from sensors) build observations with the same `ObservationLayout.compute`
and the same term functions, written once for both array types, so the layout (order,
sizes, scales, clips) cannot drift between them. The layout, with the state fields each
term reads (`TERM_REQUIRES`), is written into the ONNX metadata of exported policies.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hrobot.errors import HRobotError
from hrobot.geometry import array_module, rot6_from_quat
from hrobot.spec import RobotSpec

Array = Any  # numpy.ndarray or torch.Tensor (N, ...)


@dataclass
class RobotState:
    """What observation terms read, batched (N, ...): torch tensors or numpy arrays. Frames: base = robot base."""

    joint_pos: Array  # (N, nj) spec order
    joint_vel: Array  # (N, nj)
    command: Array  # (N, nc) task command (e.g. vx, vy, wz)
    last_action: Array  # (N, nj) previous policy output
    joint_target: Array | None = None  # (N, nj) the joint position targets a delta-action policy steps from
    base_quat: Array | None = None  # (N, 4) w, x, y, z orientation of the base in the world (IMU)
    base_ang_vel: Array | None = None  # (N, 3) base frame (IMU gyro)
    base_lin_vel: Array | None = None  # (N, 3) base frame; a state estimator's (simulation: privileged)
    phase: Array | None = None  # (N,) gait clock in [0, 1)
    height_scan: Array | None = None  # (N, k) base height - target - ground height on a grid around the base
    foot_contact: Array | None = None  # (N, nfeet) privileged
    object_pos: Array | None = None  # (N, 3) manipulated object's position in the palm frame (a tracker's)
    object_quat: Array | None = None  # (N, 4) its orientation in the palm frame (a tracker's)
    object_lin_vel: Array | None = None  # (N, 3) palm frame; privileged
    object_ang_vel: Array | None = None  # (N, 3) palm frame; privileged
    fingertip_pos: Array | None = None  # (N, 3 * nfeet) palm frame; privileged


@dataclass(frozen=True)
class ObsTerm:
    """One observation term: value = clip((raw + noise) * scale)."""

    name: str
    scale: float | tuple[float, ...] = 1.0
    noise: float = 0.0  # half-width of uniform noise, physical units; training only
    clip: float | tuple[float, float] | None = None  # c: [-c, c]; or (low, high); of the scaled value

    @property
    def bounds(self) -> tuple[float, float] | None:
        if self.clip is None:
            return None
        return (-float(self.clip), float(self.clip)) if np.ndim(self.clip) == 0 else tuple(map(float, self.clip))


# R(q)^T (0, 0, -1) is linear in the products of the quaternion's components: (2 wy - 2 xz, -2 wx - 2 yz,
# 2 xx + 2 yy - 1), with w, x, y, z at 0..3 and product a*b at 4a + b of the flattened outer product
_GRAVITY = np.zeros((16, 3), dtype=np.float32)
_GRAVITY[[2, 7, 1, 11, 5, 10], [0, 0, 1, 1, 2, 2]] = [2.0, -2.0, -2.0, -2.0, 2.0, 2.0]
_GRAVITY_T: dict = {}  # its torch copies by (device, dtype)


def _projected_gravity(s: RobotState, default):
    """World gravity direction (0, 0, -1) in the base frame: R(q)^T g. Batched tensors (training): one outer
    product and one matrix product; numpy (the runtime's one robot per control step): the same products in
    Python floats, ~2 us where numpy's outer product and tiny matrix product cost ~10."""
    q = s.base_quat
    if array_module(q) is np:
        rows = [(2.0 * (w * y - x * z), -2.0 * (w * x + y * z), 2.0 * (x * x + y * y) - 1.0)  # _GRAVITY's products
                for w, x, y, z in np.asarray(q, dtype=np.float64).reshape(-1, 4).tolist()]
        return np.array(rows, dtype=np.float32)
    m = _GRAVITY_T.get((q.device, q.dtype))
    if m is None:
        m = _GRAVITY_T[q.device, q.dtype] = sys.modules["torch"].as_tensor(_GRAVITY, dtype=q.dtype, device=q.device)
    g = (q[:, :, None] * q[:, None, :]).reshape(-1, 16) @ m
    g[:, 2] -= 1.0
    return g


def _rot6(s: RobotState, default):
    """The first two columns of the object's rotation matrix (palm frame)."""
    return rot6_from_quat(s.object_quat)


def _gait_phase(s: RobotState, default):
    xp = array_module(s.phase)
    angle = 2.0 * np.pi * s.phase
    return xp.stack([xp.sin(angle), xp.cos(angle)], 1)


# Terms that read one state field as it is, relative to the default pose where marked: the state field and
# whether the default is subtracted. (The numpy path gathers them in one concatenate; the rest are functions.)
FIELD_TERMS: dict[str, tuple[str, bool]] = {
    "base_ang_vel": ("base_ang_vel", False), "command": ("command", False), "joint_pos": ("joint_pos", True),
    "joint_vel": ("joint_vel", False), "last_action": ("last_action", False),
    "joint_target": ("joint_target", True), "base_lin_vel": ("base_lin_vel", False),
    "height_scan": ("height_scan", False), "foot_contact": ("foot_contact", False),
    "object_pos": ("object_pos", False), "object_lin_vel": ("object_lin_vel", False),
    "object_ang_vel": ("object_ang_vel", False), "fingertip_pos": ("fingertip_pos", False),
}


def _field_term(field: str, relative: bool) -> Callable[[RobotState, Array], Array]:
    if relative:
        return lambda s, d: None if getattr(s, field) is None else getattr(s, field) - d
    return lambda s, d: getattr(s, field)


TERMS: dict[str, Callable[[RobotState, Array], Array]] = {
    **{name: _field_term(*spec) for name, spec in FIELD_TERMS.items()},
    "projected_gravity": _projected_gravity,
    "gait_phase": _gait_phase,
    "object_rot": _rot6,
}
# The RobotState fields each term reads. A bundle records them per term; the runtime fills command,
# last_action, joint_target and phase itself (RUNTIME_FIELDS), and the robot (or driver) must provide the others.
TERM_REQUIRES: dict[str, tuple[str, ...]] = {
    "base_ang_vel": ("base_ang_vel",), "projected_gravity": ("base_quat",), "command": ("command",),
    "joint_pos": ("joint_pos",), "joint_vel": ("joint_vel",), "last_action": ("last_action",),
    "joint_target": ("joint_target",),
    "gait_phase": ("phase",), "base_lin_vel": ("base_lin_vel",), "height_scan": ("height_scan",),
    "foot_contact": ("foot_contact",), "object_pos": ("object_pos",), "object_rot": ("object_quat",),
    "object_lin_vel": ("object_lin_vel",), "object_ang_vel": ("object_ang_vel",), "fingertip_pos": ("fingertip_pos",),
}
RUNTIME_FIELDS = frozenset({"command", "last_action", "joint_target", "phase"})
# Fields the runtime derives from what a robot provides: the height scan from an elevation map and the base's pose
# (`hrobot.heightmap.height_scan`, on the bundle's scan grid).
DERIVED_FIELDS: dict[str, tuple[str, ...]] = {"height_scan": ("height_map", "base_pos", "base_quat")}
PRIVILEGED = ("base_lin_vel", "height_scan", "foot_contact", "object_lin_vel", "object_ang_vel", "fingertip_pos")


class ObservationLayout:
    """An ordered list of terms with their sizes; computes the observation vector."""

    def __init__(self, terms: Sequence[ObsTerm], robot: RobotSpec, sizes: dict[str, int], device="cpu"):
        for t in terms:
            if t.name not in TERMS:
                raise HRobotError(f"unknown observation term '{t.name}': expected one of {', '.join(TERMS)}")
            if t.name not in sizes:
                raise HRobotError(f"observation term '{t.name}' has no size for robot {robot.name}")
        self.terms = tuple(terms)
        self.sizes = {t.name: sizes[t.name] for t in terms}
        self.dim = sum(self.sizes.values())
        self.device = device
        self._np_default = robot.default_pose.astype(np.float32)
        self._np_scales = [np.asarray(t.scale, dtype=np.float32) for t in terms]
        # the numpy path (one robot, every control step), resolved once: per term its state field (a field
        # term) or its function, gathered in one concatenate; then the default pose subtracted where a term
        # is relative to it, the scales multiplied and the bounds clipped, each one operation on the vector
        # (elementwise: the same values as term by term)
        self._np_parts = [(FIELD_TERMS[t.name][0], None) if t.name in FIELD_TERMS else (None, TERMS[t.name])
                          for t in self.terms]
        self._np_sizes = [self.sizes[t.name] for t in self.terms]
        self._np_offset = np.concatenate([self._np_default if FIELD_TERMS.get(t.name, ("", False))[1]
                                          else np.zeros(self.sizes[t.name], np.float32) for t in self.terms])
        self._np_relative = bool(self._np_offset.any())
        self._np_scale = np.concatenate([np.broadcast_to(sc, (self.sizes[t.name],))
                                         for t, sc in zip(self.terms, self._np_scales)]).astype(np.float32)
        bounds = [t.bounds or (-np.inf, np.inf) for t in self.terms]
        self._np_low = np.concatenate([np.full(self.sizes[t.name], b[0], np.float32) for t, b in zip(self.terms, bounds)])
        self._np_high = np.concatenate([np.full(self.sizes[t.name], b[1], np.float32) for t, b in zip(self.terms, bounds)])
        self._np_unscaled = bool((self._np_scale == 1.0).all())
        self._np_unclipped = all(t.clip is None for t in self.terms)
        self._torch: tuple | None = None  # default pose and scales as tensors, made on first torch use

    @property
    def requires(self) -> frozenset[str]:
        """The RobotState fields this layout reads."""
        return frozenset(f for t in self.terms for f in TERM_REQUIRES[t.name])

    def _check(self, state: RobotState) -> None:
        missing = sorted(f for f in self.requires if getattr(state, f) is None)
        if missing:
            raise HRobotError(f"observation needs RobotState fields {missing}, which were not provided")

    @staticmethod
    def standard_sizes(robot: RobotSpec, command_dim: int, height_scan: int = 0) -> dict[str, int]:
        nj = robot.num_joints
        sizes = {"base_ang_vel": 3, "projected_gravity": 3, "command": command_dim, "joint_pos": nj,
                 "joint_vel": nj, "last_action": nj, "joint_target": nj, "gait_phase": 2, "base_lin_vel": 3,
                 "foot_contact": len(robot.feet), "object_pos": 3, "object_rot": 6, "object_lin_vel": 3,
                 "object_ang_vel": 3, "fingertip_pos": 3 * len(robot.feet)}
        if height_scan:
            sizes["height_scan"] = height_scan
        return sizes

    def compute(self, state: RobotState, noise: bool = False, generator=None):
        """(N, dim) observations: torch in, torch out (training); numpy in, numpy out (runtime)."""
        torch = array_module(state.joint_pos)
        if torch is np:
            return self._compute_numpy(state)
        if self._torch is None:
            self._torch = (torch.tensor(self._np_default, device=self.device),
                           [torch.as_tensor(s, device=self.device) for s in self._np_scales])
        default, scales = self._torch
        parts = []
        for term, scale in zip(self.terms, scales):
            v = TERMS[term.name](state, default)
            if v is None:
                self._check(state)
            v = v.to(torch.float32)
            if v.shape[1] != self.sizes[term.name]:
                raise HRobotError(
                    f"observation term '{term.name}': expected size {self.sizes[term.name]}, got {v.shape[1]}"
                )
            if noise and term.noise > 0:
                v = v + (2 * torch.rand(v.shape, device=v.device, generator=generator) - 1) * term.noise
            v = v * scale
            if term.clip is not None:
                v = v.clamp(*term.bounds)
            parts.append(v)
        return torch.cat(parts, dim=1)

    def _compute_numpy(self, state: RobotState) -> np.ndarray:
        parts = [getattr(state, field) if field else fn(state, self._np_default) for field, fn in self._np_parts]
        for v, size, term in zip(parts, self._np_sizes, self.terms):
            if v is None:
                self._check(state)
            if v.ndim != 2 or v.shape[1] != size:
                raise HRobotError(f"observation term '{term.name}': expected size {size}, got {v.shape[-1]}")
        out = np.concatenate(parts, axis=1, dtype=np.float32)
        if self._np_relative:
            np.subtract(out, self._np_offset, out=out)
        if not self._np_unscaled:
            np.multiply(out, self._np_scale, out=out)
        if not self._np_unclipped:
            np.maximum(out, self._np_low, out=out)
            np.minimum(out, self._np_high, out=out)
        return out

    def to_list(self) -> list[dict]:
        """The layout as metadata: ordered terms with sizes, scales and clips."""
        out = []
        for t in self.terms:
            d = asdict(t)
            d["scale"] = list(t.scale) if isinstance(t.scale, tuple) else t.scale
            d["clip"] = list(t.clip) if isinstance(t.clip, tuple) else t.clip
            d["size"] = self.sizes[t.name]
            d["requires"] = list(TERM_REQUIRES[t.name])
            out.append(d)
        return out
