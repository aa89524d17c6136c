"""Export a bag as a LeRobotDataset v3.0 (written with pyarrow; LeRobot itself is not a dependency).

Layout (lerobot 0.6 datasets/utils.py): meta/info.json (codebase_version v3.0, fps, features,
paths), meta/stats.json, meta/tasks.parquet, meta/episodes/chunk-000/file-000.parquet (one row per
episode: length, index range, video offsets, per-episode stats), data/chunk-000/file-000.parquet
(every frame of every episode) and, for a simulated robot, videos/observation.images.sim/chunk-000/
file-000.mp4 (MuJoCo renders of the recorded states, episodes back to back).

Each episode is resampled onto an exact fixed-rate grid: frame k of an episode is at
`t0 + k / fps` and its timestamp is exactly `k / fps` (the step where LeRobot's "timestamps violate
the tolerance" errors come from), each value the latest sample at or before it (zero-order hold).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hrobot.data.recording import Recording, active_command, load_recording
from hrobot.errors import HRobotError

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
VIDEO_KEY = "observation.images.sim"
VIDEO_SIZE = (240, 320)  # height, width
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


def _grid(rec: Recording, start: float, end: float, fps: float, needed: list[str]) -> np.ndarray:
    first = max([start] + [rec.stream(n).t[0] for n in needed])
    n = int(np.floor((end - first) * fps + 1e-6)) + 1  # frames inside [first, end]
    return first + np.arange(max(n, 0)) / fps


def _features(rec: Recording) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Feature name -> (a function of the frame times, value names)."""
    j = rec.joint_names
    feats: dict = {}
    state = [f"{n}.pos" for n in j] + [f"{n}.vel" for n in j]
    imu = "imu" in rec.streams
    if imu:
        state += ["imu.qw", "imu.qx", "imu.qy", "imu.qz", "imu.wx", "imu.wy", "imu.wz"]

    def obs_state(t):
        js = rec.stream("joint_states")
        parts = [js.at(t, "q"), js.at(t, "dq")]
        if imu:
            parts += [rec.streams["imu"].at(t, "quat"), rec.streams["imu"].at(t, "gyro")]
        return np.concatenate(parts, axis=1)

    feats["observation.state"] = (obs_state, state)
    if "odom" in rec.streams:
        od = rec.streams["odom"]
        feats["observation.base_pose"] = (lambda t: np.concatenate([od.at(t, "pos"), od.at(t, "quat")], axis=1),
                                          ["x", "y", "z", "qw", "qx", "qy", "qz"])
        feats["observation.base_velocity"] = (lambda t: np.concatenate([od.at(t, "lin"), od.at(t, "ang")], axis=1),
                                              ["vx", "vy", "vz", "wx", "wy", "wz"])
    if "scan_low" in rec.streams and "scan_high" in rec.streams:  # the two ray scans, low then high (metres)
        scans = [rec.streams["scan_low"], rec.streams["scan_high"]]
        feats["observation.scan"] = (lambda t: np.concatenate([s.at(t, "ranges") for s in scans], axis=1),
                                     [f"{name}.{i}" for name, s in zip(("low", "high"), scans)
                                      for i in range(s.values["ranges"].shape[1])])
    cmd = "applied" if "applied" in rec.streams else "joint_commands"
    if cmd in rec.streams:
        feats["action"] = (lambda t: rec.streams[cmd].at(t, "q"), [f"{n}.pos" for n in j])
    if "joint_commands" in rec.streams and cmd == "applied":
        feats["action.requested"] = (lambda t: rec.streams["joint_commands"].at(t, "q"), [f"{n}.pos" for n in j])
    if "cmd_vel" in rec.streams or "teleop" in rec.streams:
        feats["action.base_command"] = (lambda t: active_command(rec, t), ["vx", "vy", "wz"])
    return feats


