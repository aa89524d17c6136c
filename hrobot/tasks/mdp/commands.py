"""Command terms: what the task asks of the robot, resampled per env (`CommandCfg` sets the ranges and mix)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hrobot.tasks.velocity.env import LocomotionEnv


def resample_velocity(env: LocomotionEnv, ids: torch.Tensor) -> None:
    """New (vx, vy, wz) for the given envs: uniform in the (curriculum-scaled) ranges, with the standing and
    turn-in-place shares; held commands (evaluation) are restored instead."""
    if not len(ids):
        return
    if env.held_commands is not None:
        env.commands[ids] = env.held_commands[ids]
        env.command_timer[ids] = 0
        return
    c, n, s = env.cfg.commands, len(ids), env.cmd_scale
    env.commands[ids, 0] = env.uniform(c.lin_vel_x[0] * s, c.lin_vel_x[1] * s, n)
    env.commands[ids, 1] = env.uniform(c.lin_vel_y[0] * s, c.lin_vel_y[1] * s, n)
    env.commands[ids, 2] = env.uniform(c.ang_vel_z[0] * s, c.ang_vel_z[1] * s, n)
    stand = torch.rand(n, device=env.device, generator=env.gen) < c.standing_prob
    env.commands[ids] *= (~stand).float()[:, None]
    if c.turn_prob > 0:  # drawn only when used: tasks without it keep their random stream
        turn = torch.rand(n, device=env.device, generator=env.gen) < c.turn_prob
        env.commands[ids, :2] *= (~turn).float()[:, None]
    env.command_timer[ids] = 0
