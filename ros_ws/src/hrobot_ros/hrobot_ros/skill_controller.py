"""skill_controller: low-level policy bundles driving the robot at the policy rate.

Runs hrobot's ControlLoop (Controller: passive -> stand up -> policy -> sit down, and the
robot's SafetyLayer) on a robot seen through topics: /joint_states + /imu in (and /odom's
height, where a state estimator publishes it, for the fall check), /joint_commands out. Each
control step runs the moment the state that makes it due arrives (paced at the policy rate by
the states' stamps), so a command answers a state one computation after it (not up to a state
interval later, as a timer would); a watchdog steps it if the states stop.
/cmd_vel (geometry_msgs/Twist: vx, vy, wz; a hand skill's wx, wy, wz from its angular part) is the
task command; the runtime's command
filter clamps it into the skill's trained range and rate-limits it, whatever its source. If
/cmd_vel stops for cmd_vel_timeout, the command becomes a stand-still. /teleop/cmd_vel (a
teleoperator, `hrobot teleop`) overrides /cmd_vel while it is fresh (teleop_timeout), as twist_mux
arbitrates: the active source is latched on /cmd_source and each change is an event on /events.
/estop (std_msgs/Bool) latches the e-stop here as on the robot driver. With a high-level
bundle it runs each of that bundle's skills and switches on /skill (std_msgs/String, a
skill name), carrying the previous action over. A manipulation skill reads the object's pose from
/object_pose (geometry_msgs/PoseStamped in the palm frame, a tracker's); a pose in another frame or
with a quaternion that is not a unit one is refused with a warning, and while the pose is missing,
refused or older than the controller's object timeout the policy holds its last targets. A perceptive skill (a
height scan) reads the elevation map from /height_map (hrobot_msgs/HeightMap in the odom frame, latched) and the
base's position from /odom; while either is missing (or the odometry older than the state timeout) it holds its
targets, standing. Services: ~/stand, ~/sit, ~/estop (latched damping), ~/reset (the only way out of a trip).
Watchdogs run on the monotonic clock, or under use_sim_time on the simulator's /clock. Every safety trip is logged with its reason.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from hrobot_msgs.msg import HeightMap as HeightMapMsg
from hrobot_msgs.msg import JointCommand as JointCommandMsg
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from hrobot.bundle import load_bundle, read_metadata
from hrobot.errors import HRobotError
from hrobot.robot_io import CONNECTED, RobotInterface
from hrobot.robots import load_robot
from hrobot.runtime import POLICY, ControlLoop, Controller, PolicyRuntime
from hrobot.safety import DAMPING, JointCommand, MeasuredState, SafetyConfig, SafetyLayer, target_mode
from hrobot.teleop.mux import NONE, CommandMux, Source
from hrobot_ros.common import (COMMAND_QOS, GOAL_QOS, LATCHED_QOS, STATE_QOS, HRobotNode, declare_params,
                               height_map_from_msg, main as run, mode_to_msg)

MAX_RESTARTS = 3  # autostart: stand-ups again after a stale input during start-up

# What a robot seen through /joint_states, /imu, /odom and /height_map provides (hrobot.safety.STATE_FIELDS)
TOPIC_FIELDS = frozenset({"joint_pos", "joint_vel", "base_quat", "base_ang_vel", "base_height", "object_pos",
                          "object_quat", "base_pos", "height_map"})


def twist_indices(names: list[str]) -> list[tuple[str, str]]:
    """Which Twist component feeds each command name: v* from linear, w* from angular, by the axis letter."""
    out = []
    for n in names:
        if len(n) != 2 or n[0] not in "vw" or n[1] not in "xyz":
            raise HRobotError(f"bundle command '{n}': a Twist carries vx, vy, vz, wx, wy, wz only")
        out.append(("linear" if n[0] == "v" else "angular", n[1]))
    return out


def pose_problem(msg: PoseStamped, frame: str) -> str:
    """Why an object pose message is refused ("" if it is not)."""
    if msg.header.frame_id != frame:
        return f"/object_pose in frame '{msg.header.frame_id}', expected '{frame}'"
    p, o = msg.pose.position, msg.pose.orientation
    v = np.array([p.x, p.y, p.z, o.w, o.x, o.y, o.z])
    if not np.isfinite(v).all():
        return "/object_pose with NaN/inf"
    norm = float(np.linalg.norm(v[3:]))
    if abs(norm - 1.0) > 0.01:
        return f"/object_pose quaternion norm {norm:.3f}, expected a unit quaternion"
    return ""


class TopicRobot(RobotInterface):
    """The robot behind /joint_states + /imu (+ /odom), commanded over /joint_commands."""

    def __init__(self, node: SkillControllerNode, spec, state_timeout: float | None):
        self.node, self.robot = node, spec
        self.safety = SafetyLayer(spec, SafetyConfig(state_timeout=state_timeout))
        self.provides = TOPIC_FIELDS
        self.command_modes = (target_mode(spec), DAMPING)  # what the controller sends; the driver checks its own
        self.lifecycle = CONNECTED
        self.index = {n: i for i, n in enumerate(spec.joint_names)}
        self.lock = threading.Lock()
        n = spec.num_joints
        self.q, self.dq = np.zeros(n), np.zeros(n)
        self.quat, self.gyro = np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3)
        self.height: float | None = None
        self.object_pos: np.ndarray | None = None  # palm frame, from /object_pose
        self.object_quat: np.ndarray | None = None
        self.object_time: float | None = None
        self.base_pos: np.ndarray | None = None  # odometry frame, from /odom
        self.odom_time = -np.inf
        self.height_map = None  # hrobot.heightmap.HeightMap from /height_map (odometry frame)
        self.header_stamp = None  # header stamp of the last joint state (copied into commands)
        self.state_time: float | None = None  # receive time of the last joint state (node clock)
        self.imu_time = -np.inf

    def has_state(self) -> bool:
        return self.state_time is not None

    def read_state(self) -> MeasuredState:
        now = self.now()
        with self.lock:  # a position older than the state timeout is none (a perceptive policy holds)
            pos = self.base_pos if now is not None and now - self.odom_time <= self.safety.state_timeout else None
            return MeasuredState(self.q.copy(), self.dq.copy(), self.quat.copy(), self.gyro.copy(),
                                 self.state_time, imu_stamp=self.imu_time, base_height=self.height,
                                 object_pos=self.object_pos, object_quat=self.object_quat,
                                 object_stamp=self.object_time, base_pos=pos, height_map=self.height_map)

    def now(self) -> float:
        return self.node.now_s()

    def _write(self, safe: JointCommand) -> None:
        msg = JointCommandMsg()
        stamp = self.header_stamp
        msg.stamp_sec, msg.stamp_nanosec = stamp.sec, stamp.nanosec
        msg.name = self.robot.joint_names
        msg.position, msg.velocity = safe.q.tolist(), safe.dq.tolist()
        msg.kp, msg.kd, msg.effort = safe.kp.tolist(), safe.kd.tolist(), safe.tau.tolist()
        msg.mode = mode_to_msg(safe.mode)
        msg.standing = safe.standing
        self.node.pub.publish(msg)


class SkillControllerNode(HRobotNode):
    control_priority = True

    def __init__(self):
        super().__init__("skill_controller")
        p = self.params = declare_params(self, "skill_controller")
        robot = load_robot(p["robot"]) if p["robot"] else None
        meta = read_metadata(Path(p["bundle"]))
        paths = [Path(p["bundle"]) / s["path"] for s in meta["skills"]] if meta["level"] == "high" else [p["bundle"]]
        who = "skill_controller (/joint_states, /imu, /odom)"
        runtimes = [PolicyRuntime(load_bundle(b, robot, provides=TOPIC_FIELDS, who=who)) for b in paths]
        self.spec = runtimes[0].robot
        self.ctrl = Controller(runtimes)
        self.robot = TopicRobot(self, self.spec, p["state_timeout"] or None)
        self.safety = self.robot.safety
        self.mux = CommandMux([Source("teleop", "teleop/cmd_vel", 100, p["teleop_timeout"]),
                               Source("planner", "cmd_vel", 10, p["cmd_vel_timeout"])])
        self.source = ""
        self.loop_ctl = ControlLoop(self.robot, self.ctrl, self._command)
        self.started = False
        self.steady_ticks = 0
        self.policy_ran = False  # the policy has stepped since autostart (start-up is over)
        self.restarts = 0  # autostart's stand-ups again after a stall during start-up
        self.pending_skill: str | None = None

        self.create_subscription(JointState, "joint_states", self.on_joint_state, STATE_QOS)
        self.create_subscription(Imu, "imu", self.on_imu, STATE_QOS)
        self.create_subscription(Odometry, "odom", self.on_odom, STATE_QOS)
        if any(rt.needs_object for rt in runtimes):
            self.create_subscription(PoseStamped, "object_pose", self.on_object_pose, STATE_QOS)
        if any(rt.needs_map for rt in runtimes):  # a perceptive policy: the elevation map (latched)
            self.create_subscription(HeightMapMsg, "height_map", self.on_height_map, LATCHED_QOS)
        self.twist = twist_indices(runtimes[0].commands.names)
        for src in self.mux.sources:
            self.create_subscription(Twist, src.topic, lambda m, name=src.name: self.on_twist(name, m), GOAL_QOS)
        self.pub_source = self.create_publisher(String, "cmd_source", LATCHED_QOS)
        self.on_estop(lambda why: self.safety.estop(why, self.now_s()))
        self.create_subscription(String, "skill", self.on_skill, GOAL_QOS)
        self.pub = self.create_publisher(JointCommandMsg, "joint_commands", COMMAND_QOS)
        for name, fn in (("stand", self.srv_stand), ("sit", self.srv_sit), ("estop", self.srv_estop),
                         ("reset", self.srv_reset)):
            self.create_service(Trigger, f"~/{name}", fn)
        self.stats_file = p["stats_file"]
        # the control step runs on the state stream (a complete state: joints, and the IMU where the robot has
        # one), paced at the policy rate by the states' stamps; a watchdog steps it when the stream stops, so the
        # safety layer sees the stale state, trips and damps
        self.imu_expected = self.spec.floating_base
        self._fresh_js = self._fresh_imu = False
        self._last_step_at: float | None = None  # the node clock's time at the last control step
        self.start_loop(self.spec.policy_dt, self.control_step, paced=True)
        self.create_timer(self.spec.policy_dt, self.watchdog)
        self.get_logger().info(f"bundle {p['bundle']} ({self.spec.name}), skills {list(self.ctrl.skills)} "
                               f"at {self.spec.policy_rate_hz:g} Hz")

    # ---- inputs
    def on_joint_state(self, msg: JointState) -> None:
        r = self.robot
        try:
            order = [r.index[j] for j in msg.name]
        except KeyError as e:
            self.get_logger().error(f"joint state names a joint the robot does not have: {e}")
            return
        if len(msg.position) != len(order) or len(msg.velocity) != len(order):
            self.get_logger().error("joint state with position / velocity of another length than its names; ignored")
            return
        now = self.now_s()
        if now is None:
            return  # under use_sim_time, states count from the simulator's first /clock message
        with r.lock:
            r.q[order] = msg.position
            r.dq[order] = msg.velocity
            r.header_stamp, r.state_time = msg.header.stamp, now
        self._fresh_js = True
        self._state_arrived()

    def on_imu(self, msg: Imu) -> None:
        o, w = msg.orientation, msg.angular_velocity
        now = self.now_s()
        if now is None:
            return
        with self.robot.lock:
            self.robot.quat = np.array([o.w, o.x, o.y, o.z])
            self.robot.gyro = np.array([w.x, w.y, w.z])
            self.robot.imu_time = now
        self._fresh_imu = True
        self._state_arrived()

    def _state_arrived(self) -> None:
        """A joint state, or an IMU sample: once both are new since the last one (joints alone on a fixed-base
        robot), the state is complete and may make a control step due."""
        if not self._fresh_js or (self.imu_expected and not self._fresh_imu):
            return
        self._fresh_js = self._fresh_imu = False
        stamp = self.robot.header_stamp
        self.loop.on_state(stamp.sec + stamp.nanosec * 1e-9)

    def watchdog(self) -> None:
        """The joints or the IMU stopped (older than the safety layer's state timeout, on its clock): step anyway,
        so the safety layer finds the stale input, trips with the reason and damps. (Under use_sim_time a
        stalled simulator stops that clock too, and nothing is stepped.)"""
        now, r = self.now_s(), self.robot
        if now is None or self._last_step_at is None or self.safety.tripped:
            return
        oldest = min(r.state_time, r.imu_time) if self.imu_expected else r.state_time
        if now - oldest > self.safety.state_timeout and now - self._last_step_at >= self.spec.policy_dt:
            self.loop.step()

    def on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose.position
        if not all(np.isfinite([p.x, p.y, p.z])):  # the position goes stale: a perceptive policy holds
            self.get_logger().warning("/odom with a NaN/inf position ignored", throttle_duration_sec=1.0)
            return
        now = self.now_s()
        with self.robot.lock:
            r = self.robot
            r.base_pos = np.array([p.x, p.y, p.z])
            r.odom_time = -np.inf if now is None else now
            # above the ground below the base where a map says where that is
            r.height = float(p.z) - (0.0 if r.height_map is None else float(r.height_map.at(r.base_pos[:2])))

    def on_height_map(self, msg: HeightMapMsg) -> None:
        hmap, problem = height_map_from_msg(msg, "odom")
        if problem:
            self.get_logger().warning(f"{problem}; ignored (the policy holds while it has no valid map)",
                                      throttle_duration_sec=1.0)
            return
        with self.robot.lock:
            self.robot.height_map = hmap

    def on_object_pose(self, msg: PoseStamped) -> None:
        problem = pose_problem(msg, self.spec.base_body)
        if problem:
            self.get_logger().warning(f"{problem}; ignored (the policy holds while no valid pose is fresh)",
                                      throttle_duration_sec=1.0)
            return
        p, o = msg.pose.position, msg.pose.orientation
        now = self.now_s()
        if now is None:
            return
        with self.robot.lock:
            self.robot.object_pos = np.array([p.x, p.y, p.z])
            self.robot.object_quat = np.array([o.w, o.x, o.y, o.z])
            self.robot.object_time = now

    def on_twist(self, source: str, msg: Twist) -> None:
        v = np.array([getattr(getattr(msg, part), axis) for part, axis in self.twist])
        if not np.all(np.isfinite(v)):
            self.get_logger().warning(f"{source} twist with NaN/inf ignored")
            return
        now = self.now_s()
        with self.robot.lock:
            self.mux.update(source, v, -np.inf if now is None else now)

    def on_skill(self, msg: String) -> None:
        if msg.data not in self.ctrl.skills:
            self.get_logger().warning(f"skill '{msg.data}' ignored: this controller runs {list(self.ctrl.skills)}")
            return
        self.pending_skill = msg.data  # switched by the control loop, between two steps

    def _command(self) -> np.ndarray:
        """This period's task command: the active source's (teleop over planner), a stand-still when none is fresh."""
        now = self.now_s()
        with self.robot.lock:
            source, cmd = self.mux.select(now)
        if source != self.source:
            self.source = source
            self.pub_source.publish(String(data=source))
            self.publish_event("cmd_source", source)
            if source != NONE:
                self.get_logger().info(f"command source: {source}")
        return cmd

    # ---- services
    def _reply(self, response, ok: bool, message: str):
        response.success, response.message = ok, message
        return response

    def srv_stand(self, request, response):
        if self.safety.tripped:
            if self.safety.trips:  # a trip or an e-stop latches until an explicit ~/reset
                return self._reply(response, False, f"safety tripped ({self.safety.reason}): call ~/reset first")
            if not self._reset_safety():  # the start-up damping: leave it with a sane state
                return self._reply(response, False, f"not ready: {self.safety.reason}")
        self.ctrl.request("stand")
        return self._reply(response, True, "standing up")

    def srv_sit(self, request, response):
        self.ctrl.request("sit")
        return self._reply(response, True, "sitting down")

    def srv_estop(self, request, response):
        self.safety.estop("service call", self.now_s())
        return self._reply(response, True, "e-stop latched: damping")

    def srv_reset(self, request, response):
        ok = self._reset_safety()
        if ok:
            self.ctrl.request("passive")
        return self._reply(response, ok, "reset: passive" if ok else self.safety.reason)

    def _reset_safety(self) -> bool:
        return self.robot.has_state() and self.safety.reset(self.robot.read_state(), self.now_s())

    # ---- control
    def control_step(self) -> None:
        """One control period (in the executor's thread, as every other callback of this node)."""
        if not self.robot.has_state():
            return  # no robot yet
        now = self._last_step_at = self.now_s()
        if self.params["autostart"] and self.started and self.safety.tripped and not self.policy_ran:
            self._restart_after_stall()
        if self.params["autostart"] and not self.started:
            # start once the state stream is steady (0.5 s of fresh states): nodes still loading on the
            # same machine can stall it at first, and the state watchdog latches on any gap
            fresh = now - self.robot.state_time <= self.safety.state_timeout
            self.steady_ticks = self.steady_ticks + 1 if fresh else 0
            if self.steady_ticks >= int(0.5 / self.spec.policy_dt):
                self.started = self._reset_safety()
                if self.started:
                    self.ctrl.request("stand")
        skill, self.pending_skill = self.pending_skill, None
        if skill is not None and skill != self.ctrl.skill:
            self.ctrl.select(skill)
            self.get_logger().info(f"skill: {skill}")
        self.loop_ctl.step()
        self.policy_ran = self.policy_ran or self.ctrl.mode == POLICY
        self.log_new_trips(self.safety)

    def _restart_after_stall(self) -> None:
        """Autostart (simulated bringups) only: a stale-input trip before the policy ever ran is a stall of the
        processes still starting on a shared machine (measured: an IMU sample 0.16 s late on 2 cores), so stand up
        again once the stream is steady, at most MAX_RESTARTS times. Any other trip (a fall, an e-stop), or one
        after the policy ran, latches as always."""
        reason = self.safety.trips[-1].reason if self.safety.trips else ""
        if not reason.startswith("stale") or self.restarts >= MAX_RESTARTS:
            return
        self.restarts += 1
        self.started, self.steady_ticks = False, 0
        self.get_logger().warning(f"start-up stalled ({reason}): standing up again once the state stream is steady "
                                  f"(restart {self.restarts} of {MAX_RESTARTS})")

    # ---- reporting
    def stats(self) -> dict:
        return {"mode": self.ctrl.mode, "skill": self.ctrl.skill, "safety": "tripped" if self.safety.tripped else "ok",
                "holding": self.ctrl.holding,
                "last_trip_reason": self.safety.trips[-1].reason if self.safety.trips else "",
                "trip_to_damping_ms_max": 1e3 * max(self.safety.trip_to_damping, default=float("nan")),
                **self.loop.stats()}

    def status(self, stats: dict) -> tuple[int, str]:
        if stats["safety"] != "tripped" and stats["holding"]:
            return 1, f"{stats['mode']}, holding: {stats['holding']}, safety ok"
        return (2 if stats["safety"] == "tripped" else 0), f"{stats['mode']}, safety {stats['safety']}"


def main() -> int:
    return run(SkillControllerNode, "skill_controller")


if __name__ == "__main__":
    raise SystemExit(main())
