"""go2_nav_gcbc: goal-conditioned behaviour cloning on recorded driving (the baseline beside go2_nav_hiql).

Goals geometric in the future (mean 10 s ahead) rather than uniform over a recording's minutes: the command
predicts little of where the robot is a minute later (measured on 60 min of explorer driving: correlation of
the goal's bearing with the turn command 0.79 at 2 s, 0.32 at 8 s, 0.21 at 15 s).
"""

from __future__ import annotations

from hrobot.tasks.offline.data import SamplingCfg
from hrobot.tasks.offline.go2_nav_hiql import (NAV_TASK, dataset_hours, load_dataset,  # noqa: F401 (the interface)
                                              steps_per_minute)
from hrobot.tasks.offline.learners import LearnerCfg

KIND = "offline"


def learner_cfg() -> LearnerCfg:
    return LearnerCfg(algorithm="gcbc", hidden=(256, 256, 256))


def sampling_cfg() -> SamplingCfg:
    return SamplingCfg(actor_geom_sample=True)
