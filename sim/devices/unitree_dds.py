"""A simulated Unitree robot on DDS: a MuJoCo Go2 / G1 that speaks the robot's own low-level protocol.

`hrobot device unitree --robot go2|g1 --domain N` runs it in its own process (CycloneDDS 0.10.2,
the robots' version). Like the robot it
- starts in sport mode, its own controller holding the robot up; `rt/lowcmd` is ignored until the
  motion switcher (`rt/api/motion_switcher/*`, CheckMode 1001 / ReleaseMode 1003) releases it, and
  the release lets the robot sink, passive, as the robot does after StandDown;
- takes `rt/lowcmd` only with a valid CRC, Go2's head and level flag (unitree_go) or the robot's
  `mode_machine` (unitree_hg), and runs the motor law of each enabled motor at the physics rate:
  tau = kp (q* - q) + kd (dq* - dq) + tau_ff, clipped to the torque limit, a loop off where q or dq
  carries PosStopF / VelStopF;
- publishes `rt/lowstate` at 500 Hz with a valid CRC: motors (q, dq, tau_est, temperature),
  IMU (quaternion w x y z, gyro, accelerometer, rpy), Go2's foot forces, the tick.
A humanoid hangs from a hoist (a spring-damper on the base to where it stood), as G1 low-level
bring-up is done: releasing the sport mode would otherwise drop it; the hoist lets go
`hoist_release_s` after the first accepted low-level command.
With a `DeviceWorld`, the robot starts where the world says (a scene, the arena's obstacles) and,
if asked, publishes hrobot's range scans (`rt/hrobot/scan`, msgs.RangeScan): a navigation high level
then runs with nothing but DDS between it and the simulated world. A real robot has its own lidar.
Faults for tests: drop or corrupt every n-th state message.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import mujoco
import numpy as np

import hrobot.hardware.unitree.crc as crc
import hrobot.hardware.unitree.msgs as msgs
import hrobot.hardware.unitree.protocol as u
from hrobot.spec import RobotSpec

SPORT_KP, SPORT_KD = 60.0, 5.0  # the sport controller's stand (Unitree's stand example gains)
G1_MODE_MACHINE = 5


@dataclass
class DeviceStats:
    commands: int = 0
    crc_errors: int = 0
    rejected: int = 0  # wrong head / level flag / mode_machine
    ignored_in_sport_mode: int = 0
    states: int = 0


@dataclass(frozen=True)
class DeviceWorld:
    """Where the simulated robot stands: the scene, its start pose, the arena's obstacles and bar."""

    scene: str = "flat"
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    obstacles: tuple[float, ...] = ()  # x0, y0, x1, y1, ... (arena boxes)
    bar_x: float | None = None
    scan_rate_hz: float = 0.0  # > 0: publish hrobot's range scans (msgs.RangeScan on protocol.SCAN)


