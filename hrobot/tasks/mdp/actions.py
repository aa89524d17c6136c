"""Action terms: a low level's joint position targets, and a high level's frozen skills driven by a
skill choice and a command.

`SkillAction` turns the high level's raw action into a skill index and a command squashed
into that skill's trained range (`hrobot.nav_io.decode_action`, the function deployment
runs), and runs the chosen skills on the low-level environment: one forward pass per skill
per low-level step for all environments, no per-environment loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hrobot.errors import HRobotError
from hrobot.nav_io import decode_action
from hrobot.skills import Skill


def finite_action(action: torch.Tensor, who: str = "the policy") -> torch.Tensor:
    """The action, refused (one line) if any value is NaN or inf: training stops rather than learn from it."""
    if not bool(torch.isfinite(action).all()):
        raise HRobotError(f"{who} produced NaN/inf actions; stopping")
    return action


def joint_position_action(env, actions: torch.Tensor) -> None:
    """A policy's action into the env: refused if non-finite, clipped, delayed one step in the envs that run
    with latency, then joint targets `default + action_scale * action` inside the joint limits (the
    bundle contract). Sets env.last_actions, env.applied, env.actions and env.targets."""
    actions = finite_action(actions).to(env.device).clamp(-env.cfg.action_clip, env.cfg.action_clip)
    env.last_actions = env.actions
    env.applied = torch.where(env.latency[:, None], env.actions, actions)
    env.actions = actions
    env.targets = env.joint_targets(env.applied)


class SkillAction:
    def __init__(self, skills: Sequence[Skill], prior: Sequence[float], device: torch.device):
        self.skills = list(skills)
        self.lows = torch.stack([s.command_low for s in self.skills]).to(device)  # (S, 3)
        self.highs = torch.stack([s.command_high for s in self.skills]).to(device)
        self.prior = torch.tensor(prior, device=device) if prior else None
        self.num_actions = 3 + (len(self.skills) if len(self.skills) > 1 else 0)

    def decode(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw high-level action -> (skill index, command inside that skill's range)."""
        return decode_action(action, self.lows, self.highs, self.prior)

    def clamp(self, index: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        """An explicit command (a scripted baseline) clamped into the chosen skill's range."""
        return torch.maximum(torch.minimum(command, self.highs[index]), self.lows[index])

    def joint_actions(self, ll, index: torch.Tensor, noise: bool, generator: torch.Generator) -> torch.Tensor:
        """Each env's chosen skill's action for the low-level env's current state (N, num_joints)."""
        state = ll.robot_state()
        acts = [s.act(state, noise=noise, generator=generator) for s in self.skills]
        out = acts[0]
        for i in range(1, len(acts)):
            out = torch.where((index == i)[:, None], acts[i], out)
        return out
