"""Termination terms: each a function of the environment returning (N,) bools; a task lists the ones that end
its episodes (`LocomotionCfg.terminations`); `TERMS` is the registry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from hrobot.errors import HRobotError

if TYPE_CHECKING:
    from hrobot.tasks.velocity.env import LocomotionEnv


def base_contact(env: LocomotionEnv) -> torch.Tensor:
    """The base, or a body the task lists in termination_contacts, touches the world."""
    return env.term_contact


def bad_orientation(env: LocomotionEnv) -> torch.Tensor:
    """Tilted more than termination_tilt from upright."""
    return env.projected_gravity[:, 2] > -math.cos(env.cfg.termination_tilt)


def base_too_low(env: LocomotionEnv) -> torch.Tensor:
    """The base below termination_height above the terrain under it."""
    return (env.base_pos[:, 2] - env.terrain_h) < env.cfg.termination_height


TERMS = {f.__name__: f for f in (base_contact, bad_orientation, base_too_low)}


def check(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in TERMS]
    if unknown:
        raise HRobotError(f"unknown termination term '{unknown[0]}' (expected one of {', '.join(TERMS)})")


def any_of(env: LocomotionEnv, names: Sequence[str]) -> torch.Tensor:
    out = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
    for n in names:
        out = out | TERMS[n](env)
    return out
