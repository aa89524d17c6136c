"""`hrobot sim2sim`: a bundle through the deployment runtime against native MuJoCo at another physics rate.

The bundle runs exactly as deployed (PolicyRuntime + SafetyLayer + motor-level PD) on a
SimRobot with a different PD / physics rate (default 1 kHz), sensor noise and command
latency, over the same command sweep, pushes and fall rule as `hrobot eval`, and the
results are reported next to the training-sim evaluation from the bundle's card.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from hrobot.bundle import check_provides, load_bundle
from hrobot.errors import HRobotError
from hrobot.eval import WARMUP_S, command_sweep
from hrobot.sim.robot import SimConfig, SimRobot
from hrobot.sim.scene import SceneConfig
from hrobot.sim.terrain import TERRAIN_TYPES, TerrainConfig
from hrobot.runtime import ControlLoop, Controller, PolicyRuntime
from hrobot.robots import load_robot
from hrobot.safety import JointCommand, SafetyConfig
from hrobot.spec import RobotSpec
from hrobot.tasks import TASKS, load_task
from hrobot.tasks.velocity.env import LocomotionCfg, for_robot


def protocol_cfg(b) -> LocomotionCfg:
    """Episode length, pushes and fall rule of the bundle's task (moved to the bundle's robot), or for a
    bundle without one (imported) the locomotion defaults with the fall height at the safety layer's
    0.4 x standing height; the command sweep always spans the bundle's own command ranges."""
    c = b.meta["command"]
    if list(c["names"]) != ["vx", "vy", "wz"]:
        raise HRobotError(f"{b.path}: sim2sim sweeps velocity commands (vx, vy, wz); the bundle's command is "
                          f"{c['names']}")
    task = b.meta.get("task")
    if task in TASKS and load_task(task).KIND == "locomotion":
        cfg = load_task(task).env_cfg("flat")
        if load_robot(cfg.robot).name != b.robot.name:
            cfg = for_robot(cfg, b.robot, task)[0]
    else:
        cfg = LocomotionCfg(robot=b.robot.name, termination_height=SafetyConfig().min_height_factor * b.robot.base_height)
    ranges = [(float(lo), float(hi)) for lo, hi in zip(c["low"], c["high"])]
    return replace(cfg, commands=replace(cfg.commands, lin_vel_x=ranges[0], lin_vel_y=ranges[1], ang_vel_z=ranges[2]))


