"""go2_rough: go2_walk on rough ground with a height scan: perceptive, as legged_gym's and Isaac Lab's rough tasks.

The policy sees go2_walk's proprioception plus the terrain's height on an 11 x 11 grid (1 m x 1 m, 0.1 m apart)
around the base, yaw-aligned, as base height - target height - terrain height (the critic already saw it).
On a robot the scan comes from a robot-centric elevation map (for a Go2: its head LiDAR, or a depth
camera, through elevation mapping); a driver that does not deliver `height_scan` refuses the bundle.
Trained with uniform noise of +-5 cm on every point (a map's error), rewards and terrain as go2_walk's rough.
"""

from __future__ import annotations

from hrobot.obs import ObsTerm
from hrobot.tasks.velocity import go2_walk
from hrobot.tasks.velocity.env import PROPRIO_OBS, LocomotionCfg, LocomotionEnv

KIND = "locomotion"

POLICY_OBS = PROPRIO_OBS + (ObsTerm("height_scan", 5.0, noise=0.05, clip=1.0),)


def env_cfg(terrain: str = "rough") -> LocomotionCfg:
    cfg = go2_walk.env_cfg(terrain)
    cfg.rewards = dict(go2_walk.ROUGH_REWARDS)  # flat ground too: one policy, one set of terms
    cfg.policy_obs = POLICY_OBS
    return cfg


train_cfg = go2_walk.train_cfg
make_env = LocomotionEnv
