"""Reward terms: each a function of the environment returning (N,) per step; a task's config names and weights them.

Written for the velocity-tracking (locomotion) environment's state (`hrobot.tasks.velocity.env`),
legged_gym / Isaac Lab terms under their usual names. A task picks terms by name in its
`rewards` mapping (name -> weight, multiplied by the policy dt); `TERMS` is the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hrobot.tasks.velocity.env import LocomotionEnv


def tracking_lin_vel(env: LocomotionEnv) -> torch.Tensor:
    err = ((env.commands[:, :2] - env.base_lin_vel[:, :2]) ** 2).sum(dim=1)
    return torch.exp(-err / env.cfg.tracking_sigma)


def tracking_ang_vel(env: LocomotionEnv) -> torch.Tensor:
    return torch.exp(-ang_vel_z_error(env) / env.cfg.tracking_sigma)


def ang_vel_z_error(env: LocomotionEnv) -> torch.Tensor:
    """Squared yaw-rate error: a gradient where tracking_ang_vel's exp kernel has flattened out."""
    return (env.commands[:, 2] - env.base_ang_vel[:, 2]) ** 2


def lin_vel_z(env: LocomotionEnv) -> torch.Tensor:
    return env.base_lin_vel[:, 2] ** 2


def ang_vel_xy(env: LocomotionEnv) -> torch.Tensor:
    return (env.base_ang_vel[:, :2] ** 2).sum(dim=1)


def orientation(env: LocomotionEnv) -> torch.Tensor:
    return (env.projected_gravity[:, :2] ** 2).sum(dim=1)


def base_height(env: LocomotionEnv) -> torch.Tensor:
    return (env.base_pos[:, 2] - env.terrain_h - env.cfg.base_height_target) ** 2


def applied_torques(env: LocomotionEnv) -> torch.Tensor:
    tau = env.kp * (env.targets - env.joint_pos) - env.kd * env.joint_vel
    return torch.maximum(torch.minimum(tau, env.torque_limits), -env.torque_limits)


def torques(env: LocomotionEnv) -> torch.Tensor:
    return (applied_torques(env) ** 2).sum(dim=1)


def dof_acc(env: LocomotionEnv) -> torch.Tensor:
    return (((env.joint_vel - env.last_joint_vel) / env.dt) ** 2).sum(dim=1)


def dof_vel(env: LocomotionEnv) -> torch.Tensor:
    return (env.joint_vel**2).sum(dim=1)


def action_rate(env: LocomotionEnv) -> torch.Tensor:
    return ((env.actions - env.last_actions) ** 2).sum(dim=1)


def feet_air_time(env: LocomotionEnv) -> torch.Tensor:
    moving = env.commands[:, :2].norm(dim=1) > 0.1
    return env.feet_air_time_reward * moving


def collision(env: LocomotionEnv) -> torch.Tensor:
    return env.bad_contacts


def dof_pos_limits(env: LocomotionEnv) -> torch.Tensor:
    below = (env.soft_lower - env.joint_pos).clamp(min=0)
    above = (env.joint_pos - env.soft_upper).clamp(min=0)
    return (below + above).sum(dim=1)


def stand_still(env: LocomotionEnv) -> torch.Tensor:
    still = (env.commands.norm(dim=1) < 0.1).float()
    return (env.joint_pos - env.default_pose).abs().sum(dim=1) * still


def alive(env: LocomotionEnv) -> torch.Tensor:
    return torch.ones(env.num_envs, device=env.device)


def termination(env: LocomotionEnv) -> torch.Tensor:
    return env._terminated_now.float()


def joint_deviation(env: LocomotionEnv) -> torch.Tensor:
    return (env.joint_pos - env.default_pose)[:, env.deviation_idx].abs().sum(dim=1)


def foot_height(env: LocomotionEnv) -> torch.Tensor:
    return env.foot_pos[:, :, 2] - env.heights(env.foot_pos[:, :, :2])


def settled(env: LocomotionEnv) -> torch.Tensor:
    """False on an episode's first step: sensors (foot positions) still show the previous episode then."""
    return (env.episode_length_buf > 1).float()


def feet_swing_height(env: LocomotionEnv) -> torch.Tensor:
    return (((foot_height(env) - env.cfg.feet_swing_height) ** 2) * ~env.foot_contact).sum(dim=1) \
        * settled(env)


def feet_slip(env: LocomotionEnv) -> torch.Tensor:
    vel = (env.foot_pos[:, :, :2] - env.last_foot_pos[:, :, :2]) / env.dt
    return ((vel**2).sum(dim=2) * env.foot_contact).sum(dim=1) * settled(env)


def clock_stance(env: LocomotionEnv) -> torch.Tensor:
    """(N, feet) True where the gait clock puts a foot in stance: the first `stance_fraction` of its phase, each
    foot's phase shifted by 1 / feet of a cycle."""
    offsets = torch.arange(env.nfeet, device=env.device) / env.nfeet
    leg_phase = torch.remainder(env.phase[:, None] + offsets[None], 1.0)
    return leg_phase < env.cfg.stance_fraction


def gait_contact(env: LocomotionEnv) -> torch.Tensor:
    """Each foot in contact when the clock says stance, off the ground when it says swing."""
    return (clock_stance(env) == env.foot_contact).float().sum(dim=1)


def swing_clearance(env: LocomotionEnv) -> torch.Tensor:
    """A foot in its clock's swing phase is rewarded for its height above the ground, up to feet_swing_height: a
    slope towards lifting it (gait_contact alone pays a shuffling foot for the stance half of its cycle)."""
    lift = (foot_height(env) / env.cfg.feet_swing_height).clamp(0.0, 1.0)
    return (lift * ~clock_stance(env)).sum(dim=1) * settled(env)



TERMS = {f.__name__: f for f in (
    tracking_lin_vel, tracking_ang_vel, ang_vel_z_error, lin_vel_z, ang_vel_xy, orientation, base_height, torques, dof_acc, dof_vel, action_rate, feet_air_time, collision, dof_pos_limits, stand_still, alive, termination, joint_deviation, feet_swing_height, feet_slip, gait_contact, swing_clearance,
)}
