"""leap_reorient: LEAP hand class, goal orientations of the cube reached by a high level over the frozen
leap_rotate skill (5 Hz -> 20 Hz)."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.inhand.reorient import ReorientCfg, ReorientEnv

KIND = "reorientation"
SKILLS = ("policies/leap_rotate",)


def env_cfg() -> ReorientCfg:
    return ReorientCfg(skills=SKILLS, num_envs=256)


def train_cfg() -> dict:
    return ppo_cfg(hidden=(128, 128), learning_rate=5e-4, init_std=0.8, entropy_coef=0.005)


make_env = ReorientEnv
