"""Offline goal-conditioned learners: HIQL (Park et al. 2023, in OGBench's reference form) and GCBC.

HIQL: a goal-conditioned value V(s, g) = min/mean of two heads over [state part, phi(o(s, g))], trained with
the expectile loss on action-free TD targets (reward 0 at the goal, -1 elsewhere; a target network); phi
is a length-normalised representation, the subgoal space. The high-level policy proposes phi(o(s, s+k))
for a goal g, the low-level policy maps (state part, phi) to the action, both extracted by advantage-
weighted regression (weights exp(alpha * A), capped at 100) with the value's advantages: the value of
the subgoal against the goal for the high level, of the next state against the subgoal for the low one.
GCBC: the action regressed on o(s, g) with trajectory goals. Actors have a constant unit standard
deviation (OGBench's const_std), so their log-likelihood is a squared error.

Both give `policy()`: a module o(s, g) -> action (the mean), the graph `hrobot export` writes; it zeroes the
goal space's ignored columns, as the training observations had them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from hrobot.tasks.offline.data import GoalSampler, Trajectories, to_tensor
from hrobot.tasks.offline.goals import blind


@dataclass
class LearnerCfg:
    algorithm: str = "hiql"  # or "gcbc"
    hidden: tuple[int, ...] = (256, 256, 256)
    layer_norm: bool = True
    rep_dim: int = 10
    learning_rate: float = 3e-4
    batch_size: int = 256
    expectile: float = 0.7
    high_alpha: float = 3.0
    low_alpha: float = 3.0
    tau: float = 0.005  # target network update rate
    discount: float = 0.99


def mlp(inp: int, hidden: tuple[int, ...], out: int, layer_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inp, h), *([nn.LayerNorm(h)] if layer_norm else []), nn.GELU()]
        inp = h
    return nn.Sequential(*layers, nn.Linear(inp, out))


class Representation(nn.Module):
    """phi(o): the subgoal representation, length-normalised to sqrt(rep_dim)."""

    def __init__(self, obs_dim: int, cfg: LearnerCfg):
        super().__init__()
        self.net, self.dim = mlp(obs_dim, cfg.hidden, cfg.rep_dim, cfg.layer_norm), cfg.rep_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = self.net(obs)
        return z / z.norm(dim=-1, keepdim=True).clamp(min=1e-6) * self.dim ** 0.5


class Value(nn.Module):
    def __init__(self, goals, cfg: LearnerCfg):
        super().__init__()
        self.goals = goals
        self.rep = Representation(goals.obs_dim, cfg)
        self.heads = nn.ModuleList([mlp(goals.state_part_dim + cfg.rep_dim, cfg.hidden, 1, cfg.layer_norm)
                                    for _ in range(2)])

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.goals.state_part(obs), self.rep(obs)], dim=1)
        v1, v2 = (h(x).squeeze(-1) for h in self.heads)
        return v1, v2


class HierarchicalPolicy(nn.Module):
    """o(s, g) -> subgoal representation (high) -> action (low): the deployed graph."""

    def __init__(self, goals, high: nn.Module, low: nn.Module):
        super().__init__()
        self.goals, self.high, self.low = goals, high, low

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = self.high(obs)
        z = z / z.norm(dim=-1, keepdim=True).clamp(min=1e-6) * z.shape[-1] ** 0.5  # onto phi's sphere
        return self.low(torch.cat([self.goals.state_part(obs), z], dim=1))


class Blinded(nn.Module):
    """A policy that zeroes the goal space's ignored columns of its input, as its training data had them."""

    def __init__(self, goals, net: nn.Module):
        super().__init__()
        self.goals, self.net = goals, net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(blind(obs, self.goals))


def _expectile(adv: torch.Tensor, diff: torch.Tensor, tau: float) -> torch.Tensor:
    weight = torch.where(adv >= 0, tau, 1.0 - tau)
    return (weight * diff ** 2).mean()


