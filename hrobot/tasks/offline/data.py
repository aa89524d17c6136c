"""Trajectories for offline goal-conditioned learning, and the goal-conditioned batches drawn from them.

One format for every source (`Trajectories`): per step a state vector and the action taken from it,
steps of one trajectory contiguous, `ends` marking each trajectory's last step (OGBench's `terminals`).
What a state vector holds is the goal space's business (`hrobot.tasks.offline.goals`); readers here:
OGBench's npz layout, and hrobot's own recordings (a bag, or its LeRobot-format export) through
`hrobot.tasks.offline.goals.NavGoals.trajectories`.

Sampling follows OGBench's GCDataset / HGCDataset (the HIQL reference): value goals from the current
state, the same trajectory's future (geometric in the discount) or anywhere, with reward 0 at the goal
and -1 elsewhere; actor goals from the trajectory's future (uniform); the low level's subgoal and the
high level's target are the state `subgoal_steps` ahead, capped at the trajectory's end (optionally the low
level's drawn uniformly 1..k steps ahead, so that it also learns subgoals closer than k: a final approach).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hrobot.errors import HRobotError


@dataclass
class Trajectories:
    states: np.ndarray  # (T, S) float32
    actions: np.ndarray  # (T, A) float32: the action taken from each state
    ends: np.ndarray  # (T,) bool: the last step of its trajectory
    source: str = ""

    def __post_init__(self):
        n = len(self.states)
        if n == 0:
            raise HRobotError(f"{self.source or 'dataset'}: empty (no steps)")
        if self.states.ndim != 2 or self.actions.ndim != 2 or len(self.actions) != n or self.ends.shape != (n,):
            raise HRobotError(f"{self.source or 'dataset'}: expected states (T, S), actions (T, A) and terminals (T,) "
                              f"of one length, got {self.states.shape}, {self.actions.shape}, {self.ends.shape}")
        if not (np.isfinite(self.states).all() and np.isfinite(self.actions).all()):
            raise HRobotError(f"{self.source or 'dataset'}: non-finite values in observations or actions")
        self.ends = self.ends.astype(bool).copy()
        self.ends[-1] = True
        # each step's trajectory end (the last index of its trajectory)
        end_idx = np.flatnonzero(self.ends)
        self.final = end_idx[np.searchsorted(end_idx, np.arange(n))]

    def __len__(self) -> int:
        return len(self.states)

    @property
    def num_trajectories(self) -> int:
        return int(self.ends.sum())

    def head(self, steps: int) -> Trajectories:
        """The first `steps` steps (a smaller dataset: the first part of the same recording)."""
        steps = min(steps, len(self))
        return Trajectories(self.states[:steps], self.actions[:steps], self.ends[:steps], self.source)

    def save_npz(self, path: Path) -> None:
        """OGBench's layout: observations, actions, terminals."""
        np.savez_compressed(path, observations=self.states, actions=self.actions, terminals=self.ends.astype(np.float32))


def load_npz(path: str | Path) -> Trajectories:
    """A dataset in OGBench's npz layout (observations, actions, terminals)."""
    path = Path(path)
    if not path.is_file():
        raise HRobotError(f"{path}: no such dataset file")
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise HRobotError(f"{path}: not a readable npz file ({e})") from None
    missing = [k for k in ("observations", "actions", "terminals") if k not in data.files]
    if missing:
        raise HRobotError(f"{path}: missing field '{missing[0]}' (OGBench's layout: observations, actions, "
                          f"terminals; found {', '.join(data.files) or 'nothing'})")
    return Trajectories(np.asarray(data["observations"], np.float32), np.asarray(data["actions"], np.float32),
                        np.asarray(data["terminals"]) > 0, str(path))


@dataclass(frozen=True)
class SamplingCfg:
    discount: float = 0.99
    value_p_curgoal: float = 0.2
    value_p_trajgoal: float = 0.5  # the rest: random goals
    subgoal_steps: int = 25  # k: the low level's subgoal and the high level's target
    actor_geom_sample: bool = False  # actor goals: uniform over the trajectory's future (OGBench's), or geometric
    low_goal_uniform: bool = False  # the low level's subgoal: k steps ahead (OGBench's), or uniform in 1..k ahead


class GoalSampler:
    """Index batches for goal-conditioned learning (numpy indices into the trajectories)."""

    def __init__(self, data: Trajectories, cfg: SamplingCfg, seed: int = 0):
        self.data, self.cfg = data, cfg
        self.rng = np.random.default_rng(seed)
        self.n = len(data)
        # a trajectory's last step has no successor inside it: it is never a transition's start
        self.starts = np.flatnonzero(~data.ends)
        if len(self.starts) == 0:
            raise HRobotError(f"{data.source or 'dataset'}: no transitions (every trajectory is one step long)")

    def _future(self, idx: np.ndarray, geometric: bool) -> np.ndarray:
        final = self.data.final[idx]
        if geometric:  # offset ~ Geometric(1 - discount), at least 1
            offset = self.rng.geometric(1.0 - self.cfg.discount, size=len(idx))
            return np.minimum(idx + offset, final)
        u = self.rng.random(len(idx))
        return np.minimum(idx + 1 + np.floor(u * (final - idx)).astype(np.int64), final)

    def batch(self, size: int) -> dict[str, np.ndarray]:
        c, idx = self.cfg, self.rng.choice(self.starts, size)
        nxt = idx + 1
        r = self.rng.random(size)
        value_goal = np.where(r < c.value_p_curgoal, idx,
                              np.where(r < c.value_p_curgoal + c.value_p_trajgoal, self._future(idx, True),
                                       self.rng.integers(0, self.n, size)))
        success = value_goal == idx
        actor_goal = self._future(idx, c.actor_geom_sample)
        ahead = self.rng.integers(1, c.subgoal_steps + 1, size) if c.low_goal_uniform else c.subgoal_steps
        subgoal = np.minimum(idx + ahead, self.data.final[idx])
        high_target = np.minimum(idx + c.subgoal_steps, actor_goal)
        return {"idx": idx, "next": nxt, "value_goal": value_goal, "reward": success.astype(np.float32) - 1.0,
                "mask": 1.0 - success.astype(np.float32), "low_goal": subgoal, "actor_goal": actor_goal,
                "high_target": high_target}


def to_tensor(x: np.ndarray, device: str = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
