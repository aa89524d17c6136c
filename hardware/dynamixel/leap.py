"""The LEAP hand driver: 16 Dynamixel XC330 servos on one Protocol 2.0 bus, through ROBOTIS's dynamixel-sdk.

Set-up as LEAP's own API does it (LEAP_Hand_API python/main.py): current-based position mode,
P / I / D gains (P and D x0.75 on the side joints 0, 4, 8), the current cap written to Goal
Current. State: one sync read of present current, velocity and position per read, its status packets
parsed by protocol.py (the SDK's own parsing mishandles byte stuffing, see there). Commands: one
GroupSyncWrite of goal positions. Joint angles follow the spec's convention; the servo's
(LEAP's +pi) is converted in hardware/dynamixel/xc330.py only.

Faults end safe: a read that fails leaves the state stale (the safety layer's watchdog trips),
a servo's alert bit trips it with the servo's hardware error named, and a tripped hand holds
where it is under the current cap (damping mode for a servo hand: the goal is the measured position
when damping began, held there: a goal that followed the measurement would let a loaded joint sag).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hrobot.errors import HRobotError
from hrobot.hardware.dynamixel import xc330 as x
from hrobot.hardware.dynamixel.protocol import status_packets
from hrobot.robot_io import CONNECTED, RobotInterface
from hrobot.safety import DAMPING, SERVO, JointCommand, MeasuredState, SafetyConfig, SafetyLayer, ServoHold
from hrobot.spec import RobotSpec


@dataclass(frozen=True)
class LeapConfig:
    port: str = "/dev/ttyUSB0"
    baud: int = x.BAUD_4M
    p_gain: int = 800  # LEAP's ROS nodes: kP 800, kI 0, kD 200, curr_lim 350
    i_gain: int = 0
    d_gain: int = 200
    side_joints: tuple[int, ...] = (0, 4, 8)  # the finger side-to-side (rot) joints: gains x side_scale
    side_scale: float = 0.75
    current_limit: int = 350  # mA, written to Goal Current
    retries: int = 3  # set-up writes and pings
    read_timeout_s: float = 0.01  # for the 16 status packets of one sync read


@dataclass
class BusStats:
    reads: int = 0
    failed_reads: int = 0
    writes: int = 0
    failed_writes: int = 0
    first_read: float | None = None
    errors: dict[int, str] = field(default_factory=dict)  # servo id -> hardware error

    def read_rate_hz(self, now: float) -> float:
        return self.reads / (now - self.first_read) if self.first_read and now > self.first_read else 0.0


class LeapHand(RobotInterface):
    command_modes = (SERVO, DAMPING)
    provides = frozenset({"joint_pos", "joint_vel"})

    def __init__(self, robot: RobotSpec, config: LeapConfig | None = None, safety: SafetyConfig | None = None,
                 control_period: float | None = None):
        if robot.robot_class != "hand":
            raise HRobotError(f"the LEAP driver drives hands; robot {robot.name} is a {robot.robot_class}")
        self.robot, self.cfg = robot, config or LeapConfig()
        self.ids = [j.motor_index if j.motor_index is not None else i for i, j in enumerate(robot.joints)]
        self.control_period = control_period or robot.policy_dt
        self.safety = SafetyLayer(robot, safety, control_period=self.control_period)
        self.stats = BusStats()
        self._state: MeasuredState | None = None
        self._port = self._packet = self._reader = self._writer = None
        self._hold = ServoHold()  # damping: hold where the hand was when it began

    # ---- lifecycle
    def connect(self) -> None:
        from dynamixel_sdk import GroupSyncRead, GroupSyncWrite, PacketHandler, PortHandler

        port = PortHandler(self.cfg.port)
        try:
            opened = port.openPort() and port.setBaudRate(self.cfg.baud)
        except Exception as e:  # pyserial's SerialException, OSError
            raise HRobotError(f"{self.cfg.port}: cannot open the Dynamixel bus: {e}") from None
        if not opened:
            raise HRobotError(f"{self.cfg.port}: cannot open the Dynamixel bus at {self.cfg.baud} baud")
        self._port, self._packet = port, PacketHandler(2.0)
        for i in self.ids:
            model = self._retry(lambda i=i: self._packet.ping(port, i), f"ping servo {i}")
            if model != x.MODEL_NUMBER:
                raise HRobotError(f"{self.cfg.port}: servo {i} is model {model}, expected XC330-M288 ({x.MODEL_NUMBER})")
        for k, i in enumerate(self.ids):
            side = self.cfg.side_scale if k in self.cfg.side_joints else 1.0
            for name, value in (("torque_enable", 0), ("return_delay_time", 0),
                                ("operating_mode", x.OPERATING_MODE_CURRENT_POSITION),
                                ("position_p_gain", int(self.cfg.p_gain * side)), ("position_i_gain", self.cfg.i_gain),
                                ("position_d_gain", int(self.cfg.d_gain * side)),
                                ("goal_current", self.cfg.current_limit)):
                self._write_register(i, name, value)
        self._reader = GroupSyncRead(port, self._packet, *x.STATE_BLOCK)
        self._writer = GroupSyncWrite(port, self._packet, x.ADDR["goal_position"], 4)
        for i in self.ids:
            self._reader.addParam(i)
        if self._read() is None:
            raise HRobotError(f"{self.cfg.port}: no state from the servos after set-up")
        self.lifecycle = CONNECTED

    def activate(self) -> None:
        """Start-up checks (fresh state inside the limits), goal = where each joint is, then torque on."""
        super().activate()
        state = self._state
        self._goal(state.joint_pos)
        for i in self.ids:
            self._write_register(i, "torque_enable", 1)

    def disconnect(self) -> None:
        super().disconnect()
        if self._port is not None:
            for i in self.ids:  # limp, as LEAP leaves it when the program ends
                try:
                    self._packet.write1ByteTxRx(self._port, i, x.ADDR["torque_enable"], 0)
                except Exception:  # the bus may already be gone
                    pass
            self._port.closePort()
            self._port = None

    # ---- I/O
    def now(self) -> float:
        return time.monotonic()

    def read_state(self) -> MeasuredState:
        self._read()
        if self._state is None:
            raise HRobotError(f"{self.cfg.port}: no state read from the hand yet")
        return self._state

    def _write(self, command: JointCommand) -> None:
        if self._port is None:
            return
        self._goal(self._hold.goal(command, None if self._state is None else self._state.joint_pos))

    def link_stats(self) -> dict:
        st = self.stats
        return {"reads": st.reads, "failed_reads": st.failed_reads, "writes": st.writes, "failed_writes": st.failed_writes,
                "read_rate_hz": st.read_rate_hz(self.now()),
                "servo_errors": "; ".join(f"servo {i}: {e}" for i, e in sorted(st.errors.items())) or "none"}

    # ---- the bus
    def _read(self) -> MeasuredState | None:
        """One sync read: the SDK sends the instruction; the status packets are parsed by protocol.py."""
        from dynamixel_sdk import COMM_SUCCESS

        try:
            self._port.clearPort()  # nothing late from an earlier transaction may be taken for this one's
            sent = self._reader.txPacket() == COMM_SUCCESS
            replies = status_packets(lambda n: bytes(self._port.readPort(n)), len(self.ids),
                                     self.cfg.read_timeout_s) if sent else None
        except Exception:  # the port is gone (the cable pulled): pyserial raises
            replies = None
        if self._port is not None:
            self._port.is_using = False  # the SDK's busy flag, which its own receive would have cleared
        if replies is None or [r[0] for r in replies] != self.ids:
            self.stats.failed_reads += 1
            return None
        raw = {i: params for i, _, params in replies}
        errors = {i: error for i, error, _ in replies}
        n = self.robot.num_joints
        q, dq = np.empty(n), np.empty(n)
        for k, i in enumerate(self.ids):
            block = bytes(raw[i])
            q[k] = x.ticks_to_joint(int.from_bytes(block[6:10], "little", signed=True))
            dq[k] = int.from_bytes(block[2:6], "little", signed=True) * x.VELOCITY_RAD_S
        now = self.now()
        self.stats.reads += 1
        self.stats.first_read = self.stats.first_read or now
        self._state = MeasuredState(q, dq, None, None, now)
        for i, error in errors.items():
            if error & x.ERR_ALERT and i not in self.stats.errors:
                self._alert(i, now)
        return self._state

    def _alert(self, dxl_id: int, now: float) -> None:
        """A status packet's alert bit: read which hardware error, and trip with it."""
        bits, _, _ = self._packet.read1ByteTxRx(self._port, dxl_id, x.ADDR["hardware_error_status"])
        self.stats.errors[dxl_id] = x.hardware_error_text(bits)
        name = self.robot.joints[self.ids.index(dxl_id)].name
        self.safety.trip(f"servo {dxl_id} ({name}) reports a hardware error: {self.stats.errors[dxl_id]}", now)

    def _goal(self, q: np.ndarray) -> None:
        self._writer.clearParam()
        for k, i in enumerate(self.ids):
            self._writer.addParam(i, x.joint_to_ticks(float(q[k])).to_bytes(4, "little", signed=True))
        try:
            self._writer.txPacket()
            self.stats.writes += 1
        except Exception:
            self.stats.failed_writes += 1

    def _write_register(self, dxl_id: int, name: str, value: int) -> None:
        size = x.SIZE[name]
        fn = {1: self._packet.write1ByteTxRx, 2: self._packet.write2ByteTxRx, 4: self._packet.write4ByteTxRx}[size]
        self._retry(lambda: (None, *fn(self._port, dxl_id, x.ADDR[name], int(value) & ((1 << (8 * size)) - 1))),
                    f"write {name} = {value} to servo {dxl_id}")

    def _retry(self, call, what: str):
        """A set-up transaction, retried; one line naming it if it keeps failing."""
        from dynamixel_sdk import COMM_SUCCESS

        last = ""
        for _ in range(self.cfg.retries):
            try:
                value, result, error = call()
            except Exception as e:
                last = str(e)
                continue
            if result == COMM_SUCCESS and not error & 0x7F:
                return value
            last = self._packet.getTxRxResult(result) if result != COMM_SUCCESS else self._packet.getRxPacketError(error)
        raise HRobotError(f"{self.cfg.port}: could not {what}: {last}")
