"""The safety layer: the one place where every command to a robot is checked.

Every path that moves a robot (the simulated robot, the ROS nodes, hardware drivers)
sends through `SafetyLayer.filter`, which returns the only command the robot may
receive. Every limit is per second or per sensor stamp, so it holds at any call rate
(a 50 Hz controller, a 500 Hz driver loop). It enforces:

- joint position targets inside the spec's limits, and a rate limit on them (rad/s);
- estimated PD torque (kp (q* - q) + kd (dq* - dq) + tau_ff) inside the torque limits;
- gains inside [0, kp_max] and [0, kd_max];
- NaN / inf guard on state and command;
- fall detection: tilt from the IMU orientation, and base height (where the robot
  measures or estimates it) below a share of its standing height while the controller
  runs a policy (`JointCommand.standing`);
- stale-input watchdogs: no fresh joint state, no fresh IMU sample, or no fresh command,
  for more than the limit;
- an e-stop latch that needs an explicit `reset()`;
- per command mode: position (gains and feed-forward, torque-limited), servo position
  (targets only, under the servo's own gains: the spec's), current (torque only, limited),
  damping; an unknown mode trips.

Each trip latches damping mode (kp = 0, kd = damping gains, no feed-forward) and is
recorded with its reason; only `reset()` leaves it, and only when the state is sane.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from hrobot.heightmap import HeightMap
from hrobot.spec import RobotSpec

# Command modes: position targets with gains and feed-forward (the motor-driver PD law, as Unitree motors
# run it); servo position targets (the servo's own PD, whose gains are the spec's: Dynamixel-class hands);
# current (joint torque only); damping (kp = 0).
POSITION, SERVO, CURRENT, DAMPING = "position", "servo_position", "current", "damping"
MODES = (POSITION, SERVO, CURRENT, DAMPING)
# each mode's number in hrobot_msgs/JointCommand (MODE_POSITION = 0, ...): on the wire and in recordings
MODE_CODES = {POSITION: 0, DAMPING: 1, SERVO: 2, CURRENT: 3}
MODES_BY_CODE = {v: k for k, v in MODE_CODES.items()}
_STATE_ARRAYS = ("joint_pos", "joint_vel", "base_quat", "base_ang_vel")


def _clip(x: np.ndarray, low, high) -> np.ndarray:
    """np.clip without its Python-level dispatch (a few microseconds per call on the control path)."""
    return np.minimum(np.maximum(x, low), high)


@dataclass(frozen=True)
class JointCommand:
    """A command for every joint, in spec order. mode 'damping' means kp = 0 (q and dq are ignored).

    `standing`: the sender runs a policy and expects the robot up (not standing up, sitting down or
    passive), so a base that drops below the fall height is a fall.
    """

    q: np.ndarray
    dq: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau: np.ndarray
    mode: str = POSITION
    standing: bool = False

    @staticmethod
    def hold(robot: RobotSpec, q: np.ndarray) -> JointCommand:
        """Position targets q with the spec's gains."""
        n = robot.num_joints
        return JointCommand(np.asarray(q, dtype=np.float64), np.zeros(n), robot.kp.copy(), robot.kd.copy(), np.zeros(n))


