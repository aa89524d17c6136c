"""recorder: topics into a rosbag2 MCAP bag (hrobot.data.bag), as `ros2 bag record` would write it.

Subscribes each topic of `topics` once it is published (types and offered QoS from the graph; a
reliable or latched publisher gets a reliable or latched subscription), takes the messages as
CDR bytes (no decoding) and hands them to the bag writer's thread: zstd chunks closed every
`chunk_interval_s` or `chunk_size_mb`, so a recorder that is killed loses at most the chunk in
progress (`hrobot record --recover`). Messages lost between publisher and recorder are counted
from the publishers' sequence numbers and reported at the end (log, stats file, metadata.yaml's
custom_data). With `keys`, episode marks come from this terminal (b start, right arrow success,
left arrow re-record, Q stop) and go to /events, which the bag records with the rest.
"""

from __future__ import annotations

import json
import resource
import time

from rclpy._rclpy_pybind11 import InvalidHandle, RCLError

from hrobot.data.bag import BagWriter, SequenceGaps, Topic
from hrobot.data.msgdefs import message_definition
from hrobot.errors import HRobotError
from hrobot_ros.common import HRobotNode, TopicWatcher, declare_params, main as run

DEPTH = 1000  # samples the subscription may queue while the recorder is busy


def _duration(d) -> dict:
    ns = d.nanoseconds
    if ns >= 2**63 - 1 or ns < 0:  # infinite
        return {"sec": 2147483647, "nsec": 4294967295}
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def qos_dict(q) -> dict:
    """An rclpy QoSProfile in rosbag2's v9 metadata layout."""
    return {"history": q.history.name.lower(), "depth": q.depth, "reliability": q.reliability.name.lower(),
            "durability": q.durability.name.lower(), "deadline": _duration(q.deadline),
            "lifespan": _duration(q.lifespan), "liveliness": q.liveliness.name.lower(),
            "liveliness_lease_duration": _duration(q.liveliness_lease_duration),
            "avoid_ros_namespace_conventions": q.avoid_ros_namespace_conventions}


class RecorderNode(HRobotNode):
    def __init__(self):
        super().__init__("recorder")
        p = self.params = declare_params(self, "recorder")
        for t in p["topics"]:
            if not t.startswith("/") or " " in t:
                raise HRobotError(f"parameter 'topics': expected absolute topic names like /joint_states, got {t!r}")
        self.gaps = SequenceGaps()
        self.received = 0
        self.max_pending = 0
        self.t0, self.start_ns = time.monotonic(), time.time_ns()
        self.cpu0 = time.process_time()
        self.warned: set[str] = set()
        self.keys = None
        if p["keys"]:
            from hrobot.teleop.keyboard import KeyboardTeleop

            self.keys = KeyboardTeleop()
            self.keys.connect()
            print("episode keys: b start  right: success  left: re-record  Q: stop", flush=True)
        self.writer = BagWriter(p["bag"], int(p["chunk_size_mb"] * (1 << 20)), p["chunk_interval_s"])  # inputs checked
        self.watch = TopicWatcher(self, p["topics"], self.on_message, self.on_new_topic, DEPTH, period=0.1)
        self.create_timer(1.0, self.warn_missing)
        self.stats_file = p["stats_file"]
        self.start_loop(0.05, self.poll)
        self.get_logger().info(f"recording {len(self.watch.wanted)} topics to {p['bag']}")

    def on_new_topic(self, topic: str, msgtype: str, infos) -> bool:
        try:
            message_definition(msgtype)
        except HRobotError as e:
            self.get_logger().error(f"{topic}: not recorded: {e}")
            return False
        self.writer.add_topic(Topic(topic, msgtype, [qos_dict(i.qos_profile) for i in infos]))
        if time.monotonic() - self.t0 > 1.0:
            self.gaps.from_one.add(topic)  # a publisher that came up while recording: count from its first message
        return True

    def warn_missing(self) -> None:
        if time.monotonic() - self.t0 > 5.0:
            for topic in self.watch.missing():
                if topic not in self.warned:
                    self.warned.add(topic)
                    self.get_logger().info(f"{topic}: not published (yet); recording it once it is")

    def on_message(self, topic: str, data: bytes, info: dict) -> None:
        now = time.time_ns()
        if topic == "/events" and 0 < info.get("source_timestamp", 0) < self.start_ns:
            return  # kept by its publisher for late subscribers (EVENT_QOS), but sent before this recording began
        self.writer.write(topic, data, info.get("received_timestamp") or now, info.get("source_timestamp") or now,
                          info.get("publication_sequence_number") or 0)
        self.gaps.add(topic, info.get("publication_sequence_number"), self.watch.publishers.get(topic, 1))
        self.received += 1

    def poll(self) -> None:
        self.max_pending = max(self.max_pending, self.writer.pending())
        if self.writer.error is not None:
            self.get_logger().fatal(f"bag writer failed: {self.writer.error}")
            raise RuntimeError(f"bag writer failed: {self.writer.error}")
        if self.keys is not None:
            self.keys.get_action()
            for ev in self.keys.events():
                self.publish_event(f"episode_{ev}", "recorder keys")

    def stats(self) -> dict:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        return {"bag": self.params["bag"], "received": self.received, "written": sum(self.writer.counts.values()),
                "dropped": self.gaps.total(), "messages_per_s": self.received / elapsed,
                "write_bytes_per_s": self.writer.bytes_in / elapsed, "max_pending": self.max_pending,
                "cpu_fraction": (time.process_time() - self.cpu0) / elapsed,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **self.loop.stats()}

    def shutdown(self) -> None:
        if not self.loop.running.is_set():
            return
        self.loop.stop()
        if self.keys is not None:
            self.keys.disconnect()
        try:
            self.watch.drain()  # what arrived since the last drain
        except (RCLError, InvalidHandle):  # the context already gone (a second Ctrl-C)
            pass
        stats = self.stats()
        self.writer.custom = {"hrobot.dropped": json.dumps(dict(self.gaps.lost)),
                              "hrobot.missed_before_subscribed": json.dumps(dict(self.gaps.missed)),
                              "hrobot.publishers": json.dumps(self.watch.publishers)}
        info = self.writer.close()
        size = sum((info.path / f).stat().st_size for f in info.files)
        stats.update({"file_bytes": size, "per_topic": info.counts, "dropped_per_topic": dict(self.gaps.lost),
                      "missed_before_subscribed": dict(self.gaps.missed)})
        missing = [t for t in self.watch.wanted if t not in info.topics]
        print(  # the context may be shut down already: the terminal, not /rosout
            f"recorder: bag {info.path}: {info.message_count} messages on {len(info.topics)} topics in {info.duration_ns / 1e9:.1f} s, "
            f"{size / 1e6:.2f} MB; dropped {self.gaps.total()} (by sequence number)"
            f"{'; published before subscribed: ' + str(sum(self.gaps.missed.values())) if self.gaps.missed else ''}"
            f"{'; never published: ' + ', '.join(missing) if missing else ''}", flush=True)
        if self.stats_file:
            with open(self.stats_file, "w") as f:
                json.dump(stats, f, indent=2)


def main() -> int:
    return run(RecorderNode, "recorder")


if __name__ == "__main__":
    raise SystemExit(main())