class UnitreeDevice:
    def __init__(self, robot: RobotSpec, domain: int = 1, physics_hz: float = 1000.0, rate_hz: float = u.RATE_HZ,
                 drop_every: int = 0, corrupt_every: int = 0, hoist_release_s: float | None = None,
                 world: DeviceWorld | None = None):
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        from hrobot.nav_io import DEFAULT_SCAN
        from hrobot.sim.robot import SimConfig, SimRobot
        from hrobot.sim.scene import SceneConfig

        self.robot = robot
        self.family, self.cmd_type, self.state_type, self.slots = u.family(robot)
        if any(j.motor_index is None for j in robot.joints):
            raise ValueError(f"{robot.source}: a Unitree robot needs 'motor_index' on every joint")
        self.slot = np.array([j.motor_index for j in robot.joints])
        w = self.world = world or DeviceWorld()
        self.sim = SimRobot(robot, SceneConfig(kind=w.scene, visual=False), SimConfig(pd_rate_hz=physics_hz))
        self.sim.place(*w.start, np.array(w.obstacles) if w.obstacles else None, w.bar_x)
        self.sm, self.model, self.data = self.sim.sm, self.sim.model, self.sim.data  # ctrl is the joint torque
        self.scan_layout = DEFAULT_SCAN
        self.rate_hz, self.drop_every, self.corrupt_every = rate_hz, drop_every, corrupt_every
        self.sport_mode = "normal" if self.family == "unitree_go" else "ai"
        self.command = None
        self.stats = DeviceStats()
        self.tick = 0
        dp = self.participant = DomainParticipant(domain)
        self.cmd_reader = DataReader(dp, Topic(dp, u.LOWCMD, self.cmd_type))
        self.state_writer = DataWriter(dp, Topic(dp, u.LOWSTATE, self.state_type))
        self.rpc_reader = DataReader(dp, Topic(dp, u.SWITCHER_REQUEST, msgs.Request))
        self.rpc_writer = DataWriter(dp, Topic(dp, u.SWITCHER_RESPONSE, msgs.Response))
        self.scan_writer = DataWriter(dp, Topic(dp, u.SCAN, msgs.RangeScan)) if w.scan_rate_hz > 0 else None
        self.scan_every = max(int(round(rate_hz / w.scan_rate_hz)), 1) if w.scan_rate_hz > 0 else 0
        self.feet = [self.sm.sensors[f"foot_contact:{f}"].start for f in robot.feet]
        self.hoist = robot.robot_class == "humanoid"
        self.hoist_release_s = 4.0 if hoist_release_s is None else hoist_release_s
        self._anchor = self.data.qpos[self.sm.base_qpos_adr : self.sm.base_qpos_adr + 3].copy()
        self._first_command: float | None = None
        self.tick_log: list[tuple[int, float]] | None = None  # (tick, monotonic publish time) when recording

    # ---- the loop
    def run(self, duration: float | None = None) -> None:
        period = 1.0 / self.rate_hz
        substeps = max(int(round(period / self.model.opt.timestep)), 1)
        t_next = t0 = time.monotonic()
        while duration is None or time.monotonic() - t0 < duration:
            self._take_commands()
            self._serve_rpc()
            for _ in range(substeps):
                if self.hoist:
                    self._hoist()
                self._motor_law()
                mujoco.mj_step(self.model, self.data)
            self._publish()
            if self.scan_every and self.tick % self.scan_every == 0:
                self._publish_scan()
            t_next += period
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                t_next = time.monotonic()  # late: do not try to catch up

    def _take_commands(self) -> None:
        for cmd in self.cmd_reader.take(N=64):
            if not isinstance(cmd, self.cmd_type):
                continue
            self.stats.commands += 1
            if not crc.valid(cmd):
                self.stats.crc_errors += 1
            elif self.family == "unitree_go" and (tuple(cmd.head) != u.GO_HEAD or cmd.level_flag != u.GO_LEVEL_LOWLEVEL):
                self.stats.rejected += 1
            elif self.family == "unitree_hg" and cmd.mode_machine != G1_MODE_MACHINE:
                self.stats.rejected += 1
            elif self.sport_mode:
                self.stats.ignored_in_sport_mode += 1
            else:
                self.command = cmd
                if self._first_command is None:
                    self._first_command = self.data.time

    def _hoist(self) -> None:
        """Hold the base (position and upright) like a hoist's rope; let go once the robot is being commanded."""
        d, b, a = self.data, self.sm.base_body, self.sm.base_dof_adr
        if self._first_command is not None and d.time - self._first_command > self.hoist_release_s:
            self.hoist = False
            d.xfrc_applied[b] = 0.0
            return
        p = d.qpos[self.sm.base_qpos_adr : self.sm.base_qpos_adr + 3]
        w, x, y, z = d.qpos[self.sm.base_qpos_adr + 3 : self.sm.base_qpos_adr + 7]
        tilt = 2.0 * np.array([w * x + y * z, w * y - x * z, 0.0])  # small-angle roll / pitch
        d.xfrc_applied[b, :3] = 2000.0 * (self._anchor - p) - 200.0 * d.qvel[a : a + 3]
        d.xfrc_applied[b, 3:] = -400.0 * tilt - 40.0 * d.qvel[a + 3 : a + 6]

    def _serve_rpc(self) -> None:
        for req in self.rpc_reader.take(N=16):
            if not isinstance(req, msgs.Request):
                continue
            api = req.header.identity.api_id
            resp = msgs.Response(header=msgs.ResponseHeader(identity=msgs.RequestIdentity(req.header.identity.id, api)))
            if api == u.API_CHECK_MODE:
                resp.data = u.mode_data(self.sport_mode)
            elif api == u.API_RELEASE_MODE:
                self.sport_mode = ""  # stand down and go passive
                self.command = None
            else:
                resp.header.status.code = 3104  # not supported here
            self.rpc_writer.write(resp)

    def _motor_law(self) -> None:
        d, sm, r = self.data, self.sm, self.robot
        q, dq = d.qpos[sm.qpos_adr], d.qvel[sm.dof_adr]
        if self.sport_mode:  # the sport controller holds the stand
            tau = SPORT_KP * (r.default_pose - q) - SPORT_KD * dq
        elif self.command is None:
            tau = np.zeros(r.num_joints)
        else:
            mc = [self.command.motor_cmd[s] for s in self.slot]
            on = np.array([c.mode == u.MOTOR_ENABLE for c in mc])
            qt, dqt = np.array([c.q for c in mc]), np.array([c.dq for c in mc])
            kp, kd, ff = (np.array([getattr(c, k) for c in mc]) for k in ("kp", "kd", "tau"))
            pos = np.where(np.abs(qt) < u.POS_STOP_F / 2, kp * (qt - q), 0.0)
            vel = np.where(np.abs(dqt) < u.VEL_STOP_F / 2, kd * (dqt - dq), 0.0)
            tau = pos + vel + ff
            tau = np.where(on & np.isfinite(tau), tau, 0.0)  # a motor fed NaN / inf does nothing
        d.ctrl[:] = np.clip(tau, -r.torque_limits, r.torque_limits)

    def _publish(self) -> None:
        self.tick += 1
        if self.drop_every and self.tick % self.drop_every == 0:
            return
        d, sm = self.data, self.sm
        s = self.state_type()
        s.tick = self.tick
        if self.family == "unitree_go":
            s.head, s.level_flag = list(u.GO_HEAD), u.GO_LEVEL_LOWLEVEL
        else:
            s.mode_machine, s.mode_pr = G1_MODE_MACHINE, 0
        quat = sm.sensor(d.sensordata, "imu_quat")
        imu = s.imu_state
        imu.quaternion = [float(v) for v in quat]
        imu.gyroscope = [float(v) for v in sm.sensor(d.sensordata, "imu_gyro")]
        imu.accelerometer = [float(v) for v in sm.sensor(d.sensordata, "imu_acc")]
        w, x, y, z = quat
        imu.rpy = [math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)), math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))),
                   math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))]
        q, dq, tau = d.qpos[sm.qpos_adr], d.qvel[sm.dof_adr], d.ctrl
        for k, slot in enumerate(self.slot):
            ms = s.motor_state[slot]
            ms.mode, ms.q, ms.dq, ms.tau_est = u.MOTOR_ENABLE, float(q[k]), float(dq[k]), float(tau[k])
            if self.family == "unitree_go":
                ms.temperature = 35
            else:
                ms.temperature = [35, 35]
        if self.family == "unitree_go":
            s.foot_force = [int(200 * d.sensordata[i]) for i in self.feet]
        crc.sign(s)
        if self.corrupt_every and self.tick % self.corrupt_every == 0:
            s.crc ^= 1
        self.state_writer.write(s)
        self.stats.states += 1
        if self.tick_log is not None:
            self.tick_log.append((self.tick, time.monotonic()))

    def _publish_scan(self) -> None:
        lay = self.scan_layout
        ranges = self.sim.ray_scan(lay)
        self.scan_writer.write(msgs.RangeScan(tick=self.tick, num_rays=lay.num_rays, angle_increment=lay.angle_increment,
                                              range_max=lay.range, heights=[float(h) for h in lay.heights],
                                              ranges=[float(r) for r in ranges.ravel()]))

    # ---- ground truth (tests and benchmarks)
    def base_height(self) -> float:
        return float(self.data.qpos[self.sm.base_qpos_adr + 2])
