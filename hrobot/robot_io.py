"""The robot interface (deploy layer: no simulator, no training code).

Every robot class (quadruped, humanoid, hand), simulated or real, is driven through
`RobotInterface`, in the manner of ros2_control's hardware lifecycle and LeRobot's Robot:

    connect() -> activate() -> read_state() / send(command) ... -> deactivate() -> disconnect()

`read_state` returns a stamped `MeasuredState`: joints always, IMU, base height and foot
contacts where the robot has them (`provides` names the fields, and a bundle that needs
another is refused at load time). `send` takes a command in one of the robot's
`command_modes` (hrobot.safety.MODES: position targets with gains and feed-forward torque, the
motor-driver PD law Unitree motors run; servo position targets under the servo's own PD, as
Dynamixel-class hands run; current; damping) and always goes
through the robot's `SafetyLayer` (hrobot.safety): no path reaches the actuators without it,
and a command in a mode the robot does not take is a trip. The MuJoCo-simulated robot (hrobot.sim.robot.SimRobot)
and the hardware drivers (hardware/) implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from hrobot.errors import HRobotError
from hrobot.safety import DAMPING, POSITION, JointCommand, MeasuredState, SafetyLayer
from hrobot.spec import RobotSpec

DISCONNECTED, CONNECTED, ACTIVE = "disconnected", "connected", "active"


@dataclass
class RangeScan:
    """Horizontal range rays in layers around the base (hrobot.nav_io.RayScanLayout's layout): ray i of a
    layer at base yaw + i * angle_increment; inf where nothing is within range_max."""

    ranges: np.ndarray  # (layers, rays)
    heights: tuple[float, ...]  # m above the ground, one per layer
    angle_increment: float
    range_max: float
    stamp: float


class RobotInterface(ABC):
    robot: RobotSpec
    safety: SafetyLayer
    provides: frozenset[str]  # state fields read_state() fills (hrobot.safety.STATE_FIELDS)
    command_modes: tuple[str, ...] = (POSITION, DAMPING)  # JointCommand modes the actuators take
    lifecycle: str = DISCONNECTED
    own_loop: bool = False  # the driver re-checks its last command at its own rate (else send(None) each period)

    # ---- lifecycle
    def connect(self) -> None:
        """Open the link to the robot (a port, a DDS domain, a simulator); state can be read from now on."""
        self.lifecycle = CONNECTED

    def activate(self) -> None:
        """Accept commands: start-up checks (a fresh, sane state, every joint inside its limits), then the
        safety layer leaves damping (gains ramp in from the first command where its config says so)."""
        if self.lifecycle == DISCONNECTED:
            raise HRobotError(f"{self.robot.name}: activate() before connect()")
        state = self.read_state()
        problem = self.safety.startup_problem(state, self.now())
        if problem or not self.safety.reset(state, self.now()):
            raise HRobotError(f"{self.robot.name}: cannot activate: {problem or self.safety.reason}")
        self.lifecycle = ACTIVE

    def deactivate(self) -> None:
        """Stop taking commands: damping from now on, until the next activate()."""
        self.safety.trip("deactivated", self.now())
        self.send(None)
        self.lifecycle = CONNECTED

    def disconnect(self) -> None:
        if self.lifecycle == ACTIVE:
            self.deactivate()
        self.lifecycle = DISCONNECTED

    # ---- I/O
    @abstractmethod
    def read_state(self) -> MeasuredState:
        """The latest measured state (joints in spec order, optional sensors, stamps)."""

    def read_scan(self) -> RangeScan | None:
        """The latest range scan, for robots that carry a range sensor (None: none, or none yet)."""
        return None

    def link_stats(self) -> dict:
        """Counters of the link to the robot (rates, errors, lost packets) for diagnostics; numbers and strings."""
        return {}

    def reset_safety(self) -> bool:
        """Leave a safety trip (e-stop latch included) if the state is sane now; False with the reason kept."""
        return self.safety.reset(self.read_state(), self.now())

    def estop(self, reason: str) -> None:
        """Latch damping (an operator's e-stop) from the next period on; only reset_safety() leaves it."""
        self.safety.estop(reason, self.now())

    @abstractmethod
    def now(self) -> float:
        """The robot's clock (seconds), the one the safety watchdogs use."""

    @abstractmethod
    def _write(self, command: JointCommand) -> None:
        """Hand an already-filtered command to the actuators."""

    def filter(self, command: JointCommand | None, state: MeasuredState | None = None) -> JointCommand:
        """The command the robot may receive for `command` (command modes, safety layer), without sending it.

        `state`: the state the command was computed from (read now if not given)."""
        if command is not None and command.mode not in self.command_modes:
            self.safety.trip(f"command mode '{command.mode}' is not one of {self.robot.name}'s "
                             f"{', '.join(self.command_modes)}", self.now())
        return self.safety.filter(command, self.read_state() if state is None else state, self.now())

    def send(self, command: JointCommand | None, state: MeasuredState | None = None) -> JointCommand:
        """Filter (above), then actuate. Returns what was actually applied."""
        safe = self.filter(command, state)
        self._write(safe)
        return safe
