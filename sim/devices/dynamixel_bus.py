"""An emulated Dynamixel Protocol 2.0 bus: a MuJoCo hand behind a pseudo-terminal serial port.

`DynamixelBus(robot, port)` makes a pty pair and links `port` to its terminal, so any Protocol
2.0 client (hrobot's LEAP driver, ROBOTIS's dynamixel-sdk) opens `port` like a USB adapter. It
answers as XC330-M288 servos, one per spec joint (ID = the joint's motor_index, else its
index): framing with CRC-16 and byte stuffing both ways, PING / READ / WRITE / SYNC READ / SYNC
WRITE / REBOOT, status packets with error codes (CRC, access: EEPROM writes under torque, range),
the alert bit while a hardware error is latched (torque off, as the Shutdown byte says).

Each servo runs current-based position control on the simulated joint at the physics rate:
torque = clip(P·KP_UNIT·e + I·KI_UNIT·∫e + D·KD_UNIT·de/dt, ±Kt·goal current), with e the
error in radians. KP_UNIT and KD_UNIT make LEAP's gains (P 800, D 200) the spec's kp 3 / kd 0.1: the
spec's gains are what the firmware's PID amounts to on this hand. This is a model of the
servo, not its firmware.
"""

from __future__ import annotations

import os
import select
import struct
import threading
import time
import tty
from pathlib import Path

import mujoco
import numpy as np

import hrobot.hardware.dynamixel.xc330 as x
from hrobot.hardware.dynamixel.protocol import HEADER, crc16, packet, unstuff
from hrobot.spec import RobotSpec

KP_UNIT = 3.0 / 800  # N m / rad per P-gain unit
KI_UNIT = 3.0 / 800 / 1000  # N m / (rad s) per I-gain unit
KD_UNIT = 0.1 / 200  # N m s / rad per D-gain unit


class Servo:
    """One XC330's control table (bytes); the bus runs the motor law of all servos at once (`_law`)."""

    def __init__(self, dxl_id: int):
        self.table = bytearray(256)
        for name, value in (("model_number", x.MODEL_NUMBER), ("firmware_version", x.FIRMWARE_VERSION),
                            ("id", dxl_id), ("baud_rate", 1), ("return_delay_time", 250),
                            ("operating_mode", 3), ("temperature_limit", 70), ("current_limit", 1193),
                            ("shutdown", 0x34), ("status_return_level", 2), ("position_p_gain", 400),
                            ("position_d_gain", 0), ("goal_current", 1193), ("present_input_voltage", 50),
                            ("present_temperature", 30), ("max_position_limit", 4095)):
            self.set(name, value)

    def get(self, name: str) -> int:
        a, n = x.ADDR[name], x.SIZE[name]
        return int.from_bytes(self.table[a : a + n], "little", signed=name in x.SIGNED)

    def set(self, name: str, value: int) -> None:
        a, n = x.ADDR[name], x.SIZE[name]
        self.table[a : a + n] = int(value).to_bytes(n, "little", signed=name in x.SIGNED)

    def measure(self, q: float, dq: float, tau: float) -> None:
        self.set("present_position", x.joint_to_ticks(q))
        self.set("present_velocity", int(round(dq / x.VELOCITY_RAD_S)))
        self.set("present_current", int(round(tau / x.TORQUE_CONSTANT / x.CURRENT_A)))
        self.set("moving", int(abs(dq) > 0.05))

    def raise_error(self, bits: int) -> None:
        """A hardware error: latched in Hardware Error Status; the Shutdown byte turns the torque off."""
        self.set("hardware_error_status", self.get("hardware_error_status") | bits)
        if bits & self.get("shutdown"):
            self.set("torque_enable", 0)


