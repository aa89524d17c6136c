"""explorer: scripted exploration driving for recording datasets (`hrobot collect`).

Subscribes /odom and /scan_low; decides at `rate_hz` with hrobot.explorer.Explorer (random waypoints, pure
pursuit, noise, a stop at each; given the arena's boxes, `obstacles`, paths around them; without, slowing and
turning away from obstacles close ahead in the scan; commands inside the skill's range, `command_low` /
`command_high`) and publishes the latest decision on /cmd_vel at 50 Hz, as the
goal planner does, so the recording holds what a high level at that rate would have commanded. Odometry
older than `ODOM_TIMEOUT_S`, or not finite, stops it (zero command) until good odometry returns; a scan
not in hrobot.nav_io.DEFAULT_SCAN's layout (a warning says why) or as old is not used (no detours). A safety
trip on /events (a fall) ends the node, and with it the launch: a fallen simulated robot cannot get up.
"""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import rclpy

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String

from hrobot.errors import HRobotError
from hrobot.explorer import Explorer, ExplorerCfg, RouteMap
from hrobot.nav_io import DEFAULT_SCAN
from hrobot_ros.common import GOAL_QOS, SIGNAL_QOS, STATE_QOS, HRobotNode, declare_params, main as run, scan_problem
from hrobot_ros.goal_planner import PUBLISH_PERIOD_S, yaw_of

ODOM_TIMEOUT_S = 0.5


class ExplorerNode(HRobotNode):
    def __init__(self):
        super().__init__("explorer")
        p = self.params = declare_params(self, "explorer")
        if not all(lo < hi for lo, hi in zip(p["command_low"], p["command_high"])):
            raise HRobotError(f"command_low / command_high: expected each low below its high, got "
                              f"{list(p['command_low'])} and {list(p['command_high'])}")
        self.explorer = Explorer(ExplorerCfg(half_size=p["half_size"]), seed=int(p["seed"]), low=p["command_low"],
                                 high=p["command_high"],
                                 route_map=RouteMap(p["obstacles"]) if len(p["obstacles"]) else None)
        self.lock = threading.Lock()
        self.odom: Odometry | None = None
        self.odom_time = -float("inf")
        self.scan: np.ndarray | None = None
        self.scan_time = -float("inf")
        self.scan_refused = ""
        self.create_subscription(Odometry, "odom", self.on_odom, STATE_QOS)
        self.create_subscription(LaserScan, "scan_low", self.on_scan, STATE_QOS)
        self.create_subscription(String, "/events", self.on_event, SIGNAL_QOS)
        self.pub_cmd = self.create_publisher(Twist, "cmd_vel", GOAL_QOS)
        self.decide_every = max(int(round(1.0 / (p["rate_hz"] * PUBLISH_PERIOD_S))), 1)
        self.ticks, self.cmd = 0, Twist()
        self.start_loop(PUBLISH_PERIOD_S, self.step)
        self.get_logger().info(f"exploring +-{p['half_size']:g} m at {p['rate_hz']:g} Hz (seed {int(p['seed'])}), "
                               + (f"paths around {len(p['obstacles']) // 2} box(es)" if len(p["obstacles"])
                                  else "no map: detours from /scan_low"))

    def on_odom(self, msg: Odometry) -> None:
        with self.lock:
            self.odom, self.odom_time = msg, time.monotonic()

    def on_scan(self, msg: LaserScan) -> None:
        problem = scan_problem(msg, DEFAULT_SCAN)
        if problem and problem != self.scan_refused:
            self.get_logger().warning(f"/scan_low refused: {problem}" + ("" if self.explorer.map is not None else
                                                                         "; driving without detours"))
        self.scan_refused = problem
        if not problem:
            with self.lock:
                self.scan, self.scan_time = np.asarray(msg.ranges, dtype=np.float64), time.monotonic()

    def on_event(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        if event.get("event") == "safety_trip":
            self.get_logger().warning(f"safety trip ({event.get('detail', '')}): exploration ends")
            rclpy.try_shutdown()

    def step(self) -> None:
        self.ticks += 1
        if (self.ticks - 1) % self.decide_every == 0:
            with self.lock:
                odom, age = self.odom, time.monotonic() - self.odom_time
                scan = self.scan if time.monotonic() - self.scan_time <= ODOM_TIMEOUT_S else None
            self.cmd = Twist()  # a stand-still without fresh, finite odometry
            pose = None if odom is None else odom.pose.pose
            if pose is not None and age <= ODOM_TIMEOUT_S and all(math.isfinite(v) for v in (
                    pose.position.x, pose.position.y, pose.orientation.w, pose.orientation.x, pose.orientation.y,
                    pose.orientation.z)):
                c = self.explorer.command([pose.position.x, pose.position.y], yaw_of(pose.orientation), self.now_s(),
                                          scan, DEFAULT_SCAN.angle_increment)
                self.cmd.linear.x, self.cmd.linear.y, self.cmd.angular.z = (float(v) for v in c)
        self.pub_cmd.publish(self.cmd)

    def stats(self) -> dict:
        return {**self.loop.stats(), "waypoints": self.explorer.waypoints}

    def status(self, stats: dict) -> tuple[int, str]:
        return 0, f"{stats['waypoints']} waypoints"


def main() -> int:
    return run(ExplorerNode, "explorer")


if __name__ == "__main__":
    raise SystemExit(main())
