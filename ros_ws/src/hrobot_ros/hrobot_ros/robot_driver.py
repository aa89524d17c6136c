"""robot_driver: any robot interface behind ROS 2, by name (`interface`: sim, unitree_go2, unitree_g1, leap_hand).

The node owns the robot's safety layer: every /joint_commands message goes through it, and at
the driver's rate the last command is checked again (the Unitree driver's own 500 Hz loop does
this in its process), so commands that stop, a state that goes stale or a fall end in damping
(a servo hand: holding where it is under its current cap). Publishes /joint_states and, where
the robot has them, /imu, /odom (a state estimator's, or the simulator's ground truth), the
ray scans (/scan_low, /scan_high) and the elevation map (/height_map, latched: the simulator's ground); /diagnostics carries the link's counters (rates, CRC errors,
lost reads, temperatures), the safety state and every trip's reason; /joint_commands/applied each
command as the safety layer let it through (what a recording compares with /joint_commands).
/estop (std_msgs/Bool, true) and ~/estop latch damping; trips and e-stops are events on /events.
Services: ~/reset (activate, or clear a safety trip, when the state is sane), ~/estop.

- `sim`: the MuJoCo robot as hardware, physics and motor PD at the PD rate in real time, the
  simulation time on /clock (for nodes with use_sim_time); a hand's object pose on /object_pose
  (geometry_msgs/PoseStamped, palm frame) at `object_rate_hz`, as a tracker would report it.
- `unitree_go2` / `unitree_g1`: the Unitree low-level driver over CycloneDDS 0.10.2, in a process
  of its own (hrobot.hardware.process: DDS apart from rclpy; a dead driver process is replaced by
  one that damps).
- `leap_hand`: the LEAP hand over Dynamixel Protocol 2.0 on `port`.
Start-up checks before the first command (RobotInterface.activate): fresh state, every joint inside
its limits, the low-level mode (Unitree: sport mode released); gains ramp in over `gain_ramp_s`.
"""

from __future__ import annotations

import threading

import numpy as np
from geometry_msgs.msg import PoseStamped, Quaternion, Vector3
from hrobot_msgs.msg import HeightMap as HeightMapMsg
from hrobot_msgs.msg import JointCommand as JointCommandMsg
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu, JointState, LaserScan
from std_srvs.srv import Trigger

from hrobot.deploy import sim_only_problem
from hrobot.errors import HRobotError
from hrobot.robot_io import ACTIVE, RobotInterface
from hrobot.robots import load_robot
from hrobot.safety import JointCommand, MeasuredState, SafetyConfig
from hrobot_ros.common import (COMMAND_QOS, LATCHED_QOS, STATE_QOS, HRobotNode, declare_params, height_map_msg,
                               main as run, mode_from_msg, mode_to_msg, percentiles, wall_now)

CLOCK_RATE_HZ = 200.0  # /clock resolution 5 ms: a quarter of a 50 Hz control period
ODOM_FIELDS = {"base_pos", "base_quat", "base_lin_vel", "base_ang_vel"}
RESET_WAIT_S = 2.0  # a ~/reset call waits this long for the loop to carry it out


