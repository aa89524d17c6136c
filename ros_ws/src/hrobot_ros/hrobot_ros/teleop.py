"""teleop: a teleoperator (hrobot.teleop) driving the robot through the same topics as the high level.

Legged robots (`device` keyboard | gamepad | joy-topic): while the deadman is held (gamepad: LB;
keyboard: Enter toggles) /teleop/cmd_vel at `rate_hz`, which the skill controller's mux prefers
over the planner's /cmd_vel; on release one zero command, then silence, so control returns to the
high level. The e-stop (gamepad B, keyboard x) publishes /estop: the driver and the controller
latch damping. Episode marks (start, success, rerecord, stop) go to /events for the recorder.
Hands: joint targets from a leader's sensor_msgs/JointState on `leader_topic` (`device` joint-topic),
or fingertip positions (geometry_msgs/PoseArray on `fingertip_topic`, palm frame) retargeted to the
hand's joints (`device` fingertips, with the hand's `kinematics`), sent to the robot driver as servo
commands while the leader is streaming.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseArray, Twist
from hrobot_msgs.msg import JointCommand as JointCommandMsg
from sensor_msgs.msg import Joy, JointState
from std_msgs.msg import Bool

from hrobot.errors import HRobotError
from hrobot.robots import load_robot
from hrobot.safety import SERVO
from hrobot_ros.common import (COMMAND_QOS, GOAL_QOS, SIGNAL_QOS, STATE_QOS, HRobotNode, declare_params,
                               main as run, mode_to_msg)

BASE_DEVICES = ("keyboard", "gamepad", "joy-topic")
HAND_DEVICES = ("joint-topic", "fingertips")


def make_teleoperator(p: dict, spec):
    from hrobot.teleop.gamepad import EvdevGamepad, JoyMapping, JoyTopic, find_gamepad
    from hrobot.teleop.hand import FingertipRetargeter, JointLeader
    from hrobot.teleop.keyboard import HELP, KeyboardConfig, KeyboardTeleop

    device = p["device"]
    if device in BASE_DEVICES and not spec.floating_base:
        raise HRobotError(f"parameter 'device': {device} commands a base velocity; {spec.name} has no floating base "
                          f"(use joint-topic)")
    if device in HAND_DEVICES and spec.floating_base:
        raise HRobotError(f"parameter 'device': {device} drives a hand's joints; {spec.name} walks "
                          f"(use keyboard, gamepad or joy-topic)")
    mapping = JoyMapping(scale_vx=p["max_vx"], scale_vy=p["max_vy"], scale_wz=p["max_wz"])
    if device == "keyboard":
        print(HELP, flush=True)
        return KeyboardTeleop(p["path"] or None, KeyboardConfig(max_lin=max(p["max_vx"], p["max_vy"]),
                                                                max_yaw=p["max_wz"]))
    if device == "gamepad":
        return EvdevGamepad(p["path"] or find_gamepad(), mapping)
    if device == "joy-topic":
        return JoyTopic(mapping)
    if device == "fingertips":
        import json

        from hrobot.estimator import ChainKinematics

        if not p["kinematics"]:
            raise HRobotError("parameter 'kinematics': device fingertips needs the hand's chains "
                              f"(`hrobot robots kinematics {spec.name} --out FILE`)")
        return FingertipRetargeter(spec, ChainKinematics(json.loads(open(p["kinematics"]).read())))
    return JointLeader(spec)


class TeleopNode(HRobotNode):
    def __init__(self):
        super().__init__("teleop")
        p = self.params = declare_params(self, "teleop")
        self.spec = load_robot(p["robot"])
        self.teleop = make_teleoperator(p, self.spec)
        self.teleop.connect()
        self.device = p["device"]
        self.was_enabled = False
        self.sent_twists = 0
        self.estops = 0
        self.pub_twist = self.create_publisher(Twist, "teleop/cmd_vel", GOAL_QOS)
        self.pub_estop = self.create_publisher(Bool, "/estop", SIGNAL_QOS)
        self.pub_cmd = self.create_publisher(JointCommandMsg, "joint_commands", COMMAND_QOS)
        if self.device == "joy-topic":
            self.create_subscription(Joy, p["joy_topic"], self.on_joy, STATE_QOS)
        if self.device == "joint-topic":
            self.create_subscription(JointState, p["leader_topic"], self.on_leader, STATE_QOS)
        if self.device == "fingertips":
            self.create_subscription(PoseArray, p["fingertip_topic"], self.on_fingertips, STATE_QOS)
        self.start_loop(1.0 / p["rate_hz"], self.step)
        self.get_logger().info(f"{self.device} teleop of {self.spec.name} at {p['rate_hz']:g} Hz")

    def on_joy(self, msg: Joy) -> None:
        self.teleop.receive(list(msg.axes), list(msg.buttons))

    def on_leader(self, msg: JointState) -> None:
        try:
            if not self.teleop.receive(list(msg.name), list(msg.position)):
                self.get_logger().warning(f"leader joint state names none of {self.spec.name}'s joints; ignored",
                                          throttle_duration_sec=5.0)
        except HRobotError as e:
            self.get_logger().error(f"{e}; ignored", throttle_duration_sec=5.0)

    def on_fingertips(self, msg: PoseArray) -> None:
        try:
            self.teleop.receive([[q.position.x, q.position.y, q.position.z] for q in msg.poses])
        except HRobotError as e:
            self.get_logger().error(f"{e}; ignored", throttle_duration_sec=5.0)

    def step(self) -> None:
        a = self.teleop.get_action()
        for ev in self.teleop.events():
            self.publish_event(f"episode_{ev}", self.device)
        if a["estop"]:
            self.estops += 1
            self.pub_estop.publish(Bool(data=True))
            self.get_logger().warning("E-STOP pressed: /estop sent (damping latched; ~/reset on the driver clears it)")
        enabled = bool(a["enabled"])
        if self.device in HAND_DEVICES:
            if enabled:
                self.send_targets(self.teleop.targets())
        elif enabled or self.was_enabled:
            v = (a["vx"], a["vy"], a["wz"]) if enabled else (0.0, 0.0, 0.0)  # release: one zero command
            t = Twist()
            t.linear.x, t.linear.y, t.angular.z = (float(x) for x in v)
            self.pub_twist.publish(t)
            self.sent_twists += 1
        if enabled != self.was_enabled:
            self.publish_event("teleop_enabled" if enabled else "teleop_released", self.device)
        self.was_enabled = enabled

    def send_targets(self, q: np.ndarray) -> None:
        msg = JointCommandMsg()
        msg.stamp_sec, msg.stamp_nanosec = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)
        n = self.spec.num_joints
        msg.name = self.spec.joint_names
        msg.position, msg.velocity = q.tolist(), [0.0] * n
        msg.kp, msg.kd, msg.effort = self.spec.kp.tolist(), self.spec.kd.tolist(), [0.0] * n
        msg.mode = mode_to_msg(SERVO)
        self.pub_cmd.publish(msg)

    def stats(self) -> dict:
        return {"device": self.device, "enabled": self.was_enabled, "twists_sent": self.sent_twists,
                "estops": self.estops, **self.loop.stats()}

    def shutdown(self) -> None:
        super().shutdown()
        self.teleop.disconnect()  # the terminal back as it was


def main() -> int:
    return run(TeleopNode, "teleop")


if __name__ == "__main__":
    raise SystemExit(main())
