"""A bare rclpy publisher -> subscriber pair, in two processes, with none of hrobot's code on the path: the
reference `hrobot bench ros` measures the nodes' state -> command latency against, in the same run and under
the same load. The publisher sends sensor_msgs/JointState (12 joints) stamped with its clock at `rate` Hz; the
subscriber records receive time - stamp. Both use the nodes' executor (EventsExecutor) and state QoS.

    python -m hrobot_ros.latency_pair pub|sub SECONDS [RATE_HZ] [OUT.json]
"""

from __future__ import annotations

import json
import sys
import time

import rclpy
from rclpy.experimental import EventsExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState

TOPIC = "/hrobot_bench/latency_pair"
QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        role, seconds = argv[0], float(argv[1])
        rate = float(argv[2]) if len(argv) > 2 else 50.0
        if role not in ("pub", "sub") or not (seconds > 0 and rate > 0):
            raise ValueError
    except (IndexError, ValueError):
        print(f"latency_pair: error: expected pub|sub SECONDS [RATE_HZ] [OUT.json] (positive numbers), got {argv}",
              file=sys.stderr)
        return 2
    out = argv[3] if len(argv) > 3 else ""
    rclpy.init()
    node = rclpy.create_node(f"latency_pair_{role}")
    latency_us: list[float] = []
    if role == "pub":
        pub = node.create_publisher(JointState, TOPIC, QOS)
        names = [f"joint_{i}" for i in range(12)]

        def send() -> None:
            msg = JointState()
            msg.header.stamp = node.get_clock().now().to_msg()
            msg.name, msg.position, msg.velocity = names, [0.0] * 12, [0.0] * 12
            pub.publish(msg)

        node.create_timer(1.0 / rate, send)
    else:
        def receive(msg: JointState) -> None:
            now = node.get_clock().now().nanoseconds
            latency_us.append((now - (msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)) / 1e3)

        node.create_subscription(JointState, TOPIC, receive, QOS)
    executor = EventsExecutor()
    executor.add_node(node)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)
    if out:
        with open(out, "w") as f:
            json.dump({"latency_us": latency_us}, f)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
