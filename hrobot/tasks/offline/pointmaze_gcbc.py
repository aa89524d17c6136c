"""pointmaze_gcbc: goal-conditioned behaviour cloning on a point-maze dataset (the baseline beside HIQL)."""

from __future__ import annotations

from hrobot.tasks.offline.data import SamplingCfg
from hrobot.tasks.offline.learners import LearnerCfg
from hrobot.tasks.offline.pointmaze import dataset_hours, load_dataset  # noqa: F401 (the task's interface)

KIND = "offline"


def learner_cfg() -> LearnerCfg:
    return LearnerCfg(algorithm="gcbc", hidden=(128, 128, 128))


def sampling_cfg() -> SamplingCfg:
    return SamplingCfg()
