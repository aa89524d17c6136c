"""Deployment runtime (plain Python, no ROS): observations -> ONNX policy -> joint commands.

`PolicyRuntime` builds the observation from measured robot state with the same
`ObservationLayout` code that training used (so the layout cannot drift), keeps the
observation history, runs onnxruntime on one thread, and turns actions into joint targets
in the robot's joint order.

`Controller` is the state machine every deployment runs:

    passive (damping) -> stand up (interpolate to the default pose over >= 2 s, gains ramped in)
    -> policy -> sit down (interpolate to a rest pose) -> passive

A safety trip anywhere (reported by the robot's safety layer) sends it back to passive.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from hrobot.bundle import Bundle, _policy_order_spec, load_bundle
from hrobot.errors import HRobotError
from hrobot.obs import RobotState
from hrobot.safety import DAMPING, JointCommand, MeasuredState
from hrobot.tasks.nav_io import decode_action, navigation_observation

PASSIVE, STANDUP, POLICY, SITDOWN = "passive", "standup", "policy", "sitdown"


class PolicyRuntime:
    def __init__(self, bundle: Bundle):
        if bundle.level != "low":
            raise HRobotError(f"{bundle.path}: PolicyRuntime runs low-level bundles, found level '{bundle.level}'")
        self.bundle = bundle
        self.robot = bundle.robot
        meta = bundle.meta
        self.to_robot = bundle.policy_to_robot  # policy joint i is robot joint to_robot[i]
        self.policy_spec = _policy_order_spec(bundle.robot, meta)
        self.default = np.asarray(meta["default_joint_pos"], dtype=np.float64)  # policy order
        self.kp = np.asarray(meta["kp"], dtype=np.float64)
        self.kd = np.asarray(meta["kd"], dtype=np.float64)
        self.scale = np.asarray(meta["action_scale"], dtype=np.float64)
        self.obs_dim = meta["obs_dim"]
        self.history = deque(maxlen=meta["history_length"])
        self.command_dim = len(meta["command"]["names"])
        self.last_action = np.zeros(meta["action_dim"], dtype=np.float32)
        self.phase_period = meta.get("gait_period_s", 0.8)
        self.lower, self.upper = self.robot.lower, self.robot.upper
        self._kp_robot, self._kd_robot = np.empty_like(self.kp), np.empty_like(self.kd)  # robot order
        self._kp_robot[self.to_robot], self._kd_robot[self.to_robot] = self.kp, self.kd
        self._zeros = np.zeros(self.robot.num_joints)
        for a in (self._kp_robot, self._kd_robot, self._zeros):
            a.flags.writeable = False  # shared by every command step() returns
        self.reset()

    def reset(self) -> None:
        self.last_action[:] = 0.0
        self.history.clear()
        self.state = self.bundle.initial_state(1)  # recurrent policies: zero hidden state
        self.t = 0.0

    def observation(self, state: MeasuredState, command: np.ndarray) -> np.ndarray:
        """The policy input for one robot (1, obs_dim * history), computed by the shared layout."""
        command = np.asarray(command, dtype=np.float32).reshape(1, -1)
        if command.shape[1] != self.command_dim:
            raise HRobotError(f"command: expected {self.command_dim} values "
                              f"({', '.join(self.bundle.meta['command']['names'])}), got {command.shape[1]}")
        qp = np.asarray(state.joint_pos, dtype=np.float32)[self.to_robot]
        qv = np.asarray(state.joint_vel, dtype=np.float32)[self.to_robot]
        s = RobotState(
            base_quat=np.asarray(state.base_quat, dtype=np.float32).reshape(1, 4),
            base_ang_vel=np.asarray(state.base_ang_vel, dtype=np.float32).reshape(1, 3),
            joint_pos=qp.reshape(1, -1),
            joint_vel=qv.reshape(1, -1),
            command=command,
            last_action=self.last_action.reshape(1, -1),
            phase=np.array([(self.t / self.phase_period) % 1.0], dtype=np.float32),
            base_lin_vel=None if state.base_lin_vel is None else
            np.asarray(state.base_lin_vel, dtype=np.float32).reshape(1, 3),
        )
        frame = self.bundle.layout.compute(s)
        if frame.shape[1] != self.obs_dim:
            raise HRobotError(f"observation: expected {self.obs_dim} values, got {frame.shape[1]}")
        if not self.history:
            self.history.extend([frame] * self.history.maxlen)
        else:
            self.history.append(frame)
        return np.concatenate(self.history, axis=1)

    def act(self, obs: np.ndarray) -> np.ndarray:
        if obs.shape[-1] != self.obs_dim * self.history.maxlen:
            raise HRobotError(f"observation of the wrong size: expected {self.obs_dim * self.history.maxlen}, "
                              f"got {obs.shape[-1]}")
        self.last_obs, state_in = obs.reshape(1, -1), self.state
        action, self.state = self.bundle.step(self.last_obs, state_in)
        action = action[0]
        self.last_action = action.astype(np.float32)
        self.t += self.robot.policy_dt
        return action

    def targets(self, action: np.ndarray) -> np.ndarray:
        """Joint position targets in the robot's order: default + scale * action."""
        q_policy = self.default + self.scale * action
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

    def step(self, state: MeasuredState, command: np.ndarray) -> JointCommand:
        """One full control step: observation -> policy -> joint command (robot order, unfiltered)."""
        action = self.act(self.observation(state, command))
        return JointCommand(self.targets(action), self._zeros, self._kp_robot, self._kd_robot, self._zeros)


