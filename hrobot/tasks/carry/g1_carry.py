"""g1_carry: G1 class humanoid carrying a board with a simulated partner; a high level (10 Hz) turns the wrench at
its wrists into velocity commands for the frozen g1_walk skill (50 Hz), trained with PPO."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.carry.env import CarryCfg, CarryEnv

KIND = "carry"
SKILLS = ("policies/g1_walk",)


def env_cfg() -> CarryCfg:
    return CarryCfg(locomotion_task="g1_walk", skills=SKILLS, num_envs=256)


def train_cfg() -> dict:
    return ppo_cfg(hidden=(128, 128), learning_rate=5e-4, init_std=0.5, entropy_coef=0.005)


make_env = CarryEnv
