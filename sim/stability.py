"""Numerical blow-up detection for single-model simulation (`robots check`, `robots render`).

A model that explodes is not a robot that fell: MuJoCo's own divergence warnings, a non-finite
state, and a kinetic-energy spike (more than the robot could gain by dropping its whole mass
twice its standing height) are each named as what they are.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import mujoco
import numpy as np

from hrobot.sim.model import SimModel

DIVERGENCE = {mujoco.mjtWarning.mjWARN_BADQACC: "bad acceleration (QACC)",
              mujoco.mjtWarning.mjWARN_BADQPOS: "bad position (QPOS)",
              mujoco.mjtWarning.mjWARN_BADQVEL: "bad velocity (QVEL)"}
ENERGY_FACTOR = 2.0


@dataclass
class StabilityWatch:
    """Call `check(data)` after each step; `problem` is set (and stays) at the first sign of a blow-up."""

    sm: SimModel
    problem: str | None = None

    def __post_init__(self) -> None:
        m = self.sm.model
        m.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY
        height = max(self.sm.robot.base_height, 0.1)
        self.energy_limit = ENERGY_FACTOR * self.sm.total_mass() * 9.81 * height  # J

    def check(self, d: mujoco.MjData) -> bool:
        """True while the simulation is sound."""
        if self.problem:
            return False
        for w, what in DIVERGENCE.items():
            if d.warning[w].number:
                self.problem = f"MuJoCo reported {what} at t = {d.time:.3f} s (the simulation is unstable)"
                return False
        if not (np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()):
            self.problem = f"non-finite state (NaN or inf) at t = {d.time:.3f} s"
            return False
        kinetic = float(d.energy[1])
        if kinetic > self.energy_limit:
            self.problem = (f"kinetic energy spiked to {kinetic:.3g} J at t = {d.time:.3f} s (a robot holding still "
                            f"cannot exceed {self.energy_limit:.3g} J)")
            return False
        return True


@contextlib.contextmanager
def quiet_mujoco_warnings():
    """MuJoCo prints divergence warnings to stderr; while checking, they are reported by StabilityWatch instead."""
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda msg: None)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def numerics_advice(robot) -> str:
    return (f"numerical blow-up, not a fall: check the model's inertias and joint armature, the gains "
            f"(kp/kd) against them, and the integrator ('{robot.integrator}'; implicitfast is the stable choice) "
            f"and pd_rate_hz ({robot.pd_rate_hz:g})")
