"""Teleoperation and recording through ROS 2 on the simulated Go2 (real nodes, real DDS).

One recorded session drives the whole flow a user has: the sim bringup with its planner and a
recorder; `hrobot teleop --device keyboard` on a pseudo-terminal takes control, walks the robot,
releases (it stops), overrides a goal the planner is driving to and hands back; episode keys mark
what to keep; the e-stop key latches damping. The bag (60 s, 500 Hz joint states) is then read
back by rosbags, exported to a LeRobot dataset, replayed and plotted. A second session drives the
robot with the gamepad teleoperator from kernel input events; a third kills the recorder with
SIGKILL and recovers its bag.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from ros_harness import ENV, REPO, Launched, goal_msg, hrobot_cli, planar_speed, stop_process, stop_time

pytestmark = pytest.mark.slow

RECORD_S = 60.0


def _bringup(tmp_path, name: str, recorder: dict | None = None, planner: bool = True):
    cfg = yaml.safe_load((REPO / "deploy" / "go2" / "sim.yaml").read_text())
    cfg["root"] = str(REPO)
    cfg["nodes"]["robot_driver"].update(scene="flat", obstacles=[], start=[0.0, 0.0, 0.0])
    if not planner:
        del cfg["nodes"]["goal_planner"]
    if recorder is not None:
        cfg["nodes"]["recorder"] = recorder
    f = tmp_path / f"{name}.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f




def _wait_running(ros, diag) -> None:
    status = lambda: [s.message for _, m in diag for s in m.status if s.name == "skill_controller"][-1:]  # noqa: E731
    ros.wait_for(lambda: status() == ["policy, safety ok"], 40, lambda: f"the policy to run; status {status()}")
    ros.spin(0.5)




def _driver_status(diag) -> str:
    got = [s.message for _, m in diag for s in m.status if s.name == "robot_driver"]
    return got[-1] if got else ""


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The recorded keyboard session; returns what a test checks afterwards."""
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from std_msgs.msg import String

    tmp = tmp_path_factory.mktemp("session")
    bag = tmp / "session_bag"
    stats = tmp / "recorder.json"
    bringup = _bringup(tmp, "session", {"bag": str(bag), "stats_file": str(stats)})
    ros = Launched(bringup)
    master, slave = os.openpty()
    teleop = None
    out: dict = {"bag": bag, "stats": stats, "tmp": tmp}
    try:
        odom = ros.subscribe("/odom", Odometry)
        diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
        from hrobot_ros.common import LATCHED_QOS

        source = ros.subscribe("/cmd_source", String, qos=LATCHED_QOS)
        ros.wait_for(lambda: len(odom) > 0, 40, "odometry")
        t_start = time.monotonic()
        _wait_running(ros, diag)
        teleop = hrobot_cli(ros, "teleop", str(bringup), "--device", "keyboard", "--path", os.ttyname(slave))
        ros.spin(4.0)  # the teleop node up and discovered

        def keys(b: bytes, settle: float = 0.1) -> float:
            os.write(master, b)
            t = time.monotonic()
            ros.spin(settle)
            return t

        # 1. take control and walk forward at 0.5 m/s (an episode, kept)
        keys(b"b\rwwwww")
        ros.wait_for(lambda: source and source[-1][1].data == "teleop", 3, "/cmd_source to be teleop")
        x0 = odom[-1][1].pose.pose.position.x
        ros.spin(4.0)
        out["walked_m"] = odom[-1][1].pose.pose.position.x - x0
        out["walk_speed"] = float(np.mean([planar_speed(m) for t, m in odom if t > time.monotonic() - 1.5]))
        t_rel = keys(b"\r", 1.5)  # release the deadman
        out["stop_s"] = stop_time(odom, t_rel)
        keys(b"\x1b[C", 1.0)  # success: the episode ends
        ros.wait_for(lambda: source[-1][1].data == "planner", 2, "/cmd_source back to planner")

        # 2. the planner drives to a goal ahead; teleop backs the robot up over it, then hands back
        pub = ros.node.create_publisher(type(goal_msg(0, 0, 0)), "/goal_pose", 10)
        ros.wait_for(lambda: pub.get_subscription_count() >= 2, 10, "goal_planner and the recorder to subscribe")
        here = odom[-1][1].pose.pose.position
        pub.publish(goal_msg(here.x + 8.0, here.y, 0.0))  # far: the planner walks at ~1 m/s the whole time
        ros.spin(2.0)
        out["planner_vx"] = float(np.mean([m.twist.twist.linear.x for t, m in odom if t > time.monotonic() - 0.8]))
        keys(b"b\rsssss")  # an episode that is re-recorded (discarded)
        ros.spin(4.0)  # braking from the planner's ~1 m/s, then backing up at 0.5 m/s (go2_walk tracks -0.3 m/s at
        # only half its speed from a standstill: measured -0.15 m/s)
        out["override_vx"] = float(np.mean([m.twist.twist.linear.x for t, m in odom if t > time.monotonic() - 1.5]))
        out["override_source"] = source[-1][1].data
        t_rel = keys(b"\r\x1b[D", 0.05)
        ros.wait_for(lambda: source[-1][1].data == "planner", 1.0, "control back to the planner")
        out["handback_s"] = time.monotonic() - t_rel
        ros.spin(3.0)
        out["after_vx"] = float(np.mean([m.twist.twist.linear.x for t, m in odom if t > time.monotonic() - 1.0]))

        # 3. the rest of the minute recorded, then the e-stop latches damping on the robot driver
        ros.spin(max(RECORD_S - (time.monotonic() - t_start), 0.0))
        keys(b"x", 0.1)
        ros.wait_for(lambda: "e-stop: /estop" in _driver_status(diag), 3,
                     lambda: f"robot_driver to report the e-stop; it says {_driver_status(diag)!r}")
        ros.spin(1.5)
        out["driver_after_estop"] = _driver_status(diag)
        out["duration_s"] = time.monotonic() - t_start
    finally:
        out["teleop_log"] = stop_process(teleop) if teleop is not None else ""
        code, out["launch_log"] = ros.stop()
        os.close(master)
        os.close(slave)
    return out


