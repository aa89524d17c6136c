"""leap_reorient_flat: the flat baseline for leap_reorient. One policy maps the goal and the hand's own
observations straight to joint targets at 20 Hz (no skill), as MuJoCo Playground's LeapCubeReorient, trained
with the same low-level env-step budget."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.inhand.reorient import ReorientCfg, ReorientEnv

KIND = "reorientation"


def env_cfg() -> ReorientCfg:
    return ReorientCfg(skills=(), num_envs=1024, flat=True)


def train_cfg() -> dict:
    return ppo_cfg(hidden=(512, 256, 128), num_steps_per_env=32, learning_rate=3e-4, entropy_coef=0.005, init_std=0.5)


make_env = ReorientEnv
