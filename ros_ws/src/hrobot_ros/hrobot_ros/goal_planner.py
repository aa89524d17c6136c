"""goal_planner: a high-level bundle turning goals into /cmd_vel at its rate (10 Hz).

Subscribes /goal_pose (geometry_msgs/PoseStamped, in the odometry frame), /odom and the
ray scans; decides at the bundle's rate and publishes its latest decision at 50 Hz: /cmd_vel, /skill (std_msgs/String: the chosen skill's name, for a
controller running several) and /goal_status (JSON in std_msgs/String: accepted, rejected,
reached, timeout, each with a reason where there is one). Goals in another frame, with
NaN/inf, or whose orientation is not a unit quaternion about z are rejected. Scans whose
layout differs from the one the bundle was trained with are refused (no command from them).
"""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String

from hrobot.bundle import load_bundle
from hrobot.runtime import HighLevelRuntime
from hrobot_ros.common import GOAL_QOS, STATE_QOS, HRobotNode, declare_params, main as run, scan_problem


PUBLISH_PERIOD_S = 0.02  # the latest command goes out at 50 Hz, whatever the decision rate
QUAT_TOLERANCE = 1e-3  # |norm - 1| and the tilt components (x, y) a goal orientation may have


def yaw_of(q) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def goal_problem(msg: PoseStamped, frame: str) -> str:
    """Why a goal cannot be taken ("" if it can)."""
    p, q = msg.pose.position, msg.pose.orientation
    if msg.header.frame_id != frame:
        return f"goal in frame '{msg.header.frame_id}', expected '{frame}'"
    values = [p.x, p.y, p.z, q.w, q.x, q.y, q.z]
    if not all(math.isfinite(v) for v in values):
        return "goal has NaN or inf values"
    norm = math.sqrt(q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z)
    if abs(norm - 1.0) > QUAT_TOLERANCE:
        return f"goal orientation is not a unit quaternion (norm {norm:.4f}, expected 1)"
    if abs(q.x) > QUAT_TOLERANCE or abs(q.y) > QUAT_TOLERANCE:
        return f"goal orientation must be a rotation about z (x {q.x:.3f}, y {q.y:.3f}, expected 0)"
    return ""


