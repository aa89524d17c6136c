"""go2_nav_hiql: go2_nav's high level learned offline with HIQL from recorded driving (`hrobot collect go2`).

The observation, scan layout, rate (10 Hz) and frozen skill are go2_nav's, so the exported bundle runs in
the goal planner unchanged. Subgoals 15 high-level steps (1.5 s) ahead; the actor's goals geometric in the
future (mean 10 s, go2_nav's goals are 2-10 s away) where OGBench draws them uniformly over the rest of
an episode (here a 4-5 minute recording, so a goal a few seconds ahead, the final approach, was rarely
drawn: measured, time-outs near the goal but off its heading fell from 20 % to 5 % of held-out episodes);
OGBench's other HIQL settings, with 3 x 256 networks.
"""

from __future__ import annotations

from pathlib import Path

from hrobot.tasks.offline.data import SamplingCfg, Trajectories
from hrobot.tasks.offline.learners import LearnerCfg
from hrobot.tasks.offline.navdata import load_navigation, nav_goal_space

KIND = "offline"
NAV_TASK = "go2_nav"  # the online task this high level stands in for


def learner_cfg() -> LearnerCfg:
    return LearnerCfg(algorithm="hiql", hidden=(256, 256, 256))


def sampling_cfg() -> SamplingCfg:
    return SamplingCfg(subgoal_steps=15, actor_geom_sample=True, low_goal_uniform=True)


def load_dataset(path: Path):
    goals, rate, robot = nav_goal_space(NAV_TASK)
    return load_navigation(path, goals, rate, robot), goals


def dataset_hours(data: Trajectories) -> float:
    return len(data) / steps_per_minute() / 60.0


def steps_per_minute() -> float:
    return 60.0 * nav_goal_space(NAV_TASK)[1]
