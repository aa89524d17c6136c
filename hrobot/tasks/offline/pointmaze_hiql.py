"""pointmaze_hiql: HIQL on an OGBench-format point-maze dataset (`hrobot collect pointmaze`).

OGBench's HIQL settings (expectile 0.7, alpha 3 for both levels, subgoals 25 steps ahead, discount 0.99,
10-D representation, LayerNorm MLPs, lr 3e-4) with smaller networks (3 x 128) and batches (256) than its 3 x 512
and 1024 (a 2-core CPU); fewer gradient steps than its 1 M are set on the command line.
"""

from __future__ import annotations

from hrobot.tasks.offline.data import SamplingCfg
from hrobot.tasks.offline.learners import LearnerCfg
from hrobot.tasks.offline.pointmaze import dataset_hours, load_dataset  # noqa: F401 (the task's interface)

KIND = "offline"


def learner_cfg() -> LearnerCfg:
    return LearnerCfg(algorithm="hiql", hidden=(128, 128, 128))


def sampling_cfg() -> SamplingCfg:
    return SamplingCfg(subgoal_steps=25)
