"""goal_planner: a high-level bundle turning goals into /cmd_vel at its rate (10 Hz).

Subscribes /goal_pose (geometry_msgs/PoseStamped, in the odometry frame), /odom and the
ray scans; publishes /cmd_vel and /goal_status (JSON in std_msgs/String: accepted,
rejected, reached, timeout). Goals in another frame or with NaN/inf are rejected.
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
from hrobot_ros.common import GOAL_QOS, STATE_QOS, HRobotNode, declare_params, main as run


def yaw_of(q) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


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
        self.create_subscription(PoseStamped, "goal_pose", self.on_goal, GOAL_QOS)
        self.create_subscription(Odometry, "odom", self.on_odom, STATE_QOS)
        for i, topic in enumerate(("scan_low", "scan_high")):
            self.create_subscription(LaserScan, topic, lambda m, i=i: self.on_scan(i, m), STATE_QOS)
        self.pub_cmd = self.create_publisher(Twist, "cmd_vel", GOAL_QOS)
        self.pub_status = self.create_publisher(String, "goal_status", GOAL_QOS)
        self.start_loop(self.hl.period, self.plan_step)
        self.get_logger().info(f"bundle {p['bundle']} at {1 / self.hl.period:g} Hz, skills {self.hl.skill_names}")

    def report(self, **fields) -> None:
        self.pub_status.publish(String(data=json.dumps(fields)))

    def on_goal(self, msg: PoseStamped) -> None:
        g = np.array([msg.pose.position.x, msg.pose.position.y, yaw_of(msg.pose.orientation)])
        frame = msg.header.frame_id
        if frame != self.params["goal_frame"]:
            reason = f"goal in frame '{frame}', expected '{self.params['goal_frame']}'"
        elif not np.all(np.isfinite(g)) or not np.all(np.isfinite([msg.pose.orientation.w, msg.pose.orientation.z])):
            reason = "goal has NaN or inf values"
        else:
            reason = ""
        if reason:
            self.get_logger().warning(f"rejected: {reason}")
            self.report(result="rejected", reason=reason)
            return
        with self.lock:
            self.goal, self.goal_time = g, time.monotonic()
        self.hl.reset()
        self.report(result="accepted", goal=g.tolist())

    def on_odom(self, msg: Odometry) -> None:
        with self.lock:
            self.odom = msg

    def on_scan(self, i: int, msg: LaserScan) -> None:
        with self.lock:
            self.scans[i] = np.asarray(msg.ranges, dtype=np.float64)

    def plan_step(self) -> None:
        with self.lock:
            goal, odom, scans, t0 = self.goal, self.odom, list(self.scans), self.goal_time
        cmd = Twist()
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
                _, c = self.hl.step([pos.x, pos.y], yaw, [tw.linear.x, tw.linear.y], tw.angular.z, goal,
                                    np.concatenate(scans), 1.0 - elapsed / self.hl.episode_s)
                cmd.linear.x, cmd.linear.y, cmd.angular.z = float(c[0]), float(c[1]), float(c[2])
        self.pub_cmd.publish(cmd)

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
