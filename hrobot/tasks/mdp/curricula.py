"""Curriculum terms: the command range and the terrain level grow with the policy's progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hrobot.tasks.velocity.env import LocomotionEnv


def command_range(env: LocomotionEnv, log: dict) -> None:
    """Widen the command ranges by curriculum_step when the episodes' velocity tracking is good enough."""
    c = env.cfg.commands
    tracked = log["Episode_Reward/tracking_lin_vel"] / (env.cfg.rewards["tracking_lin_vel"])
    if tracked > c.curriculum_threshold:
        env.cmd_scale = min(1.0, env.cmd_scale + c.curriculum_step)


def terrain_levels(env: LocomotionEnv, ids: torch.Tensor) -> None:
    """legged_gym's game-inspired curriculum: up a level after walking half a tile, down after walking less than
    half the commanded distance. Distance walked is the episode's path length, not legged_gym's displacement from
    the spawn point: its commands hold a heading, ours a yaw rate, and a robot tracking a turn walks a circle
    (measured: displacement sank the mean level from 1.5 to 0.45 in 400 iterations while episodes grew longer)."""
    dist = env.path_length[ids]
    tile = env.cfg.terrain_cfg.tile_size
    up = dist > tile / 2
    down = (dist < env.commands[ids, :2].norm(dim=1) * env.cfg.episode_s * 0.5) & ~up
    levels = env.terrain_levels[ids] + up.long() - down.long()
    top = env.cfg.terrain_cfg.num_levels
    wrap = levels >= top
    levels[wrap] = torch.randint(0, top, (int(wrap.sum()),), device=env.device, generator=env.gen)
    env.terrain_levels[ids] = levels.clamp(min=0)
