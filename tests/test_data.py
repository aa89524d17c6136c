"""Bags and datasets without a running robot: hrobot's MCAP writer read back by a third-party reader
(rosbags), crash recovery of a torn file, LeRobotDataset v3 export read back with pyarrow, and the
one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from ros_harness import ENV, REPO

os.environ["AMENT_PREFIX_PATH"] = ENV["AMENT_PREFIX_PATH"]  # where the message definitions are installed

from hrobot.data.bag import BagWriter, SequenceGaps, Topic, iter_raw, read_info, recover  # noqa: E402
from hrobot.errors import HRobotError  # noqa: E402
from hrobot.robots import load_robot  # noqa: E402

GO2 = load_robot("go2")
RATE_JS, RATE_CMD = 500, 50
EVENTS = [(0.5, "episode_start"), (2.0, "episode_success"), (2.5, "episode_start"), (3.0, "episode_rerecord"),
          (3.2, "episode_start"), (3.9, "episode_stop")]


def _typestore():
    """rosbags' own CDR serializer (a third-party implementation) with hrobot_msgs registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from hrobot.data.msgdefs import message_definition

    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(get_types_from_msg(message_definition("hrobot_msgs/msg/JointCommand"), "hrobot_msgs/msg/JointCommand"))
    return store


def write_bag(folder, seconds: float = 4.0, close: bool = True, chunk_interval_s: float = 1.0) -> dict:
    """A go2 bag written through BagWriter: joint states at 500 Hz, applied commands at 50 Hz, episode events,
    serialized by rosbags (what hrobot reads back with ROS's own typesupport)."""
    store = _typestore()
    T = store.types
    stamp = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="base")

    def JointState(name, position, velocity):  # noqa: N802
        return store.serialize_cdr(T["sensor_msgs/msg/JointState"](header=stamp, name=name, position=np.array(position),
                                   velocity=np.array(velocity), effort=np.zeros(0)), "sensor_msgs/msg/JointState")

    def JointCommand(**kw):  # noqa: N802
        kw = {k: np.array(v) if isinstance(v, list) and k != "name" else v for k, v in kw.items()}
        return store.serialize_cdr(T["hrobot_msgs/msg/JointCommand"](stamp_sec=0, stamp_nanosec=0, **kw),
                                   "hrobot_msgs/msg/JointCommand")

    def String(data):  # noqa: N802
        return store.serialize_cdr(T["std_msgs/msg/String"](data=data), "std_msgs/msg/String")

    w = BagWriter(folder, chunk_size=64 * 1024, chunk_interval_s=chunk_interval_s)
    for t in (Topic("/joint_states", "sensor_msgs/msg/JointState"),
              Topic("/joint_commands/applied", "hrobot_msgs/msg/JointCommand"), Topic("/events", "std_msgs/msg/String")):
        w.add_topic(t)
    t0 = 1_700_000_000 * 10**9
    counts = {"/joint_states": 0, "/joint_commands/applied": 0, "/events": 0}
    n = GO2.num_joints
    events = list(EVENTS)
    for k in range(int(seconds * RATE_JS)):
        t = k / RATE_JS
        js = JointState(name=GO2.joint_names, position=list(GO2.default_pose + 0.1 * np.sin(t)), velocity=[0.0] * n)
        w.write("/joint_states", bytes(js), t0 + k * 2_000_000, sequence=k + 1)
        counts["/joint_states"] += 1
        if k % (RATE_JS // RATE_CMD) == 0:
            c = JointCommand(name=GO2.joint_names, position=list(GO2.default_pose), velocity=[0.0] * n,
                             kp=list(GO2.kp), kd=list(GO2.kd), effort=[0.0] * n, mode=0, standing=True)
            w.write("/joint_commands/applied", bytes(c), t0 + k * 2_000_000 + 100_000)
            counts["/joint_commands/applied"] += 1
        while events and events[0][0] <= t:
            _, kind = events.pop(0)
            w.write("/events", bytes(String(data=json.dumps({"event": kind, "node": "test"}))),
                    t0 + k * 2_000_000 + 200_000)
            counts["/events"] += 1
    if close:
        w.close()
    else:
        import time

        time.sleep(chunk_interval_s + 0.5)  # the writer thread closes the chunk in progress on its interval
    return counts


def test_bag_reads_back_with_rosbags_and_its_metadata_matches(tmp_path):
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    bag = tmp_path / "bag"
    counts = write_bag(bag)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    assert meta["message_count"] == sum(counts.values())
    assert {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]} == counts
    assert meta["relative_file_paths"] == ["bag_0.mcap"]
    with Reader(bag) as r:  # a third-party reader: metadata, embedded definitions, CDR
        assert {c.topic: c.msgcount for c in r.connections} == counts
        assert {c.topic: c.msgtype for c in r.connections}["/joint_commands/applied"] == "hrobot_msgs/msg/JointCommand"
        store = get_typestore(Stores.EMPTY)
        for c in r.connections:
            store.register(get_types_from_msg(c.msgdef.data, c.msgtype))
        n, first = 0, None
        for c, _, raw in r.messages(connections=[c for c in r.connections if c.topic == "/joint_states"]):
            msg = store.deserialize_cdr(raw, c.msgtype)
            first = first or msg
            n += 1
        assert n == counts["/joint_states"] and list(first.name) == GO2.joint_names
    from mcap.reader import make_reader

    with open(bag / "bag_0.mcap", "rb") as f:
        s = make_reader(f).get_summary()
    assert {c.compression for c in s.chunk_indexes} == {"zstd"} and len(s.chunk_indexes) > 5
    assert {sc.encoding for sc in s.schemas.values()} == {"ros2msg"}
    assert all("offered_qos_profiles" in c.metadata for c in s.channels.values())
    with open(bag / "bag_0.mcap", "rb") as f:
        [rec] = [m for m in make_reader(f).iter_metadata() if m.name == "rosbag2"]
    assert yaml.safe_load(rec.metadata["serialized_metadata"]) == meta


