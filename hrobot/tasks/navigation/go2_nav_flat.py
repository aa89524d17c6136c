"""go2_nav_flat: the flat baseline for go2_nav. One policy maps goal + rays + proprioception
straight to joint targets at 50 Hz (no skill), trained with the same low-level env-step budget, on go2_nav's layouts."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.navigation.env import NavigationCfg, NavigationEnv

KIND = "navigation"


def env_cfg() -> NavigationCfg:
    return NavigationCfg(locomotion_task="go2_walk", skills=(), num_envs=1024, flat=True, block_prob=0.4)


def train_cfg() -> dict:
    return ppo_cfg(hidden=(256, 128, 64))


make_env = NavigationEnv
