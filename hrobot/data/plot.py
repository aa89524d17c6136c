"""`hrobot plot BAG`: joint tracking, commanded vs achieved base velocity, and safety events (PNG)."""

from __future__ import annotations

from pathlib import Path

from hrobot.data.recording import active_command, load_recording

EVENT_COLORS = {"safety_trip": "red", "estop": "darkred", "cmd_source": "gray"}


def plot_bag(bag, out: Path, robot: str | None = None, joints: int = 4) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = load_recording(bag, robot)
    js = rec.stream("joint_states")
    cmd = rec.streams.get("applied") or rec.streams.get("joint_commands")
    legged = "odom" in rec.streams
    rows = 3 if legged else 1
    fig, axes = plt.subplots(rows, 1, figsize=(11, 3.2 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    for k in range(min(joints, len(rec.joint_names))):
        line, = ax.plot(js.t, js.values["q"][:, k], lw=1, label=f"{rec.joint_names[k]}")
        if cmd is not None:
            ax.plot(cmd.t, cmd.values["q"][:, k], "--", lw=0.8, color=line.get_color())
    ax.set_ylabel("rad")
    ax.set_title(f"{rec.robot}: joint positions (solid) and targets after safety (dashed)")
    ax.legend(fontsize=7, ncol=4)
    if legged:
        od = rec.streams["odom"]
        commanded = active_command(rec, od.t)
        for ax, (col, name, unit) in zip((axes[1, 0], axes[2, 0]), ((0, "forward velocity", "m/s"),
                                                                    (2, "yaw rate", "rad/s"))):
            achieved = od.values["lin"][:, 0] if col == 0 else od.values["ang"][:, 2]
            ax.plot(od.t, commanded[:, col], label="commanded (active source)")
            ax.plot(od.t, achieved, label="achieved (odometry)")
            ax.set_ylabel(unit)
            ax.set_title(name)
            ax.legend(fontsize=7)
    for t, e in rec.events:
        kind = e.get("event", "")
        if kind in EVENT_COLORS or kind.startswith("episode_"):
            for ax in axes[:, 0]:
                ax.axvline(t, color=EVENT_COLORS.get(kind, "green"), lw=0.8, alpha=0.7)
            axes[0, 0].annotate(f"{kind}: {e.get('detail', '')}"[:40], (t, 1.0), xycoords=("data", "axes fraction"),
                                rotation=90, fontsize=6, va="top")
    axes[-1, 0].set_xlabel("s from the start of the bag")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bag.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]

