"""g1_nav: high-level navigation for G1 over the frozen g1_walk skill (10 Hz -> 50 Hz), go2_nav's PPO."""

from __future__ import annotations

from hrobot.tasks.navigation.go2_nav import train_cfg  # noqa: F401  (the same high-level PPO as go2_nav)
from hrobot.tasks.navigation.env import NavigationCfg, NavigationEnv

KIND = "navigation"
SKILLS = ("policies/g1_walk",)


def env_cfg() -> NavigationCfg:
    return NavigationCfg(locomotion_task="g1_walk", skills=SKILLS, num_envs=256, block_prob=0.4)


make_env = NavigationEnv
