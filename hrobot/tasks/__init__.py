"""Tasks (train layer): one folder per kind of task, one module per robot/task config, reusable terms.

- `velocity/`: velocity tracking (a command vx, vy, wz in, joint targets out): `env.py` is the
  environment, `go2_walk.py`, `go2_rough.py` (with a height scan), `g1_walk.py`, ... each an explicit config picking and weighting terms.
- `navigation/`: a goal-conditioned high level over frozen skills: `env.py`, and one config per
  robot/task (`go2_nav.py`, `go2_nav_skills.py`, ...).
- `inhand/`: in-hand manipulation: `env.py` (a cube rotation command in, a hand's joint targets
  out; `leap_rotate.py`) and `reorient.py` (goal orientations, a high level over the rotation
  skill; `leap_reorient.py`, and the flat baseline `leap_reorient_flat.py`).
- `carry/`: carrying a load with a (simulated) person: `env.py` (the wrench at the wrists in, the
  skill's velocity command out; the admittance baseline) and `g1_carry.py`.
- `offline/`: goal-conditioned high levels learned from recorded data (HIQL, and GCBC as the baseline):
  trajectories and goal sampling (`data.py`), goal spaces (`goals.py`), the learners, the training loop,
  and per-task configs (`go2_nav_hiql.py`, ...; `pointmaze_*.py` check the learners on OGBench's maze).
- `mdp/`: the terms tasks are built from (rewards, terminations, events, commands, the skill
  action), in the manner of mjlab's manager-based configs; observation terms are `hrobot.obs`.

Each task module defines `KIND`, `env_cfg() -> config dataclass`, `train_cfg() -> dict` (the
rsl_rl runner config) and `make_env(cfg, **kw)`; `TASKS` names them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hrobot.errors import HRobotError

TASKS = {name: f"velocity.{name}" for name in ("go2_walk", "go2_walk_lstm", "go2_rough", "g1_walk", "go2_crouch")} | {
    name: f"navigation.{name}" for name in ("go2_nav", "go2_nav_skills", "go2_nav_flat", "g1_nav")} | {
    name: f"inhand.{name}" for name in ("leap_rotate", "leap_reorient", "leap_reorient_flat")} | {
    "g1_carry": "carry.g1_carry"} | {
    name: f"offline.{name}" for name in ("pointmaze_hiql", "pointmaze_gcbc", "go2_nav_hiql", "go2_nav_gcbc")}


def load_task(name: str) -> ModuleType:
    if name not in TASKS:
        raise HRobotError(f"unknown task '{name}': expected one of {', '.join(TASKS)}")
    return importlib.import_module(f"hrobot.tasks.{TASKS[name]}")


def ppo_cfg(num_steps_per_env: int = 24, hidden: tuple[int, ...] = (512, 256, 128), learning_rate: float = 1e-3,
            entropy_coef: float = 0.01, num_mini_batches: int = 4, init_std: float = 1.0, max_std: float = 1e6,
            save_interval: int = 50, obs_normalization: bool = False, recurrent: str | None = None,
            rnn_hidden_dim: int = 128) -> dict:
    """rsl_rl 5.x OnPolicyRunner config (PPO, Gaussian MLP actor, MLP critic).

    `recurrent` ("lstm" or "gru") puts a recurrent layer in front of the actor's MLP (the critic,
    which sees the privileged state, stays an MLP). `max_std` caps the exploration noise that is
    sampled (the entropy bonus can otherwise grow it without bound when the reward is flat in it).

    Observations arrive scaled by their layout; empirical normalisation is off by default (its
    statistics shift when a curriculum widens the commands, which spikes the KL and collapses
    the adaptive learning rate).
    """
    return {
        "num_steps_per_env": num_steps_per_env,
        "save_interval": save_interval,
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "algorithm": {
            "class_name": "PPO", "learning_rate": learning_rate, "num_learning_epochs": 5,
            "num_mini_batches": num_mini_batches, "clip_param": 0.2, "gamma": 0.99, "lam": 0.95,
            "value_loss_coef": 1.0, "entropy_coef": entropy_coef, "max_grad_norm": 1.0, "schedule": "adaptive",
            "desired_kl": 0.01, "use_clipped_value_loss": True,
        },
        "actor": {
            "class_name": "RNNModel" if recurrent else "MLPModel", "hidden_dims": list(hidden), "activation": "elu",
            "obs_normalization": obs_normalization,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": init_std, "std_type": "scalar",
                                 "std_range": [1e-6, max_std]},
            **({"rnn_type": recurrent, "rnn_hidden_dim": rnn_hidden_dim, "rnn_num_layers": 1} if recurrent else {}),
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": list(hidden), "activation": "elu",
                   "obs_normalization": obs_normalization},
        "logger": "tensorboard",
        "check_for_nan": True,
    }
