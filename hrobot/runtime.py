"""Deployment runtime (deploy layer: numpy + onnxruntime, no ROS): state -> ONNX policy -> joint commands.

`PolicyRuntime` runs one low-level bundle exactly as its contract says: observations from
the shared `ObservationLayout` code training used, the bundle's gait clock, its action
clip (the clipped action is the next `last_action`, as in training), and its command
ranges. Every velocity command passes `CommandFilter` on the way in, whatever its source
(a ROS topic, a teleoperator, a planner): NaN is refused, values are clamped into the
skill's trained range and their magnitude rate-limited per second (braking is never
delayed), so no command outside the range ever reaches the policy.

`Controller` is the state machine every deployment runs, over one or several skills:

    passive (damping) -> stand up (interpolate to the default pose over >= 2 s, gains ramped in)
    -> policy -> sit down (interpolate to a rest pose) -> passive

A safety trip anywhere (reported by the robot's safety layer) sends it back to passive.
Switching skills carries the previous action and gait clock over, as the high level did in
training. `ControlLoop` is the one loop that drives a robot: read -> controller -> safety
-> write; sim2sim, the benchmarks, the ROS controller and the tests all use it.
`HighLevelRuntime` runs a navigation bundle with the functions training used (hrobot.nav_io),
`ReorientRuntime` a hand's reorientation bundle, or the scripted planner over a rotation skill
(hrobot.reorient_io).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hrobot.bundle import Bundle, action_clip_bounds, load_bundle
from hrobot.errors import HRobotError
from hrobot.nav_io import RayScanLayout, decode_action, navigation_observation
from hrobot.reorient_io import (EPISODE_S, HL_RATE_HZ, HOLD_S, SUCCESS_ANGLE, axis_options, error_angle, greedy_axis,
                                orientation_error, reorient_observation)
from hrobot.obs import RobotState
from hrobot.heightmap import height_scan, scan_points
from hrobot.robot_io import RobotInterface
from hrobot.safety import DAMPING, JointCommand, MeasuredState, target_mode

PASSIVE, STANDUP, POLICY, SITDOWN = "passive", "standup", "policy", "sitdown"
COMMAND_RAMP_S = 0.25  # s for a command's magnitude to grow across the whole trained range


class CommandFilter:
    """Task commands into a skill: finite, inside the trained range, magnitude rate-limited per second.

    Plain Python on the few floats of a command: a handful of numpy calls would cost more than the rest
    of the filter (it runs on every control step)."""

    def __init__(self, low: Sequence[float], high: Sequence[float], names: Sequence[str], ramp_s: float = COMMAND_RAMP_S):
        self.low, self.high = [float(x) for x in low], [float(x) for x in high]
        self.names = list(names)
        self.rate = [(h - lo) / ramp_s for lo, h in zip(self.low, self.high)]  # per second
        self.value = [0.0] * len(self.low)
        self._steady: list[float] | None = None  # an input already reached (no rate limit pending)

    def reset(self, value: Sequence[float] | None = None) -> None:
        self.value = [0.0] * len(self.low)
        self._steady = None
        if value is not None:
            self(value, dt=None)

    def __call__(self, command, dt: float | None) -> list[float]:
        """The command the policy may see. dt None: no rate limit (a skill switch keeps the current value)."""
        c = command.tolist() if isinstance(command, np.ndarray) else list(command)
        if c == self._steady:
            return self.value  # the same command as last period, already reached
        if len(c) != len(self.low) or (c and isinstance(c[0], list)):
            c = np.asarray(command, dtype=np.float64).reshape(-1).tolist()
            if len(c) != len(self.low):
                raise HRobotError(f"command: expected {len(self.low)} values ({', '.join(self.names)}), got {len(c)}")
        out, reached = [], True
        for x, lo, hi, rate, v in zip(c, self.low, self.high, self.rate, self.value):
            x = float(x)
            x = min(max(x, lo), hi) if math.isfinite(x) else 0.0  # a NaN or inf component stands still
            if dt is not None:  # away from zero at most rate * dt per step; towards zero (braking) at once
                step = rate * dt
                limited = min(max(x, min(v, 0.0) - step), max(v, 0.0) + step)
                reached, x = reached and limited == x, limited
            out.append(x)
        self.value = out
        self._steady = c if reached and dt is not None else None
        return out


class PolicyRuntime:
    def __init__(self, bundle: Bundle):
        if bundle.level != "low":
            raise HRobotError(f"{bundle.path}: PolicyRuntime runs low-level bundles, found level '{bundle.level}'")
        self.bundle = bundle
        self.name = bundle.meta["name"]
        self.robot = bundle.robot
        self.dt = bundle.robot.policy_dt  # s per policy step (read once: the spec computes it)
        meta = bundle.meta
        self.to_robot = bundle.policy_to_robot  # policy joint i is robot joint to_robot[i]
        self._reorder = not np.array_equal(self.to_robot, np.arange(len(self.to_robot)))
        needs = bundle.layout.requires  # the state fields the observation reads
        self._sensed = [(f, n) for f, n in (("base_quat", 4), ("base_ang_vel", 3), ("base_lin_vel", 3),
                                            ("foot_contact", -1), ("object_pos", 3), ("object_quat", 4)) if f in needs]
        self.needs_object = bool({"object_pos", "object_quat"} & needs)  # a tracker's pose
        self._scan = None  # a perceptive policy's scan grid (base-frame points) and offset, from the bundle
        self.needs_map = "height_scan" in needs  # an elevation map and the base's position
        if self.needs_map:
            grid = meta["height_scan"]
            self._scan = (scan_points(*grid["grid"]), float(grid["offset_m"]))
        self._cmd_in: list[float] | None = None  # the last filtered command and its array
        self.default = np.asarray(meta["default_joint_pos"], dtype=np.float64)  # policy order
        self.kp = np.asarray(meta["kp"], dtype=np.float64)
        self.kd = np.asarray(meta["kd"], dtype=np.float64)
        self.scale = np.asarray(meta["action_scale"], dtype=np.float64)
        bounds = action_clip_bounds(meta, bundle.path)  # None: the policy was trained without an action clip
        self.clip = None if bounds is None else tuple(b.astype(np.float32) for b in bounds)  # (low, high)
        self._raw_last_action = meta.get("last_action", "clipped") == "raw"  # Isaac Lab: the unclipped output
        self.delta = meta.get("action_mode", "absolute") == "delta"  # targets step from the last by delta_scale
        self.delta_scale = float(meta.get("delta_scale", 0.0))
        self._lower, self._upper = bundle.robot.lower[self.to_robot], bundle.robot.upper[self.to_robot]
        self.obs_dim = meta["obs_dim"]
        self.history = deque(maxlen=meta["history_length"])
        c = meta["command"]
        self.commands = CommandFilter(c["low"], c["high"], c["names"])
        self.last_action = np.zeros(meta["action_dim"], dtype=np.float32)
        self.phase_period = meta["gait_period_s"]  # None where the policy has no gait clock
        self._kp_robot, self._kd_robot = np.empty_like(self.kp), np.empty_like(self.kd)  # robot order
        self._kp_robot[self.to_robot], self._kd_robot[self.to_robot] = self.kp, self.kd
        self._zeros = np.zeros(self.robot.num_joints)
        self.mode = target_mode(self.robot)  # servo hands: their servos' own PD
        for a in (self._kp_robot, self._kd_robot, self._zeros):
            a.flags.writeable = False  # shared by every command step() returns
        self.reset()

    def reset(self) -> None:
        self.last_action[:] = 0.0
        self.history.clear()
        self.state = self.bundle.initial_state(1)  # recurrent policies: zero hidden state
        self.commands.reset()
        self.t = 0.0
        # policy order; a delta policy's targets start from the first measured pose (None until then)
        self.target: np.ndarray | None = None if self.delta else self.default.copy()

    def take_over(self, other: PolicyRuntime) -> None:
        """Continue where another skill left off: its joint targets as this policy's previous action (a delta
        policy: as its targets), its gait clock and its current command (clamped into this skill's range), as
        training switched skills."""
        targets = other.current_targets()[self.to_robot]  # policy order
        self.reset()
        if self.delta:
            self.target = np.clip(targets, self._lower, self._upper)
        else:
            self.last_action[:] = (targets - self.default) / self.scale
            if self.clip is not None:
                self.last_action[:] = np.clip(self.last_action, *self.clip)
        self.t = other.t
        self.commands.reset(other.commands.value)

    def observation(self, state: MeasuredState, command: np.ndarray) -> np.ndarray:
        """The policy input for one robot (1, obs_dim * history), computed by the shared layout.

        `command` is used as given: `step` passes it through the command filter first."""
        # the command filter hands back the same (never mutated) list while a command holds
        if not (isinstance(command, list) and command is self._cmd_in):
            self._cmd_in, self._cmd_arr = command, np.asarray(command, dtype=np.float32).reshape(1, -1)
        command = self._cmd_arr
        if command.shape[1] != len(self.commands.names):
            raise HRobotError(f"command: expected {len(self.commands.names)} values "
                              f"({', '.join(self.commands.names)}), got {command.shape[1]}")
        # the state's arrays as they are (the layout writes them into its float32 vector)
        qp, qv = np.asarray(state.joint_pos), np.asarray(state.joint_vel)
        if self._reorder:
            qp, qv = qp[self.to_robot], qv[self.to_robot]
        if self.target is None:  # a delta policy's targets start where the joints are (as training's episodes)
            self.target = np.clip(qp.astype(np.float64), self._lower, self._upper)
        sensed = {}  # the optional state fields the layout reads, where the robot gives them
        for f, n in self._sensed:
            v = getattr(state, f)
            if v is not None:
                sensed[f] = np.asarray(v).reshape(1, n)
        if self._scan is not None:
            sensed["height_scan"] = self._height_scan(state)
        s = RobotState(
            joint_pos=qp.reshape(1, -1),
            joint_vel=qv.reshape(1, -1),
            command=command,
            last_action=self.last_action.reshape(1, -1),
            joint_target=self.target.astype(np.float32).reshape(1, -1) if self.delta else None,
            phase=None if self.phase_period is None else
            np.array([(self.t / self.phase_period) % 1.0], dtype=np.float32),
            **sensed,
        )
        frame = self.bundle.layout.compute(s)
        if frame.shape[1] != self.obs_dim:
            raise HRobotError(f"observation: expected {self.obs_dim} values, got {frame.shape[1]}")
        if self.history.maxlen == 1:
            self.history.append(frame)
            return frame
        if not self.history:
            self.history.extend([frame] * self.history.maxlen)
        else:
            self.history.append(frame)
        return np.concatenate(self.history, axis=1)

    def _height_scan(self, state: MeasuredState) -> np.ndarray:
        """(1, k) the policy's height scan from the robot's elevation map and base pose (as training's)."""
        if state.height_map is None or state.base_pos is None or state.base_quat is None:
            missing = [f for f in ("height_map", "base_pos", "base_quat") if getattr(state, f) is None]
            raise HRobotError(f"{self.name}: the height scan needs {', '.join(missing)} in the state")
        points, offset = self._scan
        pos = np.asarray(state.base_pos, dtype=np.float64).reshape(1, 3)
        quat = np.asarray(state.base_quat, dtype=np.float64).reshape(1, 4)
        return height_scan(pos, quat, state.height_map.at, points, offset)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The policy's action for an observation, clipped as in training; it becomes the next last_action."""
        if obs.shape[-1] != self.obs_dim * self.history.maxlen:
            raise HRobotError(f"observation of the wrong size: expected {self.obs_dim * self.history.maxlen}, "
                              f"got {obs.shape[-1]}")
        self.last_obs, state_in = obs.reshape(1, -1), self.state
        action, self.state = self.bundle.step(self.last_obs, state_in)
        action = action[0]
        raw = action.astype(np.float32) if self._raw_last_action else None
        if self.clip is not None:
            np.minimum(action, self.clip[1], out=action)
            np.maximum(action, self.clip[0], out=action)
        self.last_action = raw if raw is not None else action.astype(np.float32, copy=False)  # a fresh array
        self.t += self.dt
        return action

    def object_problem(self, state: MeasuredState, now: float, timeout: float) -> str:
        """Why the object pose may not drive this policy now ("" if it may): missing, non-finite, not a unit
        quaternion, or older than `timeout` s."""
        if state.object_pos is None or state.object_quat is None:
            return "no object pose"
        pos, quat = np.asarray(state.object_pos, dtype=np.float64), np.asarray(state.object_quat, dtype=np.float64)
        if pos.shape != (3,) or quat.shape != (4,) or not (np.isfinite(pos).all() and np.isfinite(quat).all()):
            return "object pose: expected a finite position (3) and quaternion (4)"
        norm = float(np.sqrt(quat @ quat))
        if abs(norm - 1.0) > 0.01:
            return f"object pose: quaternion norm {norm:.3f}, expected 1"
        stamp = state.stamp if state.object_stamp is None else state.object_stamp
        if not now - stamp <= timeout:
            return f"stale object pose ({now - stamp:.3f} s old > {timeout:.3f} s)"
        return ""

    def map_problem(self, state: MeasuredState) -> str:
        """Why the elevation map may not drive this policy now ("" if it may): no map, or no base position."""
        if state.height_map is None:
            return "no elevation map"
        return "no base position (odometry)" if state.base_pos is None or state.base_quat is None else ""

    def targets(self, action: np.ndarray) -> np.ndarray:
        """The joint position targets `action` commands now, in the robot's order: default + scale * action, or
        for a delta policy its current targets + delta_scale * action inside the joint limits."""
        return self._robot_order(self._policy_targets(action))

    def current_targets(self) -> np.ndarray:
        """The targets the last action commanded (robot order): what holding still means."""
        if self.delta:
            return self._robot_order(self.default if self.target is None else self.target)
        return self.targets(self.last_action.astype(np.float64))

    def _policy_targets(self, action: np.ndarray) -> np.ndarray:
        if self.delta:
            return np.minimum(np.maximum(self.target + self.delta_scale * action, self._lower), self._upper)
        return self.default + self.scale * action

    def _robot_order(self, q_policy: np.ndarray) -> np.ndarray:
        if not self._reorder:
            return q_policy
        q = np.empty_like(q_policy)
        q[self.to_robot] = q_policy
        return q

    def gains(self) -> tuple[np.ndarray, np.ndarray]:
        """The bundle's kp, kd in the robot's joint order (copies)."""
        return self._kp_robot.copy(), self._kd_robot.copy()

    def default_pose(self) -> np.ndarray:
        q = np.empty_like(self.default)
        q[self.to_robot] = self.default
        return q

    def step(self, state: MeasuredState, command) -> JointCommand:
        """One control step: command filter -> observation -> policy -> joint command (robot order, unfiltered)."""
        cmd = self.commands(command, self.dt)
        action = self.act(self.observation(state, cmd))
        q = self._policy_targets(action)
        if self.delta:
            self.target = q
        return JointCommand(self._robot_order(q), self._zeros, self._kp_robot, self._kd_robot, self._zeros,
                            self.mode, standing=True)


@dataclass
class ControllerConfig:
    standup_s: float = 2.5  # >= 2 s
    sitdown_s: float = 2.0
    start_gain: float = 0.1  # stand-up starts at 10 % of the gains and ramps to 100 %
    object_timeout: float = 0.25  # s: an older (or missing, or invalid) object pose holds a manipulation policy


def rest_pose(runtime: PolicyRuntime) -> np.ndarray:
    """Where sit-down goes: quadrupeds fold their legs, other robots return to the default pose."""
    q = runtime.default_pose()
    robot = runtime.robot
    if robot.robot_class == "quadruped":
        for i, name in enumerate(robot.joint_names):
            if "calf" in name:
                q[i] = robot.lower[i] + 0.1
            elif "thigh" in name:
                q[i] = min(max(1.2, robot.lower[i]), robot.upper[i])
    return q


class Controller:
    """The deployment state machine over one skill, or several (switched with `select`)."""

    def __init__(self, skills: PolicyRuntime | Sequence[PolicyRuntime], config: ControllerConfig | None = None):
        runtimes = [skills] if isinstance(skills, PolicyRuntime) else list(skills)
        if not runtimes:
            raise HRobotError("controller: expected at least one skill")
        names = [r.robot.joint_names for r in runtimes]
        if any(n != names[0] for n in names):
            raise HRobotError("controller: every skill must drive the same robot (joint names differ)")
        self.skills = {r.name: r for r in runtimes}
        self.rt = runtimes[0]
        self.cfg = config or ControllerConfig()
        if self.cfg.standup_s < 2.0:
            raise HRobotError(f"controller standup_s: expected >= 2 s, got {self.cfg.standup_s}")
        self.mode = PASSIVE
        self._t0 = 0.0
        self._from: np.ndarray | None = None
        self.requested = PASSIVE
        self.holding = ""  # why a manipulation policy holds its last targets ("" while it runs)

    @property
    def skill(self) -> str:
        return self.rt.name

    def select(self, name: str) -> None:
        """Switch the active skill; in policy mode the new one takes over where the old one left off."""
        if name not in self.skills:
            raise HRobotError(f"controller: unknown skill '{name}' (expected one of {', '.join(self.skills)})")
        new = self.skills[name]
        if new is self.rt:
            return
        if self.mode == POLICY:
            new.take_over(self.rt)
        self.rt = new

    def run_policy(self) -> None:
        """Start in policy mode, skipping stand-up: for a robot already standing in its default pose
        (a simulator reset there)."""
        self.requested, self.mode = "stand", POLICY
        self.rt.reset()

    def request(self, mode: str) -> None:
        """Ask for 'stand' (stand up then run the policy), 'sit', or 'passive'."""
        if mode not in ("stand", "sit", "passive"):
            raise HRobotError(f"controller request: expected stand, sit or passive, got '{mode}'")
        self.requested = mode

    def _interpolate(self, state: MeasuredState, now: float, target: np.ndarray, duration: float,
                     ramp_gains: bool) -> tuple[JointCommand, bool]:
        s = min(max((now - self._t0) / duration, 0.0), 1.0)
        s_smooth = 0.5 - 0.5 * np.cos(np.pi * s)
        q = (1 - s_smooth) * self._from + s_smooth * target
        kp, kd = self.rt.gains()
        g = self.cfg.start_gain + (1 - self.cfg.start_gain) * s if ramp_gains else 1.0
        n = self.rt.robot.num_joints
        return JointCommand(q, np.zeros(n), kp * g, kd * max(g, 0.5), np.zeros(n), self.rt.mode), s >= 1.0

    def _damping(self, state: MeasuredState) -> JointCommand:
        n = self.rt.robot.num_joints
        return JointCommand(np.asarray(state.joint_pos, dtype=np.float64), np.zeros(n), np.zeros(n),
                            self.rt.robot.kd.copy(), np.zeros(n), DAMPING)

    def _policy(self, state: MeasuredState, command, now: float) -> JointCommand:
        """The policy's command; a manipulation policy whose object pose is missing, invalid or stale holds its
        last targets instead (the hand keeps its grip, nothing jumps) and runs again once the pose is fresh; a
        perceptive policy without its elevation map or base position holds them too (standing where it is)."""
        if self.rt.needs_object or self.rt.needs_map:
            if self.rt.needs_map:
                self.holding = self.rt.map_problem(state)
            else:
                self.holding = self.rt.object_problem(state, now, self.cfg.object_timeout) or \
                    ("" if any(command) else "no rotation commanded")  # a still command is not one it was trained on
            if self.holding:
                kp, kd = self.rt.gains()
                n = self.rt.robot.num_joints
                return JointCommand(self.rt.current_targets(), np.zeros(n), kp, kd, np.zeros(n), self.rt.mode,
                                    standing=True)
        return self.rt.step(state, command)

    def step(self, state: MeasuredState, command, now: float, safety_tripped: bool = False) -> JointCommand:
        """The desired command for this control period (the robot's safety layer still filters it)."""
        if self.mode == POLICY and not safety_tripped and self.requested == "stand":
            return self._policy(state, command, now)  # the hot path
        self.holding = ""
        if safety_tripped:
            self.mode, self.requested = PASSIVE, "passive"
            return self._damping(state)
        if self.requested == "passive":
            self.mode = PASSIVE
        if self.mode == PASSIVE:
            if self.requested == "stand":
                self.mode, self._t0 = STANDUP, now
                self._from = np.asarray(state.joint_pos, dtype=np.float64).copy()
            else:
                return self._damping(state)
        if self.mode in (STANDUP, POLICY) and self.requested == "sit":
            self.mode, self._t0 = SITDOWN, now
            self._from = np.asarray(state.joint_pos, dtype=np.float64).copy()
        if self.mode == STANDUP:
            cmd, done = self._interpolate(state, now, self.rt.default_pose(), self.cfg.standup_s, ramp_gains=True)
            if done:
                self.mode = POLICY
                self.rt.reset()
            return cmd
        if self.mode == SITDOWN:
            cmd, done = self._interpolate(state, now, rest_pose(self.rt), self.cfg.sitdown_s, ramp_gains=False)
            if done:
                self.mode, self.requested = PASSIVE, "passive"
            return cmd
        return self._policy(state, command, now)


class ControlLoop:
    """The one control loop: read the robot, run the controller, send through the robot's safety layer.

    `command` gives this period's task command (a constant, a topic's latest value, a planner);
    `on_step` (optional) sees each period's state, desired and applied command (recording, metrics).
    """

    def __init__(self, robot: RobotInterface, controller: Controller, command: Callable[[], np.ndarray],
                 on_step: Callable[[MeasuredState, JointCommand, JointCommand], None] | None = None):
        self.robot, self.controller, self.command, self.on_step = robot, controller, command, on_step

    def step(self, state: MeasuredState | None = None) -> JointCommand:
        """One control period; `state` if the caller read it already (a benchmark timing the rest)."""
        state = self.robot.read_state() if state is None else state
        now = self.robot.now()
        desired = self.controller.step(state, self.command(), now, safety_tripped=self.robot.safety.tripped)
        safe = self.robot.send(desired, state)
        if self.on_step is not None:
            self.on_step(state, desired, safe)
        return safe


class HighLevelRuntime:
    """A high-level (navigation) bundle: goal + odometry + ray scan -> skill choice and skill command.

    The observation comes from `navigation_observation` and the action decoding from
    `decode_action`, the functions training uses (numpy here, torch there).
    """

    def __init__(self, bundle: Bundle):
        if bundle.level != "high":
            raise HRobotError(f"{bundle.path}: HighLevelRuntime runs high-level bundles, found level '{bundle.level}'")
        self.bundle, self.meta, self.hl = bundle, bundle.meta, bundle.meta["high_level"]
        self.skills = [load_bundle(bundle.path / s["path"], bundle.robot) for s in self.meta["skills"]]
        self.skill_names = [s["name"] for s in self.meta["skills"]]
        self.lows = np.array([s.meta["command"]["low"] for s in self.skills], dtype=np.float32)
        self.highs = np.array([s.meta["command"]["high"] for s in self.skills], dtype=np.float32)
        prior = self.hl.get("skill_prior")
        self.prior = np.array(prior, dtype=np.float32) if prior else None
        self.scan = RayScanLayout.from_dict(self.hl)
        self.num_rays = self.scan.num_rays * len(self.scan.heights)
        self.period = 1.0 / self.hl["rate_hz"]
        self.episode_s = self.hl["episode_s"]
        self.clip = self.meta["action_clip"]
        self.last_action = np.zeros(self.meta["action_dim"], dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        self.last_action[:] = 0.0
        self.state = self.bundle.initial_state(1)

    def step(self, base_xy, base_yaw: float, base_lin_vel_xy, yaw_rate: float, goal, rays, time_left: float):
        """One high-level decision: returns (skill index, command (3,))."""
        rays = np.asarray(rays, dtype=np.float32).reshape(-1)
        if rays.shape[0] != self.num_rays:
            raise HRobotError(f"ray scan: expected {self.num_rays} ranges, got {rays.shape[0]}")
        a = lambda x: np.asarray(x, dtype=np.float32).reshape(1, -1)  # noqa: E731
        obs = navigation_observation(a(base_xy), a([base_yaw])[:, 0], a(base_lin_vel_xy), a([yaw_rate])[:, 0],
                                     a(goal), a(np.minimum(rays, self.scan.range)), a(self.last_action),
                                     a([time_left])[:, 0], self.scan.range)
        if obs.shape[1] != self.meta["obs_dim"]:
            raise HRobotError(f"high-level observation: expected {self.meta['obs_dim']} values, got {obs.shape[1]}")
        action, self.state = self.bundle.step(obs, self.state)
        action = action[0]
        self.last_action = np.clip(action, -self.clip, self.clip).astype(np.float32)
        index, command = decode_action(action[None], self.lows, self.highs, self.prior)
        return int(index[0]), command[0]


class ReorientRuntime:
    """Goal orientations for a hand: a reorientation bundle, or the scripted planner over a rotation skill.

    Given a rotation skill's bundle (low level, a command about named axes) it runs the scripted planner
    (the axis most aligned with the error rotation, at the fastest trained speed); given a reorientation
    bundle, that bundle's policy on the observation and action decoding training used."""

    def __init__(self, bundle: Bundle):
        meta = bundle.meta
        if meta["level"] == "high":
            hl = meta.get("high_level", {})
            if hl.get("kind") != "reorientation":
                raise HRobotError(f"{bundle.path}: not a reorientation bundle (high_level.kind "
                                  f"'{hl.get('kind', 'navigation')}')")
            self.policy: Bundle | None = bundle
            axes, speeds, rate = hl["axes"], hl["speeds"], hl["rate_hz"]
            self.success_angle, self.hold_s, self.episode_s = hl["success_angle"], hl["hold_s"], hl["episode_s"]
            self.skill_name = meta["skills"][0]["name"]
        else:
            c = meta["command"]
            if "axes" not in c:
                raise HRobotError(f"{bundle.path}: not a rotation skill (its command names no axes)")
            self.policy, axes, speeds, rate = None, c["axes"], c["speeds"], HL_RATE_HZ
            self.success_angle, self.hold_s, self.episode_s = SUCCESS_ANGLE, HOLD_S, EPISODE_S
            self.skill_name = meta["name"]
        self.axes = np.asarray(axes, dtype=np.float32)
        self.speeds = (float(speeds[0]), float(speeds[1]))
        self.lows, self.highs = axis_options(self.axes, *self.speeds)
        self.period = 1.0 / float(rate)
        self.last_action = np.zeros(meta["action_dim"] if self.policy is not None else 0, dtype=np.float32)
        self.reset()

    @property
    def planner(self) -> str:
        return "policy" if self.policy is not None else "scripted"

    def reset(self) -> None:
        self.last_action[:] = 0.0
        self.state = self.policy.initial_state(1) if self.policy is not None else None

    def error(self, object_quat, goal_quat) -> float:
        """The geodesic angle (rad) from the object's orientation to the goal."""
        a = lambda q: np.asarray(q, dtype=np.float32).reshape(1, 4)  # noqa: E731
        return float(error_angle(a(object_quat), a(goal_quat))[0])

    def step(self, object_quat, goal_quat) -> tuple[int, np.ndarray]:
        """One decision: (axis index, the skill's command wx, wy, wz)."""
        q, g = (np.asarray(x, dtype=np.float32).reshape(1, 4) for x in (object_quat, goal_quat))
        if self.policy is None:
            k = int(greedy_axis(orientation_error(q, g), self.axes)[0])
            return k, self.axes[k] * self.speeds[1]
        obs = reorient_observation(q, g, self.last_action[None])
        action, self.state = self.policy.step(obs.astype(np.float32), self.state)
        self.last_action = np.clip(action[0], -self.policy.meta["action_clip"],
                                   self.policy.meta["action_clip"]).astype(np.float32)
        index, command = decode_action(action, self.lows, self.highs)
        return int(index[0]), command[0]
