"""`hrobot robots check`: compile a robot, hold its default pose under its own PD gains, report.

Pass criteria:
- the spec validates against the compiled model (joints, limits, base, sensors);
- total mass within 5 % of the published mass, where the spec gives one;
- floating base: no fall, and base height drift below 2 cm between the end of the
  first second (the static sag of the PD gains has settled by then) and the end;
- fixed base: every joint within 0.1 rad of its default at the end;
- the simulation stays sound: no MuJoCo divergence warning, finite state, no kinetic-energy
  spike (a blow-up is reported as such, never as a fall).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import mujoco
import numpy as np

from hrobot.sim.model import SimModel, build_sim_model
from hrobot.sim.stability import StabilityWatch, numerics_advice, quiet_mujoco_warnings
from hrobot.spec import RobotSpec

MASS_TOLERANCE = 0.05
DRIFT_LIMIT_M = 0.02
FIXED_BASE_JOINT_ERROR_LIMIT = 0.1
SETTLE_S = 1.0


@dataclass
class CheckReport:
    robot: str
    model: str
    num_joints: int
    total_mass_kg: float
    published_mass_kg: float | None
    mass_error_pct: float | None
    hold_s: float
    initial_base_height_m: float | None
    settle_sag_m: float | None  # base height lost in the first second (static deflection)
    base_height_drift_m: float | None  # |h(end) - h(1 s)|
    max_tilt_deg: float | None
    max_joint_error_rad: float  # at the end of the hold
    fell: bool
    finite: bool
    stable: bool
    instability: str | None  # what blew up, and when
    passed: bool
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_robot(robot: RobotSpec, hold_s: float = 10.0) -> CheckReport:
    sm = build_sim_model(robot)  # raises HRobotError with the exact mismatch
    m = sm.model
    d = mujoco.MjData(m)
    d.qpos[:] = sm.default_qpos()
    d.ctrl[:] = robot.default_pose
    mujoco.mj_forward(m, d)

    steps = int(round(hold_s / m.opt.timestep))
    settle = min(int(round(SETTLE_S / m.opt.timestep)), steps)
    heights = np.empty(steps + 1)
    heights[0] = d.xpos[sm.base_body, 2]
    max_tilt = 0.0
    watch = StabilityWatch(sm)
    with quiet_mujoco_warnings():
        for i in range(steps):
            mujoco.mj_step(m, d)
            if not watch.check(d):
                heights[i + 1 :] = np.nan
                break
            heights[i + 1] = d.xpos[sm.base_body, 2]
            up_z = d.xmat[sm.base_body, 8]  # z component of the base's z axis
            max_tilt = max(max_tilt, float(np.degrees(np.arccos(np.clip(up_z, -1.0, 1.0)))))
    finite = bool(np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all())
    joint_err = float(np.abs(d.qpos[sm.qpos_adr] - robot.default_pose).max()) if not watch.problem else float("nan")
    return _report(robot, sm, hold_s, heights, settle, max_tilt, joint_err, finite, watch.problem)


def _report(robot, sm: SimModel, hold_s, heights, settle, max_tilt, joint_err, finite, problem) -> CheckReport:
    mass = sm.total_mass()
    pub = robot.published_mass_kg
    mass_err = None if pub is None else 100.0 * (mass - pub) / pub
    failures = []
    if problem:
        failures.append(f"{numerics_advice(robot)}: {problem}")
    if mass_err is not None and abs(mass_err) > 100 * MASS_TOLERANCE:
        failures.append(f"total mass {mass:.3f} kg is {mass_err:+.1f} % off the published {pub} kg (limit 5 %)")
    initial = sag = drift = tilt = None
    fell = False
    if robot.floating_base:
        initial, tilt = float(heights[0]), max_tilt
        sag = float(heights[0] - heights[settle])
        drift = float(abs(heights[-1] - heights[settle]))
        fell = bool(not problem and (heights[-1] < 0.5 * robot.base_height or max_tilt > 45.0))
        if fell:
            failures.append(f"the robot fell (base height {heights[-1]:.3f} m, max tilt {max_tilt:.1f} deg)")
        elif drift >= DRIFT_LIMIT_M:
            failures.append(f"base height drifted {drift * 100:.1f} cm after settling (limit 2 cm)")
    elif not problem and joint_err > FIXED_BASE_JOINT_ERROR_LIMIT:
        failures.append(f"max joint error {joint_err:.3f} rad (limit {FIXED_BASE_JOINT_ERROR_LIMIT} rad)")
    return CheckReport(
        robot=robot.name,
        model=robot.model,
        num_joints=robot.num_joints,
        total_mass_kg=mass,
        published_mass_kg=pub,
        mass_error_pct=mass_err,
        hold_s=hold_s,
        initial_base_height_m=initial,
        settle_sag_m=sag,
        base_height_drift_m=drift,
        max_tilt_deg=tilt,
        max_joint_error_rad=joint_err,
        fell=fell,
        finite=finite,
        stable=problem is None,
        instability=problem,
        passed=not failures,
        failures=failures,
    )
