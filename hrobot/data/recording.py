"""A bag as arrays: the robot's state, commands and events on one clock (seconds from the bag's start).

`load_recording(bag)` decodes the topics hrobot's nodes publish (joint states, IMU, odometry,
joint commands requested and applied, task commands per source, the active source, events) into
time-stamped numpy arrays; the robot is named by the bag's joint names (a built-in robot), or given.
Episodes come from the episode marks on /events: start opens one, success or stop closes it (kept),
rerecord closes it (discarded); a bag without marks is one episode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from hrobot.errors import HRobotError


@dataclass
class Stream:
    t: np.ndarray  # seconds from the bag's start (receive time)
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.t)

    def at(self, times: np.ndarray, key: str) -> np.ndarray:
        """Zero-order hold: the latest sample at or before each time (the first sample before it)."""
        i = np.clip(np.searchsorted(self.t, times, side="right") - 1, 0, len(self.t) - 1)
        return self.values[key][i]


@dataclass
class Recording:
    robot: str
    joint_names: list[str]
    start_ns: int
    duration_s: float
    streams: dict[str, Stream] = field(default_factory=dict)
    sources: list[tuple[float, str]] = field(default_factory=list)  # (t, active command source)
    events: list[tuple[float, dict]] = field(default_factory=list)
    simulated: bool = False
    driver_robot: str = ""  # the robot the driver drove (its /diagnostics), where recorded

    def stream(self, name: str) -> Stream:
        if name not in self.streams or not len(self.streams[name]):
            raise HRobotError(f"the bag has no {name} messages (needed here; record it)")
        return self.streams[name]

    def episodes(self) -> list[tuple[float, float]]:
        """(start, end) in seconds of each kept episode."""
        marks = [(t, e["event"].removeprefix("episode_")) for t, e in self.events if e.get("event", "").startswith("episode_")]
        if not any(kind == "start" for _, kind in marks):
            return [(0.0, self.duration_s)]
        out, open_at = [], None
        for t, kind in marks:
            if kind == "start":
                if open_at is not None:
                    out.append((open_at, t))
                open_at = t
            elif open_at is not None and kind in ("success", "stop"):
                out.append((open_at, t))
                open_at = None
            elif kind == "rerecord":
                open_at = None
        if open_at is not None:
            out.append((open_at, self.duration_s))
        return [(a, b) for a, b in out if b > a]


def robot_for_joints(names: list[str]) -> str:
    from hrobot.robots import BUILTIN, load_robot

    for name in BUILTIN:
        if load_robot(name).joint_names == list(names):
            return name
    raise HRobotError(f"the bag's joints ({', '.join(names[:3])}, ...) are not a built-in robot's: pass --robot")


def _vec(v) -> list[float]:
    return [v.x, v.y, v.z]


def load_recording(bag, robot: str | None = None, need_joints: bool = True) -> Recording:
    """`need_joints`: refuse a bag without /joint_states (export, replay and plots need them; a navigation
    dataset reads odometry, scans and commands only, with the robot given)."""
    from hrobot.data.bag import iter_messages, read_info

    info = read_info(bag)
    rows: dict[str, list] = {k: [] for k in ("joint_states", "imu", "odom", "joint_commands", "applied", "cmd_vel",
                                             "teleop", "scan_low", "scan_high")}
    topic_key = {"/joint_states": "joint_states", "/imu": "imu", "/odom": "odom", "/joint_commands": "joint_commands",
                 "/joint_commands/applied": "applied", "/cmd_vel": "cmd_vel", "/teleop/cmd_vel": "teleop",
                 "/scan_low": "scan_low", "/scan_high": "scan_high"}
    wanted = [t for t in (*topic_key, "/cmd_source", "/events", "/diagnostics") if t in info.topics]
    rec = Recording(robot or "", [], info.start_ns, info.duration_ns * 1e-9)
    for m, msg in iter_messages(bag, wanted):
        t = (m.log_ns - info.start_ns) * 1e-9
        key = topic_key.get(m.topic)
        if key == "joint_states":
            if not rec.joint_names:
                rec.joint_names = list(msg.name)
            rows[key].append((t, list(msg.position), list(msg.velocity)))
        elif key == "imu":
            o = msg.orientation
            rows[key].append((t, [o.w, o.x, o.y, o.z], _vec(msg.angular_velocity)))
        elif key == "odom":
            p, o = msg.pose.pose.position, msg.pose.pose.orientation
            rows[key].append((t, [p.x, p.y, p.z], [o.w, o.x, o.y, o.z], _vec(msg.twist.twist.linear),
                              _vec(msg.twist.twist.angular)))
        elif key in ("joint_commands", "applied"):
            rows[key].append((t, list(msg.position), list(msg.kp), list(msg.kd), list(msg.effort), msg.mode,
                              msg.standing))
        elif key in ("cmd_vel", "teleop"):
            rows[key].append((t, [msg.linear.x, msg.linear.y, msg.angular.z]))
        elif key in ("scan_low", "scan_high"):
            rows[key].append((t, np.minimum(np.asarray(msg.ranges, dtype=np.float64), msg.range_max),
                              [msg.angle_min, msg.angle_increment, msg.range_max]))
        elif m.topic == "/cmd_source":
            rec.sources.append((t, msg.data))
        elif m.topic == "/events":
            try:
                rec.events.append((t, json.loads(msg.data)))
            except json.JSONDecodeError:
                continue
        elif m.topic == "/diagnostics" and not (rec.simulated and rec.driver_robot):
            for kv in (kv for st in msg.status for kv in st.values):
                rec.simulated |= kv.key == "interface" and kv.value == "sim"
                rec.driver_robot = kv.value if kv.key == "robot" else rec.driver_robot
    cols = {"joint_states": ("q", "dq"), "imu": ("quat", "gyro"), "odom": ("pos", "quat", "lin", "ang"),
            "joint_commands": ("q", "kp", "kd", "tau", "mode", "standing"),
            "applied": ("q", "kp", "kd", "tau", "mode", "standing"),
            "cmd_vel": ("v",), "teleop": ("v",), "scan_low": ("ranges", "layout"), "scan_high": ("ranges", "layout")}
    for key, data in rows.items():
        if data:
            rec.streams[key] = Stream(np.array([r[0] for r in data]),
                                      {c: np.array([r[i + 1] for r in data]) for i, c in enumerate(cols[key])})
    if not rec.joint_names and (need_joints or not robot):
        raise HRobotError(f"{info.path}: no /joint_states in the bag: nothing to export, replay or plot")
    rec.robot = robot or robot_for_joints(rec.joint_names)
    return rec


def active_command(rec: Recording, times: np.ndarray) -> np.ndarray:
    """The task command (vx, vy, wz) the skill ran at each time: the active source's latest (zero for none)."""
    out = np.zeros((len(times), 3))
    src_t = np.array([t for t, _ in rec.sources]) if rec.sources else np.zeros(0)
    for k, t in enumerate(times):
        i = np.searchsorted(src_t, t, side="right") - 1
        source = rec.sources[i][1] if i >= 0 else "planner"
        key = {"teleop": "teleop", "planner": "cmd_vel"}.get(source)
        s = rec.streams.get(key) if key else None
        if s is None or not len(s):
            continue
        j = np.searchsorted(s.t, t, side="right") - 1
        if j >= 0:
            out[k] = s.values["v"][j]
    return out
