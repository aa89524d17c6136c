"""Observation terms: the one definition of what a policy sees.

Training (batched torch tensors, in simulation) and the deployment runtime (one robot,
numpy arrays from sensors) build observations with the same `ObservationLayout.compute`
and the same term functions, written once for both array types, so the layout (order,
sizes, scales, clips) cannot drift between them. The layout is also written into the
ONNX metadata of exported policies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from hrobot.errors import HRobotError
from hrobot.spec import RobotSpec


@dataclass
class RobotState:
    """What observation terms read, batched (N, ...): torch tensors or numpy arrays. Frames: base = robot base."""

    base_quat: torch.Tensor  # (N, 4) w, x, y, z orientation of the base in the world
    base_ang_vel: torch.Tensor  # (N, 3) base frame (IMU gyro)
    joint_pos: torch.Tensor  # (N, nj) spec order
    joint_vel: torch.Tensor  # (N, nj)
    command: torch.Tensor  # (N, nc) task command (e.g. vx, vy, wz)
    last_action: torch.Tensor  # (N, nj) previous policy output
    base_lin_vel: torch.Tensor | None = None  # (N, 3) base frame; privileged (simulation only)
    phase: torch.Tensor | None = None  # (N,) gait clock in [0, 1)
    height_scan: torch.Tensor | None = None  # (N, k) terrain height below the robot; privileged
    foot_contact: torch.Tensor | None = None  # (N, nfeet) privileged


@dataclass(frozen=True)
class ObsTerm:
    """One observation term: value = clip((raw + noise) * scale)."""

    name: str
    scale: float | tuple[float, ...] = 1.0
    noise: float = 0.0  # half-width of uniform noise, physical units; training only
    clip: float | None = None


def _xp(x):
    return torch if isinstance(x, torch.Tensor) else np


def _projected_gravity(s: RobotState, default):
    """World gravity direction (0, 0, -1) in the base frame: R(q)^T g, written for numpy and torch."""
    q = s.base_quat
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return _xp(q).stack([-2.0 * (x * z - w * y), -2.0 * (y * z + w * x), -(1.0 - 2.0 * (x * x + y * y))], 1)


def _gait_phase(s: RobotState, default):
    xp = _xp(s.phase)
    angle = 2.0 * np.pi * s.phase
    return xp.stack([xp.sin(angle), xp.cos(angle)], 1)


def _require(attr: str) -> Callable[[RobotState, torch.Tensor], torch.Tensor]:
    def f(s: RobotState, default: torch.Tensor) -> torch.Tensor:
        v = getattr(s, attr)
        if v is None:
            raise HRobotError(f"observation term '{attr}' needs RobotState.{attr}, which was not provided")
        return v

    return f


TERMS: dict[str, Callable[[RobotState, torch.Tensor], torch.Tensor]] = {
    "base_ang_vel": lambda s, d: s.base_ang_vel,
    "projected_gravity": _projected_gravity,
    "command": lambda s, d: s.command,
    "joint_pos": lambda s, d: s.joint_pos - d,  # relative to the default pose
    "joint_vel": lambda s, d: s.joint_vel,
    "last_action": lambda s, d: s.last_action,
    "gait_phase": _gait_phase,
    "base_lin_vel": _require("base_lin_vel"),
    "height_scan": _require("height_scan"),
    "foot_contact": _require("foot_contact"),
}
PRIVILEGED = ("base_lin_vel", "height_scan", "foot_contact")


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
        self.default_pose = torch.tensor(robot.default_pose, dtype=torch.float32, device=device)
        self._scales = [torch.as_tensor(t.scale, dtype=torch.float32, device=device) for t in terms]
        self._np_default = robot.default_pose.astype(np.float32)
        self._np_scales = [np.asarray(t.scale, dtype=np.float32) for t in terms]

    @staticmethod
    def standard_sizes(robot: RobotSpec, command_dim: int, height_scan: int = 0) -> dict[str, int]:
        nj = robot.num_joints
        sizes = {"base_ang_vel": 3, "projected_gravity": 3, "command": command_dim, "joint_pos": nj,
                 "joint_vel": nj, "last_action": nj, "gait_phase": 2, "base_lin_vel": 3,
                 "foot_contact": len(robot.feet)}
        if height_scan:
            sizes["height_scan"] = height_scan
        return sizes

    def compute(self, state: RobotState, noise: bool = False, generator: torch.Generator | None = None):
        """(N, dim) observations: torch in, torch out (training); numpy in, numpy out (runtime)."""
        if not isinstance(state.joint_pos, torch.Tensor):
            return self._compute_numpy(state)
        parts = []
        for term, scale in zip(self.terms, self._scales):
            v = TERMS[term.name](state, self.default_pose).to(torch.float32)
            if v.shape[1] != self.sizes[term.name]:
                raise HRobotError(
                    f"observation term '{term.name}': expected size {self.sizes[term.name]}, got {v.shape[1]}"
                )
            if noise and term.noise > 0:
                v = v + (2 * torch.rand(v.shape, device=v.device, generator=generator) - 1) * term.noise
            v = v * scale
            if term.clip is not None:
                v = v.clamp(-term.clip, term.clip)
            parts.append(v)
        return torch.cat(parts, dim=1)

    def _compute_numpy(self, state: RobotState) -> np.ndarray:
        parts = []
        for term, scale in zip(self.terms, self._np_scales):
            v = np.asarray(TERMS[term.name](state, self._np_default), dtype=np.float32) * scale
            if v.shape[1] != self.sizes[term.name]:
                raise HRobotError(
                    f"observation term '{term.name}': expected size {self.sizes[term.name]}, got {v.shape[1]}"
                )
            if term.clip is not None:
                v = np.minimum(np.maximum(v, -term.clip), term.clip)
            parts.append(v)
        return np.concatenate(parts, axis=1)

    def to_list(self) -> list[dict]:
        """The layout as metadata: ordered terms with sizes, scales and clips."""
        out = []
        for t in self.terms:
            d = asdict(t)
            d["scale"] = list(t.scale) if isinstance(t.scale, tuple) else t.scale
            d["size"] = self.sizes[t.name]
            out.append(d)
        return out