def sim2sim(bundle_path: Path, episodes: int = 100, pd_rate_hz: float = 1000.0, noise: bool = True,
            latency: int = 1, seed: int = 7, robot_spec: RobotSpec | None = None, terrain_level: int | None = None) -> dict:
    """`robot_spec`: run on this robot's model instead of the bundle's own (it must pass the bundle's checks).
    `terrain_level`: on the rough terrain grid instead of flat ground, each episode starting at the centre of a tile of
    that level, the terrain types in turn (the simulated robot gives a perceptive policy the terrain as its map)."""
    b = load_bundle(bundle_path, robot_spec)
    if b.level != "low":
        raise HRobotError(f"{bundle_path}: sim2sim runs low-level (locomotion) bundles, found '{b.level}'")
    if "axes" in b.meta["command"]:
        return sim2sim_inhand(b, episodes, pd_rate_hz, noise, latency, seed, robot_spec)
    cfg = protocol_cfg(b)
    rt = PolicyRuntime(b)
    sim_cfg = SimConfig(pd_rate_hz=pd_rate_hz, command_latency=latency, seed=seed,
                        joint_pos_noise=0.01 if noise else 0.0, joint_vel_noise=0.5 if noise else 0.0,
                        gyro_noise=0.05 if noise else 0.0, tilt_noise=0.02 if noise else 0.0)
    terrain_cfg = TerrainConfig()
    if terrain_level is not None and not 0 <= terrain_level < terrain_cfg.num_levels:
        raise HRobotError(f"--terrain-level: expected a level in 0..{terrain_cfg.num_levels - 1}, got {terrain_level}")
    scene = None if terrain_level is None else SceneConfig(kind="rough", terrain=terrain_cfg, seed=seed, visual=False)
    robot = SimRobot(robot_spec or b.robot, scene=scene, config=sim_cfg)
    check_provides(b.meta, robot.provides, "the simulated robot", Path(bundle_path))  # e.g. a map off the terrain
    ctrl = Controller(rt)
    cmd = np.zeros(3)
    loop = ControlLoop(robot, ctrl, lambda: cmd)
    rng = np.random.default_rng(seed)
    commands = command_sweep(cfg, episodes).numpy()
    steps = int(round(cfg.episode_s / rt.robot.policy_dt))
    warm = int(round(WARMUP_S / rt.robot.policy_dt))
    push_every = int(round(cfg.randomization.push_interval_s / rt.robot.policy_dt))
    lin_err, yaw_err, fell, achieved = [], [], [], []
    for ep in range(episodes):
        robot.reset()
        if terrain_level is not None:  # at the centre of a tile of the level, facing a random way
            x, y = robot.sm.terrain.tile_centre(terrain_level, ep % terrain_cfg.num_types)
            robot.place(x, y, rng.uniform(-math.pi, math.pi))
        robot.activate()
        ctrl.run_policy()
        cmd[:] = commands[ep]
        errs_l, errs_y, vel = [], [], []
        fallen = False
        for t in range(steps):
            loop.step()
            robot.advance()
            if push_every and t % push_every == push_every - 1 and cfg.randomization.push_velocity > 0:
                a = robot.sm.base_dof_adr
                robot.data.qvel[a : a + 2] += rng.uniform(-1, 1, 2) * cfg.randomization.push_velocity
            pos, quat = robot.base_pose()
            up_z = 1.0 - 2.0 * (quat[1] ** 2 + quat[2] ** 2)
            ground = 0.0 if robot.height_map is None else float(robot.height_map.at(pos[:2]))
            if robot.safety.tripped or pos[2] - ground < cfg.termination_height or math.acos(np.clip(up_z, -1, 1)) > cfg.termination_tilt:
                fallen = True
                break
            if t >= warm:
                lin, ang = robot.base_velocity()
                errs_l.append(float(np.linalg.norm(cmd[:2] - lin[:2])))
                errs_y.append(float(abs(cmd[2] - ang[2])))
                vel.append([lin[0], lin[1], ang[2]])
        fell.append(fallen)
        lin_err.append(np.mean(errs_l) if errs_l else np.nan)
        yaw_err.append(np.mean(errs_y) if errs_y else np.nan)
        achieved.append(np.mean(vel, axis=0).tolist() if vel else [np.nan] * 3)
    res = {
        "bundle": str(bundle_path),
        "robot": robot.robot.name,
        "model": robot.robot.model,
        "command_ranges": {"low": list(b.meta["command"]["low"]), "high": list(b.meta["command"]["high"])},
        "conditions": {"pd_rate_hz": pd_rate_hz, "training_pd_rate_hz": rt.robot.pd_rate_hz, "command_latency_steps": latency,
                       "sensor_noise": {k: getattr(sim_cfg, k) for k in ("joint_pos_noise", "joint_vel_noise",
                                                                          "gyro_noise", "tilt_noise")},
                       "pushes": {"interval_s": cfg.randomization.push_interval_s,
                                  "velocity": cfg.randomization.push_velocity},
                       "episodes": episodes, "episode_s": cfg.episode_s},
        "lin_vel_error": float(np.nanmean(lin_err)),
        "yaw_rate_error": float(np.nanmean(yaw_err)),
        "fall_rate": float(np.mean(fell)),
        "episodes": episodes,
        "safety_trips": [t.reason for t in robot.safety.trips],
    }
    if terrain_level is not None:
        types = np.arange(episodes) % terrain_cfg.num_types
        res["terrain"] = {"level": terrain_level, "difficulty": terrain_level / (terrain_cfg.num_levels - 1),
                          "fall_rate_by_type": {TERRAIN_TYPES[k]: float(np.mean(np.asarray(fell)[types == k]))
                                                for k in range(min(terrain_cfg.num_types, episodes))}}
    card = Path(bundle_path) / "card.json"
    train_eval = json.loads(card.read_text()).get("evaluation") if card.is_file() and terrain_level is None else None
    if train_eval:
        res["training_sim"] = {k: train_eval[k] for k in ("lin_vel_error", "yaw_rate_error", "fall_rate", "episodes")}
        res["lin_vel_error_ratio"] = res["lin_vel_error"] / train_eval["lin_vel_error"]
        res["yaw_rate_error_ratio"] = res["yaw_rate_error"] / train_eval["yaw_rate_error"]
    return res


