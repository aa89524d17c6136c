"""Hand teleoperation: joint targets from a leader (a leader hand or a glove's sensor_msgs/JointState).

The leader's joints are matched to the hand's by name (a leader may publish more joints, or
fewer: those keep their last target); targets go to the robot driver as servo position commands
and through its safety layer like any other command. A leader stream that stops for `timeout`
releases control: the node stops commanding and the driver's own watchdog holds the hand.
"""

from __future__ import annotations

import time

import numpy as np

from hrobot.errors import HRobotError
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
