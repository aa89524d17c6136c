"""Goal-conditioned navigation: a high-level policy commands frozen low-level skills.

The high level acts at `hl_rate_hz` (10 Hz); its action is the skill command (vx, vy, wz),
squashed into the skill's trained range, or, with several skills, one preference per
skill (the largest wins) followed by the command. In between, the chosen skill runs the
robot at the policy rate (50 Hz) inside the batched low-level environment: one skill
forward pass per skill per low-level step for all environments, no per-environment loop.

The task: reach a goal pose (x, y, heading) up to 5 m away in an arena with random box
obstacles (and, for skill choice, a low bar across the arena that only a crouched robot
passes), sensed through a two-height ray scan. Success: within 0.25 m and 0.3 rad inside
20 s without a fall or a collision.

With `flat=True` the same task is posed to a flat policy that outputs joint targets
directly at 50 Hz (the baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from tensordict import TensorDict

from hrobot.errors import HRobotError
from hrobot.geometry import wrap_to_pi, yaw_from_quat
from hrobot.nav_io import (DEFAULT_SCAN, HIGH_LEVEL_ACTION_CLIP, RayScanLayout, navigation_observation,
                           pure_pursuit_command)
from hrobot.sim.scene import BAR_BOTTOM, BAR_HALF_THICKNESS, SceneConfig
from hrobot.world import ARENA_HALF_SIZE, OBSTACLE_SIZES
from hrobot.skills import Skill, load_skill
from hrobot.tasks import load_task
from hrobot.tasks.mdp.actions import SkillAction, finite_action
from hrobot.robots import load_robot
from hrobot.tasks.velocity.env import LocomotionCfg, LocomotionEnv, for_robot

try:
    from rsl_rl.env import VecEnv
except ImportError:  # pragma: no cover
    VecEnv = object

@dataclass
class NavigationCfg:
    locomotion_task: str = "go2_walk"  # robot, low-level observation layout and randomisation
    robot: str | None = None  # another robot (spec YAML) for the locomotion task's config (see for_robot)
    skills: tuple[str, ...] = ("policies/go2_walk",)  # run folders or bundles
    num_envs: int = 512
    hl_rate_hz: float = 10.0
    episode_s: float = 20.0
    arena_half_size: float = ARENA_HALF_SIZE
    num_obstacles: int = 6
    obstacle_prob: float = 0.8  # each obstacle is placed with this probability
    bar_prob: float = 0.0  # share of episodes with a low bar between start and goal
    skill_prior: tuple[float, ...] = ()  # added to the skill preferences (empty: none)
    block_prob: float = 0.0  # share of episodes with the first obstacle across the straight start-goal line
    goal_distance: tuple[float, float] = (1.0, 5.0)
    clearance: float = 0.7  # free radius around start and goal (m), plus the obstacle's size
    success_distance: float = 0.25
    success_yaw: float = 0.3
    num_rays: int = DEFAULT_SCAN.num_rays
    ray_range: float = DEFAULT_SCAN.range
    ray_heights: tuple[float, ...] = DEFAULT_SCAN.heights  # above the ground: under and at the bar
    rewards: dict[str, float] = field(default_factory=lambda: {
        "progress": 2.0, "heading": 0.3, "success": 10.0, "collision": -10.0, "fall": -10.0, "time": -0.02,
    })
    flat: bool = False  # baseline: the policy outputs joint targets at the low-level rate
    flat_regularizers: dict[str, float] = field(default_factory=lambda: {
        "orientation": -1.0, "base_height": -10.0, "action_rate": -0.01, "torques": -2e-4, "feet_air_time": 1.0,
    })

    @property
    def scan(self) -> RayScanLayout:
        return RayScanLayout(self.num_rays, tuple(self.ray_heights), self.ray_range)


def policy_cfg(info: dict, num_envs: int) -> NavigationCfg:
    """A trained high level's task config with its own skills and skill prior (from its run or bundle)."""
    cfg = load_task(info["task"]).env_cfg()
    cfg.num_envs = num_envs
    cfg.skills = tuple(info.get("skills") or cfg.skills)
    if info.get("skill_prior") is not None:
        cfg.skill_prior = tuple(info["skill_prior"])
    return cfg