def open_interface(p: dict, spec) -> RobotInterface:
    """The robot interface the parameters name, connected."""
    safety = SafetyConfig(command_timeout=p["command_timeout"] or None, state_timeout=p["state_timeout"] or None,
                          gain_ramp_s=p["gain_ramp_s"])
    if p["interface"] == "sim":
        from hrobot.sim.robot import SimConfig, SimRobot
        from hrobot.sim.scene import SceneConfig

        if p["pd_rate_hz"] and p["pd_rate_hz"] < spec.policy_rate_hz:
            raise HRobotError(f"parameter 'pd_rate_hz': expected 0 or at least {spec.name}'s policy rate "
                              f"{spec.policy_rate_hz:g} Hz, got {p['pd_rate_hz']:g}")
        robot = SimRobot(spec, SceneConfig(kind=p["scene"], visual=False), SimConfig(pd_rate_hz=p["pd_rate_hz"] or None),
                         safety)
        if robot.sm.base_qpos_adr is not None:
            robot.place(*p["start"], np.array(p["obstacles"]) if p["obstacles"] else None, p["bar_x"])
        return robot
    problem = sim_only_problem(p)
    if problem:
        raise HRobotError(f"parameter {problem}")
    from hrobot.hardware import INTERFACES, DriverOptions, open_robot
    from hrobot.hardware.process import DriverProcess

    opts = DriverOptions(safety=safety, domain=int(p["domain"]), network_interface=p["network_interface"],
                         kinematics=p["kinematics"], scan=p["scan"], port=p["port"])
    if p["interface"] in INTERFACES and INTERFACES[p["interface"]][1]:
        return DriverProcess(p["interface"], spec, opts)  # connected in its own process
    robot = open_robot(p["interface"], spec, opts)
    robot.connect()
    return robot


