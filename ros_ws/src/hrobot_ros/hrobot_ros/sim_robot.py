"""sim_robot: the MuJoCo robot as hardware (hrobot.sim.robot.SimRobot behind the safety layer).

Physics and motor PD run at the robot's PD rate in real time. Publishes /joint_states and
/imu at the state rate, /odom at the odometry rate (a state estimator's, 50 Hz), two
ray-scan layers (/scan_low, /scan_high) and the simulation time on /clock
(for nodes with use_sim_time); applies /joint_commands
through its own SafetyLayer, whose command watchdog falls back to damping when commands
stop. Services: ~/reset (clear a safety trip).
"""

from __future__ import annotations

import threading

import numpy as np
from geometry_msgs.msg import Quaternion, Vector3
from hrobot_msgs.msg import JointCommand as JointCommandMsg
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu, JointState, LaserScan
from std_srvs.srv import Trigger

from hrobot.errors import HRobotError
from hrobot.nav_io import DEFAULT_SCAN
from hrobot.robots import load_robot
from hrobot.safety import JointCommand, SafetyConfig
from hrobot.sim.robot import SimConfig, SimRobot
from hrobot.sim.scene import SceneConfig
from hrobot_ros.common import (COMMAND_QOS, STATE_QOS, HRobotNode, declare_params, main as run, mode_from_msg,
                               percentiles, wall_now)

SCAN = DEFAULT_SCAN  # the navigation policies' ray layout (hrobot.nav_io); the planner checks it against its bundle
CLOCK_RATE_HZ = 200.0  # /clock resolution 5 ms: a quarter of a 50 Hz control period


