"""Velocity-tracking locomotion: a command (vx, vy, wz) in, joint targets out.

The environment follows legged_gym / Isaac Lab: policy at 50 Hz, PD at the robot's PD
rate inside the simulator, actions are joint offsets times the action scale around the
default pose. Everything in `step` is batched torch over the N environments; the only
Python loop is over the environments being reset, to write their randomised model
parameters.

It is an rsl_rl 5.x `VecEnv`: observations are a TensorDict with a "policy" group
(noisy, what the robot can measure) and a privileged "critic" group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from tensordict import TensorDict

from hrobot.errors import HRobotError
from hrobot.geometry import quat_from_yaw, quat_rotate_inverse
from hrobot.heightmap import height_scan, scan_points
from hrobot.obs import PRIVILEGED, ObservationLayout, ObsTerm, RobotState
from hrobot.robots import load_robot
from hrobot.spec import RobotSpec
from hrobot.sim.batch import make_batched_sim
from hrobot.sim.model import build_sim_model
from hrobot.sim.scene import SceneConfig
from hrobot.sim.terrain import TerrainConfig, TorchHeights
from hrobot.tasks.mdp import commands, curricula, events, rewards, terminations
from hrobot.tasks.mdp.actions import joint_position_action

try:
    from rsl_rl.env import VecEnv
except ImportError:  # pragma: no cover - rsl_rl is a core dependency
    VecEnv = object


# What a blind legged robot measures (IMU, encoders, its last action) plus the velocity command;
# noise half-widths are in physical units (legged_gym / Isaac Lab values).
PROPRIO_OBS = (
    ObsTerm("base_ang_vel", 0.25, noise=0.2),
    ObsTerm("projected_gravity", 1.0, noise=0.05),
    ObsTerm("command", (2.0, 2.0, 0.25)),
    ObsTerm("joint_pos", 1.0, noise=0.01),
    ObsTerm("joint_vel", 0.05, noise=1.5),
    ObsTerm("last_action", 1.0),
)


@dataclass
class CommandCfg:
    lin_vel_x: tuple[float, float] = (-1.0, 1.0)  # m/s
    lin_vel_y: tuple[float, float] = (-0.5, 0.5)  # m/s
    ang_vel_z: tuple[float, float] = (-1.0, 1.0)  # rad/s
    resample_s: float = 10.0
    standing_prob: float = 0.1  # share of commands that are zero
    turn_prob: float = 0.0  # share of commands that only turn (zero linear velocity, the sampled yaw rate)
    curriculum_start: float = 1.0  # fraction of the ranges at the start (1.0: no curriculum)
    curriculum_step: float = 0.1  # growth (at most once per episode length) when the velocity is tracked well
    curriculum_threshold: float = 0.75  # tracking reward / its maximum that counts as "well"


@dataclass
class RandomizationCfg:
    enabled: bool = True
    friction: tuple[float, float] = (0.4, 1.25)
    added_base_mass: tuple[float, float] = (-1.0, 3.0)  # kg
    com_offset: float = 0.03  # m per axis
    kp_scale: tuple[float, float] = (0.9, 1.1)
    kd_scale: tuple[float, float] = (0.9, 1.1)
    motor_strength: tuple[float, float] = (0.9, 1.1)
    push_interval_s: float = 8.0
    push_velocity: float = 0.8  # m/s added to the base's horizontal velocity
    latency_prob: float = 0.5  # share of envs that run with one policy step of action latency
    init_joint_scale: tuple[float, float] = (0.5, 1.5)  # default pose multiplied by this at reset
    payload_bodies: tuple[str, ...] = ()  # bodies a carried payload hangs on (e.g. the hands and the torso)
    payload_mass: tuple[float, float] = (0.0, 0.0)  # kg in all, split at random among payload_bodies


@dataclass
class LocomotionCfg:
    robot: str
    num_envs: int = 1024
    terrain: str = "flat"  # flat | rough
    terrain_cfg: TerrainConfig = field(default_factory=TerrainConfig)
    max_init_level: int = 3  # rough: start levels 0..max_init_level
    episode_s: float = 20.0
    commands: CommandCfg = field(default_factory=CommandCfg)
    randomization: RandomizationCfg = field(default_factory=RandomizationCfg)
    rewards: dict[str, float] = field(default_factory=dict)  # name -> scale (multiplied by the policy dt)
    tracking_sigma: float = 0.25
    base_height_target: float = 0.3
    feet_air_time_threshold: float = 0.1  # s: swings longer than this are rewarded at touchdown
    feet_air_time_max: float = 0.4  # s: reward saturates here (no incentive for hopping)
    feet_swing_height: float = 0.08
    gait_period_s: float = 0.8  # clock for the gait_phase observation and the gait_contact reward
    stance_fraction: float = 0.55
    deviation_joints: tuple[str, ...] = ()  # joints penalised by joint_deviation
    terminations: tuple[str, ...] = ("base_contact", "bad_orientation", "base_too_low")  # mdp.terminations
    termination_contacts: tuple[str, ...] = ()  # bodies whose contact ends an episode (plus the base)
    termination_tilt: float = 1.0  # rad from upright
    termination_height: float = 0.0  # m above the terrain below which the episode ends
    soft_joint_limit: float = 0.9  # share of the joint range inside which no penalty applies
    only_positive_rewards: bool = True  # clip each step's total at 0 (legged_gym): falling never pays
    action_clip: float = 10.0
    auto_reset: bool = True  # False: a wrapping env (the high level) decides when episodes end
    policy_obs: tuple[ObsTerm, ...] = ()
    height_scan: tuple[int, int, float] = (11, 11, 0.1)  # rough terrain critic: nx, ny, spacing


FOOT_REWARDS = ("feet_air_time", "feet_slip", "feet_swing_height", "gait_contact", "swing_clearance", "stand_still")
IMU_OBS = ("base_ang_vel", "projected_gravity")


def for_robot(cfg: LocomotionCfg, robot: RobotSpec, task: str) -> tuple[LocomotionCfg, list[str]]:
    """The task's config on another robot of the same class; returns it and notes on what was adapted.

    Heights (base height target, termination height, swing height) scale with the robot's standing
    height relative to the task's own robot; terms the robot cannot support are refused by name.
    """
    own = load_robot(cfg.robot)
    if robot.robot_class != own.robot_class:
        raise HRobotError(f"task {task} is a {own.robot_class} locomotion task; robot {robot.name} is a "
                          f"{robot.robot_class} ({robot.source})")
    if not robot.imu_site and any(t.name in IMU_OBS for t in cfg.policy_obs):
        raise HRobotError(f"task {task} observes the IMU; robot {robot.name} has no 'imu_site' ({robot.source})")
    feet_terms = sorted(set(cfg.rewards) & set(FOOT_REWARDS))
    if not robot.feet and feet_terms:
        raise HRobotError(f"task {task} rewards feet ({', '.join(feet_terms)}); robot {robot.name} lists no "
                          f"'feet' sites ({robot.source})")
    k = robot.base_height / own.base_height
    notes = [f"heights scaled by {k:.3f} (base height {robot.base_height:g} m vs {own.name}'s {own.base_height:g} m)"]
    kept = tuple(j for j in cfg.deviation_joints if j in robot.joint_names)
    if len(kept) != len(cfg.deviation_joints):
        dropped = [j for j in cfg.deviation_joints if j not in robot.joint_names]
        notes.append(f"joint_deviation: {len(dropped)} of {own.name}'s joints are not on {robot.name} "
                     f"and are not penalised ({', '.join(dropped)})")
    spec_path = robot.source if robot.source != "<memory>" else robot.name
    return replace(cfg, robot=spec_path, base_height_target=cfg.base_height_target * k,
                   termination_height=cfg.termination_height * k, feet_swing_height=cfg.feet_swing_height * k,
                   deviation_joints=kept), notes


class LocomotionEnv(VecEnv):
    def __init__(self, cfg: LocomotionCfg, backend: str = "mujoco", device: str = "cpu", seed: int = 0,
                 nthread: int | None = None, scene: SceneConfig | None = None, eval_mode: bool = False,
                 robot: RobotSpec | None = None):
        """`robot`: the spec itself, where it does not come from a file (a bundle's embedded spec)."""
        self.cfg, self.device, self.eval_mode = cfg, torch.device(device), eval_mode
        self.robot = robot or load_robot(cfg.robot)
        if self.robot.robot_class not in ("quadruped", "humanoid"):
            raise HRobotError(f"locomotion needs a legged robot, got '{self.robot.name}' ({self.robot.robot_class})")
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.scene = scene or SceneConfig(kind=cfg.terrain, terrain=cfg.terrain_cfg, seed=seed, visual=False)
        self.sm = build_sim_model(self.robot, self.scene)
        self.num_envs, self.num_actions = cfg.num_envs, self.robot.num_joints
        self.dt = self.robot.policy_dt
        self.sim = make_batched_sim(backend, self.sm, cfg.num_envs, self.robot.decimation, nthread=nthread,
                                    device=device if backend == "warp" else None)
        self.max_episode_length = int(round(cfg.episode_s / self.dt))
        self._init_indices()
        self._init_buffers()
        self._init_observations()
        self.reset_all()

    # ------------------------------------------------------------------ set-up
    def _t(self, x, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def _init_indices(self) -> None:
        sm, r = self.sm, self.robot
        self.qpos_adr, self.dof_adr = self._t(sm.qpos_adr, torch.long), self._t(sm.dof_adr, torch.long)
        self.base_q, self.base_d = sm.base_qpos_adr, sm.base_dof_adr
        self.default_pose = self._t(r.default_pose)
        self.lower, self.upper = self._t(r.lower), self._t(r.upper)
        mid, half = (self.upper + self.lower) / 2, (self.upper - self.lower) / 2
        self.soft_lower, self.soft_upper = mid - half * self.cfg.soft_joint_limit, mid + half * self.cfg.soft_joint_limit
        self.torque_limits = self._t(r.torque_limits)

        def cols(names):
            return self._t([i for n in names for i in range(sm.sensors[n].start, sm.sensors[n].stop)], torch.long)

        self.nfeet = len(r.feet)
        self.foot_pos_cols = cols([f"foot_pos:{f}" for f in r.feet])
        self.foot_contact_cols = cols([f"foot_contact:{f}" for f in r.feet])
        term = {r.base_body, *self.cfg.termination_contacts}
        self.term_contact_cols = cols([f"contact:{b}" for b in r.contact_bodies if b in term])
        self.bad_contact_cols = cols([f"contact:{b}" for b in r.contact_bodies if b not in term])
        self.deviation_idx = self._t([r.joint_names.index(j) for j in self.cfg.deviation_joints], torch.long)
        self.collide_cols = cols([n for n in sm.sensors if n.startswith("collide:")])
        self.heights = TorchHeights(sm.terrain, self.device)
        floor = [i for i in range(sm.model.ngeom) if sm.model.geom(i).name == "floor"]
        self.floor_geom = floor[0]
        self.base_body = sm.base_body
        bodies = {sm.model.body(i).name for i in range(sm.model.nbody)}
        missing = [b for b in self.cfg.randomization.payload_bodies if b not in bodies]
        if missing:
            raise HRobotError(f"randomization.payload_bodies: body '{missing[0]}' is not in {r.name}'s model")
        self.payload_ids = [sm.model.body(b).id for b in self.cfg.randomization.payload_bodies]

    def _init_buffers(self) -> None:
        n, nj, dev = self.num_envs, self.num_actions, self.device
        z = lambda *s: torch.zeros(*s, device=dev)  # noqa: E731
        self.actions, self.last_actions, self.applied = z(n, nj), z(n, nj), z(n, nj)
        self.targets = self.default_pose.repeat(n, 1)
        self.commands = z(n, 3)
        self.held_commands: torch.Tensor | None = None
        self.mocap_pos = torch.zeros(n, self.sim.nmocap, 3, device=dev)
        self.mocap_pos[:, :, 2] = -10.0  # parked below the floor until a task places them
        self.spawn_pose: tuple[torch.Tensor, torch.Tensor] | None = None  # (xy, yaw) for the next reset
        self.terminated = torch.zeros(n, dtype=torch.bool, device=dev)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.common_step_counter = 0
        self.command_timer = torch.zeros(n, dtype=torch.long, device=dev)
        self.push_timer = torch.zeros(n, dtype=torch.long, device=dev)
        self.latency = torch.zeros(n, dtype=torch.bool, device=dev)
        self.air_time = z(n, self.nfeet)
        self.last_contact = torch.zeros(n, self.nfeet, dtype=torch.bool, device=dev)
        self.kp = self._t(self.robot.kp).repeat(n, 1)
        self.kd = self._t(self.robot.kd).repeat(n, 1)
        self.dr_friction, self.dr_mass = torch.ones(n, device=dev), z(n)
        self.path_length = z(n)  # m walked in the plane this episode (the terrain curriculum's measure)
        levels = self.cfg.terrain_cfg.num_levels
        self.terrain_levels = torch.randint(0, self.cfg.max_init_level + 1, (n,), device=dev, generator=self.gen)
        self.terrain_levels.clamp_(max=levels - 1)
        self.terrain_cols = torch.arange(n, device=dev) % self.cfg.terrain_cfg.num_types
        self.cmd_scale = 1.0 if self.eval_mode else self.cfg.commands.curriculum_start
        self.episode_sums = {name: z(n) for name in self.cfg.rewards}
        self.reward_active = torch.zeros(len(self.cfg.rewards) + 1, dtype=torch.bool, device=dev)  # terms, total
        unknown = sorted(set(self.cfg.rewards) - set(rewards.TERMS))
        if unknown:
            raise HRobotError(f"unknown reward term '{unknown[0]}' (expected one of {', '.join(rewards.TERMS)})")
        self.reward_fns = {name: rewards.TERMS[name] for name in self.cfg.rewards}
        terminations.check(self.cfg.terminations)
        self.extras: dict = {"log": {}}
        self.feet_air_time_reward = z(n)
        self.last_joint_vel = z(n, nj)
        self.last_foot_pos = z(n, self.nfeet, 3)

    def curriculum_state(self) -> dict:
        """What the curricula reached: each env's terrain level and the command ranges' scale."""
        return {"terrain_levels": self.terrain_levels.cpu(), "cmd_scale": float(self.cmd_scale)}

    def load_curriculum_state(self, state: dict) -> None:
        """Go on from `curriculum_state()`'s levels: env by env where the count matches, else drawn from them (a run
        resumed with another number of envs or processes); robots move to their level's tiles at their next reset."""
        saved = state["terrain_levels"].to(self.device)
        n = len(self.terrain_levels)
        pick = torch.arange(n, device=self.device) if len(saved) == n else torch.randint(
            0, len(saved), (n,), device=self.device, generator=self.gen)
        self.terrain_levels[:] = saved[pick].clamp(0, self.cfg.terrain_cfg.num_levels - 1)
        if not self.eval_mode:
            self.cmd_scale = state["cmd_scale"]

    def _init_observations(self) -> None:
        nx, ny, sp = self.cfg.height_scan
        # the scan on rough ground (the critic's), and on flat ground too where the policy sees it
        self.scanned = self.scene.kind == "rough" or any(t.name == "height_scan" for t in self.cfg.policy_obs)
        sizes = ObservationLayout.standard_sizes(self.robot, 3, height_scan=nx * ny if self.scanned else 0)
        self.policy_layout = ObservationLayout(self.cfg.policy_obs, self.robot, sizes, self.device)
        privileged = [ObsTerm("base_lin_vel", 2.0), ObsTerm("foot_contact")]
        if self.scene.kind == "rough":
            privileged.append(ObsTerm("height_scan", 5.0, clip=1.0))
        critic_terms = [ObsTerm(t.name, t.scale, 0.0, t.clip) for t in self.cfg.policy_obs if t.name not in PRIVILEGED]
        self.critic_layout = ObservationLayout(critic_terms + privileged, self.robot, sizes, self.device)
        self.scan_points = torch.tensor(scan_points(nx, ny, sp), dtype=torch.float32, device=self.device)

    # ------------------------------------------------------------------ state
    def _refresh(self) -> None:
        qpos, qvel = self.sim.qpos, self.sim.qvel
        b, d = self.base_q, self.base_d
        self.base_pos = qpos[:, b : b + 3].to(torch.float32)
        self.base_quat = qpos[:, b + 3 : b + 7].to(torch.float32)
        self.base_lin_vel = quat_rotate_inverse(self.base_quat, qvel[:, d : d + 3].to(torch.float32))
        self.base_ang_vel = qvel[:, d + 3 : d + 6].to(torch.float32)  # free joint: local frame
        self.joint_pos = qpos[:, self.qpos_adr].to(torch.float32)
        self.joint_vel = qvel[:, self.dof_adr].to(torch.float32)
        g = torch.zeros_like(self.base_lin_vel)
        g[:, 2] = -1.0
        self.projected_gravity = quat_rotate_inverse(self.base_quat, g)
        sd = self.sim.sensordata
        self.foot_pos = sd[:, -1, self.foot_pos_cols].to(torch.float32).reshape(-1, self.nfeet, 3)
        self.foot_contact = sd[:, :, self.foot_contact_cols].amax(dim=1) > 0.5
        self.term_contact = (sd[:, :, self.term_contact_cols].amax(dim=1) > 0.5).any(dim=1) \
            if len(self.term_contact_cols) else torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.bad_contacts = (sd[:, :, self.bad_contact_cols].amax(dim=1) > 0.5).sum(dim=1).float() \
            if len(self.bad_contact_cols) else torch.zeros(self.num_envs, device=self.device)
        self.collided = (sd[:, :, self.collide_cols].amax(dim=1) > 0.5).any(dim=1) \
            if len(self.collide_cols) else torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.terrain_h = self.heights(self.base_pos[:, :2])

    @property
    def phase(self) -> torch.Tensor:
        return torch.remainder(self.episode_length_buf.float() * self.dt / self.cfg.gait_period_s, 1.0)

    def robot_state(self) -> RobotState:
        scan = None
        if self.scanned:
            scan = height_scan(self.base_pos, self.base_quat, self.heights, self.scan_points, self.cfg.base_height_target)
        return RobotState(
            base_quat=self.base_quat, base_ang_vel=self.base_ang_vel, joint_pos=self.joint_pos,
            joint_vel=self.joint_vel, command=self.commands, last_action=self.actions,
            base_lin_vel=self.base_lin_vel, phase=self.phase, height_scan=scan,
            foot_contact=self.foot_contact.float(),
        )

    def _observations(self) -> TensorDict:
        s = self.robot_state()
        obs = {
            "policy": self.policy_layout.compute(s, noise=not self.eval_mode, generator=self.gen),
            "critic": self.critic_layout.compute(s),
        }
        self.obs = TensorDict(obs, batch_size=[self.num_envs], device=self.device)
        return self.obs

    def get_observations(self) -> TensorDict:
        return self.obs

    # ------------------------------------------------------------------ stepping
    def joint_targets(self, applied: torch.Tensor) -> torch.Tensor:
        """Policy action -> joint position targets, clamped to the spec's joint limits."""
        t = self.default_pose + self.robot.action_scale * applied
        return torch.maximum(torch.minimum(t, self.upper), self.lower)

    def step(self, actions: torch.Tensor):
        joint_position_action(self, actions)
        self.last_joint_vel = self.joint_vel
        self.last_foot_pos = self.foot_pos
        xy = self.base_pos[:, :2].clone()
        self.sim.step(self.targets, self._mocap())
        self._refresh()
        self.path_length += (self.base_pos[:, :2] - xy).norm(dim=1)
        self.episode_length_buf += 1
        self.common_step_counter += 1
        self.command_timer += 1
        self.push_timer += 1

        self._update_air_time()
        terminated = terminations.any_of(self, self.cfg.terminations)
        self.terminated = terminated
        time_outs = self.episode_length_buf >= self.max_episode_length
        rewards = self._rewards(terminated, time_outs)
        dones = terminated | time_outs
        self.extras = {"time_outs": time_outs, "log": {}}
        ids = torch.nonzero(dones).flatten()
        if len(ids) and self.cfg.auto_reset:
            self._reset_envs(ids)
            self._refresh()  # the next observation of a reset env must come from its new state
        commands.resample_velocity(self, torch.nonzero(self.command_timer >= self._resample_steps()).flatten())
        events.push_robots(self)
        self._log_metrics()
        return self._observations(), rewards, dones, self.extras

    def _mocap(self) -> torch.Tensor | None:
        return self.mocap_pos if self.sim.nmocap else None

    def _resample_steps(self) -> int:
        return int(round(self.cfg.commands.resample_s / self.dt))

    def _update_air_time(self) -> None:
        contact = self.foot_contact
        first = (self.air_time > 0) & contact & ~self.last_contact
        self.air_time += self.dt
        # positive only (as MuJoCo Playground): a step is never worse than standing still
        gain = (self.air_time - self.cfg.feet_air_time_threshold).clamp(
            0.0, self.cfg.feet_air_time_max - self.cfg.feet_air_time_threshold)
        self.feet_air_time_reward = (gain * first).sum(dim=1)
        self.air_time = self.air_time * ~contact
        self.last_contact = contact

    def _rewards(self, terminated: torch.Tensor, time_outs: torch.Tensor) -> torch.Tensor:
        self._terminated_now = terminated & ~time_outs
        total = torch.zeros(self.num_envs, device=self.device)
        for i, (name, scale) in enumerate(self.cfg.rewards.items()):
            r = self.reward_fns[name](self) * scale * self.dt
            total += r
            self.episode_sums[name] += r
            self.reward_active[i] |= (r != 0).any()
        total = total.clamp(min=0.0) if self.cfg.only_positive_rewards else total
        self.reward_active[-1] |= (total != 0).any()
        return total

    def reward_health(self) -> list[str]:
        """Warnings for reward terms (and the total) that have been exactly zero on every step so far."""
        active = self.reward_active.tolist()
        out = [f"reward term '{name}' has been 0 on every step (weight {scale:g}): what it measures never "
               f"happens (feet, contact bodies, thresholds?)"
               for (name, scale), on in zip(self.cfg.rewards.items(), active) if not on]
        if self.cfg.rewards and not active[-1]:
            out.append("the total reward has been 0 on every step: the penalties outweigh the rewards on every "
                       "step and only_positive_rewards clips them to 0 (a contact body touching the ground "
                       "all the time?)")
        return out

    def _log_metrics(self) -> None:
        log = self.extras["log"]
        log["Metrics/lin_vel_error"] = (self.commands[:, :2] - self.base_lin_vel[:, :2]).norm(dim=1).mean()
        log["Metrics/yaw_rate_error"] = (self.commands[:, 2] - self.base_ang_vel[:, 2]).abs().mean()
        log["Curriculum/command_scale"] = self.cmd_scale
        if self.scene.kind == "rough":
            log["Curriculum/terrain_level"] = self.terrain_levels.float().mean()

    # ------------------------------------------------------------------ resets
    def reset_all(self) -> None:
        self._refresh()  # the curriculum reads where the robots are before moving them
        self._reset_envs(torch.arange(self.num_envs, device=self.device))
        self._refresh()
        self._observations()

    def reset(self):
        self.reset_all()
        return self.obs, self.extras

    def reset_envs(self, ids: torch.Tensor, xy: torch.Tensor | None = None, yaw: torch.Tensor | None = None) -> None:
        """Reset some envs, optionally at given base positions and headings (used by wrapping tasks)."""
        self.spawn_pose = (xy, yaw) if xy is not None else None
        self._reset_envs(ids)
        self.spawn_pose = None
        self._refresh()

    def uniform(self, lo: float, hi: float, *shape) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, device=self.device, generator=self.gen)

    def _reset_envs(self, ids: torch.Tensor) -> None:
        n = len(ids)
        log = self.extras.setdefault("log", {})
        for name, s in self.episode_sums.items():
            log[f"Episode_Reward/{name}"] = s[ids].mean() / self.cfg.episode_s
            s[ids] = 0.0
        # as legged_gym: the command range may grow at most once per episode length
        if (not self.eval_mode and "tracking_lin_vel" in self.cfg.rewards and n
                and self.common_step_counter % self.max_episode_length == 0 and self.common_step_counter):
            curricula.command_range(self, log)
        if self.scene.kind == "rough" and not self.eval_mode:
            curricula.terrain_levels(self, ids)
        self.path_length[ids] = 0.0
        events.randomize_physics(self, ids)

        qpos = self.sim.qpos[ids].clone().to(torch.float32)
        qvel = torch.zeros(n, self.sim.qvel.shape[1], device=self.device)
        spawn = self._spawn_xy(ids)
        b, d = self.base_q, self.base_d
        qpos[:, b : b + 2] = spawn
        qpos[:, b + 2] = self.robot.base_height + self.heights(spawn)
        yaw = self.spawn_pose[1] if self.spawn_pose is not None and self.spawn_pose[1] is not None \
            else self.uniform(-math.pi, math.pi, n)
        qpos[:, b + 3 : b + 7] = quat_from_yaw(yaw)
        rc = self.cfg.randomization
        scale = self.uniform(*rc.init_joint_scale, n, self.num_actions) if rc.enabled and not self.eval_mode else 1.0
        qpos[:, self.qpos_adr] = torch.maximum(torch.minimum(self.default_pose * scale, self.upper), self.lower)
        if rc.enabled and not self.eval_mode:
            qvel[:, d : d + 2] = self.uniform(-0.5, 0.5, n, 2)
            qvel[:, d + 3 : d + 6] = self.uniform(-0.5, 0.5, n, 3)
        self.sim.reset(ids, qpos, qvel)

        self.actions[ids] = 0.0
        self.last_actions[ids] = 0.0
        self.air_time[ids] = 0.0
        self.last_contact[ids] = False
        self.episode_length_buf[ids] = 0
        self.push_timer[ids] = torch.randint(0, self.push_steps(), (n,), device=self.device, generator=self.gen)
        self.latency[ids] = (torch.rand(n, device=self.device, generator=self.gen) < rc.latency_prob) \
            if rc.enabled and not self.eval_mode else False
        commands.resample_velocity(self, ids)

    def _spawn_xy(self, ids: torch.Tensor) -> torch.Tensor:
        if self.spawn_pose is not None:
            return self.spawn_pose[0].to(self.device)
        if self.scene.kind != "rough":
            return torch.zeros(len(ids), 2, device=self.device)
        centre = self.sm.terrain.tile_centre(self.terrain_levels[ids].cpu().numpy(), self.terrain_cols[ids].cpu().numpy())
        return self._t(centre) + self.uniform(-1.0, 1.0, len(ids), 2)

    def push_steps(self) -> int:
        return max(int(round(self.cfg.randomization.push_interval_s / self.dt)), 1)

    def hold_commands(self, commands: torch.Tensor) -> None:
        """Fix each env's command (evaluation); resets keep it."""
        self.held_commands = commands.to(self.device, torch.float32)
        self.commands[:] = self.held_commands