def test_keyboard_teleop_walks_stops_overrides_and_estops(session):
    s = session
    print(json.dumps({k: v for k, v in s.items() if isinstance(v, float)}))  # the measurements (pytest -s)
    assert s["walked_m"] > 1.2 and 0.35 < s["walk_speed"] < 0.7, s  # 0.5 m/s for 4 s
    assert s["stop_s"] <= 0.3, s  # deadman released: still (< 0.2 m/s) within 0.3 s
    assert s["planner_vx"] > 0.2 and s["override_source"] == "teleop" and s["override_vx"] < -0.25, s
    assert s["handback_s"] <= 0.5 and s["after_vx"] > 0.1, s  # the planner drives on toward its goal
    assert "e-stop: /estop" in s["driver_after_estop"], s


def test_the_session_bag_has_every_message_and_reads_back_with_rosbags(session):
    from rosbags.rosbag2 import Reader

    stats = json.loads(session["stats"].read_text())
    assert stats["dropped"] == 0, stats["dropped_per_topic"]
    meta = yaml.safe_load((session["bag"] / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    types = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"] for t in meta["topics_with_message_count"]}
    duration = meta["duration"]["nanoseconds"] * 1e-9
    assert duration >= RECORD_S
    assert counts["/joint_states"] >= 0.95 * 500 * duration, (counts["/joint_states"], duration)  # 500 Hz
    assert types["/joint_states"] == "sensor_msgs/msg/JointState" and types["/teleop/cmd_vel"] == "geometry_msgs/msg/Twist"
    assert types["/joint_commands/applied"] == "hrobot_msgs/msg/JointCommand"
    for topic in ("/imu", "/odom", "/joint_commands", "/cmd_vel", "/goal_pose", "/cmd_source", "/events", "/diagnostics"):
        assert counts.get(topic, 0) > 0, topic
    with Reader(session["bag"]) as r:
        assert {c.topic: c.msgcount for c in r.connections} == counts
        assert {c.topic: c.msgtype for c in r.connections} == types
        assert sum(1 for _ in r.messages()) == meta["message_count"] == sum(counts.values())


def test_the_session_exports_replays_and_plots(session):
    import pyarrow.parquet as pq

    from hrobot.data.dataset import export_lerobot
    from hrobot.data.recording import load_recording

    os.environ["AMENT_PREFIX_PATH"] = ENV["AMENT_PREFIX_PATH"]
    rec = load_recording(session["bag"])
    events = [e["event"] for _, e in rec.events]
    assert "estop" in events and "teleop_enabled" in events and "teleop_released" in events
    (a, b), = rec.episodes()  # the first kept, the second re-recorded
    assert 4.0 < b - a < 10.0
    out = session["tmp"] / "dataset"
    rep = export_lerobot(session["bag"], out, fps=30.0)
    assert rep["episodes"] == 1 and rep["video"]
    data = pq.read_table(out / "data/chunk-000/file-000.parquet")
    assert data.num_rows == rep["lengths"][0] and abs(data.num_rows - (b - a) * 30) <= 2
    cmd = np.array(data["action.base_command"].to_pylist())
    assert cmd[:, 0].max() == pytest.approx(0.5, abs=0.01)  # the keyboard's 0.5 m/s is in the dataset's actions
    import imageio.v3 as iio

    frames = sum(1 for _ in iio.imiter(out / "videos/observation.images.sim/chunk-000/file-000.mp4"))
    assert frames == data.num_rows
    r = subprocess.run([sys.executable, "-m", "hrobot.cli", "replay", str(session["bag"]), "--out",
                        str(session["tmp"] / "replay"), "--json", str(session["tmp"] / "replay.json")], env=ENV,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rj = json.loads((session["tmp"] / "replay.json").read_text())
    assert rj["commands"] > 1000 and (session["tmp"] / "replay" / "replay.png").is_file()
    r = subprocess.run([sys.executable, "-m", "hrobot.cli", "plot", str(session["bag"]), "--out",
                        str(session["tmp"] / "plot")], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and (session["tmp"] / "plot" / "bag.png").stat().st_size > 10_000, r.stderr
