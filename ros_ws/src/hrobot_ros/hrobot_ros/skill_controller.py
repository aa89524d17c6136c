"""skill_controller: a low-level policy bundle driving the robot at the policy rate.

Runs hrobot's Controller (passive -> stand up -> policy -> sit down) and SafetyLayer on
/joint_states + /imu and /cmd_vel (geometry_msgs/Twist: vx, vy, wz), and publishes
/joint_commands. If /cmd_vel stops for cmd_vel_timeout, the command becomes a
stand-still. Services: ~/stand, ~/sit, ~/estop (latched damping), ~/reset. Watchdogs run
on the monotonic clock, or under use_sim_time on the simulator's /clock. Every safety trip
is logged with its reason.
"""

from __future__ import annotations

import threading

import numpy as np
from geometry_msgs.msg import Twist
from hrobot_msgs.msg import JointCommand as JointCommandMsg
from sensor_msgs.msg import Imu, JointState
from std_srvs.srv import Trigger

from hrobot.bundle import load_bundle
from hrobot.robots import load_robot
from hrobot.runtime import Controller, PolicyRuntime
from hrobot.safety import DAMPING, MeasuredState, SafetyConfig, SafetyLayer
from hrobot_ros.common import COMMAND_QOS, GOAL_QOS, STATE_QOS, HRobotNode, declare_params, main as run


class SkillControllerNode(HRobotNode):
    def __init__(self):
        super().__init__("skill_controller")
        p = self.params = declare_params(self, "skill_controller")
        bundle = load_bundle(p["bundle"], load_robot(p["robot"]) if p["robot"] else None)
        self.rt = PolicyRuntime(bundle)
        self.robot = self.rt.robot
        self.ctrl = Controller(self.rt)
        self.safety = SafetyLayer(self.robot, SafetyConfig(state_timeout=p["state_timeout"] or None))
        self.index = {n: i for i, n in enumerate(self.robot.joint_names)}
        self.lock = threading.Lock()
        n = self.robot.num_joints
        self.q, self.dq = np.zeros(n), np.zeros(n)
        self.quat, self.gyro = np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3)
        self.state_stamp = None  # header stamp of the last joint state (copied into commands)
        self.state_time = -np.inf  # monotonic receive time of the last joint state
        self.cmd = np.zeros(3)
        self.cmd_time = -np.inf
        self.started = False
        self.steady_ticks = 0

        self.create_subscription(JointState, "joint_states", self.on_joint_state, STATE_QOS)
        self.create_subscription(Imu, "imu", self.on_imu, STATE_QOS)
        self.create_subscription(Twist, "cmd_vel", self.on_cmd_vel, GOAL_QOS)
        self.pub = self.create_publisher(JointCommandMsg, "joint_commands", COMMAND_QOS)
        for name, fn in (("stand", self.srv_stand), ("sit", self.srv_sit), ("estop", self.srv_estop),
                         ("reset", self.srv_reset)):
            self.create_service(Trigger, f"~/{name}", fn)
        self.stats_file = p["stats_file"]
        self.start_loop(self.robot.policy_dt, self.control_step)
        self.get_logger().info(f"bundle {bundle.path} ({self.robot.name}) at {self.robot.policy_rate_hz:g} Hz")

    # ---- inputs
    def on_joint_state(self, msg: JointState) -> None:
        try:
            order = [self.index[j] for j in msg.name]
        except KeyError as e:
            self.get_logger().error(f"joint state names a joint the robot does not have: {e}")
            return
        now = self.now_s()
        if now is None:
            return  # under use_sim_time, states count from the simulator's first /clock message
        with self.lock:
            self.q[order] = msg.position
            self.dq[order] = msg.velocity
            self.state_stamp, self.state_time = msg.header.stamp, now

    def on_imu(self, msg: Imu) -> None:
        o, w = msg.orientation, msg.angular_velocity
        with self.lock:
            self.quat = np.array([o.w, o.x, o.y, o.z])
            self.gyro = np.array([w.x, w.y, w.z])

    def on_cmd_vel(self, msg: Twist) -> None:
        v = np.array([msg.linear.x, msg.linear.y, msg.angular.z])
        if not np.all(np.isfinite(v)):
            self.get_logger().warning("cmd_vel with NaN/inf ignored")
            return
        now = self.now_s()
        with self.lock:
            self.cmd, self.cmd_time = v, -np.inf if now is None else now

    # ---- services
    def _reply(self, response, ok: bool, message: str):
        response.success, response.message = ok, message
        return response

    def srv_stand(self, request, response):
        if self.safety.tripped and not self._reset_safety():
            return self._reply(response, False, f"safety tripped: {self.safety.reason}")
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
        state = self._state()
        return state is not None and self.safety.reset(state, self.now_s())

    # ---- control
    def _state(self) -> MeasuredState | None:
        with self.lock:
            if self.state_stamp is None:
                return None
            return MeasuredState(self.q.copy(), self.dq.copy(), self.quat.copy(), self.gyro.copy(), self.state_time)

    def control_step(self) -> None:
        state = self._state()
        if state is None:
            return  # no robot yet
        now = self.now_s()
        if self.params["autostart"] and not self.started:
            # start once the state stream is steady (0.5 s of fresh states): nodes still loading on the
            # same machine can stall it at first, and the state watchdog latches on any gap
            fresh = now - state.stamp <= self.safety.state_timeout
            self.steady_ticks = self.steady_ticks + 1 if fresh else 0
            if self.steady_ticks >= int(0.5 / self.robot.policy_dt):
                self.started = self.safety.reset(state, now)
                if self.started:
                    self.ctrl.request("stand")
        with self.lock:
            fresh = now - self.cmd_time <= self.params["cmd_vel_timeout"]
            cmd = self.cmd.copy() if fresh else np.zeros(3)  # the /cmd_vel watchdog: stand still
            stamp = self.state_stamp
        desired = self.ctrl.step(state, cmd, now, safety_tripped=self.safety.tripped)
        safe = self.safety.filter(desired, state, now)
        self.log_new_trips(self.safety)
        msg = JointCommandMsg()
        msg.stamp_sec, msg.stamp_nanosec = stamp.sec, stamp.nanosec
        msg.name = self.robot.joint_names
        msg.position, msg.velocity = safe.q.tolist(), safe.dq.tolist()
        msg.kp, msg.kd, msg.effort = safe.kp.tolist(), safe.kd.tolist(), safe.tau.tolist()
        msg.mode = JointCommandMsg.MODE_DAMPING if safe.mode == DAMPING else JointCommandMsg.MODE_POSITION
        self.pub.publish(msg)

    # ---- reporting
    def stats(self) -> dict:
        return {"mode": self.ctrl.mode, "safety": "tripped" if self.safety.tripped else "ok",
                "last_trip_reason": self.safety.trips[-1].reason if self.safety.trips else "",
                "trip_to_damping_ms_max": 1e3 * max(self.safety.trip_to_damping, default=float("nan")), **self.loop.stats()}

    def status(self, stats: dict) -> tuple[int, str]:
        return (2 if stats["safety"] == "tripped" else 0), f"{stats['mode']}, safety {stats['safety']}"


def main() -> int:
    return run(SkillControllerNode, "skill_controller")


if __name__ == "__main__":
    raise SystemExit(main())
