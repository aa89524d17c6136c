"""Goal spaces: what a state vector holds, what a goal is, and the goal-conditioned observation o(s, g).

Every network of an offline learner reads o(s, g) (and its goal-free columns, `state_part`), so the
policy a learner exports takes the observation a deployed high level receives:

- `NavGoals`: the navigation high level's. A state is the robot's pose, velocities, ray scan and
  previous high-level action; a goal is a pose (x, y, heading); o(s, g) is
  `hrobot.nav_io.navigation_observation`, the function the online high level and the ROS goal planner
  use. Actions are skill commands normalised to [-1, 1] over the skill's range (the exported graph maps
  them to the raw action `decode_action` squashes back). The learners do not read its velocities, previous
  action and time left (`ignored`, zeroed in o(s, g) and in the exported graph): in commands recorded at
  10 Hz, the previous command and the velocity it produced predict the next command so well that a cloned
  policy copies them and ignores the goal (the copycat problem of behaviour cloning, Wen et al. 2020;
  measured here: a GCBC policy that saw them fit the data at correlation 0.79-0.96 and reached no goal);
  recorded driving has no time limit.
- `StateGoals`: OGBench's: o(s, g) = [s, g], a goal being some of a state's dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hrobot.nav_io import HIGH_LEVEL_ACTION_CLIP, RayScanLayout, navigation_observation

RAW_LIMIT = 0.999  # |normalised action| kept below 1, so its raw pre-image atanh stays finite (3.8 < the clip of 5)


@dataclass(frozen=True)
class StateGoals:
    state_dim: int
    goal_dims: tuple[int, ...]

    @property
    def obs_dim(self) -> int:
        return self.state_dim + len(self.goal_dims)

    @property
    def state_part_dim(self) -> int:
        return self.state_dim

    def goal(self, states: torch.Tensor) -> torch.Tensor:
        return states[:, list(self.goal_dims)]

    def observe(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        return torch.cat([states, goals], dim=1)

    def state_part(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :self.state_dim]

    @property
    def ignored(self) -> tuple[int, ...]:
        return ()


def blind(obs: torch.Tensor, goals) -> torch.Tensor:
    """o(s, g) with the goal space's ignored columns zeroed."""
    if not goals.ignored:
        return obs
    keep = torch.ones(obs.shape[1], dtype=obs.dtype, device=obs.device)
    keep[list(goals.ignored)] = 0.0
    return obs * keep


def raw_action(u: torch.Tensor) -> torch.Tensor:
    """A normalised command in [-1, 1] -> the high level's raw action (decode_action's tanh inverts it); atanh
    written out, as the ONNX exporter has no atanh."""
    u = u.clamp(-RAW_LIMIT, RAW_LIMIT)
    return 0.5 * torch.log((1.0 + u) / (1.0 - u))


@dataclass(frozen=True)
class NavGoals:
    """State vector: x, y, yaw, vx, vy (base frame), yaw rate, rays (one per ray and height), previous raw action."""

    scan: RayScanLayout
    command_low: tuple[float, float, float]
    command_high: tuple[float, float, float]

    GOAL_COLUMNS = 5  # o(s, g) starts with the goal in the base frame (2), its distance, sin and cos of the yaw error

    @property
    def num_rays(self) -> int:
        return self.scan.num_rays * len(self.scan.heights)

    @property
    def state_dim(self) -> int:
        return 6 + self.num_rays + 3

    @property
    def obs_dim(self) -> int:
        return self.GOAL_COLUMNS + 3 + self.num_rays + 3 + 1

    @property
    def state_part_dim(self) -> int:
        return self.obs_dim - self.GOAL_COLUMNS

    def goal(self, states: torch.Tensor) -> torch.Tensor:
        return states[:, :3]

    @property
    def ignored(self) -> tuple[int, ...]:
        """Columns of o(s, g) the learners see as zeros: the velocities (after the goal's five), the previous action
        and the time left (the last four)."""
        return (self.GOAL_COLUMNS, self.GOAL_COLUMNS + 1, self.GOAL_COLUMNS + 2, *range(self.obs_dim - 4, self.obs_dim))

    def observe(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """navigation_observation with the ignored columns zeroed."""
        r = self.num_rays
        obs = navigation_observation(states[:, :2], states[:, 2], states[:, 3:5], states[:, 5], goals,
                                     states[:, 6:6 + r], states[:, 6 + r:9 + r], torch.zeros(len(states)),
                                     self.scan.range)
        return blind(obs, self)

    def state_part(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, self.GOAL_COLUMNS:]

    def normalise(self, command: np.ndarray) -> np.ndarray:
        """Skill commands (vx, vy, wz) -> [-1, 1] over the skill's range."""
        low, high = np.asarray(self.command_low), np.asarray(self.command_high)
        return np.clip(2.0 * (command - low) / (high - low) - 1.0, -RAW_LIMIT, RAW_LIMIT)

    def state_vector(self, xy, yaw, lin_vel, yaw_rate, rays, previous_command) -> np.ndarray:
        """Recorded quantities (T, ...) -> state vectors (T, state_dim); rays in metres, clipped to the range."""
        prev = np.arctanh(self.normalise(previous_command))
        prev = np.clip(prev, -HIGH_LEVEL_ACTION_CLIP, HIGH_LEVEL_ACTION_CLIP)
        return np.concatenate([xy, yaw[:, None], lin_vel, yaw_rate[:, None],
                               np.minimum(rays, self.scan.range), prev], axis=1).astype(np.float32)
