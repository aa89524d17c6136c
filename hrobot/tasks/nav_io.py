"""The high level's observation and action decoding, shared by training and deployment.

Kept apart from the navigation environment so that a deployed planner imports only torch
(not the simulator and training stack) to run the exact functions training used.
"""

from __future__ import annotations

import torch

from hrobot.geometry import wrap_to_pi


def navigation_observation(base_xy: torch.Tensor, base_yaw: torch.Tensor, base_lin_vel: torch.Tensor,
                           yaw_rate: torch.Tensor, goal: torch.Tensor, rays: torch.Tensor, last_action: torch.Tensor,
                           time_left: torch.Tensor, ray_range: float) -> torch.Tensor:
    """High-level observation, the same in training and deployment (all inputs batched).

    goal: (N, 3) x, y, heading in the world; base_lin_vel: (N, 2) base frame; rays: (N, R) distances (m).
    """
    d = goal[:, :2] - base_xy
    c, s = torch.cos(base_yaw), torch.sin(base_yaw)
    local = torch.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], dim=1)
    dist = d.norm(dim=1, keepdim=True)
    yaw_err = wrap_to_pi(goal[:, 2] - base_yaw)[:, None]
    return torch.cat([
        (local / 5.0).clamp(-1.5, 1.5), (dist / 5.0).clamp(max=1.5), torch.sin(yaw_err), torch.cos(yaw_err),
        base_lin_vel, yaw_rate[:, None] * 0.5, rays / ray_range, last_action, time_left[:, None],
    ], dim=1)


def decode_action(action: torch.Tensor, lows: torch.Tensor, highs: torch.Tensor,
                  prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The high level's action (N, [S preferences,] 3) -> skill index (N,) and command (N, 3).

    With several skills the largest preference (plus the task's fixed per-skill `prior`, which
    sets the untrained policy's default skill) picks the skill; the command is tanh-squashed
    into the chosen skill's trained range (lows / highs: (S, 3)), so it can never leave it.
    Used by training and by the deployment runtime.
    """
    num_skills = lows.shape[0]
    if num_skills > 1:
        prefs = action[:, :num_skills] if prior is None else action[:, :num_skills] + prior
        index = prefs.argmax(dim=1)
        raw = action[:, num_skills:]
    else:
        index = torch.zeros(action.shape[0], dtype=torch.long, device=action.device)
        raw = action
    low, high = lows[index], highs[index]
    return index, low + (torch.tanh(raw) + 1.0) * 0.5 * (high - low)
