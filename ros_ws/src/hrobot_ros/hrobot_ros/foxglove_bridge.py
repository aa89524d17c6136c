"""foxglove_bridge: a live view in Foxglove (foxglove-sdk WebSocket server, ws://host:port).

Streams each topic of `topics` as it is published: the CDR bytes off DDS on a channel whose
schema is the type's ros2msg definition (what Foxglove decodes for ROS 2), plus /trajectory
(nav_msgs/Path of the base from /odom, the last TRAJECTORY_POINTS). Clients may publish
(Foxglove's Publish panel): messages on /goal_pose (geometry_msgs/PoseStamped) and /cmd_vel
(geometry_msgs/Twist), in cdr or json encoding, are published to ROS, so a user sends goals from
Foxglove. Nothing else a client sends reaches the robot.
"""

from __future__ import annotations

import json
import threading

import foxglove
from foxglove import Channel, Schema
from foxglove.websocket import Capability
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry, Path
from rclpy.serialization import deserialize_message, serialize_message

from hrobot.data.msgdefs import message_definition
from hrobot.errors import HRobotError
from hrobot_ros.common import GOAL_QOS, HRobotNode, TopicWatcher, declare_params, main as run

TRAJECTORY_POINTS = 2000
CLIENT_TOPICS = {"/goal_pose": PoseStamped, "/cmd_vel": Twist}  # what a Foxglove client may publish


def _fill(msg, fields: dict) -> None:
    """Set a message's fields from a JSON object (nested messages as nested objects)."""
    for key, value in fields.items():
        if not hasattr(msg, key):
            raise HRobotError(f"field '{key}' is not in {type(msg).__name__}")
        if isinstance(value, dict):
            _fill(getattr(msg, key), value)
        else:
            setattr(msg, key, type(getattr(msg, key))(value))


def ros_channel(topic: str, msgtype: str) -> Channel:
    return Channel(topic, message_encoding="cdr",
                   schema=Schema(name=msgtype, encoding="ros2msg", data=message_definition(msgtype).encode()))


class Listener(foxglove.websocket.ServerListener):
    def __init__(self, node: FoxgloveBridgeNode):
        self.node = node
        self.channels: dict[int, object] = {}

    def on_client_advertise(self, client, channel) -> None:
        self.channels[channel.id] = channel

    def on_client_unadvertise(self, client, client_channel_id: int) -> None:
        self.channels.pop(client_channel_id, None)

    def on_message_data(self, client, client_channel_id: int, data: bytes) -> None:
        ch = self.channels.get(client_channel_id)
        if ch is not None:
            self.node.from_client(ch.topic, ch.encoding, data)


class FoxgloveBridgeNode(HRobotNode):
    def __init__(self):
        super().__init__("foxglove_bridge")
        p = self.params = declare_params(self, "foxglove_bridge")
        self.lock = threading.Lock()
        self.channels: dict[str, Channel] = {}
        self.forwarded = 0
        self.from_clients = 0
        self.path = Path()
        self.path.header.frame_id = "odom"
        self.traj = ros_channel("/trajectory", "nav_msgs/msg/Path")
        self.pubs = {t: self.create_publisher(cls, t, GOAL_QOS) for t, cls in CLIENT_TOPICS.items()}
        try:
            self.server = foxglove.start_server(name="hrobot", host=p["host"], port=int(p["port"]),
                                                capabilities=[Capability.ClientPublish],
                                                supported_encodings=["cdr", "json"], server_listener=Listener(self))
        except Exception as e:  # the port is taken, or the address is not this machine's
            raise HRobotError(f"Foxglove server on {p['host']}:{int(p['port'])}: {e}") from None
        self.watch = TopicWatcher(self, p["topics"], self.forward, self.on_new_topic, depth=10)
        self.stats_file = ""
        self.start_loop(0.2, self.publish_trajectory)
        self.get_logger().info(f"Foxglove live view on ws://{p['host']}:{self.server.port}")

    def on_new_topic(self, topic: str, msgtype: str, infos) -> bool:
        try:
            self.channels[topic] = ros_channel(topic, msgtype)
        except HRobotError as e:
            self.get_logger().error(f"{topic}: not streamed: {e}")
            return False
        return True

    def forward(self, topic: str, data: bytes, info: dict) -> None:
        self.channels[topic].log(data, log_time=info.get("received_timestamp"))
        self.forwarded += 1
        if topic == "/odom":
            od = deserialize_message(data, Odometry)
            pose = PoseStamped(header=od.header, pose=od.pose.pose)
            with self.lock:
                self.path.header.stamp = od.header.stamp
                self.path.poses.append(pose)
                del self.path.poses[:-TRAJECTORY_POINTS]

    def publish_trajectory(self) -> None:
        with self.lock:
            if self.path.poses:
                self.traj.log(serialize_message(self.path))

    def from_client(self, topic: str, encoding: str, data: bytes) -> None:
        cls = CLIENT_TOPICS.get(topic)
        if cls is None:
            self.get_logger().warning(f"a Foxglove client published on {topic}: not forwarded (only "
                                      f"{', '.join(CLIENT_TOPICS)})", throttle_duration_sec=5.0)
            return
        try:
            if encoding == "cdr":
                msg = deserialize_message(data, cls)
            else:
                msg = cls()
                _fill(msg, json.loads(data))
        except Exception as e:
            self.get_logger().error(f"a Foxglove client's {topic} message could not be read ({e}); ignored")
            return
        self.pubs[topic].publish(msg)
        self.from_clients += 1

    def stats(self) -> dict:
        return {"forwarded": self.forwarded, "from_clients": self.from_clients, "topics": sorted(self.watch.subs),
                **self.loop.stats()}

    def shutdown(self) -> None:
        super().shutdown()
        self.server.stop()


def main() -> int:
    return run(FoxgloveBridgeNode, "foxglove_bridge")


if __name__ == "__main__":
    raise SystemExit(main())