DROP_DISTANCE = 0.07  # m from where the cube rests on the hand, as in training (InHandCfg.drop_distance)
INHAND_EPISODE_S = 20.0


def sim2sim_inhand(b, episodes: int, pd_rate_hz: float, noise: bool, latency: int, seed: int,
                   robot_spec: RobotSpec | None = None) -> dict:
    """A rotation skill as deployed on the simulated hand: each episode holds one of the bundle's axes at a speed
    swept over its range (as `hrobot eval`); the achieved rotation rate about the commanded axis while the cube is
    in the hand, and drops (7 cm from its resting place)."""
    c = b.meta["command"]
    axes, (lo, hi) = np.asarray(c["axes"], dtype=np.float64), c["speeds"]
    rt = PolicyRuntime(b)
    sim_cfg = SimConfig(pd_rate_hz=pd_rate_hz, command_latency=latency, seed=seed,
                        joint_pos_noise=0.01 if noise else 0.0, joint_vel_noise=0.5 if noise else 0.0)
    robot = SimRobot(robot_spec or b.robot, config=sim_cfg)
    ctrl = Controller(rt)
    cmd = np.zeros(3)
    loop = ControlLoop(robot, ctrl, lambda: cmd)
    dt = rt.robot.policy_dt
    robot.activate()
    for _ in range(int(round(1.0 / dt))):  # where the cube rests on the hand in its default pose
        robot.send(JointCommand.hold(rt.robot, rt.default_pose()))
        robot.advance()
    rest = robot.object_pose()[0].copy()
    steps = int(round(INHAND_EPISODE_S / dt))
    rates, dropped, speeds = [], [], []
    d = robot.model.jnt_dofadr[robot.model.body("object").jntadr[0]]
    for ep in range(episodes):
        k = ep % len(axes)
        speed = lo + (hi - lo) * (ep // len(axes)) / max((episodes - 1) // len(axes), 1)
        robot.reset()
        robot.activate()
        ctrl.run_policy()
        cmd[:] = axes[k] * speed
        turned, alive, drop = 0.0, 0.0, False
        for _ in range(steps):
            loop.step()
            robot.advance()
            rot = robot.data.xmat[robot.sm.base_body].reshape(3, 3)
            w_palm = rot.T @ robot.data.qvel[d + 3:d + 6]
            turned += float(w_palm @ axes[k]) * dt
            alive += dt
            if np.linalg.norm(robot.object_pose()[0] - rest) > DROP_DISTANCE or robot.safety.tripped:
                drop = True
                break
        rates.append(turned / alive)
        dropped.append(drop)
        speeds.append(speed)
    rates, dropped, speeds = np.array(rates), np.array(dropped), np.array(speeds)
    per_axis = []
    for k, a in enumerate(axes):
        sel = np.arange(episodes) % len(axes) == k
        per_axis.append({"axis": a.tolist(), "episodes": int(sel.sum()), "commanded_rad_s": float(speeds[sel].mean()),
                         "achieved_rad_s": float(rates[sel].mean()),
                         "achieved_over_commanded": float((rates[sel] / speeds[sel]).mean()),
                         "drop_rate": float(dropped[sel].mean())})
    res = {"bundle": str(b.path), "robot": robot.robot.name,
           "conditions": {"pd_rate_hz": pd_rate_hz, "training_pd_rate_hz": b.meta.get("training_pd_rate_hz"),
                          "command_latency_steps": latency, "joint_pos_noise": sim_cfg.joint_pos_noise,
                          "episodes": episodes, "episode_s": INHAND_EPISODE_S},
           "drop_rate": float(dropped.mean()), "axes": per_axis, "episodes": episodes,
           "safety_trips": [t.reason for t in robot.safety.trips]}
    card = Path(b.path) / "card.json"
    train_eval = json.loads(card.read_text()).get("evaluation") if card.is_file() else None
    if train_eval and "axes" in train_eval:
        res["training_sim"] = {"drop_rate": train_eval["drop_rate"],
                               "achieved_over_commanded": [a["achieved_over_commanded"] for a in train_eval["axes"]]}
    return res