class GoalPlannerNode(HRobotNode):
    def __init__(self):
        super().__init__("goal_planner")
        p = self.params = declare_params(self, "goal_planner")
        self.hl = HighLevelRuntime(load_bundle(p["bundle"]))
        self.lock = threading.Lock()
        self.goal: np.ndarray | None = None
        self.goal_time = 0.0
        self.odom: Odometry | None = None
        self.scans: list[np.ndarray | None] = [None, None]
        self.results: list[dict] = []
        self.scan_problem = ""
        self.create_subscription(PoseStamped, "goal_pose", self.on_goal, GOAL_QOS)
        self.create_subscription(Odometry, "odom", self.on_odom, STATE_QOS)
        for i, topic in enumerate(("scan_low", "scan_high")):
            self.create_subscription(LaserScan, topic, lambda m, i=i: self.on_scan(i, m), STATE_QOS)
        self.pub_cmd = self.create_publisher(Twist, "cmd_vel", GOAL_QOS)
        self.pub_skill = self.create_publisher(String, "skill", GOAL_QOS)
        self.pub_status = self.create_publisher(String, "goal_status", GOAL_QOS)
        # decide at the bundle's rate; send the latest decision every PUBLISH_PERIOD_S, so that the
        # controller's /cmd_vel watchdog can be short (a stopped planner stands the robot still at once)
        self.decide_every = max(int(round(self.hl.period / PUBLISH_PERIOD_S)), 1)
        self.ticks = 0
        self.cmd = Twist()
        self.start_loop(self.hl.period / self.decide_every, self.plan_step)
        self.get_logger().info(f"bundle {p['bundle']} at {1 / self.hl.period:g} Hz, skills {self.hl.skill_names}")

    def report(self, **fields) -> None:
        self.pub_status.publish(String(data=json.dumps(fields)))

    def on_goal(self, msg: PoseStamped) -> None:
        reason = goal_problem(msg, self.params["goal_frame"])
        if reason:
            self.get_logger().warning(f"rejected: {reason}")
            self.report(result="rejected", reason=reason)
            return
        g = np.array([msg.pose.position.x, msg.pose.position.y, yaw_of(msg.pose.orientation)])
        with self.lock:
            self.goal, self.goal_time = g, time.monotonic()
        self.hl.reset()
        self.report(result="accepted", goal=g.tolist())

    def on_odom(self, msg: Odometry) -> None:
        with self.lock:
            self.odom = msg

    def on_scan(self, i: int, msg: LaserScan) -> None:
        problem = scan_problem(msg, self.hl.scan)
        if problem:
            if self.scan_problem != problem:
                self.get_logger().error(f"scan {msg.header.frame_id or i} refused: {problem} (the bundle's layout)")
            self.scan_problem = problem
            with self.lock:
                self.scans[i] = None  # no command from a scan the policy was not trained on
            return
        self.scan_problem = ""
        with self.lock:
            self.scans[i] = np.asarray(msg.ranges, dtype=np.float64)

    def plan_step(self) -> None:
        self.ticks += 1
        if (self.ticks - 1) % self.decide_every == 0:
            self.cmd, skill = self.decide()
            if skill is not None:
                self.pub_skill.publish(String(data=skill))
        self.pub_cmd.publish(self.cmd)

    def decide(self) -> tuple[Twist, str | None]:
        """One high-level step: the command and the skill's name (a stand-still and None without a goal)."""
        with self.lock:
            goal, odom, scans, t0 = self.goal, self.odom, list(self.scans), self.goal_time
        cmd, skill = Twist(), None
        if goal is not None and odom is not None and all(s is not None for s in scans):
            pos, q = odom.pose.pose.position, odom.pose.pose.orientation
            yaw = yaw_of(q)
            dist = math.hypot(goal[0] - pos.x, goal[1] - pos.y)
            yaw_err = math.atan2(math.sin(goal[2] - yaw), math.cos(goal[2] - yaw))
            elapsed = time.monotonic() - t0
            hl = self.hl.hl
            if dist < hl["success_distance"] and abs(yaw_err) < hl["success_yaw"]:
                self._finish("reached", goal, elapsed, dist, yaw_err)
            elif elapsed > self.hl.episode_s:
                self._finish("timeout", goal, elapsed, dist, yaw_err)
            else:
                tw = odom.twist.twist
                k, c = self.hl.step([pos.x, pos.y], yaw, [tw.linear.x, tw.linear.y], tw.angular.z, goal,
                                    np.concatenate(scans), 1.0 - elapsed / self.hl.episode_s)
                cmd.linear.x, cmd.linear.y, cmd.angular.z = float(c[0]), float(c[1]), float(c[2])
                skill = self.hl.skill_names[k]
        return cmd, skill

    def _finish(self, result: str, goal, elapsed: float, dist: float, yaw_err: float) -> None:
        with self.lock:
            self.goal = None
        r = {"result": result, "goal": goal.tolist(), "time_s": round(elapsed, 2), "distance": round(dist, 3),
             "yaw_error": round(yaw_err, 3)}
        self.results.append(r)
        self.report(**r)
        self.get_logger().info(f"goal {result}: {r}")

    def stats(self) -> dict:
        return {**self.loop.stats(), "goals_finished": len(self.results), "active": self.goal is not None}

    def status(self, stats: dict) -> tuple[int, str]:
        return 0, "active" if stats["active"] else "idle"


def main() -> int:
    return run(GoalPlannerNode, "goal_planner")


if __name__ == "__main__":
    raise SystemExit(main())
