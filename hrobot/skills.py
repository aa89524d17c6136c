"""Skills: frozen, command-conditioned low-level policies used as building blocks by a high level.

A skill is a policy plus what it needs to run: the robot spec, its observation layout
and the command ranges it was trained on. It is loaded from a training run (rsl_rl
checkpoint) or from an exported policy bundle, and never trained further.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hrobot.deploy import source_checkout
from hrobot.errors import HRobotError
from hrobot.obs import ObservationLayout, RobotState
from hrobot.robots import load_robot
from hrobot.spec import RobotSpec


@dataclass
class Skill:
    name: str
    robot: RobotSpec
    layout: ObservationLayout
    command_names: tuple[str, ...]
    command_low: torch.Tensor  # (nc,)
    command_high: torch.Tensor  # (nc,)
    policy: Callable[[torch.Tensor], torch.Tensor]  # observation (N, dim) -> action (N, nj)
    source: str
    axes: torch.Tensor | None = None  # a rotation skill: the palm-frame axes (A, 3) it was trained about
    speeds: tuple[float, float] | None = None  # and its trained speed range (rad/s)

    def squash(self, raw: torch.Tensor) -> torch.Tensor:
        """Map an unbounded high-level output into the trained command range (tanh): never outside it."""
        return self.command_low + (torch.tanh(raw) + 1.0) * 0.5 * (self.command_high - self.command_low)

    def act(self, state: RobotState, noise: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.inference_mode():
            return self.policy(self.layout.compute(state, noise=noise, generator=generator))


def load_skill(path: str | Path, device: str = "cpu") -> Skill:
    """A skill from a training run folder (run.json + checkpoint) or an exported bundle (policy.onnx).

    A relative path is taken from the working folder, else from the source checkout (task configs name
    the shipped skills as policies/<name>), so training works from any folder."""
    path = Path(path)
    checkout = source_checkout()
    if not path.is_absolute() and not path.exists() and checkout is not None and (checkout / path).exists():
        path = checkout / path
    if (path / "policy.onnx").is_file():
        return skill_from_bundle(path, device=device)
    if (path / "run.json").is_file():
        return _skill_from_run(path, device)
    raise HRobotError(f"{path}: not a skill (expected a training run with run.json or a bundle with policy.onnx)")


def _skill_from_run(run_dir: Path, device: str) -> Skill:
    """Everything comes from the run's own saved configs, so later code changes cannot alter the skill."""
    from rsl_rl.models import MLPModel
    from tensordict import TensorDict

    from hrobot.obs import ObsTerm
    from hrobot.train import latest_checkpoint, run_robot

    info = json.loads((run_dir / "run.json").read_text())
    env_cfg = json.loads((run_dir / "env_cfg.json").read_text())
    train_cfg = json.loads((run_dir / "train_cfg.json").read_text())
    robot = load_robot(run_robot(run_dir) or env_cfg["robot"])
    terms = [ObsTerm(t["name"], tuple(t["scale"]) if isinstance(t["scale"], list) else t["scale"], t["noise"],
                     t["clip"]) for t in env_cfg["policy_obs"]]
    layout = ObservationLayout(terms, robot, ObservationLayout.standard_sizes(robot, 3), device)
    actor_cfg = dict(train_cfg["actor"])
    actor_cfg.pop("class_name")
    dummy = TensorDict({"policy": torch.zeros(1, layout.dim)}, batch_size=[1])
    actor = MLPModel(dummy, {"actor": ["policy"]}, "actor", robot.num_joints, **actor_cfg).to(device)
    ckpt = torch.load(latest_checkpoint(run_dir), map_location=device, weights_only=False)
    actor.load_state_dict(ckpt["actor_state_dict"])
    actor.eval()
    for p in actor.parameters():
        p.requires_grad_(False)

    def policy(obs: torch.Tensor) -> torch.Tensor:
        return actor(TensorDict({"policy": obs}, batch_size=[obs.shape[0]]))

    if "axes" in env_cfg:  # in-hand rotation: an angular velocity about one of its axes
        hi = float(env_cfg["speeds"][1])
        return Skill(name=info["task"], robot=robot, layout=layout, command_names=("wx", "wy", "wz"),
                     command_low=torch.full((3,), -hi, device=device), command_high=torch.full((3,), hi, device=device),
                     policy=policy, source=str(run_dir), axes=torch.tensor(env_cfg["axes"], device=device),
                     speeds=tuple(env_cfg["speeds"]))
    c = env_cfg["commands"]
    return Skill(
        name=info["task"], robot=robot, layout=layout, command_names=("vx", "vy", "wz"),
        command_low=torch.tensor([c["lin_vel_x"][0], c["lin_vel_y"][0], c["ang_vel_z"][0]], device=device),
        command_high=torch.tensor([c["lin_vel_x"][1], c["lin_vel_y"][1], c["ang_vel_z"][1]], device=device),
        policy=policy, source=str(run_dir),
    )


def skill_from_bundle(path: Path, device: str = "cpu") -> Skill:
    """A frozen skill (for a high level) backed by the bundle's ONNX policy."""
    from hrobot.bundle import load_bundle

    b = load_bundle(path)
    if b.level != "low":
        raise HRobotError(f"{path}: a skill must be a low-level bundle, found level '{b.level}'")
    if b.recurrent:
        raise HRobotError(f"{path}: recurrent skills are not supported under a high level yet")
    if not np.array_equal(b.policy_to_robot, np.arange(b.robot.num_joints)):
        raise HRobotError(f"{path}: skills must use the robot's joint order")
    layout = ObservationLayout(b.layout.terms, b.robot, b.layout.sizes, device)

    def policy(obs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(b.run(obs.detach().cpu().numpy())).to(obs.device)

    c = b.meta["command"]
    return Skill(name=b.meta["name"], robot=b.robot, layout=layout, command_names=tuple(c["names"]),
                 command_low=torch.tensor(c["low"], device=device, dtype=torch.float32),
                 command_high=torch.tensor(c["high"], device=device, dtype=torch.float32),
                 policy=policy, source=str(path),
                 axes=torch.tensor(c["axes"], device=device, dtype=torch.float32) if "axes" in c else None,
                 speeds=tuple(c["speeds"]) if "speeds" in c else None)
