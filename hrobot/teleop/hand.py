"""Hand teleoperation: joint targets from a leader (a leader hand or a glove's sensor_msgs/JointState), or
fingertip positions (a glove or a hand tracker) retargeted to the hand's joints.

The leader's joints are matched to the hand's by name (a leader may publish more joints, or
fewer: those keep their last target); targets go to the robot driver as servo position commands
and through its safety layer like any other command. A leader stream that stops for `timeout`
releases control: the node stops commanding and the driver's own watchdog holds the hand.
"""

from __future__ import annotations

import time

import numpy as np

from hrobot.errors import HRobotError
from hrobot.estimator import ChainKinematics
from hrobot.spec import RobotSpec
from hrobot.teleop import Teleoperator


class JointLeader(Teleoperator):
    name = "joint-topic"

    def __init__(self, spec: RobotSpec, timeout: float = 0.2):
        self.spec, self.timeout = spec, timeout
        self.index = {n: i for i, n in enumerate(spec.joint_names)}
        self.target = np.asarray(spec.default_pose, dtype=float).copy()
        self.last = -np.inf
        self.connected = False

    @property
    def action_features(self) -> dict[str, type]:
        return {**{f"{n}.pos": float for n in self.spec.joint_names}, "enabled": bool, "estop": bool}

    @property
    def is_connected(self) -> bool:
        return self.connected

    def connect(self) -> None:
        self.connected = True

    def receive(self, names: list[str], positions: list[float]) -> int:
        """Take a leader message; returns how many of its joints the hand has."""
        if len(names) != len(positions):
            raise HRobotError(f"leader joint state: {len(names)} names but {len(positions)} positions")
        matched = 0
        for n, q in zip(names, positions):
            i = self.index.get(n)
            if i is not None and np.isfinite(q):
                self.target[i] = q
                matched += 1
        if matched:
            self.last = time.monotonic()
        return matched

    def get_action(self) -> dict[str, float | bool]:
        fresh = time.monotonic() - self.last <= self.timeout
        return {**{f"{n}.pos": float(self.target[i]) for n, i in self.index.items()}, "enabled": fresh, "estop": False}

    def targets(self) -> np.ndarray:
        return self.target.copy()

    def disconnect(self) -> None:
        self.connected = False


class FingertipRetargeter(Teleoperator):
    """Fingertip positions (in the palm frame, one per fingertip site of the spec, in its order: a glove's or a
    hand tracker's) retargeted to joint targets by damped least squares on the hand's kinematic chains
    (`hrobot robots kinematics leap_hand`), inside the joint limits, warm-started from the last solution."""

    name = "fingertips"

    def __init__(self, spec: RobotSpec, kinematics: ChainKinematics, timeout: float = 0.2, iterations: int = 60,
                 damping: float = 1e-4, max_step: float = 0.2, tolerance: float = 5e-4):
        if kinematics.names != list(spec.feet):
            raise HRobotError(f"fingertip kinematics for {kinematics.names}, but {spec.name}'s fingertips are "
                              f"{list(spec.feet)}")
        self.leader = JointLeader(spec, timeout)
        self.kin, self.iterations, self.damping = kinematics, iterations, damping
        self.max_step, self.tolerance = max_step, tolerance  # rad per iteration; m
        self.lower, self.upper = spec.lower, spec.upper
        self.error = float("nan")  # m: the worst fingertip's distance from its target after the last solve

    @property
    def action_features(self) -> dict[str, type]:
        return self.leader.action_features

    @property
    def is_connected(self) -> bool:
        return self.leader.is_connected

    def connect(self) -> None:
        self.leader.connect()

    def solve(self, targets: np.ndarray, q0: np.ndarray) -> np.ndarray:
        """Joint angles whose fingertips are closest to `targets`: from the last solution, and if that ends
        short (stuck at a limit), again from mid-range; the better of the two."""
        q, err = self._descend(targets, q0)
        if err > 4 * self.tolerance:
            q2, err2 = self._descend(targets, 0.5 * (self.lower + self.upper))
            if err2 < err:
                q, err = q2, err2
        self.error = err
        return q

    def _descend(self, targets: np.ndarray, q0: np.ndarray) -> tuple[np.ndarray, float]:
        q = np.clip(q0, self.lower, self.upper)
        for _ in range(self.iterations):
            pos, jac = self.kin.jacobians(q)
            err = targets - pos
            if np.linalg.norm(err, axis=1).max() < self.tolerance:
                break
            J, e = jac.reshape(-1, len(q)), err.reshape(-1)
            free = np.ones(len(q), dtype=bool)
            for _ in range(2):  # joints at a limit that the step would push past it sit this step out
                Jf = J * free
                dq = Jf.T @ np.linalg.solve(Jf @ Jf.T + self.damping * np.eye(len(e)), e)
                stuck = ((q <= self.lower) & (dq < 0)) | ((q >= self.upper) & (dq > 0))
                if not (stuck & free).any():
                    break
                free &= ~stuck
            dq *= min(1.0, self.max_step / max(np.abs(dq).max(), 1e-12))  # small steps: the solution stays on its branch
            q = np.clip(q + dq, self.lower, self.upper)
        return q, float(np.linalg.norm(targets - self.kin.foot_positions(q), axis=1).max())

    def receive(self, positions) -> None:
        p = np.asarray(positions, dtype=float)
        if p.shape != (len(self.kin.names), 3) or not np.all(np.isfinite(p)):
            raise HRobotError(f"fingertips: expected {len(self.kin.names)} finite positions "
                              f"({', '.join(self.kin.names)}), got shape {p.shape}")
        q = self.solve(p, self.leader.targets())
        self.leader.receive(self.leader.spec.joint_names, q.tolist())

    def get_action(self) -> dict[str, float | bool]:
        return self.leader.get_action()

    def targets(self) -> np.ndarray:
        return self.leader.targets()

    def disconnect(self) -> None:
        self.leader.disconnect()
