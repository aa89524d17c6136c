"""g1_nav: high-level navigation for G1 over the frozen g1_walk skill (10 Hz -> 50 Hz)."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.navigation import NavigationCfg, NavigationEnv

KIND = "navigation"
SKILLS = ("policies/g1_walk",)


def env_cfg() -> NavigationCfg:
    return NavigationCfg(locomotion_task="g1_walk", skills=SKILLS, num_envs=256, block_prob=0.4)


def train_cfg() -> dict:
    return ppo_cfg(hidden=(128, 128), learning_rate=5e-4, init_std=0.8, entropy_coef=0.005)


make_env = NavigationEnv