def test_a_torn_recording_is_recovered_up_to_its_last_complete_chunk(tmp_path):
    bag = tmp_path / "bag"
    counts = write_bag(bag, seconds=3.0, close=False)  # the writer never finishes: no summary, no metadata.yaml
    mcap = bag / "bag_0.mcap"
    with open(mcap, "ab") as f:
        f.write(b"\x06" + (10**6).to_bytes(8, "little") + b"torn chunk")  # a chunk the crash cut short
    with pytest.raises(HRobotError, match="no metadata.yaml.*--recover"):
        read_info(bag)
    r = recover(bag)
    assert r.tail_bytes_lost == 19 and (bag / "bag_0.mcap.damaged").is_file()
    got = r.info.counts
    assert got["/joint_states"] >= 0.99 * counts["/joint_states"]  # every chunk was closed before the tear
    seqs = [m.sequence for m in iter_raw(bag, ["/joint_states"])]
    assert seqs == list(range(1, len(seqs) + 1))
    assert read_info(bag).counts == got


def test_sequence_gaps_count_losses_per_publisher():
    g = SequenceGaps()
    for s in (1, 2, 3, 5, 6, 9):
        g.add("/a", s)
    assert g.lost["/a"] == 3
    for a, b in zip(range(1, 50), range(1, 50)):  # two publishers interleaved, nothing lost
        g.add("/b", a, publishers=2)
        g.add("/b", b, publishers=2)
    assert g.lost["/b"] == 0
    g.from_one.add("/c")  # first published while recording: its first two never reached the recorder
    g.add("/c", 3)
    assert g.missed["/c"] == 2 and g.lost["/c"] == 0 and g.total() == 3


def test_export_to_lerobot_v3_reads_back_with_pyarrow(tmp_path):
    import pyarrow.parquet as pq

    from hrobot.data.dataset import export_lerobot

    bag, out = tmp_path / "bag", tmp_path / "ds"
    write_bag(bag)
    rep = export_lerobot(bag, out, fps=50.0, video=False)
    assert rep["episodes"] == 2 and rep["lengths"] == [76, 36]  # [0.5, 2.0] s and [3.2, 3.9] s; the re-recorded one dropped
    info = json.loads((out / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 50.0 and info["total_frames"] == 112
    assert info["features"]["observation.state"]["shape"] == [2 * GO2.num_joints]
    assert info["features"]["action"]["names"] == [f"{j}.pos" for j in GO2.joint_names]
    data = pq.read_table(out / "data/chunk-000/file-000.parquet")
    assert data.num_rows == 112
    ts = np.array(data["timestamp"].to_pylist())
    ep = np.array(data["episode_index"].to_pylist())
    fi = np.array(data["frame_index"].to_pylist())
    assert np.array_equal(ts, (fi / 50.0).astype(np.float32))  # exact grid: LeRobot's tolerance check cannot fail
    assert np.bincount(ep).tolist() == [76, 36]
    assert np.array_equal(np.array(data["index"].to_pylist()), np.arange(112))
    state = np.array(data["observation.state"].to_pylist())
    # frame 0 of episode 0 is at t = 0.5 s: the joint state at or before it (zero-order hold)
    k = int(0.5 * RATE_JS)
    assert state[0, :GO2.num_joints] == pytest.approx(GO2.default_pose + 0.1 * np.sin(k / RATE_JS), abs=1e-5)
    eps = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [(e["dataset_from_index"], e["dataset_to_index"], e["length"]) for e in eps] == [(0, 76, 76), (76, 112, 36)]
    stats = json.loads((out / "meta/stats.json").read_text())
    assert set(stats["action"]) >= {"min", "max", "mean", "std", "count", "q01", "q99"}
    assert pq.read_table(out / "meta/tasks.parquet").to_pylist()[0]["task_index"] == 0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrobot.cli", *args], env=ENV, capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_bad_bags_and_dataset_folders_get_one_line(tmp_path):
    good = tmp_path / "good"
    write_bag(good, seconds=1.0)
    truncated = tmp_path / "truncated"
    write_bag(truncated, seconds=1.0)
    f = truncated / "truncated_0.mcap"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    (tmp_path / "exists").mkdir()
    cases = [(("bag", "info", str(tmp_path / "missing")), "bag not found"),
             (("plot", str(truncated), "--out", str(tmp_path / "p")), "truncated or corrupt MCAP"),
             (("dataset", "export", str(good), "--out", str(tmp_path / "exists")), "dataset folder exists"),
             (("record", "--out", str(good)), "bag folder exists"),
             (("record", "--recover", str(tmp_path / "exists")), "no .mcap file to recover"),
             (("record", "--out", str(tmp_path / "b2"), "--topics", "joint_states", "--duration", "20"),
              "expected absolute topic names like /joint_states, got 'joint_states'"),
             (("teleop", "deploy/leap_hand/sim.yaml", "--device", "keyboard", "--duration", "20"),
              "keyboard commands a base velocity; leap_hand has no floating base")]
    for args, expected in cases:
        r = _cli(*args)
        assert r.returncode != 0, args
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in r.stderr, (args, r.stderr)
    with pytest.raises(HRobotError, match="topic /nope is not in the bag"):
        list(iter_raw(good, ["/nope"]))