def _stats(x: np.ndarray) -> dict[str, list]:
    x = np.asarray(x, dtype=np.float64)
    q = np.quantile(x, QUANTILES, axis=0)
    return {"min": x.min(0).tolist(), "max": x.max(0).tolist(), "mean": x.mean(0).tolist(), "std": x.std(0).tolist(),
            "count": [int(len(x))], **{f"q{int(round(p * 100)):02d}": q[i].tolist() for i, p in enumerate(QUANTILES)}}


def _render(rec: Recording, times: np.ndarray) -> list[np.ndarray]:
    """MuJoCo frames of the recorded states (joints, and the base pose from odometry) on a flat floor."""
    import mujoco

    from hrobot.robots import load_robot
    from hrobot.sim.model import build_sim_model
    from hrobot.sim.render import Renderer
    from hrobot.sim.scene import SceneConfig

    spec = load_robot(rec.robot)
    sm = build_sim_model(spec, SceneConfig(kind="hand_object" if spec.robot_class == "hand" else "flat"))
    d = mujoco.MjData(sm.model)
    d.qpos[:] = sm.default_qpos()
    h, w = VIDEO_SIZE
    sm.model.vis.global_.offwidth, sm.model.vis.global_.offheight = max(w, 640), max(h, 480)
    r = Renderer(sm, w, h)
    js, od = rec.stream("joint_states"), rec.streams.get("odom")
    frames = []
    for t in times:
        d.qpos[sm.qpos_adr] = js.at(np.array([t]), "q")[0]
        if od is not None and sm.base_qpos_adr is not None:
            a = sm.base_qpos_adr
            d.qpos[a:a + 3] = od.at(np.array([t]), "pos")[0]
            d.qpos[a + 3:a + 7] = od.at(np.array([t]), "quat")[0]
        mujoco.mj_kinematics(sm.model, d)
        frames.append(r.render(d).copy())
    r.close()
    return frames


