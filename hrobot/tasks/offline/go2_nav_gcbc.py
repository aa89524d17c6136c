"""go2_nav_gcbc: goal-conditioned behaviour cloning on recorded driving (the baseline beside go2_nav_hiql)."""

from __future__ import annotations

from hrobot.tasks.offline.data import SamplingCfg
from hrobot.tasks.offline.go2_nav_hiql import (NAV_TASK, dataset_hours, load_dataset,  # noqa: F401 (the interface)
                                              steps_per_minute)
from hrobot.tasks.offline.learners import LearnerCfg

KIND = "offline"


def learner_cfg() -> LearnerCfg:
    return LearnerCfg(algorithm="gcbc", hidden=(256, 256, 256))


def sampling_cfg() -> SamplingCfg:
    return SamplingCfg()
