"""OGBench's PointMaze, to check the offline learners against published numbers.

The environment is OGBench's own (the `ogbench` package's locomaze point maze, MuJoCo). Its datasets
are downloaded at run time, which these machines cannot do, so `generate` makes one here the way
OGBench's `navigate` datasets are made: a noisy oracle drives the point from a random cell towards
random goal cells through the maze's BFS subgoals (`get_oracle_subgoal`), a new goal on arrival,
fixed-length episodes. `evaluate` runs OGBench's five evaluation tasks of the maze (its reset options)
and reports the success rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hrobot.errors import HRobotError
from hrobot.tasks.offline.data import Trajectories


@dataclass(frozen=True)
class PointMazeCfg:
    maze: str = "medium"
    episodes: int = 200  # OGBench's pointmaze-medium-navigate: 1000
    episode_steps: int = 1000  # 1001 states per episode, as OGBench's
    noise: float = 0.5  # std of the Gaussian action noise
    arrive: float = 0.5  # m from a goal counts as reached (then a new one)
    eval_episodes: int = 20  # per task
    eval_steps: int = 1000  # OGBench's episode limit for the point mazes


def make_env(maze: str):
    try:
        from ogbench.locomaze.maze import make_maze_env
    except ImportError as e:
        raise HRobotError(f"the point maze needs the ogbench and gymnasium packages (make venv installs them): {e}") \
            from None
    return make_maze_env("point", "maze", maze_type=maze)


def generate(cfg: PointMazeCfg, seed: int = 0, progress: Callable[[int, int], None] | None = None) -> Trajectories:
    """A navigate-style dataset: `episodes` x (episode_steps + 1) states, the last state of each with no action
    of its own (its action row repeats the one before; it is never a transition's start)."""
    env = make_env(cfg.maze)
    np.random.seed(seed)  # OGBench's env draws its reset noise from numpy's global generator
    rng = np.random.default_rng(seed)
    free = [tuple(ij) for ij in np.argwhere(env.unwrapped.maze_map == 0)]
    states, actions, ends = [], [], []
    for ep in range(cfg.episodes):
        init, goal = (free[i] for i in rng.choice(len(free), 2, replace=False))
        ob, _ = env.reset(options={"task_info": {"init_ij": init, "goal_ij": goal}})
        goal_xy = np.array(env.unwrapped.ij_to_xy(goal))
        for t in range(cfg.episode_steps + 1):
            xy = env.unwrapped.get_xy()
            if np.linalg.norm(xy - goal_xy) < cfg.arrive:
                goal_xy = np.array(env.unwrapped.ij_to_xy(free[rng.integers(len(free))]))
            sub, _ = env.unwrapped.get_oracle_subgoal(xy, goal_xy)
            d = np.asarray(sub) - xy
            a = np.clip(d / (np.linalg.norm(d) + 1e-6) + cfg.noise * rng.normal(size=2), -1.0, 1.0)
            states.append(np.asarray(ob, np.float32))
            actions.append(a.astype(np.float32))
            ends.append(t == cfg.episode_steps)
            if t < cfg.episode_steps:
                ob, *_ = env.step(a)
        if progress:
            progress(ep + 1, cfg.episodes)
    env.close()
    return Trajectories(np.stack(states), np.stack(actions), np.array(ends), f"pointmaze-{cfg.maze} (generated)")


def evaluate(act: Callable[[np.ndarray], np.ndarray], cfg: PointMazeCfg, seed: int = 0) -> dict:
    """OGBench's evaluation: each of the maze's tasks (start and goal cells, with its noise) `eval_episodes`
    times, success within `eval_steps`; `act` maps o(s, g) = [s, g] (N, 4) to actions (N, 2)."""
    env = make_env(cfg.maze)
    np.random.seed(seed)
    tasks = []
    for task in range(1, env.unwrapped.num_tasks + 1):
        wins = 0
        for _ in range(cfg.eval_episodes):
            ob, info = env.reset(options={"task_id": task})
            goal = np.asarray(info["goal"], np.float32)
            for _ in range(cfg.eval_steps):
                a = act(np.concatenate([ob, goal])[None].astype(np.float32))[0]
                ob, _, _, _, step_info = env.step(np.clip(a, -1.0, 1.0))
                if step_info["success"]:
                    wins += 1
                    break
        tasks.append(wins / cfg.eval_episodes)
    env.close()
    return {"maze": cfg.maze, "success_rate": float(np.mean(tasks)), "per_task": tasks,
            "episodes_per_task": cfg.eval_episodes}


def load_dataset(path):
    """An OGBench-format point-maze dataset; goals are positions (the observation's x, y)."""
    from hrobot.tasks.offline.data import load_npz
    from hrobot.tasks.offline.goals import StateGoals

    data = load_npz(path)
    if data.states.shape[1] < 2 or data.actions.shape[1] != 2:
        raise HRobotError(f"{path}: a point-maze dataset has observations with x, y first and 2-D actions, got "
                          f"observations {data.states.shape[1]}-D and actions {data.actions.shape[1]}-D")
    return data, StateGoals(data.states.shape[1], (0, 1))


def dataset_hours(data: Trajectories) -> None:
    return None  # steps of a simulated point, not recorded time