@dataclass
class ControllerConfig:
    standup_s: float = 2.5  # >= 2 s
    sitdown_s: float = 2.0
    start_gain: float = 0.1  # stand-up starts at 10 % of the gains and ramps to 100 %


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
    def __init__(self, runtime: PolicyRuntime, config: ControllerConfig | None = None):
        self.rt, self.cfg = runtime, config or ControllerConfig()
        if self.cfg.standup_s < 2.0:
            raise HRobotError(f"controller standup_s: expected >= 2 s, got {self.cfg.standup_s}")
        self.mode = PASSIVE
        self._t0 = 0.0
        self._from: np.ndarray | None = None
        self.requested = PASSIVE

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
        return JointCommand(q, np.zeros(n), kp * g, kd * max(g, 0.5), np.zeros(n)), s >= 1.0

    def step(self, state: MeasuredState, command: np.ndarray, now: float, safety_tripped: bool = False) -> JointCommand:
        """The desired command for this control period (the robot's safety layer still filters it)."""
        n = self.rt.robot.num_joints
        damping = JointCommand(np.asarray(state.joint_pos, dtype=np.float64), np.zeros(n), np.zeros(n),
                               self.rt.robot.kd.copy(), np.zeros(n), DAMPING)
        if safety_tripped:
            self.mode, self.requested = PASSIVE, "passive"
            return damping
        if self.requested == "passive":
            self.mode = PASSIVE
        if self.mode == PASSIVE:
            if self.requested == "stand":
                self.mode, self._t0 = STANDUP, now
                self._from = np.asarray(state.joint_pos, dtype=np.float64).copy()
            else:
                return damping
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
        return self.rt.step(state, command)


class HighLevelRuntime:
    """A high-level (navigation) bundle: goal + odometry + ray scan -> skill choice and skill command.

    The observation comes from `navigation_observation` and the action decoding from
    `decode_action`, the functions training uses.
    """

    def __init__(self, bundle: Bundle):
        if bundle.level != "high":
            raise HRobotError(f"{bundle.path}: HighLevelRuntime runs high-level bundles, found level '{bundle.level}'")
        self.bundle, self.meta, self.hl = bundle, bundle.meta, bundle.meta["high_level"]
        self.skills = [load_bundle(bundle.path / s["path"], bundle.robot) for s in self.meta["skills"]]
        self.skill_names = [s["name"] for s in self.meta["skills"]]
        self.lows = torch.tensor([s.meta["command"]["low"] for s in self.skills], dtype=torch.float32)
        self.highs = torch.tensor([s.meta["command"]["high"] for s in self.skills], dtype=torch.float32)
        prior = self.hl.get("skill_prior")
        self.prior = torch.tensor(prior, dtype=torch.float32) if prior else None
        self.num_rays = 2 * self.hl["num_rays"]
        self.period = 1.0 / self.hl["rate_hz"]
        self.episode_s = self.hl["episode_s"]
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
        t = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(1, -1)  # noqa: E731
        obs = navigation_observation(t(base_xy), t([base_yaw])[:, 0], t(base_lin_vel_xy), t([yaw_rate])[:, 0],
                                     t(goal), t(np.minimum(rays, self.hl["ray_range"])), t(self.last_action),
                                     t([time_left])[:, 0], self.hl["ray_range"]).numpy()
        if obs.shape[1] != self.meta["obs_dim"]:
            raise HRobotError(f"high-level observation: expected {self.meta['obs_dim']} values, got {obs.shape[1]}")
        action, self.state = self.bundle.step(obs, self.state)
        action = action[0]
        self.last_action = np.clip(action, -5.0, 5.0).astype(np.float32)
        index, command = decode_action(torch.from_numpy(action[None]), self.lows, self.highs, self.prior)
        return int(index[0]), command[0].numpy()