class DynamixelBus:
    """The emulated bus: `start()` runs the physics and the protocol in a thread; `close()` is the cable pulled."""

    def __init__(self, robot: RobotSpec, port: str | Path, physics_hz: float | None = None, scene: str | None = None):
        """`scene`: the world the robot is in (default: a hand holds its cube, a legged robot stands on flat ground)."""
        from hrobot.sim.model import build_sim_model
        from hrobot.sim.scene import SceneConfig

        self.robot, self.port = robot, Path(port)
        kind = scene or ("hand_object" if robot.robot_class == "hand" else "flat")
        self.sm = build_sim_model(robot, SceneConfig(kind=kind, visual=False))
        m = self.model = self.sm.model
        m.opt.timestep = 1.0 / (physics_hz or robot.pd_rate_hz)
        m.actuator_gainprm[:, 0], m.actuator_biasprm[:, :3] = 1.0, 0.0  # ctrl is the joint torque
        self.data = mujoco.MjData(m)
        self.data.qpos[:] = self.sm.default_qpos()
        mujoco.mj_forward(m, self.data)
        ids = [j.motor_index if j.motor_index is not None else i for i, j in enumerate(robot.joints)]
        self.servos = {i: Servo(i) for i in ids}
        self.joint_of = {i: k for k, i in enumerate(ids)}
        self._ids = ids  # servo ids in joint order
        n = len(ids)
        self._integral, self._last_error = np.zeros(n), np.full(n, np.nan)
        self._tables_changed = True  # the motor law re-reads goal, gains, caps and torque state from the tables
        self._measured = False  # the tables' present_* fields hold the latest physics step
        self.packets = {"received": 0, "crc_errors": 0, "answered": 0}
        self._frozen = False
        self.corrupt_every = 0  # > 0: every n-th status packet leaves with a flipped CRC bit (a noisy line)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._buffer = bytearray()
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self._slave = slave  # kept open: a client may open and close the terminal freely
        if self.port.is_symlink() and os.readlink(self.port).startswith("/dev/pts/"):
            self.port.unlink()  # a stale link of an earlier bus
        elif self.port.exists() or self.port.is_symlink():
            os.close(self.master)
            os.close(slave)
            raise ValueError(f"{self.port}: exists and is not an emulated bus's link; choose a free path for --port")
        self.port.symlink_to(os.ttyname(slave))
        self._measure()

    # ---- life
    def start(self) -> DynamixelBus:
        self._thread = threading.Thread(target=self._run, name="dynamixel-bus", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop and close the terminal: to a client it is a pulled cable."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.port.is_symlink():
            self.port.unlink()

    @property
    def frozen(self) -> bool:
        """True: answer packets but step no physics (the tables hold the last state, and what a test sets)."""
        return self._frozen

    @frozen.setter
    def frozen(self, value: bool) -> None:
        with self._lock:
            self._measured or self._measure()
            self._frozen = value

    def joint_positions(self) -> np.ndarray:
        with self._lock:
            return self.data.qpos[self.sm.qpos_adr].copy()

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The cube's pose in the palm frame (what the emulated tracker publishes)."""
        with self._lock:
            return self.sm.object_pose(self.data)

    def fault(self, dxl_id: int, bits: int) -> None:
        with self._lock:
            self.servos[dxl_id].raise_error(bits)
            self._tables_changed = True

    # ---- the loop: physics in real time, packets as they come (a packet is answered before physics catches up)
    def _run(self) -> None:
        dt = self.model.opt.timestep
        t_next = time.monotonic()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], max(t_next - time.monotonic(), 0.0))
            except (OSError, ValueError):
                return
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    return
                self._buffer += chunk
                for reply in self._packets():
                    try:
                        os.write(self.master, reply)
                    except OSError:
                        return
            now = time.monotonic()
            if now >= t_next:  # one physics step per pass, so a waiting packet never waits on a catch-up
                with self._lock:
                    if not self._frozen:
                        self._physics_step(dt)
                t_next = max(t_next + dt, now - 20 * dt)  # behind by more than 20 steps: time is dropped

    def _physics_step(self, dt: float) -> None:
        d, sm = self.data, self.sm
        d.ctrl[:] = self._law(d.qpos[sm.qpos_adr], d.qvel[sm.dof_adr], dt)
        mujoco.mj_step(self.model, d)
        self._measured = False

    def _law(self, q: np.ndarray, dq: np.ndarray, dt: float) -> np.ndarray:
        """Every servo's current-based position control: torque = clip(P e + I int(e) + D de/dt, +-Kt goal current),
        zero while its torque is off or a hardware error is latched."""
        if self._tables_changed:
            t = [self.servos[i] for i in self._ids]
            get = lambda name: np.array([s.get(name) for s in t], dtype=np.float64)  # noqa: E731
            self._goal = x.ticks_to_joint(get("goal_position"))
            self._on = (get("torque_enable") > 0) & (get("hardware_error_status") == 0)
            self._gains = get("position_p_gain") * KP_UNIT, get("position_i_gain") * KI_UNIT, get("position_d_gain") * KD_UNIT
            self._cap = x.TORQUE_CONSTANT * x.CURRENT_A * np.minimum(np.abs(get("goal_current")), get("current_limit"))
            self._tables_changed = False
        e = self._goal - q
        self._integral = np.where(self._on, self._integral + e * dt, 0.0)
        de = np.where(np.isnan(self._last_error), -dq, (e - self._last_error) / dt)  # D acts on the error's rate
        self._last_error = np.where(self._on, e, np.nan)
        kp, ki, kd = self._gains
        return np.where(self._on, np.clip(kp * e + ki * self._integral + kd * de, -self._cap, self._cap), 0.0)

    def _measure(self) -> None:
        d, sm = self.data, self.sm
        q, dq = d.qpos[sm.qpos_adr], d.qvel[sm.dof_adr]
        for k, i in enumerate(self._ids):
            self.servos[i].measure(float(q[k]), float(dq[k]), float(d.ctrl[k]))
        self._measured = True

    # ---- protocol
    def _packets(self):
        """Complete instruction packets in the buffer -> the status packets to send back."""
        buf = self._buffer
        while True:
            start = buf.find(HEADER)
            if start < 0:
                del buf[: max(len(buf) - 3, 0)]
                return
            del buf[:start]
            if len(buf) < 7:
                return
            total = 7 + struct.unpack_from("<H", buf, 5)[0]
            if len(buf) < total:
                return
            pkt = bytes(buf[:total])
            del buf[:total]
            self.packets["received"] += 1
            dxl_id, length = pkt[4], pkt[5:7]
            if crc16(pkt[:-2]) != struct.unpack_from("<H", pkt, total - 2)[0]:
                self.packets["crc_errors"] += 1
                if dxl_id in self.servos:
                    yield self._status(dxl_id, x.ERR_CRC)
                continue
            body = unstuff(pkt[7:-2], length)
            with self._lock:
                yield from self._dispatch(dxl_id, body[0], body[1:])

    def _status(self, dxl_id: int, error: int = 0, params: bytes = b"") -> bytes:
        self.packets["answered"] += 1
        if self.servos[dxl_id].get("hardware_error_status"):
            error |= x.ERR_ALERT
        out = packet(dxl_id, x.STATUS, bytes([error]) + params)
        if self.corrupt_every and self.packets["answered"] % self.corrupt_every == 0:
            out = out[:-1] + bytes([out[-1] ^ 0x01])
        return out

    def _dispatch(self, dxl_id: int, inst: int, p: bytes):
        targets = sorted(self.servos) if dxl_id == x.BROADCAST_ID else [dxl_id] if dxl_id in self.servos else []
        if inst == x.PING:
            for i in targets:
                yield self._status(i, 0, struct.pack("<HB", x.MODEL_NUMBER, x.FIRMWARE_VERSION))
        elif inst == x.READ and len(targets) == 1 and len(p) == 4:
            self._measured or self._measure()
            addr, n = struct.unpack("<HH", p)
            if addr + n > 256:
                yield self._status(dxl_id, x.ERR_DATA_RANGE)
            else:
                yield self._status(dxl_id, 0, bytes(self.servos[dxl_id].table[addr : addr + n]))
        elif inst == x.WRITE and len(p) >= 3:
            addr = struct.unpack_from("<H", p)[0]
            for i in targets:
                err = self._write(self.servos[i], addr, p[2:])
                if dxl_id != x.BROADCAST_ID:
                    yield self._status(i, err)
        elif inst == x.SYNC_READ and len(p) >= 4:
            self._measured or self._measure()
            addr, n = struct.unpack_from("<HH", p)
            for i in p[4:]:
                if i in self.servos:
                    yield self._status(i, 0, bytes(self.servos[i].table[addr : addr + n]))
        elif inst == x.SYNC_WRITE and len(p) >= 4:
            addr, n = struct.unpack_from("<HH", p)
            for k in range(4, len(p) - n, n + 1):
                if p[k] in self.servos:
                    self._write(self.servos[p[k]], addr, p[k + 1 : k + 1 + n])
        elif inst == x.REBOOT:
            for i in targets:
                self.servos[i].set("hardware_error_status", 0)
                self.servos[i].set("torque_enable", 0)
                yield self._status(i)
            self._tables_changed = True
        elif targets:
            yield self._status(targets[0], x.ERR_INSTRUCTION)

    def _write(self, servo: Servo, addr: int, data: bytes) -> int:
        fields = [(a, size, name) for a, (size, name) in x.CONTROL_TABLE.items() if addr <= a < addr + len(data)]
        if not fields or addr not in x.CONTROL_TABLE or fields[-1][0] + fields[-1][1] > addr + len(data):
            return x.ERR_DATA_LENGTH
        for a, size, name in fields:
            if name in x.READ_ONLY or (a < x.EEPROM_END and servo.get("torque_enable")):
                return x.ERR_ACCESS
        for a, size, name in fields:
            servo.table[a : a + size] = data[a - addr : a - addr + size]
        self._tables_changed = True
        return 0