@dataclass
class MeasuredState:
    """A stamped observation of the robot: joints always (spec order), optional sensors where it has them.

    Stamps are seconds on the robot's clock (monotonic, or the simulator's). `stamp` is the joint
    state's; a robot with an IMU gives its orientation and gyro and their own `imu_stamp`.
    """

    joint_pos: np.ndarray
    joint_vel: np.ndarray
    base_quat: np.ndarray | None  # w, x, y, z (IMU orientation); None: no IMU (a hand)
    base_ang_vel: np.ndarray | None  # base frame (gyro)
    stamp: float
    base_lin_vel: np.ndarray | None = None  # base frame, from a state estimator (only some policies use it)
    imu_stamp: float | None = None  # when the IMU sample was taken (None: with the joint state)
    base_height: float | None = None  # m above the ground, where measured or estimated
    foot_contact: np.ndarray | None = None  # one flag per spec foot
    base_acc: np.ndarray | None = None  # IMU accelerometer (specific force, base frame, m/s^2)
    base_pos: np.ndarray | None = None  # odometry-frame position (x, y, z), from a state estimator
    joint_effort: np.ndarray | None = None  # measured or estimated joint torque (N m), where the motors report it
    object_pos: np.ndarray | None = None  # a hand's manipulated object: position in the palm frame (a tracker's)
    object_quat: np.ndarray | None = None  # its orientation in the palm frame (w, x, y, z)
    object_stamp: float | None = None  # when the tracker measured that pose (None: with the joint state)
    height_map: HeightMap | None = None  # ground heights around the robot in base_pos's frame (an elevation map)


# The state fields a robot can provide (MeasuredState names); joints are always there.
STATE_FIELDS = ("joint_pos", "joint_vel", "base_quat", "base_ang_vel", "base_lin_vel", "base_height", "foot_contact",
                "base_acc", "base_pos", "joint_effort", "object_pos", "object_quat", "height_map")


@dataclass(frozen=True)
class SafetyConfig:
    max_target_rate: float = 12.5  # rad/s: fastest change of a position target (0.25 rad per 50 Hz period)
    max_tilt: float = 1.0  # rad from upright before the fall detector trips
    min_height_factor: float = 0.4  # a base below this share of the spec's standing height under a policy: a fall
    state_timeout: float | None = None  # s without a fresh joint state or IMU sample; default 2 control periods
    command_timeout: float | None = None  # s without a fresh command; default 2 control periods
    kp_max_factor: float = 1.5  # gains above 1.5x the spec's are refused
    damping_kd_factor: float = 1.0  # damping mode uses kd = factor * spec kd
    limit_margin: float = 0.0  # rad kept inside the joint limits
    gain_ramp_s: float = 0.0  # > 0: kp and feed-forward ramp from 0 over this long from the first command after
    # a reset (a robot going live takes its stiffness gradually, not as a step)
    startup_tolerance: float = 0.05  # rad a joint may read beyond its limit when the robot is activated


def target_mode(robot: RobotSpec) -> str:
    """The command mode that carries position targets to this robot: a hand's servos run their own PD on a goal
    position (SERVO, the spec's gains), a legged robot's motor drivers take targets with gains (POSITION)."""
    return SERVO if robot.robot_class == "hand" else POSITION


class ServoHold:
    """A servo hand's damping: its servos hold the position measured when damping began, under their current cap
    (a goal that followed the measurement would let a loaded joint sag; a limp hand would drop what it holds).
    The Dynamixel driver and the simulated hand both apply damping through it."""

    def __init__(self):
        self.q: np.ndarray | None = None

    def goal(self, command: JointCommand, measured_q: np.ndarray | None) -> np.ndarray:
        """The position goal for this command: its own, or for damping the latched hold."""
        if command.mode != DAMPING:
            self.q = None
            return command.q
        if self.q is None:
            self.q = np.array(command.q if measured_q is None else measured_q, dtype=np.float64)
        return self.q


@dataclass
class Trip:
    reason: str
    stamp: float