class RobotDriverNode(HRobotNode):
    control_priority = True

    def __init__(self):
        super().__init__("robot_driver")
        p = self.params = declare_params(self, "robot_driver")
        spec = self.spec = load_robot(p["robot"])
        self.robot = open_interface(p, spec)
        self.sim = p["interface"] == "sim"
        self.index = {n: i for i, n in enumerate(spec.joint_names)}
        self.lock = threading.Lock()
        self.pending: JointCommand | None = None
        self.pending_estop = ""
        self.pending_resets: list[tuple[threading.Event, dict]] = []  # ~/reset calls, taken by the loop
        self.latency_us: list[float] = []
        self.activation = ""
        self.activate()  # then damping until the first command

        self.pub_js = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.pub_imu = self.create_publisher(Imu, "imu", STATE_QOS)
        self.pub_odom = self.create_publisher(Odometry, "odom", STATE_QOS)
        self.pub_scan = [self.create_publisher(LaserScan, t, STATE_QOS) for t in ("scan_low", "scan_high")]
        tracked = self.sim and p["object_rate_hz"] > 0 and {"object_pos", "object_quat"} <= self.robot.provides
        self.pub_object = self.create_publisher(PoseStamped, "object_pose", STATE_QOS) if tracked else None
        self.pub_clock = self.create_publisher(Clock, "/clock", STATE_QOS) if self.sim else None
        self.pub_applied = self.create_publisher(JointCommandMsg, "joint_commands/applied", COMMAND_QOS)
        if "height_map" in self.robot.provides:  # the simulator's ground, as elevation mapping would give it
            self.pub_map = self.create_publisher(HeightMapMsg, "height_map", LATCHED_QOS)
            self.pub_map.publish(height_map_msg(self.robot.height_map, "odom", wall_now(self)))
        self.create_subscription(JointCommandMsg, "joint_commands", self.on_command, COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.create_service(Trigger, "~/estop", self.on_estop_call)
        self.on_estop(self.request_estop)

        dt = self.robot.model.opt.timestep if self.sim else 1.0 / (p["state_rate_hz"] or spec.pd_rate_hz)
        state_rate = p["state_rate_hz"] or 1.0 / dt
        self.state_every = max(int(round(1.0 / (state_rate * dt))), 1)
        self.odom_every = max(int(round(1.0 / (p["odom_rate_hz"] * dt))), 1)
        self.scan_every = max(int(round(1.0 / (p["scan_rate_hz"] * dt))), 1)
        self.object_every = max(int(round(1.0 / (p["object_rate_hz"] * dt))), 1) if tracked else 0
        self.clock_every = max(int(round(1.0 / (CLOCK_RATE_HZ * dt))), 1)
        self.odometry = ODOM_FIELDS <= self.robot.provides
        self.steps = 0
        self.stats_file = p["stats_file"]
        self.start_loop(dt, self.step)
        where = f"in '{p['scene']}' at {1 / dt:.0f} Hz physics" if self.sim else f"through '{p['interface']}'"
        self.get_logger().info(f"{spec.name} {where}, state at {state_rate:.0f} Hz"
                               f"{', odometry' if self.odometry else ''}"
                               f"{'' if not self.activation else '; NOT ACTIVE: ' + self.activation}")

    def activate(self) -> bool:
        try:
            self.robot.activate()
        except HRobotError as e:
            self.activation = str(e)
            self.get_logger().error(f"{e}; damping until ~/reset succeeds")
            return False
        self.activation = ""
        return True

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

    def request_estop(self, reason: str) -> None:
        with self.lock:
            self.pending_estop = reason  # latched by the loop, between two periods

    def on_estop_call(self, request, response):
        self.request_estop("service call")
        response.success, response.message = True, "e-stop latched: damping"
        return response

    def on_reset(self, request, response):
        """Carried out by the loop, between two periods: the driver's bus is the loop's alone (a reset that read the
        Dynamixel bus from this thread collided with the loop's own transaction)."""
        done, result = threading.Event(), {}
        with self.lock:
            self.pending_resets.append((done, result))
        if not done.wait(RESET_WAIT_S):
            response.success, response.message = False, f"the driver loop did not take the reset within {RESET_WAIT_S} s"
            return response
        response.success, response.message = result["ok"], "reset" if result["ok"] else result["why"]
        return response

    def _reset(self) -> tuple[bool, str]:
        if self.robot.lifecycle != ACTIVE:
            return self.activate(), self.activation
        ok = self.robot.reset_safety()
        return ok, self.robot.safety.reason

    # ---- the loop
    def step(self) -> None:
        with self.lock:
            cmd, self.pending = self.pending, None
            estop, self.pending_estop = self.pending_estop, ""
            resets, self.pending_resets = self.pending_resets, []
        r = self.robot
        for done, result in resets:
            result["ok"], result["why"] = self._reset()
            done.set()
        if estop:
            r.estop(estop)
        state = None if self.sim else r.read_state()
        if cmd is not None or not r.own_loop:
            safe = r.send(cmd, state)  # the safety layer: limits, watchdogs, damping on any trip
            if cmd is not None:
                self.publish_applied(safe)
        self.log_new_trips(r.safety)
        self.steps += 1
        if self.sim:
            r.advance(r.model.opt.timestep)
            if self.steps % self.clock_every == 0:
                msg = Clock()
                msg.clock.sec, msg.clock.nanosec = divmod(int(round(r.data.time * 1e9)), 1_000_000_000)
                self.pub_clock.publish(msg)
        publish = [self.steps % k == 0 for k in (self.state_every, self.odom_every, self.scan_every)]
        if (publish[0] or publish[1]) and (state is None or self.sim):
            state = r.read_state()
        if publish[0]:
            self.publish_state(state)
        if publish[1] and self.odometry:
            self.publish_odom(state)
        if publish[2]:
            self.publish_scans()
        if self.object_every and self.steps % self.object_every == 0:
            self.publish_object()

    def publish_applied(self, safe: JointCommand) -> None:
        msg = JointCommandMsg()
        msg.stamp_sec, msg.stamp_nanosec = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)
        msg.name = self.spec.joint_names
        msg.position, msg.velocity = safe.q.tolist(), safe.dq.tolist()
        msg.kp, msg.kd, msg.effort = safe.kp.tolist(), safe.kd.tolist(), safe.tau.tolist()
        msg.mode = mode_to_msg(safe.mode)
        msg.standing = safe.standing
        self.pub_applied.publish(msg)

    def publish_state(self, st: MeasuredState) -> None:
        stamp = wall_now(self)
        js = JointState()
        js.header.stamp, js.header.frame_id = stamp, "base"
        js.name = self.spec.joint_names
        js.position, js.velocity = st.joint_pos.tolist(), st.joint_vel.tolist()
        if st.joint_effort is not None:
            js.effort = st.joint_effort.tolist()
        self.pub_js.publish(js)
        if st.base_quat is None:
            return
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, "imu"
        w, x, y, z = st.base_quat
        imu.orientation = Quaternion(w=float(w), x=float(x), y=float(y), z=float(z))
        imu.angular_velocity = Vector3(x=float(st.base_ang_vel[0]), y=float(st.base_ang_vel[1]), z=float(st.base_ang_vel[2]))
        if st.base_acc is not None:
            imu.linear_acceleration = Vector3(x=float(st.base_acc[0]), y=float(st.base_acc[1]), z=float(st.base_acc[2]))
        self.pub_imu.publish(imu)

    def publish_odom(self, st: MeasuredState) -> None:
        od = Odometry()
        od.header.stamp, od.header.frame_id, od.child_frame_id = wall_now(self), "odom", "base"
        p, q, lin, ang = st.base_pos, st.base_quat, st.base_lin_vel, st.base_ang_vel
        od.pose.pose.position.x, od.pose.pose.position.y, od.pose.pose.position.z = (float(v) for v in p)
        od.pose.pose.orientation = Quaternion(w=float(q[0]), x=float(q[1]), y=float(q[2]), z=float(q[3]))
        od.twist.twist.linear = Vector3(x=float(lin[0]), y=float(lin[1]), z=float(lin[2]))  # base frame
        od.twist.twist.angular = Vector3(x=float(ang[0]), y=float(ang[1]), z=float(ang[2]))
        self.pub_odom.publish(od)

    def publish_object(self) -> None:
        """The object's pose in the palm frame, as a tracker registered to the palm reports it."""
        pos, quat = self.robot.object_pose()
        msg = PoseStamped()
        msg.header.stamp, msg.header.frame_id = wall_now(self), self.spec.base_body
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
        msg.pose.orientation = Quaternion(w=float(quat[0]), x=float(quat[1]), y=float(quat[2]), z=float(quat[3]))
        self.pub_object.publish(msg)

    def publish_scans(self) -> None:
        scan = self.robot.read_scan()
        if scan is None:
            return
        stamp = wall_now(self)
        for pub, row, h in zip(self.pub_scan, scan.ranges, scan.heights):
            msg = LaserScan()
            msg.header.stamp, msg.header.frame_id = stamp, f"scan_{h:.2f}m"
            msg.angle_min, msg.angle_increment = 0.0, scan.angle_increment
            msg.angle_max = scan.angle_increment * (len(row) - 1)
            msg.range_min, msg.range_max = 0.02, scan.range_max
            msg.ranges = [float(v) for v in row]
            pub.publish(msg)

    # ---- reporting
    def stats(self) -> dict:
        with self.lock:
            lat = list(self.latency_us)
        p50, p99 = percentiles(lat[20:])
        s = self.robot.safety
        out = {"interface": self.params["interface"], "robot": self.spec.name,
               "driver_rate_hz": self.loop.rate_hz(),
               "state_to_command_latency_us_p50": p50, "state_to_command_latency_us_p99": p99,
               "commands_received": len(lat), "active": self.robot.lifecycle == ACTIVE,
               "safety": "tripped" if s.tripped else "ok", "last_trip_reason": s.trips[-1].reason if s.trips else "",
               "trips": len(s.trips), "activation_problem": self.activation, "loop": self.loop.stats()}
        if self.sim:
            out["physics_dt"] = self.robot.model.opt.timestep
        out.update({f"link_{k}": v for k, v in self.robot.link_stats().items()})
        return out

    def status(self, stats: dict) -> tuple[int, str]:
        if stats["activation_problem"]:
            return 2, f"not active: {stats['activation_problem']}"
        return (2, f"safety tripped: {stats['last_trip_reason']}") if stats["safety"] == "tripped" else (0, "ok")

    def shutdown(self) -> None:
        super().shutdown()
        if self.robot.lifecycle != "disconnected":
            self.robot.disconnect()  # damping, then the link closed (a driver process told to stop)


def main() -> int:
    return run(RobotDriverNode, "robot_driver")


if __name__ == "__main__":
    raise SystemExit(main())
