"""Recorded driving as navigation trajectories: hrobot bags (or a folder of them), their LeRobot-format export,
or a dataset written by `hrobot collect` in OGBench's npz layout.

At the high level's rate, each step's state is read from the recording (zero-order hold): odometry pose
and velocities, the two ray scans, and the skill command that was active one step before; its action
is the command active from that step on (the planner's or the teleoperator's, as the controller's
/cmd_source says). Episodes are the recording's (its marks, else each bag whole), each ended at the first
safety trip in it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from hrobot.errors import HRobotError
from hrobot.tasks.offline.data import Trajectories, load_npz
from hrobot.tasks.offline.goals import NavGoals

GOAL_SPACE_KEY = "goal_space"  # what an npz dataset written from recordings says about its states


def _yaw(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _check_scan(stream, name: str, goals: NavGoals, where: Path) -> None:
    scan = goals.scan
    rays = stream.values["ranges"].shape[1]
    a0, inc, rmax = stream.values["layout"][0]
    for field, got, want in (("rays", rays, scan.num_rays), ("angle_min", a0, 0.0),
                             ("angle_increment", inc, scan.angle_increment), ("range_max", rmax, scan.range)):
        if not math.isclose(float(got), float(want), abs_tol=1e-3):
            raise HRobotError(f"{where}: /{name} {field}: expected {want:g} (the high level's scan layout), got "
                              f"{float(got):g}")


def _bag_trajectories(bag: Path, goals: NavGoals, rate_hz: float, robot: str) -> list[tuple[np.ndarray, ...]]:
    from hrobot.data.recording import active_command, load_recording

    rec = load_recording(bag, robot=robot, need_joints=False)
    recorded = rec.driver_robot or rec.robot
    if recorded and recorded != robot:
        raise HRobotError(f"{bag}: a recording of robot '{recorded}', expected '{robot}' (the skill's robot)")
    od = rec.stream("odom")
    scans = [rec.stream(name) for name in ("scan_low", "scan_high")]
    for s, name in zip(scans, ("scan_low", "scan_high")):
        _check_scan(s, name, goals, bag)
    out = []
    dt = 1.0 / rate_hz
    trips = [t for t, e in rec.events if e.get("event") == "safety_trip"]
    for start, end in rec.episodes():
        end = min([end] + [t for t in trips if t > start])  # after a trip the robot is damped (or down)
        first = max([start, od.t[0], *(s.t[0] for s in scans)])
        t = first + np.arange(int(np.floor((end - first) / dt)) + 1) * dt
        if len(t) < 2:
            continue
        quat = od.at(t, "quat")
        rays = np.concatenate([s.at(t, "ranges") for s in scans], axis=1)
        prev = np.concatenate([np.zeros((1, 3)), active_command(rec, t[:-1])])
        states = goals.state_vector(od.at(t, "pos")[:, :2], _yaw(quat), od.at(t, "lin")[:, :2], od.at(t, "ang")[:, 2],
                                    rays, prev)
        out.append((states, goals.normalise(active_command(rec, t)).astype(np.float32)))
    return out


def _lerobot_trajectories(folder: Path, goals: NavGoals, rate_hz: float) -> list[tuple[np.ndarray, ...]]:
    import pyarrow.parquet as pq

    info = json.loads((folder / "meta" / "info.json").read_text())
    feats = info.get("features", {})
    need = ("observation.base_pose", "observation.base_velocity", "observation.scan", "action.base_command")
    missing = [f for f in need if f not in feats]
    if missing:
        raise HRobotError(f"{folder}: a navigation dataset needs feature '{missing[0]}' (export a recording of the "
                          f"odometry, the scans and the base commands)")
    table = pq.read_table(sorted((folder / "data").rglob("*.parquet"))).to_pandas()
    step = max(int(round(info["fps"] / rate_hz)), 1)
    out = []
    for _, ep in table.groupby("episode_index", sort=True):
        ep = ep.sort_values("frame_index").iloc[::step]
        pose, vel = np.stack(ep["observation.base_pose"]), np.stack(ep["observation.base_velocity"])
        rays, cmd = np.stack(ep["observation.scan"]), np.stack(ep["action.base_command"])
        if len(ep) < 2:
            continue
        if rays.shape[1] != goals.num_rays:
            raise HRobotError(f"{folder}: observation.scan has {rays.shape[1]} rays, expected {goals.num_rays}")
        prev = np.concatenate([np.zeros((1, 3)), cmd[:-1]])
        states = goals.state_vector(pose[:, :2], _yaw(pose[:, 3:7]), vel[:, :2], vel[:, 5], rays, prev)
        out.append((states, goals.normalise(cmd).astype(np.float32)))
    return out


def load_navigation(path: Path, goals: NavGoals, rate_hz: float, robot: str) -> Trajectories:
    """A bag, a folder of bags, a LeRobot-format dataset, or an npz written by `save` -> trajectories."""
    path = Path(path)
    if path.suffix == ".npz":
        data = load_npz(path)
        meta = json.loads(str(np.load(path)[GOAL_SPACE_KEY])) if GOAL_SPACE_KEY in np.load(path).files else None
        if meta is None or meta.get("robot") != robot or data.states.shape[1] != goals.state_dim:
            raise HRobotError(f"{path}: not a {robot} navigation dataset (expected its '{GOAL_SPACE_KEY}' with robot "
                              f"'{robot}' and {goals.state_dim}-D states)")
        return data
    if (path / "meta" / "info.json").is_file():
        parts = _lerobot_trajectories(path, goals, rate_hz)
    elif (path / "metadata.yaml").is_file():
        parts = _bag_trajectories(path, goals, rate_hz, robot)
    elif path.is_dir() and (bags := sorted(p.parent for p in path.glob("*/metadata.yaml"))):
        parts = [part for bag in bags for part in _bag_trajectories(bag, goals, rate_hz, robot)]
    else:
        raise HRobotError(f"{path}: not a recording (no metadata.yaml), a folder of recordings, a LeRobot dataset "
                          f"(meta/info.json) or an .npz dataset")
    if not parts:
        raise HRobotError(f"{path}: no episode of at least two steps at {rate_hz:g} Hz")
    ends = [np.arange(len(s)) == len(s) - 1 for s, _ in parts]
    return Trajectories(np.concatenate([s for s, _ in parts]), np.concatenate([a for _, a in parts]),
                        np.concatenate(ends), str(path))


def save(data: Trajectories, path: Path, robot: str, rate_hz: float) -> None:
    """OGBench's npz layout plus what the states are (the goal space, robot and rate)."""
    np.savez_compressed(path, observations=data.states, actions=data.actions, terminals=data.ends.astype(np.float32),
                        **{GOAL_SPACE_KEY: json.dumps({"kind": "navigation", "robot": robot, "rate_hz": rate_hz})})


def nav_goal_space(nav_task: str) -> tuple[NavGoals, float, str]:
    """The goal space of an online navigation task's high level: (its scan layout and its skill's command range,
    its rate, its robot), from the task's config and the skill bundle it drives."""
    from hrobot.bundle import read_metadata
    from hrobot.deploy import source_checkout
    from hrobot.tasks import load_task

    cfg = load_task(nav_task).env_cfg()
    skill = Path(cfg.skills[0])
    if not skill.is_absolute() and not skill.exists() and source_checkout():
        skill = source_checkout() / skill
    meta = read_metadata(skill)
    c = meta["command"]
    return NavGoals(cfg.scan, tuple(c["low"]), tuple(c["high"])), cfg.hl_rate_hz, meta["robot"]["name"]
