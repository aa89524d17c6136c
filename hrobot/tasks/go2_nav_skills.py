"""go2_nav_skills: Go2 navigation choosing between two skills (walk, crouch) per high-level step.

A share of the layouts has a low bar across the arena between start and goal; only the
crouch skill passes under it, so the high level must learn to switch skills.
"""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.navigation import NavigationCfg, NavigationEnv

KIND = "navigation"
SKILLS = ("policies/go2_walk", "policies/go2_crouch")


def env_cfg() -> NavigationCfg:
    # The untrained high level defaults to crouching (it passes everywhere, slower); training learns
    # to walk where that is faster and to keep crouching under the bar. A prior of 3 outweighs the
    # exploration noise on the two preferences (std ~1 each), so walking is rarely sampled at the bar.
    return NavigationCfg(locomotion_task="go2_walk", skills=SKILLS, num_envs=512, bar_prob=0.6, obstacle_prob=0.4,
                         skill_prior=(0.0, 3.0))


def train_cfg() -> dict:
    return ppo_cfg(hidden=(128, 128), learning_rate=5e-4, init_std=0.8, entropy_coef=0.005)


make_env = NavigationEnv
