"""Event terms: domain randomisation at reset and pushes during episodes (`RandomizationCfg` sets their ranges)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hrobot.tasks.velocity.env import LocomotionEnv


def randomize_physics(env: LocomotionEnv, ids: torch.Tensor) -> None:
    """Floor friction, added base mass, base centre of mass, PD gains and motor strength of the reset envs."""
    rc, n = env.cfg.randomization, len(ids)
    if not rc.enabled or env.eval_mode:
        return
    friction = env.uniform(*rc.friction, n)
    env.dr_friction[ids] = friction
    env.sim.set_model_field("geom_friction", ids, (env.floor_geom, 0), friction)
    base_mass = float(env.sm.model.body_mass[env.base_body])
    added = env.uniform(*rc.added_base_mass, n)
    env.dr_mass[ids] = added
    env.sim.set_model_field("body_mass", ids, env.base_body, base_mass + added)
    ipos = torch.as_tensor(env.sm.model.body_ipos[env.base_body], dtype=torch.float32, device=env.device)
    com = ipos + env.uniform(-rc.com_offset, rc.com_offset, n, 3)
    env.sim.set_model_field("body_ipos", ids, env.base_body, com)
    if env.payload_ids:
        total = env.uniform(*rc.payload_mass, n)
        share = torch.rand(n, len(env.payload_ids), device=env.device, generator=env.gen)
        add_payload(env, ids, total[:, None] * share / share.sum(dim=1, keepdim=True))
    env.sim.set_constants(ids)  # MuJoCo's mass-derived constants (constraint scaling) follow the new masses
    strength = env.uniform(*rc.motor_strength, n, 1)
    kp_spec = torch.as_tensor(env.robot.kp, dtype=torch.float32, device=env.device)
    kd_spec = torch.as_tensor(env.robot.kd, dtype=torch.float32, device=env.device)
    kp = kp_spec * env.uniform(*rc.kp_scale, n, env.num_actions) * strength
    kd = kd_spec * env.uniform(*rc.kd_scale, n, env.num_actions) * strength
    env.kp[ids], env.kd[ids] = kp, kd
    env.sim.set_model_field("actuator_gainprm", ids, (slice(None), 0), kp)
    env.sim.set_model_field("actuator_biasprm", ids, (slice(None), 1), -kp)
    env.sim.set_model_field("actuator_biasprm", ids, (slice(None), 2), -kd)


def push_robots(env: LocomotionEnv) -> None:
    """Every push interval, a random horizontal velocity change of the base (up to push_velocity)."""
    rc = env.cfg.randomization
    if not rc.enabled or rc.push_velocity <= 0:
        return
    ids = torch.nonzero(env.push_timer >= env.push_steps()).flatten()
    if not len(ids):
        return
    env.push_timer[ids] = 0
    d = env.base_d
    qvel = env.sim.qvel[ids].clone()
    qvel[:, d : d + 2] += env.uniform(-rc.push_velocity, rc.push_velocity, len(ids), 2).to(qvel.dtype)
    env.sim.qvel[ids] = qvel


def add_payload(env: LocomotionEnv, ids: torch.Tensor, kg: torch.Tensor) -> None:
    """Masses kg (len(ids), len(payload_bodies)) added to the payload bodies of envs ids, at each body's centre of
    mass (a load held there); the caller re-derives the model's constants (`sim.set_constants`)."""
    for k, body in enumerate(env.payload_ids):
        env.sim.set_model_field("body_mass", ids, body, float(env.sm.model.body_mass[body]) + kg[:, k])
