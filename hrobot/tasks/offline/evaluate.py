"""`hrobot eval` of offline runs: OGBench's tasks for the point maze; go2_nav's held-out layouts for navigation.

Several navigation runs (e.g. HIQL and GCBC on 15, 30 and 60 minutes of recorded driving) are evaluated on
the same layouts and seed, each through the bundle it exports (what the goal planner runs), beside the
online PPO high level (`reference`) and pure pursuit over the same skill; the result is a curve of
success against dataset size (JSON and PNG).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from hrobot.errors import HRobotError


def is_offline_run(path: Path) -> bool:
    return (Path(path) / "learner_cfg.json").is_file()


def evaluate_pointmaze(run: Path, episodes: int = 20, seed: int = 0, checkpoint: str | None = None) -> dict:
    from dataclasses import replace

    from hrobot.tasks.offline.pointmaze import PointMazeCfg, evaluate
    from hrobot.tasks.offline.runner import load_policy

    _, info, _, policy = load_policy(run, checkpoint)
    with torch.no_grad():
        res = evaluate(lambda o: policy(torch.from_numpy(o)).numpy(), replace(PointMazeCfg(), eval_episodes=episodes),
                       seed=seed)
    return {"run": str(run), "algorithm": info["algorithm"], "dataset": info["dataset"],
            "dataset_steps": info["dataset_steps"], "iterations": info["iterations"],
            "checkpoint": checkpoint or info["checkpoint"], **res}


def _nav_row(res: dict) -> dict:
    r = res["high_level"]
    return {"success_rate": r["success_rate"], "blocked_success_rate": r["blocked_layouts"]["success_rate"],
            "collision_rate": r["collision_rate"], "fall_rate": r["fall_rate"],
            "mean_time_to_goal": r["mean_time_to_goal"], "time_out_rate": r["time_out_rate"],
            "time_out_near_goal_rate": r["time_out_near_goal_rate"],
            "time_out_near_goal_off_heading_rate": r["time_out_near_goal_off_heading_rate"]}


def evaluate_navigation_runs(runs: list[Path], episodes: int = 200, seed: int = 1000, reference: Path | None = None,
                             plot: Path | None = None, checkpoint: str | None = None) -> dict:
    from hrobot.eval import evaluate_navigation
    from hrobot.export import export_offline

    rows, baseline = [], None
    with tempfile.TemporaryDirectory(prefix="hrobot-offline-eval-") as tmp:
        for i, run in enumerate(runs):
            info = json.loads((Path(run) / "run.json").read_text())
            bundle = export_offline(Path(run), Path(tmp) / f"offline_{i}", checkpoint)
            res = evaluate_navigation(bundle, episodes=episodes, seed=seed)
            baseline = baseline or res["pure_pursuit"]
            rows.append({"run": str(run), "algorithm": info["algorithm"], "dataset": info["dataset"],
                         "dataset_minutes": round(info["dataset_hours"] * 60.0, 2), "iterations": info["iterations"],
                         "checkpoint": checkpoint or info["checkpoint"],
                         **_nav_row(res)})
    out = {"episodes": episodes, "seed": seed, "runs": rows,
           "pure_pursuit": {"success_rate": baseline["success_rate"],
                            "blocked_success_rate": baseline["blocked_layouts"]["success_rate"]}}
    if reference is not None:
        out["online"] = {"bundle": str(reference), **_nav_row(evaluate_navigation(reference, episodes=episodes,
                                                                                   seed=seed))}
    if plot:
        _plot(out, plot)
    return out


def _plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "success_rate", "all held-out layouts"),
                           (axes[1], "blocked_success_rate", "an obstacle across the straight line")):
        for alg in sorted({r["algorithm"] for r in res["runs"]}):
            pts = sorted((r["dataset_minutes"], r[key]) for r in res["runs"] if r["algorithm"] == alg)
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o-", label=f"offline {alg.upper()}")
        ax.axhline(100 * res["pure_pursuit"][key], color="tab:orange", ls="--", label="pure pursuit")
        if "online" in res:
            ax.axhline(100 * res["online"][key], color="tab:green", ls=":", label="online PPO (go2_nav)")
        ax.set_xlabel("recorded driving (min)")
        ax.set_ylabel("success (%)")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(f"go2 navigation learned offline: {res['episodes']} held-out layouts (seed {res['seed']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_offline(runs: list[Path], episodes: int, seed: int, reference: Path | None = None,
                     plot: Path | None = None, checkpoint: str | None = None) -> dict:
    """Offline runs of one kind: the point maze's (each on OGBench's tasks) or navigation runs (the curve)."""
    kinds = set()
    for run in runs:
        if not is_offline_run(run):
            raise HRobotError(f"{run}: not an offline run (no learner_cfg.json); evaluate online runs one at a time")
        kinds.add(json.loads((Path(run) / "run.json").read_text())["task"].split("_")[0])
    if len(kinds) > 1:
        raise HRobotError(f"offline runs of different tasks ({', '.join(sorted(kinds))}): evaluate them apart")
    if kinds == {"pointmaze"}:
        return {"runs": [evaluate_pointmaze(r, episodes=episodes, seed=seed, checkpoint=checkpoint) for r in runs]}
    return evaluate_navigation_runs(runs, episodes=episodes, seed=seed, reference=reference, plot=plot,
                                    checkpoint=checkpoint)


def success_table(res: dict) -> list[str]:
    def detail(r: dict) -> str:
        if "blocked_success_rate" not in r:
            return f"  (per task {np.round(r['per_task'], 2).tolist()})"
        return (f", blocked {100 * r['blocked_success_rate']:5.1f} %, time-outs near the goal "
                f"{100 * r['time_out_near_goal_rate']:5.1f} % (off its heading "
                f"{100 * r['time_out_near_goal_off_heading_rate']:.1f} %)")

    lines = [f"{r['algorithm']:>5} {r.get('dataset_minutes', r.get('dataset_steps'))!s:>8}: success "
             f"{100 * r['success_rate']:5.1f} %" + detail(r) for r in res["runs"]]
    if "pure_pursuit" in res:
        lines.append(f"pure pursuit: success {100 * res['pure_pursuit']['success_rate']:5.1f} %, blocked "
                     f"{100 * res['pure_pursuit']['blocked_success_rate']:5.1f} %")
    if "online" in res:
        lines.append(f"online PPO: success {100 * res['online']['success_rate']:5.1f} %, blocked "
                     f"{100 * res['online']['blocked_success_rate']:5.1f} %")
    return lines
