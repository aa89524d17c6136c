"""go2_crouch: a second Go2 skill, walking crouched (base ~0.17 m) to pass under low obstacles.

Same command interface as go2_walk (vx, vy, wz), slower ranges. Trained by fine-tuning
from go2_walk (`hrobot train go2_crouch --init-from runs/go2_walk`).
"""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.velocity.go2_walk import POLICY_OBS, REWARDS
from hrobot.tasks.velocity.env import CommandCfg, LocomotionCfg, LocomotionEnv

KIND = "locomotion"


def env_cfg(terrain: str = "flat") -> LocomotionCfg:
    rewards = dict(REWARDS)
    rewards["base_height"] = -40.0
    rewards["orientation"] = -2.0
    return LocomotionCfg(
        robot="go2",
        terrain=terrain,
        commands=CommandCfg(lin_vel_x=(-0.6, 0.6), lin_vel_y=(-0.3, 0.3), ang_vel_z=(-1.0, 1.0)),
        rewards=rewards,
        base_height_target=0.17,
        termination_height=0.08,
        policy_obs=POLICY_OBS,
    )


def train_cfg() -> dict:
    return ppo_cfg(hidden=(256, 128, 64))


make_env = LocomotionEnv
