"""Teleoperators behind one small interface (in the manner of LeRobot's Teleoperator).

A teleoperator has `action_features` (name -> type of what `get_action` returns), `connect`,
`get_action` (a flat dict: the command, `enabled` (the deadman) and `estop`), `events` (episode
marks since the last call: start, success, rerecord, stop) and `disconnect`. The node that runs
one (ros_ws hrobot_ros/teleop.py) turns actions into /teleop/cmd_vel or joint commands and
/estop; the skill controller's CommandMux lets teleop override the high level while enabled.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

EPISODE_EVENTS = ("start", "success", "rerecord", "stop")
BASE_FEATURES = {"vx": float, "vy": float, "wz": float, "enabled": bool, "estop": bool}


class Teleoperator(ABC):
    name: str = ""

    @property
    @abstractmethod
    def action_features(self) -> dict[str, type]: ...

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def get_action(self) -> dict[str, float | bool]:
        """The operator's current command; non-blocking (reads whatever input has arrived)."""

    def events(self) -> list[str]:
        """Episode marks (EPISODE_EVENTS) since the last call."""
        return []

    @abstractmethod
    def disconnect(self) -> None: ...

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()


class BaseTeleoperator(Teleoperator):
    """A teleoperator of a legged robot's base: its action is a velocity command, the deadman, the e-stop."""

    @property
    def action_features(self) -> dict[str, type]:
        return dict(BASE_FEATURES)
