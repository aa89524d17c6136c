"""go2_walk: Unitree Go2 class quadruped, velocity tracking (vx, vy, wz), blind (proprioception only)."""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.velocity.env import PROPRIO_OBS, CommandCfg, LocomotionCfg, LocomotionEnv

KIND = "locomotion"

POLICY_OBS = PROPRIO_OBS

REWARDS = {
    "tracking_lin_vel": 1.5,
    "tracking_ang_vel": 0.75,
    "lin_vel_z": -2.0,
    "ang_vel_xy": -0.05,
    "orientation": -1.0,
    "base_height": -10.0,
    "torques": -2e-4,
    "dof_acc": -2.5e-7,
    "action_rate": -0.01,
    "feet_air_time": 0.5,
    "collision": -1.0,
    "dof_pos_limits": -10.0,
    "stand_still": -0.5,
    "feet_slip": -0.05,
}


# On rough ground feet trip on stair edges and box sides: a swing foot is held to feet_swing_height above the
# ground under it (the squared shortfall or excess, swing feet only), as rough-terrain quadruped recipes do.
ROUGH_REWARDS = {**REWARDS, "feet_swing_height": -10.0}


def env_cfg(terrain: str = "flat") -> LocomotionCfg:
    return LocomotionCfg(
        robot="go2",
        terrain=terrain,
        commands=CommandCfg(lin_vel_x=(-1.0, 1.0), lin_vel_y=(-0.5, 0.5), ang_vel_z=(-1.0, 1.0)),
        rewards=dict(ROUGH_REWARDS if terrain == "rough" else REWARDS),
        base_height_target=0.30,
        termination_height=0.12,
        policy_obs=POLICY_OBS,
    )


def train_cfg() -> dict:
    return ppo_cfg(hidden=(256, 128, 64))


make_env = LocomotionEnv