def driven_low_level(cfg: NavigationCfg) -> LocomotionCfg:
    """The low-level environment a high level drives: its locomotion task's flat-ground config, with
    episodes, command resampling and pushes left to the high level, and rewards only for the flat baseline."""
    base = load_task(cfg.locomotion_task).env_cfg("flat")
    if cfg.robot:
        base = for_robot(base, load_robot(cfg.robot), cfg.locomotion_task)[0]
    return replace(base, num_envs=cfg.num_envs, auto_reset=False, episode_s=1e6,  # the high level ends episodes
                   commands=replace(base.commands, resample_s=1e9),
                   randomization=replace(base.randomization, push_velocity=0.0),  # pushes: into obstacles
                   rewards=dict(cfg.flat_regularizers) if cfg.flat else {})


class NavigationEnv(VecEnv):
    def __init__(self, cfg: NavigationCfg, backend: str = "mujoco", device: str = "cpu", seed: int = 0,
                 eval_mode: bool = False, skills: list[Skill] | None = None, nthread: int | None = None):
        self.cfg, self.device, self.eval_mode = cfg, torch.device(device), eval_mode
        self.skills = skills if skills is not None else [load_skill(p, device) for p in cfg.skills]
        if not self.skills and not cfg.flat:
            raise HRobotError("navigation needs at least one skill (or flat=True for the baseline)")
        scene = SceneConfig(kind="arena", num_obstacles=cfg.num_obstacles, arena_half_size=cfg.arena_half_size,
                            seed=seed, visual=False)
        self.ll = LocomotionEnv(driven_low_level(cfg), backend=backend, device=device, seed=seed, scene=scene,
                                eval_mode=eval_mode, nthread=nthread)
        for s in self.skills:
            if s.robot.name != self.ll.robot.name or s.robot.joint_names != self.ll.robot.joint_names:
                raise HRobotError(f"skill {s.name} is for robot {s.robot.name}, not {self.ll.robot.name} (train a "
                                  f"high level for another robot with --robot, on skills for that robot)")
        self.robot = self.ll.robot
        self.gen = self.ll.gen
        self.num_envs = cfg.num_envs
        self.ll_steps = 1 if cfg.flat else int(round(self.robot.policy_rate_hz / cfg.hl_rate_hz))
        self.dt = self.ll_steps * self.robot.policy_dt
        self.max_episode_length = int(round(cfg.episode_s / self.dt))
        self.num_skills = len(self.skills)
        self.action = SkillAction(self.skills, cfg.skill_prior, self.device) if self.skills else None
        self.num_actions = self.robot.num_joints if cfg.flat else self.action.num_actions
        self._init_geometry()
        n, dev = self.num_envs, self.device
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.goal = torch.zeros(n, 3, device=dev)
        self.start = torch.zeros(n, 3, device=dev)
        self.prev_dist = torch.zeros(n, device=dev)
        self.last_action = torch.zeros(n, self.num_actions, device=dev)
        self.skill_index = torch.zeros(n, dtype=torch.long, device=dev)
        self.command = torch.zeros(n, 3, device=dev)
        self.has_bar = torch.zeros(n, dtype=torch.bool, device=dev)
        self.ll_step_count = 0  # low-level steps taken (for tests and budgets)
        self.extras: dict = {"log": {}}
        self._reset(torch.arange(n, device=dev))
        self._observe()

    # ------------------------------------------------------------------ geometry
    def _init_geometry(self) -> None:
        m, dev = self.ll.sm.model, self.device
        self.obstacle_mocap = []
        for i in range(self.cfg.num_obstacles):
            self.obstacle_mocap.append(int(m.body_mocapid[m.body(f"obstacle{i}").id]))
        self.bar_mocap = int(m.body_mocapid[m.body("bar").id])
        half = self.cfg.arena_half_size
        sizes = [OBSTACLE_SIZES[i % len(OBSTACLE_SIZES)] for i in range(self.cfg.num_obstacles)]
        sizes.append((BAR_HALF_THICKNESS[0], half, BAR_HALF_THICKNESS[1]))
        self.box_half = torch.tensor(sizes, device=dev)  # (B, 3) for the mocap boxes
        # mocap body origin -> box centre offset (obstacles stand on the floor, the bar is centred)
        offs = [(0.0, 0.0, s[2]) for s in sizes[:-1]] + [(0.0, 0.0, 0.0)]
        self.box_offset = torch.tensor(offs, device=dev)
        t = 0.1
        walls = [((half + t, 0, 0.5), (t, half + 2 * t, 0.5)), ((-half - t, 0, 0.5), (t, half + 2 * t, 0.5)),
                 ((0, half + t, 0.5), (half, t, 0.5)), ((0, -half - t, 0.5), (half, t, 0.5))]
        self.wall_centre = torch.tensor([w[0] for w in walls], device=dev)
        self.wall_half = torch.tensor([w[1] for w in walls], device=dev)
        ang = torch.arange(self.cfg.num_rays, device=dev) * (2 * math.pi / self.cfg.num_rays)
        self.ray_angles = ang

    def boxes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Axis-aligned boxes per env: centres (N, B, 3) and half sizes (N, B, 3), walls included."""
        mocap = self.ll.mocap_pos[:, self.obstacle_mocap + [self.bar_mocap]]
        centres = torch.cat([mocap + self.box_offset, self.wall_centre.expand(self.num_envs, -1, -1)], dim=1)
        halves = torch.cat([self.box_half, self.wall_half], dim=0).expand(self.num_envs, -1, -1)
        return centres, halves

    def rays(self) -> torch.Tensor:
        """Distances (N, 2 * num_rays) along horizontal rays from the base, at two heights above the ground."""
        centres, halves = self.boxes()
        yaw = yaw_from_quat(self.ll.base_quat)
        ang = yaw[:, None] + self.ray_angles[None]  # (N, R)
        dx, dy = torch.cos(ang), torch.sin(ang)
        out = []
        for h in self.cfg.ray_heights:
            ox, oy = self.ll.base_pos[:, 0:1, None], self.ll.base_pos[:, 1:2, None]  # (N, 1, 1)
            cx, cy, cz = centres[..., 0][:, None], centres[..., 1][:, None], centres[..., 2][:, None]  # (N, 1, B)
            hx, hy, hz = halves[..., 0][:, None], halves[..., 1][:, None], halves[..., 2][:, None]
            ddx, ddy = dx[..., None], dy[..., None]  # (N, R, 1)
            inv_x = 1.0 / torch.where(ddx.abs() < 1e-9, torch.full_like(ddx, 1e-9), ddx)
            inv_y = 1.0 / torch.where(ddy.abs() < 1e-9, torch.full_like(ddy, 1e-9), ddy)
            t1, t2 = (cx - hx - ox) * inv_x, (cx + hx - ox) * inv_x
            t3, t4 = (cy - hy - oy) * inv_y, (cy + hy - oy) * inv_y
            t_near = torch.maximum(torch.minimum(t1, t2), torch.minimum(t3, t4))
            t_far = torch.minimum(torch.maximum(t1, t2), torch.maximum(t3, t4))
            in_z = (h >= cz - hz) & (h <= cz + hz)
            hit = (t_near <= t_far) & (t_far >= 0) & in_z
            dist = torch.where(hit, t_near.clamp(min=0.0), torch.full_like(t_near, self.cfg.ray_range))
            out.append(dist.amin(dim=2).clamp(max=self.cfg.ray_range))
        return torch.cat(out, dim=1)

    # ------------------------------------------------------------------ episodes
    def _rand(self, lo, hi, *shape) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, device=self.device, generator=self.gen)

    def _reset(self, ids: torch.Tensor) -> None:
        n, c, a = len(ids), self.cfg, self.cfg.arena_half_size
        if n == 0:
            return
        start = self._rand(-a + 0.8, a - 0.8, n, 2)
        yaw = self._rand(-math.pi, math.pi, n)
        goal = torch.zeros(n, 2, device=self.device)
        pending = torch.ones(n, dtype=torch.bool, device=self.device)
        for _ in range(20):  # rejection sampling, batched: keep goals inside the arena
            d = self._rand(*c.goal_distance, n)
            th = self._rand(-math.pi, math.pi, n)
            cand = start + d[:, None] * torch.stack([torch.cos(th), torch.sin(th)], 1)
            ok = (cand.abs() < a - 0.6).all(dim=1) & pending
            goal[ok] = cand[ok]
            pending &= ~ok
        goal[pending] = -start[pending] * 0.5  # rare fallback: towards the centre
        goal_yaw = self._rand(-math.pi, math.pi, n)

        # obstacles: uniform, dropped (parked) when too close to start or goal
        mocap = torch.zeros(n, self.ll.mocap_pos.shape[1], 3, device=self.device)
        mocap[:, :, 2] = -10.0
        k = c.num_obstacles
        pos = self._rand(-a + 0.4, a - 0.4, n, k, 2)
        radius = self.box_half[:k, :2].norm(dim=1)[None]
        clear = ((pos - start[:, None]).norm(dim=2) > c.clearance + radius) & \
                ((pos - goal[:, None]).norm(dim=2) > c.clearance + radius)
        present = clear & (torch.rand(n, k, device=self.device, generator=self.gen) < c.obstacle_prob)
        if k:  # blocking: obstacle 0 on the line, where start and goal both keep their clearance
            t, side = self._rand(0.35, 0.65, n), self._rand(-0.15, 0.15, n)
            dist = (goal - start).norm(dim=1)
            fits = (torch.minimum(t, 1 - t) * dist > c.clearance + radius[0, 0])
            block = fits & (torch.rand(n, device=self.device, generator=self.gen) < c.block_prob)
            u = (goal - start) / dist.clamp(min=1e-6)[:, None]
            on_line = start + t[:, None] * (goal - start) + side[:, None] * torch.stack([-u[:, 1], u[:, 0]], 1)
            pos[:, 0] = torch.where(block[:, None], on_line, pos[:, 0])
            present[:, 0] |= block
        has_bar = (torch.rand(n, device=self.device, generator=self.gen) < c.bar_prob) & \
                  ((goal[:, 0] - start[:, 0]).abs() > 1.6)
        bar_x = (goal[:, 0] + start[:, 0]) / 2
        near_bar = (pos[:, :, 0] - bar_x[:, None]).abs() < 0.8
        present &= ~(has_bar[:, None] & near_bar)  # keep the passage under the bar free
        mocap[:, :k, :2] = pos
        mocap[:, :k, 2] = torch.where(present, torch.zeros_like(pos[:, :, 0]), torch.full_like(pos[:, :, 0], -10.0))
        bar = torch.zeros(n, 3, device=self.device)
        bar[:, 0] = bar_x
        bar[:, 2] = torch.where(has_bar, torch.full_like(bar_x, BAR_BOTTOM + BAR_HALF_THICKNESS[1]),
                                torch.full_like(bar_x, -10.0))
        mocap[:, self.bar_mocap] = bar
        self.ll.mocap_pos[ids] = mocap
        self.has_bar[ids] = has_bar

        self.start[ids] = torch.cat([start, yaw[:, None]], 1)
        self.goal[ids] = torch.cat([goal, goal_yaw[:, None]], 1)
        self.ll.reset_envs(ids, xy=start, yaw=yaw)
        self.ll.commands[ids] = 0.0
        self.episode_length_buf[ids] = 0
        self.last_action[ids] = 0.0
        self.command[ids] = 0.0
        self.skill_index[ids] = 0
        self.prev_dist[ids] = (goal - start).norm(dim=1)

    # ------------------------------------------------------------------ stepping
    def step(self, action: torch.Tensor):
        action = finite_action(action.to(self.device), "the high-level policy")
        if self.cfg.flat:
            return self._advance(action, None, None)
        index, command = self.action.decode(action)
        return self._advance(action, index, command)

    def step_commands(self, index: torch.Tensor, command: torch.Tensor):
        """Drive the skills with explicit commands (scripted baselines); commands are clamped to the skill range."""
        command = self.action.clamp(index, command.to(self.device))
        return self._advance(torch.zeros(self.num_envs, self.num_actions, device=self.device), index, command)

    def _advance(self, action: torch.Tensor, index: torch.Tensor | None, command: torch.Tensor | None):
        collided = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        fell = torch.zeros_like(collided)
        ll_reward = torch.zeros(self.num_envs, device=self.device)
        if self.cfg.flat:
            _, r, _, _ = self.ll.step(action)
            ll_reward += r
            collided |= self.ll.collided
            fell |= self.ll.terminated
            self.ll_step_count += 1
        else:
            self.skill_index, self.command = index, command
            self.ll.commands.copy_(self.command)
            for _ in range(self.ll_steps):
                self.ll.step(self.action.joint_actions(self.ll, self.skill_index, not self.eval_mode, self.gen))
                collided |= self.ll.collided
                fell |= self.ll.terminated
                self.ll_step_count += 1
        self.last_action = action.clamp(-HIGH_LEVEL_ACTION_CLIP, HIGH_LEVEL_ACTION_CLIP)
        self.episode_length_buf += 1

        dist, yaw_err = self._goal_error()
        success = (dist < self.cfg.success_distance) & (yaw_err.abs() < self.cfg.success_yaw) & ~collided & ~fell
        time_outs = (self.episode_length_buf >= self.max_episode_length) & ~success & ~collided & ~fell
        terminated = success | collided | fell
        w = self.cfg.rewards
        reward = (w["progress"] * (self.prev_dist - dist)
                  + w["heading"] * torch.cos(yaw_err) * (dist < 1.0).float() * self.dt
                  + w["success"] * success.float() + w["collision"] * collided.float()
                  + w["fall"] * fell.float() + w["time"] * self.dt) + ll_reward
        self.prev_dist = dist
        dones = terminated | time_outs
        self.extras = {"time_outs": time_outs, "log": {}}
        ids = torch.nonzero(dones).flatten()
        if len(ids):
            log = self.extras["log"]
            log["Nav/success_rate"] = success[ids].float().mean()
            log["Nav/collision_rate"] = collided[ids].float().mean()
            log["Nav/fall_rate"] = fell[ids].float().mean()
            log["Nav/episode_s"] = self.episode_length_buf[ids].float().mean() * self.dt
        if self.num_skills > 1:  # share of environments on each skill at this step
            for i, s in enumerate(self.skills):
                self.extras["log"][f"Nav/skill_{s.name}"] = (self.skill_index == i).float().mean()
        self.last_outcome = {"success": success, "collided": collided, "fell": fell, "time_outs": time_outs,
                             "dones": dones, "time_s": self.episode_length_buf.float() * self.dt,
                             "distance": dist.clone(), "yaw_error": yaw_err.abs()}  # (a reset rewrites prev_dist)
        self._reset(ids)
        return self._observe(), reward, dones, self.extras

    def _goal_error(self) -> tuple[torch.Tensor, torch.Tensor]:
        dist = (self.goal[:, :2] - self.ll.base_pos[:, :2]).norm(dim=1)
        yaw_err = wrap_to_pi(self.goal[:, 2] - yaw_from_quat(self.ll.base_quat))
        return dist, yaw_err

    def _observe(self) -> TensorDict:
        ll = self.ll
        time_left = 1.0 - self.episode_length_buf.float() / self.max_episode_length
        nav = navigation_observation(ll.base_pos[:, :2], yaw_from_quat(ll.base_quat), ll.base_lin_vel[:, :2],
                                     ll.base_ang_vel[:, 2], self.goal, self.rays(), self.last_action, time_left,
                                     self.cfg.ray_range)
        if self.cfg.flat:
            proprio = ll.policy_layout.compute(ll.robot_state(), noise=not self.eval_mode, generator=self.gen)
            policy = torch.cat([proprio, nav], dim=1)
        else:
            policy = nav
        critic = torch.cat([policy, ll.base_lin_vel, self.has_bar.float()[:, None]], dim=1)
        self.obs = TensorDict({"policy": policy, "critic": critic}, batch_size=[self.num_envs], device=self.device)
        return self.obs

    def get_observations(self) -> TensorDict:
        return self.obs

    def reset_all(self) -> None:
        self._reset(torch.arange(self.num_envs, device=self.device))
        self._observe()

    def goal_in_base_frame(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(goal x, y in the base yaw frame, heading error) for scripted controllers."""
        yaw = yaw_from_quat(self.ll.base_quat)
        d = self.goal[:, :2] - self.ll.base_pos[:, :2]
        c, s = torch.cos(yaw), torch.sin(yaw)
        return c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], wrap_to_pi(self.goal[:, 2] - yaw)


def pure_pursuit(env: NavigationEnv, v_max: float = 0.8, w_max: float = 1.0) -> torch.Tensor:
    """Scripted baseline: turn towards the goal and walk to it, then align the heading (no obstacle avoidance)."""
    gx, gy, heading = env.goal_in_base_frame()
    return pure_pursuit_command(gx, gy, heading, v_max, w_max)