class SafetyLayer:
    def __init__(self, robot: RobotSpec, config: SafetyConfig | None = None, control_period: float | None = None,
                 floating_base: bool | None = None):
        self.robot, self.cfg = robot, config or SafetyConfig()
        period = control_period or robot.policy_dt
        self.state_timeout = self.cfg.state_timeout or 2.0 * period
        self.command_timeout = self.cfg.command_timeout or 2.0 * period
        self.lower = robot.lower + self.cfg.limit_margin
        self.upper = robot.upper - self.cfg.limit_margin
        self.tau_max = robot.torque_limits
        self.vmax = robot.velocity_limits  # (the spec's properties build arrays: read once, not per command)
        self.servo_kp, self.servo_kd = robot.kp, robot.kd  # what a servo's own PD runs (servo_position mode)
        self.kp_max = robot.kp * self.cfg.kp_max_factor
        self.kd_max = np.maximum(robot.kd * self.cfg.kp_max_factor, 1e-6)
        self.damping_kd = robot.kd * self.cfg.damping_kd_factor
        zero = np.zeros(robot.num_joints)  # the bounds of a command's rows q, dq, kp, kd, tau
        self._low = np.stack([self.lower, -self.vmax, zero, zero, -self.tau_max])
        self._high = np.stack([self.upper, self.vmax, self.kp_max, self.kd_max, self.tau_max])
        self.check_tilt = robot.floating_base if floating_base is None else floating_base
        self.min_height = self.cfg.min_height_factor * robot.base_height if self.check_tilt else None
        self.period = period
        self._last_filter: float | None = None  # when the last position command was filtered (rate limit)
        self.trips: list[Trip] = []
        self.trip_to_damping: list[float] = []  # s from each trip to the first damping command after it
        self._trips_answered = 0
        self.tripped = True  # a robot starts in damping until reset() confirms a sane state
        self._reason = "not started"
        self._last_q: np.ndarray | None = None
        self._last_cmd_stamp: float | None = None
        self._last_command: JointCommand | None = None
        self._ramp_from: float | None = None

    # ---- latch control
    @property
    def reason(self) -> str:
        return self._reason

    def estop(self, reason: str = "e-stop", now: float | None = None) -> None:
        self._trip(f"e-stop: {reason}", now)

    def trip(self, reason: str, now: float | None = None) -> None:
        """Latch damping for a reason found outside the layer (e.g. a driver's protocol error)."""
        self._trip(reason, now)

    def reset(self, state: MeasuredState, now: float | None = None) -> bool:
        """Leave damping: only with a fresh, finite, upright state. Returns whether it reset."""
        now = time.monotonic() if now is None else now
        problem = self._state_problem(state, now)
        if problem:
            self._reason = f"reset refused: {problem}"
            return False
        self.tripped = False
        self._reason = ""
        self._rebase(state)
        self._last_cmd_stamp = None  # damping until the first command; the command watchdog arms on it
        self._last_command = None
        return True

    def _rebase(self, state: MeasuredState) -> None:
        """Limp (reset, or damping asked for): the next position command starts from the measured pose,
        its target rate-limited from there and its gains ramped again."""
        self._last_filter = None
        self._last_q = np.clip(np.asarray(state.joint_pos, dtype=np.float64), self.lower, self.upper)
        self._ramp_from = None

    def startup_problem(self, state: MeasuredState, now: float | None = None) -> str:
        """Why a robot may not go live now ("" if it may): the state checks, and every joint inside its limits."""
        now = time.monotonic() if now is None else now
        problem = self._state_problem(state, now)
        if problem:
            return problem
        q, tol = np.asarray(state.joint_pos, dtype=np.float64), self.cfg.startup_tolerance
        out = np.flatnonzero((q < self.robot.lower - tol) | (q > self.robot.upper + tol))
        if out.size:
            k = int(out[0])
            return (f"joint '{self.robot.joint_names[k]}' at {q[k]:.3f} rad is outside its limits "
                    f"[{self.robot.lower[k]:.3f}, {self.robot.upper[k]:.3f}] (move it inside before activating)")
        return ""

    def _trip(self, reason: str, now: float | None) -> None:
        if not self.tripped:
            self.trips.append(Trip(reason, time.monotonic() if now is None else now))
        self.tripped = True
        self._reason = reason

    # ---- checks
    def _state_problem(self, s: MeasuredState | None, now: float) -> str:
        if s is None:
            return "no state received"
        names = _STATE_ARRAYS if s.base_quat is not None and s.base_ang_vel is not None else \
            [n for n in _STATE_ARRAYS if getattr(s, n) is not None]
        try:  # one concatenate and one dot product on the fast path (NaN and inf, and absurd magnitudes)
            flat = np.concatenate([getattr(s, name) for name in names], dtype=np.float64)
            finite = flat.ndim == 1 and math.isfinite(flat @ flat)
        except (ValueError, TypeError):
            finite = False
        if not finite:
            arrays = [np.asarray(getattr(s, name), dtype=np.float64).ravel() for name in names]
            bad = next((n for n, a in zip(names, arrays) if not np.isfinite(a).all()), None)
            if bad is not None:
                return f"non-finite {bad} in the state"
        if not math.isfinite(s.stamp) or now - s.stamp > self.state_timeout:
            return f"stale state ({now - s.stamp:.3f} s old > {self.state_timeout:.3f} s)"
        if self.check_tilt:
            if s.base_quat is None:
                return "no IMU orientation in the state (a floating-base robot needs one)"
            if s.imu_stamp is not None and (not math.isfinite(s.imu_stamp) or now - s.imu_stamp > self.state_timeout):
                return f"stale IMU ({now - s.imu_stamp:.3f} s old > {self.state_timeout:.3f} s)"
            quat = np.asarray(s.base_quat, dtype=np.float64).ravel().tolist()  # Python floats: ns per operation
            if len(quat) != 4:
                return f"invalid IMU quaternion (expected 4 values w, x, y, z, got {len(quat)})"
            w, x, y, z = quat
            norm = w * w + x * x + y * y + z * z
            if norm < 0.5 or norm > 1.5:
                return f"invalid IMU quaternion (norm^2 {norm:.2f})"
            up_z = (1.0 - 2.0 * (x * x + y * y)) / norm  # z of the base z axis in the world
            tilt = math.acos(max(-1.0, min(1.0, up_z)))
            if tilt > self.cfg.max_tilt:
                return f"tilt {math.degrees(tilt):.0f} deg > {math.degrees(self.cfg.max_tilt):.0f} deg (fall)"
            if s.base_height is not None and not math.isfinite(s.base_height):
                return "non-finite base_height in the state"
        return ""

    def _fell(self, command: JointCommand, state: MeasuredState) -> str:
        """The height fall check: a policy runs (a standing command) with the base below the fall height.

        Stand-up and sit-down send non-standing commands, so a robot may start lying down and sit."""
        h = state.base_height
        if command.standing and h is not None and self.min_height is not None and h < self.min_height:
            return f"base height {h:.3f} m < {self.min_height:.3f} m (fall)"
        return ""

    def damping(self, state: MeasuredState | None = None) -> JointCommand:
        """kp = 0, kd = damping: q is only informative, kept inside the limits (default pose where unknown)."""
        n = self.robot.num_joints
        q = self.robot.default_pose.copy()
        if state is not None:
            measured = np.asarray(state.joint_pos, dtype=np.float64)
            if measured.shape == (n,):
                q = np.where(np.isfinite(measured), measured, q)
        return JointCommand(np.clip(q, self.lower, self.upper), np.zeros(n), np.zeros(n), self.damping_kd.copy(),
                            np.zeros(n), DAMPING)

    def filter(self, command: JointCommand | None, state: MeasuredState | None, now: float | None = None) -> JointCommand:
        """The command the robot may receive this control period (damping once anything is wrong)."""
        now = time.monotonic() if now is None else now
        out = self._filter(command, state, now)
        if out.mode == DAMPING and len(self.trips) > self._trips_answered:  # a new trip's first damping command
            # an e-stop from another thread can be stamped after this period's `now`: that is 0 s late
            self.trip_to_damping.append(max(now - self.trips[-1].stamp, 0.0))
            self._trips_answered = len(self.trips)
        return out

    def _filter(self, command: JointCommand | None, state: MeasuredState | None, now: float) -> JointCommand:
        if self.tripped:
            return self.damping(state)
        problem = self._state_problem(state, now)
        if problem:
            self._trip(problem, now)
            return self.damping(state)
        if command is not None:
            self._last_cmd_stamp = now
            self._last_command = command
        elif self._last_command is not None and now - self._last_cmd_stamp > self.command_timeout:
            if self._last_command.mode != DAMPING:
                self._trip(f"stale command (last {now - self._last_cmd_stamp:.3f} s ago, "
                           f"limit {self.command_timeout:.3f} s)", now)
                return self.damping(state)
            self._last_command = None  # silence after asked-for damping changes nothing: wait as after a reset
        command = command or self._last_command
        if command is None or command.mode == DAMPING:  # waiting for the first command, or damping asked for
            self._rebase(state)
            return self.damping(state)
        if command.mode not in MODES:
            self._trip(f"unknown command mode '{command.mode}'", now)
            return self.damping(state)
        fell = self._fell(command, state)
        if fell:
            self._trip(fell, now)
            return self.damping(state)
        n = self.robot.num_joints
        try:  # the five arrays as the rows of one: every bound below is one operation on it
            parts = np.array((command.q, command.dq, command.kp, command.kd, command.tau), dtype=np.float64)
        except (ValueError, TypeError):
            parts = None
        if parts is None or parts.shape != (5, n):
            self._trip(f"command has wrong size (expected {n} joints)", now)
            return self.damping(state)
        flat = parts.reshape(-1)  # one dot product on the fast path (NaN or inf: not finite; a huge finite value
        if not math.isfinite(flat @ flat) and not np.isfinite(flat).all():  # overflows it: checked exactly)
            self._trip("non-finite value in the command", now)
            return self.damping(state)
        # targets inside the joint limits, |dq| inside the velocity limits, gains in [0, max], |tau| in limits
        np.maximum(parts, self._low, out=parts)
        np.minimum(parts, self._high, out=parts)
        q, dq, kp, kd, tau = parts
        if command.mode == CURRENT:  # torque only: nothing to track, the position stays where it is
            self._last_q = _clip(np.asarray(state.joint_pos, dtype=np.float64), self.lower, self.upper)
            self._last_filter = now
            n0 = np.zeros(n)
            return JointCommand(self._last_q, n0, n0, n0, tau, CURRENT, command.standing)
        last = self._last_q if self._last_q is not None else q
        # rate limit per second: the time since the last filtered command (one period for the first)
        dt = self.period if self._last_filter is None else min(max(now - self._last_filter, 0.0), self.state_timeout)
        step = self.cfg.max_target_rate * dt
        np.maximum(q, last - step, out=q)
        np.minimum(q, last + step, out=q)
        self._last_filter = now
        if command.mode == SERVO:  # targets under the servo's own PD (the spec's gains); its driver sets the
            self._last_q = q       # servo's current limit from the spec's torque limit
            n0 = np.zeros(n)
            return JointCommand(q, n0, self.servo_kp, self.servo_kd, n0, SERVO, command.standing)
        if self.cfg.gain_ramp_s > 0:
            if self._ramp_from is None:
                self._ramp_from = now
            ramp = min(1.0, (now - self._ramp_from) / self.cfg.gain_ramp_s)
            if ramp < 1.0:
                kp *= ramp
                tau *= ramp
        # Torque limit on the law the motor runs, kp (q - q_m) + kd (dq - dq_m) + tau, at the
        # measured state: where it would exceed the limit, soften that joint (scale kp, kd and
        # tau together) so it delivers exactly the limit, keeping the target inside the limits.
        total = np.abs(kp * (q - state.joint_pos) + kd * (dq - state.joint_vel) + tau)
        if (total > self.tau_max).any():  # (scaling by min(1, limit / total) changes nothing otherwise)
            parts[2:] *= np.minimum(1.0, self.tau_max / np.maximum(total, 1e-12))
        self._last_q = q
        return JointCommand(q, dq, kp, kd, tau, POSITION, command.standing)
