"""go2_nav: high-level navigation for Go2 over the frozen go2_walk skill (10 Hz -> 50 Hz)."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.navigation.env import NavigationCfg, NavigationEnv

KIND = "navigation"
SKILLS = ("policies/go2_walk",)


def env_cfg() -> NavigationCfg:
    return NavigationCfg(locomotion_task="go2_walk", skills=SKILLS, num_envs=512, block_prob=0.4)


def train_cfg() -> dict:
    return ppo_cfg(hidden=(128, 128), learning_rate=5e-4, init_std=0.8, entropy_coef=0.005)


make_env = NavigationEnv
