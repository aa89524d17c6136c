"""`hrobot train <offline task> --dataset D`: an offline learner over a dataset, as `hrobot train` runs PPO.

The run folder holds what an online run's does: checkpoints (model_<it>.pt, with `--resume`), TensorBoard
scalars, progress.jsonl, run.json (task, dataset and its size, steps, seed, wall time, final losses) and
the learner's config (learner_cfg.json).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from hrobot.errors import HRobotError
from hrobot.tasks import load_task
from hrobot.tasks.offline.data import GoalSampler
from hrobot.tasks.offline.learners import Learner, LearnerCfg, dataset_tensors

SAVE_EVERY = 5000
LOG_EVERY = 500


def latest(run: Path) -> Path | None:
    ckpts = sorted(Path(run).glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return ckpts[-1] if ckpts else None


def build(task: str, dataset: str | Path, seed: int = 0, cfg: LearnerCfg | None = None):
    """(task module, dataset, goal space, learner) for a task and a dataset."""
    mod = load_task(task)
    if mod.KIND != "offline":
        raise HRobotError(f"task {task} is not an offline task (--dataset applies to offline tasks)")
    data, goals = mod.load_dataset(Path(dataset))
    return mod, data, goals, Learner(goals, data.actions.shape[1], cfg or mod.learner_cfg(), seed)


def train_offline(task: str, out: Path, dataset: str | Path | None, iterations: int, seed: int = 0,
                  resume: bool = False, on_iteration=None, command: str = "", max_steps: int | None = None) -> dict:
    """`iterations` gradient steps (of every part); `max_steps`: train on the dataset's first steps only."""
    out = Path(out)
    previous = json.loads((out / "run.json").read_text()) if resume and (out / "run.json").is_file() else {}
    if resume and not latest(out):
        raise HRobotError(f"{out}: --resume given but the folder has no checkpoint (model_*.pt)")
    if not resume and latest(out):
        raise HRobotError(f"{out}: already holds a run; use --resume to continue it or choose another --out")
    dataset = dataset or previous.get("dataset")
    if dataset is None:
        raise HRobotError(f"task {task}: learns from a dataset: pass --dataset (a recording, its LeRobot export or "
                          f"an OGBench-format npz)")
    max_steps = max_steps or previous.get("dataset_steps_used")
    mod, data, goals, learner = build(task, dataset, seed)
    if max_steps:
        data = data.head(max_steps)
    sampler = GoalSampler(data, mod.sampling_cfg(), seed)
    states, actions = dataset_tensors(data)
    start = 0
    if resume:
        ckpt = latest(out)
        saved = torch.load(ckpt, weights_only=False)
        learner.load_state_dict(saved["learner"])
        start = saved["iteration"] + 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "learner_cfg.json").write_text(json.dumps(dataclasses.asdict(learner.cfg), indent=2))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out))
    progress = (out / "progress.jsonl").open("a")
    t0, last = time.time(), {}
    it = start - 1

    def save(status: str) -> dict:
        torch.save({"learner": learner.state_dict(), "iteration": it}, out / f"model_{it}.pt")
        info = {
            "task": task, "kind": "offline", "algorithm": learner.cfg.algorithm, "dataset": str(dataset),
            "dataset_steps": len(data), "dataset_steps_used": max_steps, "dataset_trajectories": data.num_trajectories,
            "dataset_hours": mod.dataset_hours(data), "seed": seed, "iterations": it + 1,
            "wall_time_s": previous.get("wall_time_s", 0.0) + time.time() - t0,
            "commands": previous.get("commands", []) + ([command] if command else []), "final": dict(last),
            "status": status, "checkpoint": f"model_{it}.pt",
        }
        (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        return info

    try:
        for it in range(start, start + iterations):
            losses = learner.update(data, sampler, states, actions)
            if it % LOG_EVERY == 0 or it == start + iterations - 1:
                last = {"iteration": it, **losses}
                for k, v in losses.items():
                    writer.add_scalar(f"Offline/{k}", v, it)
                progress.write(json.dumps({"t": round(time.time() - t0, 2), **last}) + "\n")
                progress.flush()
                if on_iteration:
                    on_iteration(it - start + 1, iterations, last)
            if it % SAVE_EVERY == 0 and it > start:
                save("running")
    except KeyboardInterrupt:
        return save("interrupted")
    finally:
        progress.close()
        writer.close()
    return save("done")


def load_policy(run: Path, checkpoint: str | None = None):
    """(task module, run info, goal space, policy module o(s, g) -> action) of an offline run."""
    run = Path(run)
    info = json.loads((run / "run.json").read_text())
    cfg = LearnerCfg(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in json.loads((run / "learner_cfg.json").read_text()).items()})
    mod, data, goals, learner = build(info["task"], info["dataset"], info["seed"], cfg)
    ckpt = run / checkpoint if checkpoint else latest(run)
    learner.load_state_dict(torch.load(ckpt, weights_only=False)["learner"])
    return mod, info, goals, learner.policy().eval()
