"""The high level's observation, action decoding and ray-scan layout, shared by training and deployment.

Core layer: written once for numpy arrays (the deployed planner) and torch tensors (the
navigation environment), so the planner runs the exact functions training used without
importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrobot.geometry import array_module, wrap_to_pi


@dataclass(frozen=True)
class RayScanLayout:
    """Horizontal range rays around the base, one layer per height above the ground (a 2D lidar per layer).

    Ray i of a layer points at base yaw + i * 2 pi / num_rays. Training casts them analytically
    against the arena's boxes, the simulated robot with `mj_ray`; the bundle records the layout
    and the planner checks the scans it receives against it.
    """

    num_rays: int = 16
    heights: tuple[float, ...] = (0.12, 0.32)  # m: under and at the low bar
    range: float = 3.0  # m: readings are clipped here

    @property
    def angle_increment(self) -> float:
        return 2 * np.pi / self.num_rays

    def to_dict(self) -> dict:
        return {"num_rays": self.num_rays, "ray_heights": list(self.heights), "ray_range": self.range}

    @staticmethod
    def from_dict(d: dict) -> RayScanLayout:
        return RayScanLayout(int(d["num_rays"]), tuple(float(h) for h in d["ray_heights"]), float(d["ray_range"]))


DEFAULT_SCAN = RayScanLayout()
HIGH_LEVEL_ACTION_CLIP = 5.0  # the high level's previous action is observed clipped to +-5 (its raw output is not)


def navigation_observation(base_xy, base_yaw, base_lin_vel, yaw_rate, goal, rays, last_action, time_left,
                           ray_range: float):
    """High-level observation, the same in training and deployment (all inputs batched, numpy or torch).

    goal: (N, 3) x, y, heading in the world; base_lin_vel: (N, 2) base frame; rays: (N, R) distances (m).
    """
    xp = array_module(base_xy)
    d = goal[:, :2] - base_xy
    c, s = xp.cos(base_yaw), xp.sin(base_yaw)
    local = xp.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], 1)
    dist = xp.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])[:, None]
    yaw_err = wrap_to_pi(goal[:, 2] - base_yaw)[:, None]
    return xp.concatenate([
        xp.clip(local / 5.0, -1.5, 1.5), xp.clip(dist / 5.0, None, 1.5), xp.sin(yaw_err), xp.cos(yaw_err),
        base_lin_vel, yaw_rate[:, None] * 0.5, rays / ray_range, last_action, time_left[:, None],
    ], axis=1)


def decode_action(action, lows, highs, prior=None):
    """The high level's action (N, [S preferences,] 3) -> skill index (N,) and command (N, 3).

    With several skills the largest preference (plus the task's fixed per-skill `prior`, which
    sets the untrained policy's default skill) picks the skill; the command is tanh-squashed
    into the chosen skill's trained range (lows / highs: (S, 3)), so it can never leave it.
    Used by training (torch) and by the deployment runtime (numpy).
    """
    xp = array_module(action)
    num_skills = lows.shape[0]
    if num_skills > 1:
        prefs = action[:, :num_skills] if prior is None else action[:, :num_skills] + prior
        index = xp.argmax(prefs, axis=1)
        raw = action[:, num_skills:]
    else:
        index = xp.zeros(action.shape[0], dtype=xp.int64)
        if xp is not np:
            index = index.to(action.device)
        raw = action
    low, high = lows[index], highs[index]
    return index, low + (xp.tanh(raw) + 1.0) * 0.5 * (high - low)


def pure_pursuit_command(gx, gy, heading_error, v_max: float = 0.8, w_max: float = 1.0):
    """Turn towards a goal (x, y in the base frame) and walk to it, then align the heading (no obstacle avoidance):
    the scripted planner beside the learned high levels, and the explorer that records datasets. (N,) arrays in,
    (N, 3) commands out, numpy or torch."""
    xp = array_module(gx)
    dist = xp.sqrt(gx * gx + gy * gy)
    alpha = xp.arctan2(gy, gx) if xp is np else xp.atan2(gy, gx)
    far = dist > 0.4
    vx = xp.where(far, xp.clip(dist, None, v_max) * xp.clip(xp.cos(alpha), 0.0, None), xp.clip(1.5 * gx, -0.4, 0.4))
    vy = xp.where(far, xp.clip(0.5 * gy, -0.3, 0.3) * (xp.abs(alpha) < 0.8), xp.clip(1.5 * gy, -0.4, 0.4))
    wz = xp.where(far, xp.clip(2.0 * alpha, -w_max, w_max), xp.clip(2.0 * heading_error, -w_max, w_max))
    return xp.stack([vx, vy, wz], 1)
