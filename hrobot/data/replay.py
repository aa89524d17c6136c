"""Replay a bag's commands on the simulated robot and compare the trajectories.

The recorded joint commands (as the driver's safety layer applied them, /joint_commands/applied,
else the requested ones) are sent at their recorded times to a SimRobot through its own safety
layer, from the recorded start pose; the replayed joints and base path are compared with the
recorded ones. An open-loop replay of a walking robot drifts (no feedback closes the loop): the
numbers say how far, which is what a user checks a sim-to-sim or a dataset against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrobot.data.recording import load_recording
from hrobot.errors import HRobotError
from hrobot.safety import MODES_BY_CODE, JointCommand


def replay(bag, out: Path, robot: str | None = None) -> dict:
    from hrobot.robots import load_robot
    from hrobot.safety import SafetyConfig
    from hrobot.sim.robot import SimRobot
    from hrobot.sim.scene import SceneConfig

    rec = load_recording(bag, robot)
    key = "applied" if "applied" in rec.streams else "joint_commands"
    if key not in rec.streams:
        raise HRobotError(f"{bag}: no joint commands recorded (/joint_commands, /joint_commands/applied): nothing to replay")
    cmds, js = rec.streams[key], rec.stream("joint_states")
    spec = load_robot(rec.robot)
    sim = SimRobot(spec, SceneConfig(kind="hand_object" if spec.robot_class == "hand" else "flat", visual=False),
                   safety=SafetyConfig(command_timeout=0.5))
    od = rec.streams.get("odom")
    t0 = float(cmds.t[0])
    if sim.sm.base_qpos_adr is not None and od is not None:
        p, q = od.at(np.array([t0]), "pos")[0], od.at(np.array([t0]), "quat")[0]
        yaw = float(np.arctan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] ** 2 + q[3] ** 2)))
        sim.place(float(p[0]), float(p[1]), yaw)
    a = sim.sm.qpos_adr
    sim.data.qpos[a] = js.at(np.array([t0]), "q")[0]
    sim.activate()
    dt = sim.model.opt.timestep
    times, q_rep, xy_rep = [], [], []
    for i in range(len(cmds)):
        v = cmds.values
        cmd = JointCommand(v["q"][i], np.zeros(spec.num_joints), v["kp"][i], v["kd"][i], v["tau"][i],
                           mode=MODES_BY_CODE[int(v["mode"][i])], standing=bool(v["standing"][i]))
        sim.send(cmd)
        end = float(cmds.t[i + 1] - t0) if i + 1 < len(cmds) else float(cmds.t[i] - t0) + 0.02
        while sim.data.time < end:
            sim.advance(dt)
        times.append(t0 + sim.data.time)
        q_rep.append(sim.data.qpos[a].copy())
        if sim.sm.base_qpos_adr is not None:
            xy_rep.append(sim.base_pose()[0][:2].copy())
    times = np.array(times)
    q_rec = js.at(times, "q")
    q_rep = np.array(q_rep)
    joint_rms = float(np.sqrt(np.mean((q_rec - q_rep) ** 2)))
    xy_rms = float("nan")
    if xy_rep and od is not None:
        xy_rec = od.at(times, "pos")[:, :2]
        xy_rms = float(np.sqrt(np.mean(np.sum((xy_rec - np.array(xy_rep)) ** 2, axis=1))))
    out.mkdir(parents=True, exist_ok=True)
    plot = out / "replay.png"
    _plot(rec, times - t0, q_rec, q_rep, od.at(times, "pos")[:, :2] if od is not None and xy_rep else None,
          np.array(xy_rep) if xy_rep else None, plot)
    return {"robot": rec.robot, "commands": len(cmds), "duration_s": float(times[-1] - t0),
            "command_topic": "/joint_commands/applied" if key == "applied" else "/joint_commands",
            "joint_rms_rad": joint_rms, "base_xy_rms_m": xy_rms,
            "base_xy_final_error_m": float(np.linalg.norm(od.at(times[-1:], "pos")[0, :2] - xy_rep[-1]))
            if xy_rep and od is not None else float("nan"), "plot": str(plot),
            "safety_trips": [t.reason for t in sim.safety.trips]}


def _plot(rec, t, q_rec, q_rep, xy_rec, xy_rep, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 if xy_rec is not None else 1
    fig, axes = plt.subplots(1, cols, figsize=(6 * cols, 4), squeeze=False)
    ax = axes[0, 0]
    for k in range(min(3, q_rec.shape[1])):
        ax.plot(t, q_rec[:, k], label=f"{rec.joint_names[k]} recorded")
        ax.plot(t, q_rep[:, k], "--", label=f"{rec.joint_names[k]} replayed")
    ax.set_xlabel("s")
    ax.set_ylabel("rad")
    ax.legend(fontsize=7)
    ax.set_title("joints: recorded vs replayed")
    if xy_rec is not None:
        ax = axes[0, 1]
        ax.plot(xy_rec[:, 0], xy_rec[:, 1], label="recorded")
        ax.plot(xy_rep[:, 0], xy_rep[:, 1], "--", label="replayed (open loop)")
        ax.axis("equal")
        ax.legend()
        ax.set_title("base path")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