class SimRobotNode(HRobotNode):
    def __init__(self):
        super().__init__("sim_robot")
        p = self.params = declare_params(self, "sim_robot")
        spec = load_robot(p["robot"])
        if p["pd_rate_hz"] and p["pd_rate_hz"] < spec.policy_rate_hz:
            raise HRobotError(f"parameter 'pd_rate_hz': expected 0 or at least {spec.name}'s policy rate "
                              f"{spec.policy_rate_hz:g} Hz, got {p['pd_rate_hz']:g}")
        scene = SceneConfig(kind=p["scene"], visual=False)
        self.robot = SimRobot(spec, scene, SimConfig(pd_rate_hz=p["pd_rate_hz"] or None),
                              SafetyConfig(command_timeout=p["command_timeout"] or None))
        x, y, yaw = p["start"]
        self.robot.place(x, y, yaw, np.array(p["obstacles"]) if p["obstacles"] else None, p["bar_x"])
        self.spec = spec
        self.index = {n: i for i, n in enumerate(spec.joint_names)}
        self.lock = threading.Lock()
        self.pending: JointCommand | None = None
        self.latency_us: list[float] = []
        self.robot.safety.reset(self.robot.read_state(), self.robot.now())  # then damping until the first command

        self.pub_js = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.pub_imu = self.create_publisher(Imu, "imu", STATE_QOS)
        self.pub_odom = self.create_publisher(Odometry, "odom", STATE_QOS)
        self.pub_scan = [self.create_publisher(LaserScan, t, STATE_QOS) for t in ("scan_low", "scan_high")]
        self.pub_clock = self.create_publisher(Clock, "/clock", STATE_QOS)
        self.create_subscription(JointCommandMsg, "joint_commands", self.on_command, COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self.on_reset)

        dt = self.robot.model.opt.timestep
        state_rate = p["state_rate_hz"] or 1.0 / dt
        self.state_every = max(int(round(1.0 / (state_rate * dt))), 1)
        self.odom_every = max(int(round(1.0 / (p["odom_rate_hz"] * dt))), 1)
        self.scan_every = max(int(round(1.0 / (p["scan_rate_hz"] * dt))), 1)
        self.clock_every = max(int(round(1.0 / (CLOCK_RATE_HZ * dt))), 1)
        self.steps = 0
        self.stats_file = p["stats_file"]
        self.start_loop(dt, self.physics_step)
        self.get_logger().info(f"{spec.name} in '{p['scene']}' at {1 / dt:.0f} Hz physics, state at {state_rate:.0f} Hz")

    # ---- commands in
    def on_command(self, msg: JointCommandMsg) -> None:
        n = self.spec.num_joints
        if list(msg.name) and sorted(msg.name) != sorted(self.spec.joint_names):
            self.get_logger().error(f"joint command names {list(msg.name)} do not match the robot; ignored")
            return
        order = [self.index[j] for j in msg.name] if list(msg.name) else list(range(n))
        arrays = []
        for field in ("position", "velocity", "kp", "kd", "effort"):
            v = np.asarray(getattr(msg, field), dtype=np.float64)
            if v.shape != (n,):
                self.get_logger().error(f"joint command field '{field}' has {v.shape[0]} values, expected {n}; ignored")
                return
            a = np.empty(n)
            a[order] = v
            arrays.append(a)
        mode = mode_from_msg(msg.mode)
        if mode is None:
            self.get_logger().error(f"joint command mode {msg.mode} is not one of hrobot_msgs/JointCommand's; ignored")
            return
        cmd = JointCommand(*arrays, mode=mode, standing=bool(msg.standing))
        now = self.get_clock().now().nanoseconds * 1e-9
        with self.lock:
            self.pending = cmd
            self.latency_us.append((now - (msg.stamp_sec + msg.stamp_nanosec * 1e-9)) * 1e6)

    def on_reset(self, request, response):
        ok = self.robot.safety.reset(self.robot.read_state(), self.robot.now())
        response.success, response.message = ok, "reset" if ok else self.robot.safety.reason
        return response

    # ---- physics
    def physics_step(self) -> None:
        with self.lock:
            cmd, self.pending = self.pending, None
        self.robot.send(cmd)  # the safety layer: limits, watchdogs, damping on any trip
        self.log_new_trips(self.robot.safety)  # the robot's own watchdog (e.g. commands that stopped)
        self.robot.advance(self.robot.model.opt.timestep)
        self.steps += 1
        if self.steps % self.clock_every == 0:
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(int(round(self.robot.data.time * 1e9)), 1_000_000_000)
            self.pub_clock.publish(msg)
        if self.steps % self.state_every == 0:
            self.publish_state()
        if self.steps % self.odom_every == 0:
            self.publish_odom()
        if self.steps % self.scan_every == 0:
            self.publish_scans()

    def publish_state(self) -> None:
        d, r = self.robot.data, self.robot
        st = r.read_state()
        stamp = wall_now(self)
        js = JointState()
        js.header.stamp, js.header.frame_id = stamp, "base"
        js.name = self.spec.joint_names
        js.position, js.velocity = st.joint_pos.tolist(), st.joint_vel.tolist()
        js.effort = d.actuator_force.tolist()
        self.pub_js.publish(js)
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, "imu"
        w, x, y, z = st.base_quat
        imu.orientation = Quaternion(w=float(w), x=float(x), y=float(y), z=float(z))
        imu.angular_velocity = Vector3(x=float(st.base_ang_vel[0]), y=float(st.base_ang_vel[1]), z=float(st.base_ang_vel[2]))
        if "imu_acc" in r.sm.sensors:
            acc = r.sm.sensor(d.sensordata, "imu_acc")
            imu.linear_acceleration = Vector3(x=float(acc[0]), y=float(acc[1]), z=float(acc[2]))
        self.pub_imu.publish(imu)

    def publish_odom(self) -> None:
        r = self.robot
        if r.sm.base_qpos_adr is not None:
            stamp = wall_now(self)
            pos, quat = r.base_pose()
            lin, ang = r.base_velocity()
            od = Odometry()
            od.header.stamp, od.header.frame_id, od.child_frame_id = stamp, "odom", "base"
            od.pose.pose.position.x, od.pose.pose.position.y, od.pose.pose.position.z = (float(v) for v in pos)
            od.pose.pose.orientation = Quaternion(w=float(quat[0]), x=float(quat[1]), y=float(quat[2]), z=float(quat[3]))
            od.twist.twist.linear = Vector3(x=float(lin[0]), y=float(lin[1]), z=float(lin[2]))
            od.twist.twist.angular = Vector3(x=float(ang[0]), y=float(ang[1]), z=float(ang[2]))
            self.pub_odom.publish(od)

    def publish_scans(self) -> None:
        if self.robot.sm.base_qpos_adr is None:
            return
        ranges = self.robot.ray_scan(SCAN)
        stamp = wall_now(self)
        for pub, row, h in zip(self.pub_scan, ranges, SCAN.heights):
            msg = LaserScan()
            msg.header.stamp, msg.header.frame_id = stamp, f"scan_{h:.2f}m"
            msg.angle_min, msg.angle_increment = 0.0, SCAN.angle_increment
            msg.angle_max = msg.angle_increment * (SCAN.num_rays - 1)
            msg.range_min, msg.range_max = 0.02, SCAN.range
            msg.ranges = [float(v) for v in row]
            pub.publish(msg)

    # ---- reporting
    def stats(self) -> dict:
        with self.lock:
            lat = list(self.latency_us)
        p50, p99 = percentiles(lat[20:])
        s = self.robot.safety
        return {"sim_robot_rate_hz": self.loop.rate_hz(), "physics_dt": self.robot.model.opt.timestep,
                "state_to_command_latency_us_p50": p50, "state_to_command_latency_us_p99": p99,
                "commands_received": len(lat), "safety": "tripped" if s.tripped else "ok",
                "last_trip_reason": s.trips[-1].reason if s.trips else "", "loop": self.loop.stats()}

    def status(self, stats: dict) -> tuple[int, str]:
        return (2, f"safety tripped: {stats['last_trip_reason']}") if stats["safety"] == "tripped" else (0, "ok")


def main() -> int:
    return run(SimRobotNode, "sim_robot")


if __name__ == "__main__":
    raise SystemExit(main())