def _fixed(values: np.ndarray):
    import pyarrow as pa

    values = np.asarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _tasks_table(tasks: list[str]):
    """meta/tasks.parquet as LeRobot writes it with pandas: task_index, indexed by the task text."""
    import pyarrow as pa

    t = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {"index_columns": ["task"], "column_indexes": [], "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    return t.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def export_lerobot(bag, out, fps: float = 50.0, task: str = "", video: bool = True, robot: str | None = None) -> dict:
    """Write the bag's episodes as a LeRobotDataset v3.0 in `out` (which must not exist)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.exists():
        raise HRobotError(f"{out}: dataset folder exists (choose a new one; a dataset is never overwritten)")
    if not 1.0 <= fps <= 1000.0:
        raise HRobotError(f"--fps: expected 1 to 1000, got {fps:g}")
    rec = load_recording(bag, robot)
    feats = _features(rec)
    if "action" not in feats:
        raise HRobotError(f"{bag}: no joint commands in the bag (/joint_commands or /joint_commands/applied): "
                          f"a dataset needs actions")
    needed = ["joint_states"] + [k for k in ("imu", "odom", "scan_low", "scan_high") if k in rec.streams]
    needed.append("applied" if "applied" in rec.streams else "joint_commands")
    task = task or f"{rec.robot}: teleoperated / policy-driven episode"
    video = video and rec.simulated
    columns: dict[str, list] = {k: [] for k in feats}
    meta_rows, frames_all = [], []
    index = 0
    for ep, (a, b) in enumerate(rec.episodes()):
        times = _grid(rec, a, b, fps, needed)
        if len(times) < 2:
            continue
        ep_index = len(meta_rows)
        values = {k: np.asarray(fn(times), dtype=np.float32) for k, (fn, _) in feats.items()}
        for k, v in values.items():
            columns[k].append(v)
        n = len(times)
        row = {"episode_index": ep_index, "tasks": [task], "length": n, "data/chunk_index": 0, "data/file_index": 0,
               "dataset_from_index": index, "dataset_to_index": index + n,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
               "recording/start_s": float(times[0]), "recording/end_s": float(times[-1])}
        if video:
            frames = _render(rec, times)
            row.update({f"videos/{VIDEO_KEY}/chunk_index": 0, f"videos/{VIDEO_KEY}/file_index": 0,
                        f"videos/{VIDEO_KEY}/from_timestamp": len(frames_all) / fps,
                        f"videos/{VIDEO_KEY}/to_timestamp": (len(frames_all) + n) / fps})
            frames_all += frames
        for k, v in values.items():
            for stat, val in _stats(v).items():
                row[f"stats/{k}/{stat}"] = val
        meta_rows.append(row)
        index += n
    if not meta_rows:
        raise HRobotError(f"{bag}: no episode of at least 2 frames at {fps:g} fps (episodes: {rec.episodes()})")

    lengths = [r["length"] for r in meta_rows]
    frame_index = np.concatenate([np.arange(n) for n in lengths])
    episode_index = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
    data = {k: _fixed(np.concatenate(v)) for k, v in columns.items()}
    data.update({"timestamp": pa.array((frame_index / fps).astype(np.float32)),
                 "frame_index": pa.array(frame_index.astype(np.int64)),
                 "episode_index": pa.array(episode_index.astype(np.int64)),
                 "index": pa.array(np.arange(index, dtype=np.int64)),
                 "task_index": pa.array(np.zeros(index, dtype=np.int64))})
    data_file = out / DATA_PATH.format(chunk_index=0, file_index=0)
    data_file.parent.mkdir(parents=True)
    pq.write_table(pa.table(data), data_file)
    (out / "meta/episodes/chunk-000").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(meta_rows), out / EPISODES_PATH)
    pq.write_table(_tasks_table([task]), out / "meta/tasks.parquet")

    features = {k: {"dtype": "float32", "shape": [len(names)], "names": names} for k, (_, names) in feats.items()}
    for k in ("timestamp",):
        features[k] = {"dtype": "float32", "shape": [1], "names": None}
    for k in ("frame_index", "episode_index", "index", "task_index"):
        features[k] = {"dtype": "int64", "shape": [1], "names": None}
    stats = {k: _stats(np.concatenate(v)) for k, v in columns.items()}
    for k in ("timestamp", "frame_index", "episode_index", "index"):
        stats[k] = _stats(np.asarray(data[k]).reshape(-1, 1))
    if video:
        from hrobot.sim.render import save_video

        h, w = VIDEO_SIZE
        save_video(out / VIDEO_PATH.format(video_key=VIDEO_KEY, chunk_index=0, file_index=0), frames_all, fps)
        features[VIDEO_KEY] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                               "info": {"video.height": h, "video.width": w, "video.codec": "h264",
                                        "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                                        "video.channels": 3, "has_audio": False}}
        px = np.stack(frames_all[:: max(len(frames_all) // 100, 1)]).astype(np.float64) / 255.0  # (N, H, W, 3)
        per = px.transpose(3, 0, 1, 2).reshape(3, -1)
        q = np.quantile(per, QUANTILES, axis=1)
        stats[VIDEO_KEY] = {"min": per.min(1)[:, None, None].tolist(), "max": per.max(1)[:, None, None].tolist(),
                            "mean": per.mean(1)[:, None, None].tolist(), "std": per.std(1)[:, None, None].tolist(),
                            "count": [int(len(frames_all))],
                            **{f"q{int(round(p * 100)):02d}": q[i][:, None, None].tolist() for i, p in enumerate(QUANTILES)}}
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": rec.robot, "total_episodes": len(meta_rows),
            "total_frames": int(index), "total_tasks": 1, "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(meta_rows)}"},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH if video else None, "features": features}
    (out / "meta/info.json").write_text(json.dumps(info, indent=2))
    (out / "meta/stats.json").write_text(json.dumps(stats, indent=2))
    return {"episodes": len(meta_rows), "frames": int(index), "fps": fps, "features": list(features), "lengths": lengths,
            "video": video}
