"""The Unitree low-level driver (Go2: unitree_go, G1: unitree_hg) over CycloneDDS 0.10.2.

connect(): join the DDS domain, release the sport mode through the motion switcher (CheckMode
until no controller is active, ReleaseMode in between; the driver refuses to command otherwise),
wait for the first valid `rt/lowstate` (G1: its `mode_machine` is copied into every command).
A thread then runs at 500 Hz: it takes the newest state with a valid CRC, passes the last command
through the safety layer again (so a controller that stops sending, or a state that stops coming,
ends in damping at the driver's rate, not the controller's) and publishes `rt/lowcmd` with the
CRC the robot checks. Motor slots come from the spec's motor_index table; unused slots are off.
Keep this in its own process: CycloneDDS and rclpy's Fast DDS do not share one.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from hrobot.errors import HRobotError
from hrobot.estimator import BaseEstimator, ChainKinematics
from hrobot.hardware.unitree import crc, msgs
from hrobot.hardware.unitree import protocol as u
from hrobot.robot_io import CONNECTED, RangeScan, RobotInterface
from hrobot.safety import DAMPING, POSITION, JointCommand, MeasuredState, SafetyConfig, SafetyLayer
from hrobot.spec import RobotSpec

FOOT_CONTACT_FORCE = 20  # Go2 foot_force units above which a foot is in contact


@dataclass(frozen=True)
class UnitreeConfig:
    domain: int = 0  # the robot's DDS domain (0 on the robot; simulations use another)
    rate_hz: float = u.RATE_HZ
    release_sport_mode: bool = True  # ask the motion switcher to release; False: refuse while it is active
    timeout_s: float = 3.0  # for the first state and each motion-switcher answer
    kinematics: dict | None = None  # leg chains (`hrobot robots kinematics`): then the estimator gives base
    # position, velocity and height (hrobot.estimator), which a real robot's low-level state does not carry
    network_interface: str = ""  # the NIC wired to the robot (e.g. eth0); "" lets CycloneDDS choose
    scan: bool = False  # read hrobot's range scans (rt/hrobot/scan: the simulated device's, not a Unitree topic)


@dataclass
class LinkStats:
    states: int = 0
    crc_errors: int = 0
    commands: int = 0
    late_periods: int = 0
    periods: int = 0
    period_s: deque = field(default_factory=lambda: deque(maxlen=50_000))  # measured loop periods
    received: deque = field(default_factory=lambda: deque(maxlen=50_000))  # (state tick, monotonic receive time)
    sent: deque = field(default_factory=lambda: deque(maxlen=50_000))  # (tick of the state used, publish time)


class UnitreeLowLevel(RobotInterface):
    command_modes = (POSITION, DAMPING)
    own_loop = True  # its 500 Hz thread

    def __init__(self, robot: RobotSpec, config: UnitreeConfig | None = None, safety: SafetyConfig | None = None,
                 control_period: float | None = None):
        try:
            self.family, self.cmd_type, self.state_type, self.slots = u.family(robot)
        except ValueError as e:
            raise HRobotError(str(e)) from None
        missing = [j.name for j in robot.joints if j.motor_index is None]
        if missing:
            raise HRobotError(f"{robot.source}: joint '{missing[0]}' has no motor_index (the driver maps joints to "
                              f"the robot's motor slots with it)")
        self.robot, self.cfg = robot, config or UnitreeConfig()
        self.slot = [j.motor_index for j in robot.joints]
        self.control_period = control_period or robot.policy_dt
        # the driver re-checks at 500 Hz what a 50 Hz controller sent: five of its periods without a command trip
        self.safety = SafetyLayer(robot, safety or SafetyConfig(command_timeout=5 * self.control_period),
                                  control_period=self.control_period)
        contacts = self.family == "unitree_go" and bool(robot.feet)
        self.estimator = None
        if self.cfg.kinematics is not None:
            if not contacts:
                raise HRobotError(f"{robot.name}: the base estimator needs foot contacts ({self.family} has no foot "
                                  f"force sensors here)")
            self.estimator = BaseEstimator(ChainKinematics(self.cfg.kinematics))
        self.provides = frozenset({"joint_pos", "joint_vel", "joint_effort", "base_quat", "base_ang_vel", "base_acc",
                                   *(("foot_contact",) if contacts else ()),
                                   *(("base_lin_vel", "base_height", "base_pos") if self.estimator else ())})
        self._last_tick: int | None = None
        self.stats = LinkStats()
        self._lock = threading.RLock()
        self._latest = None  # (receive time, LowState)
        self._state: MeasuredState | None = None
        self._scan_reader = None
        self._scan: RangeScan | None = None
        self._safe: JointCommand | None = None
        self._mode_machine = 0
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    def connect(self) -> None:
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        if self.cfg.network_interface:  # read when the domain is created (this process's own DDS: see above)
            os.environ["CYCLONEDDS_URI"] = (f"<CycloneDDS><Domain><General><Interfaces><NetworkInterface "
                                            f"name=\"{self.cfg.network_interface}\"/></Interfaces></General>"
                                            f"</Domain></CycloneDDS>")
        dp = self._dp = DomainParticipant(self.cfg.domain)
        self._scan_reader = DataReader(dp, Topic(dp, u.SCAN, msgs.RangeScan)) if self.cfg.scan else None
        self._state_reader = DataReader(dp, Topic(dp, u.LOWSTATE, self.state_type))
        self._cmd_writer = DataWriter(dp, Topic(dp, u.LOWCMD, self.cmd_type))
        self._rpc_writer = DataWriter(dp, Topic(dp, u.SWITCHER_REQUEST, msgs.Request))
        self._rpc_reader = DataReader(dp, Topic(dp, u.SWITCHER_RESPONSE, msgs.Response))
        self._release_sport_mode()
        deadline = time.monotonic() + self.cfg.timeout_s
        while self._poll() is None:
            if time.monotonic() > deadline:
                raise HRobotError(f"{self.robot.name}: no valid {u.LOWSTATE} on DDS domain {self.cfg.domain} within "
                                  f"{self.cfg.timeout_s:g} s (robot off, wrong domain or interface?)")
            time.sleep(0.002)
        if self.family == "unitree_hg":
            self._mode_machine = int(self._latest[1].mode_machine)
        self.lifecycle = CONNECTED
        self._thread = threading.Thread(target=self._loop, name="unitree-lowcmd", daemon=True)
        self._thread.start()

    def disconnect(self) -> None:
        super().disconnect()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _call(self, api_id: int) -> msgs.Response:
        rid = next(self._ids)
        req = msgs.Request(header=msgs.RequestHeader(identity=msgs.RequestIdentity(rid, api_id)))
        self._rpc_writer.write(req)
        deadline = time.monotonic() + self.cfg.timeout_s
        while time.monotonic() < deadline:
            for resp in self._rpc_reader.take(N=16):
                if isinstance(resp, msgs.Response) and resp.header.identity.id == rid:
                    return resp
            time.sleep(0.005)
            self._rpc_writer.write(req)  # discovery may have missed the first
        raise HRobotError(f"{self.robot.name}: the motion switcher did not answer API {api_id} within "
                          f"{self.cfg.timeout_s:g} s")

    def _release_sport_mode(self) -> None:
        for _ in range(5):
            try:
                active = u.mode_name(self._call(u.API_CHECK_MODE).data)
            except ValueError as e:
                raise HRobotError(f"{self.robot.name}: {e}; the driver refuses to command") from None
            if not active:
                return
            if not self.cfg.release_sport_mode:
                break
            self._call(u.API_RELEASE_MODE)
            time.sleep(0.1)
        raise HRobotError(f"{self.robot.name}: sport mode '{active}' is active; the driver refuses to send low-level "
                          f"commands until it is released (motion switcher ReleaseMode)")

    # ---- I/O
    def now(self) -> float:
        return time.monotonic()

    def read_state(self) -> MeasuredState:
        with self._lock:
            self._poll()
            if self._state is None:
                raise HRobotError(f"{self.robot.name}: no state received yet")
            return self._state

    def link_stats(self) -> dict:
        st = self.stats
        periods = np.asarray(st.period_s)
        jitter = np.abs(periods - 1.0 / self.cfg.rate_hz) if periods.size else np.zeros(1)
        return {"states": st.states, "crc_errors": st.crc_errors, "commands": st.commands, "periods": st.periods,
                "late_periods": st.late_periods, "loop_rate_hz": float(periods.size / periods.sum()) if periods.size else 0.0,
                "period_jitter_us_p99": float(np.percentile(jitter, 99) * 1e6),
                "state_age_s": time.monotonic() - self._latest[0] if self._latest else float("nan"),
                "motor_temperature_max_c": max((float(np.max(self._latest[1].motor_state[i].temperature))
                                                for i in self.slot), default=float("nan")) if self._latest else float("nan")}

    def read_scan(self) -> RangeScan | None:
        if self._scan_reader is None:
            return None
        for m in self._scan_reader.take(N=8):
            if isinstance(m, msgs.RangeScan) and len(m.ranges) == m.num_rays * len(m.heights):
                self._scan = RangeScan(np.array(m.ranges, dtype=np.float64).reshape(len(m.heights), m.num_rays),
                                       tuple(m.heights), float(m.angle_increment), float(m.range_max), self.now())
        return self._scan

    def filter(self, command, state=None):
        with self._lock:  # the 500 Hz loop and the controller share the safety layer
            return super().filter(command, state)

    def _write(self, command: JointCommand) -> None:
        self._safe = command
        self._publish(command)

    def _poll(self):
        """Take new states; keep the newest with a valid CRC (a bad one is dropped and counted). Every valid
        state goes into the estimator; the MeasuredState is built once per new state, not per call."""
        newest = None
        for s in self._state_reader.take(N=64):
            if not isinstance(s, self.state_type):
                continue
            if not crc.valid(s):
                self.stats.crc_errors += 1
                continue
            self.stats.states += 1
            q = np.array([s.motor_state[i].q for i in self.slot])
            dq = np.array([s.motor_state[i].dq for i in self.slot])
            self._latest = (time.monotonic(), s)
            self.stats.received.append((s.tick, self._latest[0]))
            self._estimate(s, q, dq)
            newest = (q, dq)
        if newest is not None:
            stamp, s = self._latest
            imu = s.imu_state
            contact = (np.array(s.foot_force, dtype=np.float64) > FOOT_CONTACT_FORCE
                       if "foot_contact" in self.provides else None)
            est = self.estimator
            self._state = MeasuredState(*newest, np.array(imu.quaternion, dtype=np.float64),
                                        np.array(imu.gyroscope, dtype=np.float64), stamp, imu_stamp=stamp,
                                        foot_contact=contact, base_acc=np.array(imu.accelerometer, dtype=np.float64),
                                        base_lin_vel=est.velocity_base if est else None,
                                        base_height=float(est.position[2]) if est else None,
                                        base_pos=est.position.copy() if est else None,
                                        joint_effort=np.array([s.motor_state[i].tau_est for i in self.slot]))
        return self._latest

    def _estimate(self, s, q: np.ndarray, dq: np.ndarray) -> None:
        """A valid state into the base estimator, with the time its tick says has passed."""
        if self.estimator is None:
            return
        dt = 1.0 / self.cfg.rate_hz if self._last_tick is None else (s.tick - self._last_tick) / self.cfg.rate_hz
        self._last_tick = s.tick
        if not 0 < dt < 0.1:
            return
        imu = s.imu_state
        self.estimator.step(dt, imu.quaternion, imu.gyroscope, imu.accelerometer, q, dq,
                            np.array(s.foot_force) > FOOT_CONTACT_FORCE)

    def _loop(self) -> None:
        period = 1.0 / self.cfg.rate_hz
        t_next = last = time.monotonic()
        while not self._stop.is_set():
            t_next += period
            now = time.monotonic()
            self.stats.period_s.append(now - last)
            last = now
            if self._safe is not None:  # once a command was sent: re-checked and re-sent every period
                with self._lock:
                    self._poll()
                    safe = RobotInterface.filter(self, None, self._state)
                self._safe = safe
                self._publish(safe)
            self.stats.periods += 1
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self.stats.late_periods += 1
                t_next = time.monotonic()

    def _publish(self, command: JointCommand) -> None:
        msg = self.cmd_type()
        if self.family == "unitree_go":
            msg.head, msg.level_flag = list(u.GO_HEAD), u.GO_LEVEL_LOWLEVEL
            for mc in msg.motor_cmd:  # unused slots: off, loops off (as the SDK initialises them)
                mc.mode, mc.q, mc.dq = u.MOTOR_OFF, u.POS_STOP_F, u.VEL_STOP_F
        else:
            msg.mode_machine, msg.mode_pr = self._mode_machine, 0
        damping = command.mode == DAMPING
        for k, s in enumerate(self.slot):
            mc = msg.motor_cmd[s]
            mc.mode = u.MOTOR_ENABLE
            mc.q = u.POS_STOP_F if damping else float(command.q[k])
            mc.dq = 0.0 if damping else float(command.dq[k])
            mc.kp = 0.0 if damping else float(command.kp[k])
            mc.kd = float(command.kd[k])
            mc.tau = 0.0 if damping else float(command.tau[k])
        crc.sign(msg)
        self._cmd_writer.write(msg)
        self.stats.commands += 1
        self.stats.sent.append((self._latest[1].tick if self._latest else -1, time.monotonic()))
