"""reorient_planner: goal orientations for a hand, turned into the rotation skill's command at its rate (5 Hz).

Subscribes /goal_orientation (geometry_msgs/QuaternionStamped, the cube's target orientation in
the palm frame) and /object_pose (the tracker's, palm frame); publishes the skill command on
/cmd_vel (the angular part: wx, wy, wz) every 20 ms while a goal is active and the object pose
is fresh, and /goal_status (JSON in std_msgs/String: accepted, rejected, reached, timeout, with
the reason or the error angle). `bundle` is a reorientation bundle (its policy decides) or a
rotation skill's bundle (the scripted planner: the skill axis most aligned with the error
rotation). A goal in another frame, with NaN/inf or not a unit quaternion is rejected with one
line; while no command goes out the skill controller holds the hand where it is.
"""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, QuaternionStamped, Twist
from std_msgs.msg import String

from hrobot.bundle import load_bundle
from hrobot.runtime import ControllerConfig, ReorientRuntime
from hrobot_ros.common import GOAL_QOS, STATE_QOS, HRobotNode, declare_params, main as run

PUBLISH_PERIOD_S = 0.02  # the latest command goes out at 50 Hz, whatever the decision rate
QUAT_TOLERANCE = 1e-3  # |norm - 1| a goal orientation may have
POSE_TIMEOUT_S = ControllerConfig().object_timeout  # an older object pose stops the commands, as the skill holds


def goal_problem(msg: QuaternionStamped, frame: str) -> str:
    """Why a goal orientation cannot be taken ("" if it can)."""
    q = msg.quaternion
    if msg.header.frame_id != frame:
        return f"goal orientation in frame '{msg.header.frame_id}', expected '{frame}'"
    values = [q.w, q.x, q.y, q.z]
    if not all(math.isfinite(v) for v in values):
        return "goal orientation has NaN or inf values"
    norm = math.sqrt(sum(v * v for v in values))
    if abs(norm - 1.0) > QUAT_TOLERANCE:
        return f"goal orientation is not a unit quaternion (norm {norm:.4f}, expected 1)"
    return ""


class ReorientPlannerNode(HRobotNode):
    def __init__(self):
        super().__init__("reorient_planner")
        p = self.params = declare_params(self, "reorient_planner")
        self.hl = ReorientRuntime(load_bundle(p["bundle"]))
        self.lock = threading.Lock()
        self.goal: np.ndarray | None = None
        self.goal_time = 0.0
        self.inside_since: float | None = None  # when the cube came within the success angle
        self.object_quat: np.ndarray | None = None
        self.object_time = -math.inf
        self.error = math.nan
        self.results: list[dict] = []
        self.create_subscription(QuaternionStamped, "goal_orientation", self.on_goal, GOAL_QOS)
        self.create_subscription(PoseStamped, "object_pose", self.on_object, STATE_QOS)
        self.pub_cmd = self.create_publisher(Twist, "cmd_vel", GOAL_QOS)
        self.pub_status = self.create_publisher(String, "goal_status", GOAL_QOS)
        self.decide_every = max(int(round(self.hl.period / PUBLISH_PERIOD_S)), 1)
        self.ticks = 0
        self.cmd: Twist | None = None
        self.start_loop(self.hl.period / self.decide_every, self.plan_step)
        self.get_logger().info(f"{self.hl.planner} planner ({p['bundle']}) at {1 / self.hl.period:g} Hz over "
                               f"skill {self.hl.skill_name}, axes {self.hl.axes.tolist()}")

    def report(self, **fields) -> None:
        self.pub_status.publish(String(data=json.dumps(fields)))

    def on_goal(self, msg: QuaternionStamped) -> None:
        reason = goal_problem(msg, self.params["goal_frame"])
        if reason:
            self.get_logger().warning(f"rejected: {reason}")
            self.report(result="rejected", reason=reason)
            return
        q = msg.quaternion
        with self.lock:
            self.goal, self.goal_time, self.inside_since = np.array([q.w, q.x, q.y, q.z]), time.monotonic(), None
        self.hl.reset()
        self.report(result="accepted", goal=self.goal.tolist())

    def on_object(self, msg: PoseStamped) -> None:
        o = msg.pose.orientation
        q = np.array([o.w, o.x, o.y, o.z])
        if msg.header.frame_id != self.params["goal_frame"] or not np.isfinite(q).all() or \
                abs(float(np.linalg.norm(q)) - 1.0) > 0.01:
            return  # the skill controller names a bad pose; here it only goes stale
        with self.lock:
            self.object_quat, self.object_time = q, time.monotonic()

    def plan_step(self) -> None:
        self.ticks += 1
        if (self.ticks - 1) % self.decide_every == 0:
            self.cmd = self.decide()
        if self.cmd is not None:
            self.pub_cmd.publish(self.cmd)

    def decide(self) -> Twist | None:
        """One decision: the skill command, or None (no goal, or no fresh object pose)."""
        now = time.monotonic()
        with self.lock:
            goal, quat, fresh, t0 = self.goal, self.object_quat, now - self.object_time <= POSE_TIMEOUT_S, self.goal_time
        if goal is None or quat is None or not fresh:
            return None
        self.error = self.hl.error(quat, goal)
        inside = self.error < self.hl.success_angle
        self.inside_since = (self.inside_since or now) if inside else None
        if inside and now - self.inside_since >= self.hl.hold_s:
            return self._finish("reached", goal, now - t0)
        if now - t0 > self.hl.episode_s:
            return self._finish("timeout", goal, now - t0)
        _, c = self.hl.step(quat, goal)
        cmd = Twist()
        cmd.angular.x, cmd.angular.y, cmd.angular.z = (float(v) for v in c)
        return cmd

    def _finish(self, result: str, goal: np.ndarray, elapsed: float) -> None:
        with self.lock:
            self.goal = None
        r = {"result": result, "goal": goal.tolist(), "time_s": round(elapsed, 2), "error_rad": round(self.error, 3)}
        self.results.append(r)
        self.report(**r)
        self.get_logger().info(f"goal {result}: {r}")
        return None

    def stats(self) -> dict:
        return {**self.loop.stats(), "goals_finished": len(self.results), "active": self.goal is not None,
                "error_rad": self.error, "planner": self.hl.planner}

    def status(self, stats: dict) -> tuple[int, str]:
        return 0, "active" if stats["active"] else "idle"


def main() -> int:
    return run(ReorientPlannerNode, "reorient_planner")


if __name__ == "__main__":
    raise SystemExit(main())
