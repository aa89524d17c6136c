"""Goal-conditioned in-hand reorientation: a high level commands the frozen rotation skill.

The goal is a target orientation of the cube in the palm frame. The high level acts at
`hl_rate_hz` (5 Hz): one preference per axis the skill was trained about (the largest wins)
and a speed squashed into the skill's trained range (`hrobot.reorient_io`); in between, the
skill turns the cube about that axis at the policy rate (20 Hz) in the batched in-hand
environment. A success is the cube within `success_angle` of the goal for `hold_s`; a new goal
is then drawn, and an episode (40 s) counts its consecutive successes, as the in-hand
reorientation literature reports them. A drop ends the episode.

With `flat=True` the same task is posed to a flat policy that outputs joint targets at 20 Hz
from the goal and the hand's own observations (the baseline, as MuJoCo Playground's
LeapCubeReorient), trained with the same low-level env-step budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from tensordict import TensorDict

from hrobot.errors import HRobotError
from hrobot.nav_io import HIGH_LEVEL_ACTION_CLIP, decode_action
from hrobot.reorient_io import EPISODE_S, HL_RATE_HZ, HOLD_S, SUCCESS_ANGLE, axis_options, error_angle, \
    greedy_axis, orientation_error, random_quat, reorient_observation
from hrobot.skills import Skill, load_skill
from hrobot.tasks import load_task
from hrobot.tasks.inhand.env import InHandCfg, InHandEnv
from hrobot.tasks.mdp.actions import finite_action

try:
    from rsl_rl.env import VecEnv
except ImportError:  # pragma: no cover
    VecEnv = object


@dataclass
class ReorientCfg:
    inhand_task: str = "leap_rotate"  # the hand, its observations and randomisation
    skills: tuple[str, ...] = ("policies/leap_rotate",)  # one rotation skill (run folder or bundle)
    num_envs: int = 256
    hl_rate_hz: float = HL_RATE_HZ
    episode_s: float = EPISODE_S
    success_angle: float = SUCCESS_ANGLE  # rad
    hold_s: float = HOLD_S
    rewards: dict[str, float] = field(default_factory=lambda: {"progress": 1.0, "success": 5.0, "drop": -10.0})
    flat: bool = False
    flat_regularizers: dict[str, float] = field(default_factory=lambda: {
        "object_offset": -1.0, "pose_deviation": -0.01, "torques": -0.005, "action_rate": -0.01})


def driven_hand(cfg: ReorientCfg) -> InHandCfg:
    """The in-hand environment a high level drives: episodes and commands left to the high level, rewards only
    for the flat baseline."""
    base = load_task(cfg.inhand_task).env_cfg()
    return replace(base, num_envs=cfg.num_envs, auto_reset=False, episode_s=1e6, resample_s=1e9,
                   rewards=dict(cfg.flat_regularizers) if cfg.flat else {})


class ReorientEnv(VecEnv):
    def __init__(self, cfg: ReorientCfg, backend: str = "mujoco", device: str = "cpu", seed: int = 0,
                 eval_mode: bool = False, skills: list[Skill] | None = None, nthread: int | None = None):
        self.cfg, self.device, self.eval_mode = cfg, torch.device(device), eval_mode
        if cfg.flat:
            self.skill = None
        else:
            loaded = skills if skills is not None else [load_skill(p, device) for p in cfg.skills]
            if len(loaded) != 1 or loaded[0].axes is None:
                raise HRobotError("reorientation drives exactly one rotation skill (a bundle or run of an in-hand "
                                  "rotation task, whose command names its axes)")
            self.skill = loaded[0]
        self.skills = [] if self.skill is None else [self.skill]
        self.ll = InHandEnv(driven_hand(cfg), backend=backend, device=device, seed=seed, eval_mode=eval_mode,
                            nthread=nthread)
        if self.skill is not None and self.skill.robot.joint_names != self.ll.robot.joint_names:
            raise HRobotError(f"skill {self.skill.name} is for robot {self.skill.robot.name}, not {self.ll.robot.name}")
        self.robot, self.gen, self.num_envs = self.ll.robot, self.ll.gen, cfg.num_envs
        self.ll_steps = 1 if cfg.flat else int(round(self.robot.policy_rate_hz / cfg.hl_rate_hz))
        self.dt = self.ll_steps * self.robot.policy_dt
        self.max_episode_length = int(round(cfg.episode_s / self.dt))
        if self.skill is not None:
            lows, highs = axis_options(self.skill.axes.cpu().numpy(), *self.skill.speeds)
            self.axes = self.skill.axes.to(self.device)
            self.lows, self.highs = torch.as_tensor(lows, device=self.device), torch.as_tensor(highs, device=self.device)
            self.num_actions = len(self.axes) + 3
        else:
            self.num_actions = self.robot.num_joints
        n, dev = self.num_envs, self.device
        self.goal = torch.zeros(n, 4, device=dev)
        self.prev_angle = torch.zeros(n, device=dev)
        self.held = torch.zeros(n, device=dev)  # s inside the success angle
        self.successes = torch.zeros(n, dtype=torch.long, device=dev)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.last_action = torch.zeros(n, self.num_actions, device=dev)
        self.axis_index = torch.zeros(n, dtype=torch.long, device=dev)
        self.ll_step_count = 0
        self.extras: dict = {"log": {}}
        self._reset(torch.arange(n, device=dev))
        self._observe()

    # ------------------------------------------------------------------ episodes
    def _new_goals(self, ids: torch.Tensor) -> None:
        u = torch.rand(len(ids), 3, device=self.device, generator=self.gen)
        self.goal[ids] = random_quat(u)
        self.prev_angle[ids] = error_angle(self.ll.obj_quat[ids], self.goal[ids])
        self.held[ids] = 0.0

    def _reset(self, ids: torch.Tensor) -> None:
        if not len(ids):
            return
        self.ll._reset_envs(ids)
        self.ll._refresh()
        self._new_goals(ids)
        self.successes[ids] = 0
        self.episode_length_buf[ids] = 0
        self.last_action[ids] = 0.0

    def reset_all(self) -> None:
        self._reset(torch.arange(self.num_envs, device=self.device))
        self._observe()

    def reset(self):
        self.reset_all()
        return self.obs, self.extras

    # ------------------------------------------------------------------ stepping
    def step(self, action: torch.Tensor):
        action = finite_action(action.to(self.device), "the high-level policy")
        if self.cfg.flat:
            return self._advance(action, None, None)
        index, command = decode_action(action, self.lows, self.highs)
        return self._advance(action, index, command)

    def step_axes(self, index: torch.Tensor, speed: float | None = None):
        """Drive the skill about explicit axes (scripted baselines), at `speed` (default: the fastest trained)."""
        lo, hi = self.skill.speeds
        speed = hi if speed is None else min(max(speed, lo), hi)
        command = self.axes[index] * speed
        return self._advance(torch.zeros(self.num_envs, self.num_actions, device=self.device), index, command)

    def scripted_axes(self) -> torch.Tensor:
        """The scripted planner's choice: the skill axis that reduces the orientation error most."""
        return greedy_axis(orientation_error(self.ll.obj_quat, self.goal), self.axes)

    def _advance(self, action: torch.Tensor, index: torch.Tensor | None, command: torch.Tensor | None):
        n = self.num_envs
        dropped = torch.zeros(n, dtype=torch.bool, device=self.device)
        succeeded = torch.zeros(n, dtype=torch.bool, device=self.device)
        ll_reward = torch.zeros(n, device=self.device)
        if command is not None:
            self.axis_index = index
            self.ll.commands.copy_(command)
        for _ in range(self.ll_steps):
            a = action if self.cfg.flat else self.skill.act(self.ll.robot_state(), noise=not self.eval_mode,
                                                            generator=self.gen)
            _, r, d, _ = self.ll.step(a)
            ll_reward += r
            dropped |= d & ~succeeded  # an episode that succeeded this step is scored before a later drop
            self.ll_step_count += 1
            angle = error_angle(self.ll.obj_quat, self.goal)
            inside = (angle < self.cfg.success_angle) & ~dropped
            self.held = torch.where(inside, self.held + self.robot.policy_dt, torch.zeros_like(self.held))
            done = self.held >= self.cfg.hold_s - 1e-6
            if bool(done.any()):
                succeeded |= done
                ids = torch.nonzero(done).flatten()
                self.successes[ids] += 1
                self._new_goals(ids)  # counted from the new goal's error, no progress jump
        angle = error_angle(self.ll.obj_quat, self.goal)
        self.last_action = action.clamp(-HIGH_LEVEL_ACTION_CLIP, HIGH_LEVEL_ACTION_CLIP)
        self.episode_length_buf += 1
        w = self.cfg.rewards
        progress = torch.where(succeeded, torch.zeros_like(angle), self.prev_angle - angle)
        reward = (w["progress"] * progress + w["success"] * succeeded.float() + w["drop"] * dropped.float()
                  + ll_reward)
        self.prev_angle = angle
        time_outs = (self.episode_length_buf >= self.max_episode_length) & ~dropped
        dones = dropped | time_outs
        self.extras = {"time_outs": time_outs, "log": {}}
        ids = torch.nonzero(dones).flatten()
        if len(ids):
            log = self.extras["log"]
            log["Reorient/consecutive_successes"] = self.successes[ids].float().mean()
            log["Reorient/drop_rate"] = dropped[ids].float().mean()
        self.last_outcome = {"dropped": dropped, "time_outs": time_outs, "dones": dones,
                             "successes": self.successes.clone(), "succeeded": succeeded,
                             "time_s": self.episode_length_buf.float() * self.dt}
        self._reset(ids)
        return self._observe(), reward, dones, self.extras

    def _observe(self) -> TensorDict:
        ll = self.ll
        if self.cfg.flat:  # the hand's own observations (its command term idle) and the goal
            proprio = ll.policy_layout.compute(ll.robot_state(), noise=not self.eval_mode, generator=self.gen)
            policy = torch.cat([proprio, reorient_observation(ll.obj_quat, self.goal, ll.actions[:, :0])], 1)
        else:
            policy = reorient_observation(ll.obj_quat, self.goal, self.last_action)
        critic = torch.cat([policy, ll.obj_pos * 20.0, ll.obj_ang_vel * 0.5, ll.joint_pos,
                            (self.held / self.cfg.hold_s)[:, None]], 1)
        self.obs = TensorDict({"policy": policy, "critic": critic}, batch_size=[self.num_envs], device=self.device)
        return self.obs

    def get_observations(self) -> TensorDict:
        return self.obs