class Learner:
    """One offline learner over a dataset and a goal space; `update()` takes one gradient step of each part."""

    def __init__(self, goals, action_dim: int, cfg: LearnerCfg, seed: int = 0):
        torch.manual_seed(seed)
        self.goals, self.cfg, self.action_dim = goals, cfg, action_dim
        if cfg.algorithm == "hiql":
            self.value = Value(goals, cfg)
            self.target = copy.deepcopy(self.value).requires_grad_(False)
            self.high = mlp(goals.obs_dim, cfg.hidden, cfg.rep_dim, cfg.layer_norm)
            self.low = mlp(goals.state_part_dim + cfg.rep_dim, cfg.hidden, action_dim, cfg.layer_norm)
            self.modules = {"value": self.value, "high": self.high, "low": self.low}
        elif cfg.algorithm == "gcbc":
            self.actor = mlp(goals.obs_dim, cfg.hidden, action_dim, cfg.layer_norm)
            self.modules = {"actor": self.actor}
        else:
            raise ValueError(f"unknown offline algorithm '{cfg.algorithm}' (expected hiql or gcbc)")
        self.opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.learning_rate) for k, m in self.modules.items()}

    def policy(self) -> nn.Module:
        net = HierarchicalPolicy(self.goals, self.high, self.low) if self.cfg.algorithm == "hiql" else self.actor
        return Blinded(self.goals, net)

    def _obs(self, s: torch.Tensor, g_states: torch.Tensor) -> torch.Tensor:
        return self.goals.observe(s, self.goals.goal(g_states))

    def update(self, data: Trajectories, sampler: GoalSampler, states: torch.Tensor, actions: torch.Tensor) -> dict:
        b = sampler.batch(self.cfg.batch_size)
        at = {k: torch.as_tensor(v) for k, v in b.items()}
        s, a = states[at["idx"]], actions[at["idx"]]
        if self.cfg.algorithm == "gcbc":
            loss = ((self.actor(self._obs(s, states[at["actor_goal"]])) - a) ** 2).sum(-1).mean()
            self._step("actor", loss)
            return {"actor_loss": loss.item()}
        c, s_next = self.cfg, states[at["next"]]
        n = len(s)
        vg, sub = states[at["value_goal"]], states[at["low_goal"]]
        g, tgt = states[at["actor_goal"]], states[at["high_target"]]
        o, o_next = self._obs(s, vg), self._obs(s_next, vg)
        o_low, o_low_next = self._obs(s, sub), self._obs(s_next, sub)
        o_high, o_tgt, o_to_tgt = self._obs(s, g), self._obs(tgt, g), self._obs(s, tgt)
        with torch.no_grad():  # every value the losses need as a constant, in two batched passes
            t1, t2 = self.target(torch.cat([o_next, o]))
            v1s, v2s = self.value(torch.cat([o_low, o_low_next, o_high, o_tgt]))
            vs = ((v1s + v2s) / 2).split(n)
            z_low, z_target = self.value.rep(torch.cat([o_low, o_to_tgt])).split(n)
            nv1, v1_t = t1.split(n)
            nv2, v2_t = t2.split(n)
            r, m = at["reward"], at["mask"]
            adv = r + c.discount * m * torch.minimum(nv1, nv2) - (v1_t + v2_t) / 2
            q1, q2 = r + c.discount * m * nv1, r + c.discount * m * nv2
            w_low = torch.exp((vs[1] - vs[0]) * c.low_alpha).clamp(max=100.0)  # next state vs this, to the subgoal
            adv_high = vs[3] - vs[2]  # the subgoal vs this state, to the goal
            w_high = torch.exp(adv_high * c.high_alpha).clamp(max=100.0)
        # value: expectile regression on action-free targets
        v1, v2 = self.value(o)
        value_loss = _expectile(adv, q1 - v1, c.expectile) + _expectile(adv, q2 - v2, c.expectile)
        self._step("value", value_loss)
        with torch.no_grad():
            for p, tp in zip(self.value.parameters(), self.target.parameters()):
                tp.lerp_(p, c.tau)
        # low level: towards the subgoal k steps ahead
        pred = self.low(torch.cat([self.goals.state_part(o_low), z_low], dim=1))
        low_loss = (w_low * ((pred - a) ** 2).sum(-1)).mean()
        self._step("low", low_loss)
        # high level: the subgoal representation that leads to the goal
        high_loss = (w_high * ((self.high(o_high) - z_target) ** 2).sum(-1)).mean()
        self._step("high", high_loss)
        return {"value_loss": value_loss.item(), "low_loss": low_loss.item(), "high_loss": high_loss.item(),
                "value_mean": ((v1 + v2) / 2).mean().item(), "adv_high_mean": adv_high.mean().item()}

    def _step(self, name: str, loss: torch.Tensor) -> None:
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def state_dict(self) -> dict:
        out = {k: m.state_dict() for k, m in self.modules.items()}
        out.update({f"opt_{k}": o.state_dict() for k, o in self.opts.items()})
        if self.cfg.algorithm == "hiql":
            out["target"] = self.target.state_dict()
        return out

    def load_state_dict(self, d: dict) -> None:
        for k, m in self.modules.items():
            m.load_state_dict(d[k])
        for k, o in self.opts.items():
            if f"opt_{k}" in d:
                o.load_state_dict(d[f"opt_{k}"])
        if self.cfg.algorithm == "hiql":
            self.target.load_state_dict(d["target"])


def dataset_tensors(data: Trajectories) -> tuple[torch.Tensor, torch.Tensor]:
    return to_tensor(data.states), to_tensor(data.actions)
