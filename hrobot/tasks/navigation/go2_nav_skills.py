"""go2_nav_skills: Go2 navigation choosing between two skills (walk, crouch) per high-level step.

A share of the layouts has a low bar across the arena between start and goal; only the
crouch skill passes under it, so the high level must learn to switch skills.
"""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.navigation.env import NavigationCfg, NavigationEnv

KIND = "navigation"
SKILLS = ("policies/go2_walk", "policies/go2_crouch")


def env_cfg() -> NavigationCfg:
    # Trained in two stages (policies/go2_nav_skills/card.json).
    # (1) From scratch with crouch as the default skill (the config of commit 21a1386: prior (0, 3),
    #     which outweighs the exploration noise on the two preferences, std ~1 each; time 0.02 per
    #     second). Crouching passes everywhere, so the policy learns the task safely. It also learned
    #     where the bar is (walk-minus-crouch preference -1.5 on bar layouts, -0.6 on open ones), but
    #     the prior kept it crouching everywhere: 4.7 s to open-layout goals against go2_nav's 3.2 s.
    #     Lowering the prior to 1 did not fix that: walking, sampled on single steps, stayed at 5-7 %
    #     of steps over 70 iterations (runs/go2_nav_skills_v6).
    # (2) This config: walk is the default (prior (1, 0)). On stage 1's weights that already splits the
    #     choice by situation (probe: walking on 79 % of open-layout steps, 15 % on bar layouts, 96 %
    #     bar success); fine-tuning fits the commands to the faster walk. Time costs 0.2 per second, so
    #     crouching where walking is safe costs reward; over a whole 20 s episode that stays below the
    #     collision and fall penalties, so ending an episode early never pays.
    cfg = NavigationCfg(locomotion_task="go2_walk", skills=SKILLS, num_envs=512, bar_prob=0.6, obstacle_prob=0.4,
                        skill_prior=(1.0, 0.0))
    cfg.rewards["time"] = -0.2
    return cfg


def train_cfg() -> dict:
    return ppo_cfg(hidden=(128, 128), learning_rate=5e-4, init_std=0.8, entropy_coef=0.005)


make_env = NavigationEnv
