"""`SimRobot`: one robot in native MuJoCo behind the deployment robot interface.

It runs the model as "hardware": the motor-level law a real joint driver runs,
tau = kp (q* - q) + kd (dq* - dq) + tau_ff, clipped to the torque limits, evaluated at the
physics rate (which may differ from training, e.g. 1 kHz), with optional sensor noise and
command latency for sim-to-sim tests. Every command goes through its SafetyLayer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import mujoco
import numpy as np

from hrobot.heightmap import HeightMap
from hrobot.nav_io import DEFAULT_SCAN, RayScanLayout
from hrobot.robot_io import CONNECTED, RangeScan, RobotInterface
from hrobot.safety import DAMPING, MODES, SERVO, JointCommand, MeasuredState, SafetyConfig, SafetyLayer, ServoHold
from hrobot.spec import RobotSpec


@dataclass
class SimConfig:
    pd_rate_hz: float | None = None  # physics / motor PD rate (default: the spec's)
    joint_pos_noise: float = 0.0  # rad (std)
    joint_vel_noise: float = 0.0  # rad/s (std)
    gyro_noise: float = 0.0  # rad/s (std)
    tilt_noise: float = 0.0  # rad (std) of the IMU orientation
    command_latency: int = 0  # control periods between sending a command and it taking effect
    seed: int = 0


class SimRobot(RobotInterface):
    """One robot in native MuJoCo, controlled like the real one (position targets + gains + feed-forward)."""

    def __init__(self, robot: RobotSpec, scene=None, config: SimConfig | None = None,
                 safety: SafetyConfig | None = None, control_period: float | None = None):
        from hrobot.sim.model import build_sim_model
        from hrobot.sim.scene import SceneConfig

        self.robot, self.cfg = robot, config or SimConfig()
        default_scene = SceneConfig(kind="hand_object" if robot.robot_class == "hand" else "flat", visual=False)
        self.sm = build_sim_model(robot, scene or default_scene)
        m = self.model = self.sm.model
        m.opt.timestep = 1.0 / (self.cfg.pd_rate_hz or robot.pd_rate_hz)
        # Motor-driver PD on every actuator: force = ctrl - kp q - kd dq, ctrl = kp q* + kd dq* + tau.
        m.actuator_gainprm[:, 0] = 1.0
        m.actuator_biasprm[:, :3] = 0.0
        self.data = mujoco.MjData(m)
        self.control_period = control_period or robot.policy_dt
        self.safety = SafetyLayer(robot, safety, control_period=self.control_period)
        self.rng = np.random.default_rng(self.cfg.seed)
        self._queue: deque[JointCommand] = deque()
        self._servo_hold = ServoHold() if robot.robot_class == "hand" else None
        floating = self.sm.base_dof_adr is not None
        imu = ("base_quat", "base_ang_vel", "base_acc") if robot.imu_site else ()
        self._foot_cols = [self.sm.sensors[f"foot_contact:{f}"].start for f in robot.feet] if floating else []
        # floating base: ground-truth base velocity and height stand in for a state estimator
        self.command_modes = MODES  # the simulated motors run every mode
        # the ground as an elevation map would give it, where the scene's ground is all there is (flat or terrain;
        # an arena's boxes are not in it, so there it gives none)
        scene_kind = (scene or default_scene).kind
        self.height_map = (self.sm.terrain.height_map() if self.sm.terrain is not None else HeightMap.flat()) \
            if floating and scene_kind in ("flat", "rough") else None
        self.provides = frozenset(("joint_pos", "joint_vel", "joint_effort", *imu,
                                   *(("base_lin_vel", "base_height", "base_pos") if floating else ()),
                                   *(("height_map",) if self.height_map is not None else ()),
                                   *(("foot_contact",) if self._foot_cols else ()),
                                   *(("object_pos", "object_quat") if self.sm.object_qpos_adr is not None else ())))
        self.reset()
        self.lifecycle = CONNECTED  # the simulator is there from construction

    # ---- simulation control
    def reset(self, qpos: np.ndarray | None = None) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self.sm.default_qpos() if qpos is None else qpos
        mujoco.mj_forward(self.model, self.data)
        if self._servo_hold is not None:
            self._servo_hold.q = None  # a hand holds where this reset put it
        self._apply(self.safety.damping(None))
        self._queue.clear()

    def physics_steps_per_period(self) -> int:
        return max(int(round(self.control_period / self.model.opt.timestep)), 1)

    def advance(self, seconds: float | None = None) -> None:
        """Step the physics for one control period (or the given time)."""
        n = self.physics_steps_per_period() if seconds is None else max(int(round(seconds / self.model.opt.timestep)), 1)
        for _ in range(n):
            mujoco.mj_step(self.model, self.data)

    # ---- RobotInterface (connect / disconnect: the simulator needs neither)
    def now(self) -> float:
        return float(self.data.time)

    def read_state(self) -> MeasuredState:
        d, sm, c, rng = self.data, self.sm, self.cfg, self.rng
        nj = self.robot.num_joints
        q = d.qpos[sm.qpos_adr] + (rng.normal(0, c.joint_pos_noise, nj) if c.joint_pos_noise else 0.0)
        dq = d.qvel[sm.dof_adr] + (rng.normal(0, c.joint_vel_noise, nj) if c.joint_vel_noise else 0.0)
        quat = gyro = acc = None
        if self.robot.imu_site:
            quat = sm.sensor(d.sensordata, "imu_quat").copy()
            gyro = sm.sensor(d.sensordata, "imu_gyro").copy()
            acc = sm.sensor(d.sensordata, "imu_acc").copy()
        if c.gyro_noise and gyro is not None:
            gyro = gyro + rng.normal(0, c.gyro_noise, 3)
        if c.tilt_noise and quat is not None:
            dq_rot = np.zeros(4)
            mujoco.mju_axisAngle2Quat(dq_rot, rng.normal(size=3) / np.sqrt(3), rng.normal(0, c.tilt_noise))
            out = np.zeros(4)
            mujoco.mju_mulQuat(out, quat, dq_rot)
            quat = out
        lin = height = pos = None
        if sm.base_dof_adr is not None:  # ground truth as the "state estimator"
            lin = self.base_velocity()[0]
            pos = self.base_pose()[0]
            ground = float(sm.terrain.height_at(pos[None, :2])[0]) if sm.terrain is not None else 0.0
            height = float(pos[2]) - ground
        contact = np.array([d.sensordata[i] > 0 for i in self._foot_cols]) if self._foot_cols else None
        obj_pos, obj_quat = self.object_pose() if sm.object_qpos_adr is not None else (None, None)
        return MeasuredState(joint_pos=np.asarray(q, dtype=np.float64), joint_vel=np.asarray(dq, dtype=np.float64),
                             base_quat=quat, base_ang_vel=gyro, stamp=self.now(), base_lin_vel=lin,
                             base_height=height, foot_contact=contact, base_acc=acc, base_pos=pos,
                             joint_effort=d.actuator_force.copy(), object_pos=obj_pos, object_quat=obj_quat,
                             height_map=self.height_map)

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The manipulated object's pose in the palm frame, as a tracker reports it (`SimModel.object_pose`)."""
        return self.sm.object_pose(self.data)

    def _write(self, command: JointCommand) -> None:
        self._queue.append(command)
        while len(self._queue) > self.cfg.command_latency:
            self._apply(self._queue.popleft())

    def _apply(self, cmd: JointCommand) -> None:
        """Every mode is the motor law tau = kp (q* - q) + kd (dq* - dq) + tau_ff: a servo runs it with its own
        gains (the spec's, which the safety layer put in the command), current mode with kp = kd = 0. A hand's
        damping is its servos holding where they were (`ServoHold`, as its driver does)."""
        if self._servo_hold is not None:
            goal = self._servo_hold.goal(cmd, self.data.qpos[self.sm.qpos_adr] if cmd.mode == DAMPING else None)
            if cmd.mode == DAMPING:
                n = self.robot.num_joints
                cmd = JointCommand(goal, np.zeros(n), self.robot.kp, self.robot.kd, np.zeros(n), SERVO)
        m = self.model
        m.actuator_biasprm[:, 1] = -cmd.kp
        m.actuator_biasprm[:, 2] = -cmd.kd
        self.data.ctrl[:] = cmd.kp * cmd.q + cmd.kd * cmd.dq + cmd.tau

    # ---- ground truth (for metrics and odometry)
    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.sm.base_qpos_adr
        return self.data.qpos[a : a + 3].copy(), self.data.qpos[a + 3 : a + 7].copy()

    def base_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear velocity (base frame) and angular velocity (base frame)."""
        a = self.sm.base_dof_adr
        _, quat = self.base_pose()
        lin_world = self.data.qvel[a : a + 3]
        lin = np.zeros(3)
        neg = np.zeros(4)
        mujoco.mju_negQuat(neg, quat)
        mujoco.mju_rotVecQuat(lin, lin_world, neg)
        return lin, self.data.qvel[a + 3 : a + 6].copy()

    def read_scan(self) -> RangeScan | None:
        """The navigation policies' ray layout (hrobot.nav_io.DEFAULT_SCAN) around a floating base."""
        if self.sm.base_qpos_adr is None:
            return None
        lay = DEFAULT_SCAN
        return RangeScan(self.ray_scan(lay), lay.heights, lay.angle_increment, lay.range, self.now())

    def ray_scan(self, layout: RayScanLayout) -> np.ndarray:
        """Horizontal range readings around the base (like a 2D lidar per height above the ground).

        Ray i points at base yaw + i * 2 pi / num_rays; only world geoms are seen (never the robot).
        Returns (len(heights), num_rays) distances, inf where nothing is within the layout's range.
        """
        num_rays, heights, max_range = layout.num_rays, layout.heights, layout.range
        from hrobot.sim.scene import WORLD_GROUP

        pos, quat = self.base_pose()
        yaw = np.arctan2(2 * (quat[0] * quat[3] + quat[1] * quat[2]), 1 - 2 * (quat[2] ** 2 + quat[3] ** 2))
        groups = np.zeros(6, dtype=np.uint8)
        groups[WORLD_GROUP] = 1
        geomid = np.zeros(1, dtype=np.int32)
        out = np.full((len(heights), num_rays), np.inf)
        for k, h in enumerate(heights):
            origin = np.array([pos[0], pos[1], h])
            for i in range(num_rays):
                a = yaw + 2 * np.pi * i / num_rays
                d = mujoco.mj_ray(self.model, self.data, origin, np.array([np.cos(a), np.sin(a), 0.0]), groups, 1, -1,
                                  geomid)
                if 0 <= d <= max_range:
                    out[k, i] = d
        return out

    def place(self, x: float, y: float, yaw: float, obstacles: np.ndarray | None = None,
              bar_x: float | None = None) -> None:
        """Put the robot at (x, y, yaw) on the ground (terrain too) and the arena's obstacles (mocap boxes) in place."""
        from hrobot.sim.scene import BAR_BOTTOM, BAR_HALF_THICKNESS

        a = self.sm.base_qpos_adr
        self.data.qpos[a : a + 2] = [x, y]
        ground = 0.0 if self.sm.terrain is None else float(self.sm.terrain.height_at(np.array([x, y])))
        self.data.qpos[a + 2] = self.sm.default_qpos()[a + 2] + ground
        self.data.qpos[a + 3 : a + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        m = self.model
        for i in range(m.nmocap):
            self.data.mocap_pos[i] = [0.0, 0.0, -10.0]
        if obstacles is not None:
            for i, (ox, oy) in enumerate(np.asarray(obstacles).reshape(-1, 2)):
                body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"obstacle{i}")
                if body < 0:
                    raise ValueError(f"the scene has no obstacle{i} (too many obstacles)")
                self.data.mocap_pos[m.body_mocapid[body]] = [ox, oy, 0.0]
        if bar_x is not None and np.isfinite(bar_x):
            body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "bar")
            self.data.mocap_pos[m.body_mocapid[body]] = [bar_x, 0.0, BAR_BOTTOM + BAR_HALF_THICKNESS[1]]
        mujoco.mj_forward(m, self.data)
