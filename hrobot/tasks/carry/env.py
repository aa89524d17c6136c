"""Carrying a load with a person: a high level turns the wrench at the robot's wrists into the skill's command.

The robot holds the near edge of a rigid board with both hands (weld constraints; the `carry` scene); a
simulated partner holds the far end and walks a random path: a speed and a piecewise-constant turn rate
drawn per episode (new turn rate every 3-5 s), a start and a stop ramp, then standing. The partner is a
kinematic grip coupled to the board's handle by a spring-damper (a tendon of zero rest length, in the
physics), as a person's arm; the grip leads the path's point by (c / k) x its velocity, so the arm's pull
is about k (target - handle) + c (target velocity - handle velocity) along the arm. A stretch beyond
`drop_stretch` makes the partner let go (a drop). The board's mass is drawn per episode.

The high level senses what the robot would: both wrist force/torque sensors, combined into one wrench at
the hands' midpoint in the base's heading frame (force on the robot, N; torque, N m), the base's velocity
and yaw rate, gravity in the base frame and its last command; it outputs the skill's velocity command at
`hl_rate_hz`, squashed into the skill's range (the navigation high level's action). The reward: alive, the
horizontal follower force and vertical torque as costs, falls and drops as events.

Baselines on the same paths: `admittance` (velocity proportional to the planar force and the vertical
torque, H2-COMPACT's force-to-action baseline) and standing still.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from tensordict import TensorDict

from hrobot.errors import HRobotError
from hrobot.geometry import quat_from_yaw, quat_rotate, quat_rotate_inverse, yaw_from_quat
from hrobot.sim.scene import CARRY_HANDS, SceneConfig
from hrobot.skills import Skill, load_skill
from hrobot.tasks import load_task
from hrobot.tasks.mdp.actions import SkillAction, finite_action
from hrobot.tasks.velocity.env import LocomotionCfg, LocomotionEnv

try:
    from rsl_rl.env import VecEnv
except ImportError:  # pragma: no cover
    VecEnv = object

FORCE_SCALE, TORQUE_SCALE = 0.05, 0.2  # observation scales: 20 N and 5 N m read as 1


@dataclass
class PartnerCfg:
    speed: tuple[float, float] = (0.2, 0.6)  # m/s, per episode
    turn_rate: tuple[float, float] = (-0.25, 0.25)  # rad/s, per segment
    segment_s: tuple[float, float] = (3.0, 5.0)
    walk_s: tuple[float, float] = (10.0, 15.0)  # then the partner stops and stands
    ramp_s: float = 1.0  # start and stop
    stiffness: float = 300.0  # N/m (a person's arm)
    damping: float = 40.0  # N s/m
    drop_stretch: float = 0.3  # m: beyond it the partner lets go


@dataclass
class CarryCfg:
    locomotion_task: str = "g1_walk"
    skills: tuple[str, ...] = ("policies/g1_walk",)
    num_envs: int = 256
    hl_rate_hz: float = 10.0
    episode_s: float = 20.0
    load_mass: tuple[float, float] = (0.2, 3.0)  # kg
    # joints the skill does not move while the hands hold the board (their actions are 0: the default pose);
    # a skill swinging its arms would squeeze and twist the board between the welded hands
    held_joints: tuple[str, ...] = ("shoulder", "elbow", "wrist")  # name parts
    partner: PartnerCfg = field(default_factory=PartnerCfg)
    rewards: dict[str, float] = field(default_factory=lambda: {
        "alive": 1.0, "force": -0.05, "torque": -0.1, "fall": -20.0, "drop": -20.0})


def driven_low_level(cfg: CarryCfg) -> LocomotionCfg:
    """The skill's flat-ground config, episodes and commands left to the high level, no pushes (the partner is
    the disturbance) and no payload of its own (the board is it), and the default pose at reset (the grip's welds
    are made in it)."""
    base = load_task(cfg.locomotion_task).env_cfg("flat")
    rc = replace(base.randomization, push_velocity=0.0, init_joint_scale=(1.0, 1.0), payload_mass=(0.0, 0.0))
    return replace(base, num_envs=cfg.num_envs, auto_reset=False, episode_s=1e6, rewards={},
                   commands=replace(base.commands, resample_s=1e9), randomization=rc)


class CarryEnv(VecEnv):
    def __init__(self, cfg: CarryCfg, backend: str = "mujoco", device: str = "cpu", seed: int = 0,
                 eval_mode: bool = False, skills: list[Skill] | None = None, nthread: int | None = None):
        self.cfg, self.device, self.eval_mode = cfg, torch.device(device), eval_mode
        self.skills = skills if skills is not None else [load_skill(p, device) for p in cfg.skills]
        if len(self.skills) != 1:
            raise HRobotError(f"carrying drives one locomotion skill, got {len(self.skills)}")
        self.ll = LocomotionEnv(driven_low_level(cfg), backend=backend, device=device, seed=seed,
                                scene=SceneConfig(kind="carry", seed=seed, visual=False), eval_mode=eval_mode,
                                nthread=nthread)
        s = self.skills[0]
        if s.robot.name != self.ll.robot.name or s.robot.joint_names != self.ll.robot.joint_names:
            raise HRobotError(f"skill {s.name} is for robot {s.robot.name}, not {self.ll.robot.name}")
        self.robot, self.gen, self.num_envs, self.seed = self.ll.robot, self.ll.gen, cfg.num_envs, seed
        self.action = SkillAction(self.skills, (), self.device)
        self.moving = torch.tensor([not any(p in j for p in cfg.held_joints) for j in self.robot.joint_names],
                                   device=self.device)
        self.num_actions = self.action.num_actions
        self.ll_steps = int(round(self.robot.policy_rate_hz / cfg.hl_rate_hz))
        self.dt = self.ll_steps * self.robot.policy_dt
        self.max_episode_length = int(round(cfg.episode_s / self.dt))
        self._init_model()
        n, dev = self.num_envs, self.device
        z = lambda *shape: torch.zeros(*shape, device=dev)  # noqa: E731
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.last_action, self.command = z(n, self.num_actions), z(n, 3)
        self.target, self.target_vel, self.heading = z(n, 3), z(n, 3), z(n)
        self.speed, self.turn, self.walk_s = z(n), z(n), z(n)
        # each episode's path is drawn at its reset (turn rates per segment, segment ends), so that controllers
        # evaluated from the same seed walk the same paths whatever ends early
        segments = int(math.ceil(cfg.episode_s / cfg.partner.segment_s[0])) + 1
        self.turn_plan, self.segment_ends = z(n, segments), z(n, segments)
        self.load_mass = z(n)
        self.stretch = z(n)
        self.ll_step_count = 0
        self.extras: dict = {"log": {}}
        self._reset(torch.arange(n, device=dev))
        self._observe()

    def _init_model(self) -> None:
        m, sm = self.ll.sm.model, self.ll.sm
        self.load_body = m.body("load").id
        jnt = m.body("load").jntadr[0]
        self.load_q, self.load_d = int(m.jnt_qposadr[jnt]), int(m.jnt_dofadr[jnt])
        q0 = torch.as_tensor(m.qpos0[self.load_q:self.load_q + 3], dtype=torch.float32, device=self.device)
        self.load_home = q0 - torch.tensor([0.0, 0.0, self.robot.base_height], device=self.device)  # from the base
        half = float(m.geom_size[m.geom("load").id][0])
        self.handle_offset = torch.tensor([[half, 0.0, 0.0]], device=self.device)  # in the board's frame
        self.load_mass0 = float(m.body_mass[self.load_body])
        self.load_inertia0 = torch.as_tensor(m.body_inertia[self.load_body], dtype=torch.float32, device=self.device)
        self.partner_mocap = int(m.body("partner").mocapid[0])
        every = torch.arange(self.num_envs, device=self.device)
        p = self.cfg.partner
        self.ll.sim.set_model_field("tendon_stiffness", every, m.tendon("partner_arm").id,
                                    torch.full((self.num_envs,), p.stiffness))
        self.ll.sim.set_model_field("tendon_damping", every, m.tendon("partner_arm").id,
                                    torch.full((self.num_envs,), p.damping))

        def cols(name: str) -> slice:
            return sm.sensors[name]

        self.cols = {k: cols(k) for k in [f"{a}:{side}" for side in CARRY_HANDS
                                          for a in ("wrist_force", "wrist_torque", "hand_pos", "hand_quat")]}

    # ------------------------------------------------------------------ sensing
    def _sensor(self, name: str, mean: bool = False) -> torch.Tensor:
        sd = self.ll.sim.sensordata[:, :, self.cols[name]].to(torch.float32)
        return sd.mean(dim=1) if mean else sd[:, -1]

    def wrench(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The load's force and torque on the robot at the hands' midpoint, in the base's heading frame (each (N, 3)),
        from the two wrist sensors averaged over the last policy step."""
        yaw_q = quat_from_yaw(yaw_from_quat(self.ll.base_quat))
        pos = {side: self._sensor(f"hand_pos:{side}") for side in CARRY_HANDS}
        mid = sum(pos.values()) / len(pos)
        force, torque = torch.zeros(self.num_envs, 3, device=self.device), torch.zeros(self.num_envs, 3, device=self.device)
        for side in CARRY_HANDS:
            q = self._sensor(f"hand_quat:{side}")
            # MuJoCo's force sensor gives the wrist link's force on the hand; the hand's (the load's, through it,
            # the hand's own 50 g aside) on the robot is its opposite
            f = -quat_rotate(q, self._sensor(f"wrist_force:{side}", mean=True))
            t = -quat_rotate(q, self._sensor(f"wrist_torque:{side}", mean=True))
            force += f
            torque += t + torch.cross(pos[side] - mid, f, dim=1)
        return quat_rotate_inverse(yaw_q, force), quat_rotate_inverse(yaw_q, torque)

    def handle(self) -> torch.Tensor:
        """The board's far-end handle (world position), from the board's current state."""
        qpos = self.ll.sim.qpos.to(torch.float32)
        r = quat_rotate(qpos[:, self.load_q + 3:self.load_q + 7], self.handle_offset.expand(self.num_envs, 3))
        return qpos[:, self.load_q:self.load_q + 3] + r

    # ------------------------------------------------------------------ partner
    def _rand(self, lo: float, hi: float, *shape) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, device=self.device, generator=self.gen)

    def _partner_step(self, dt: float) -> None:
        """Advance each partner's target along its path; its grip leads it by (c / k) x its velocity."""
        p, t = self.cfg.partner, self.ll.episode_length_buf.float() * self.ll.dt
        ramp = ((t / p.ramp_s).clamp(0, 1) * ((self.walk_s - t) / p.ramp_s).clamp(0, 1))
        segment = (self.segment_ends <= t[:, None]).sum(dim=1).clamp(max=self.turn_plan.shape[1] - 1)
        self.turn = self.turn_plan.gather(1, segment[:, None])[:, 0]
        v = self.speed * ramp
        self.heading += self.turn * ramp * dt
        self.target_vel = torch.stack([v * torch.cos(self.heading), v * torch.sin(self.heading), torch.zeros_like(v)], 1)
        self.target = self.target + self.target_vel * dt
        self.ll.mocap_pos[:, self.partner_mocap] = self.target + (p.damping / p.stiffness) * self.target_vel

    # ------------------------------------------------------------------ episodes
    def _reset(self, ids: torch.Tensor) -> None:
        n, p = len(ids), self.cfg.partner
        if n == 0:
            return
        xy = torch.zeros(n, 2, device=self.device)
        yaw = self._rand(-math.pi, math.pi, n)
        self.ll.reset_envs(ids, xy=xy, yaw=yaw)
        self.ll.commands[ids] = 0.0
        mass = self._rand(*self.cfg.load_mass, n)
        self.load_mass[ids] = mass
        self.ll.sim.set_model_field("body_mass", ids, self.load_body, mass)
        self.ll.sim.set_model_field("body_inertia", ids, self.load_body,
                                    self.load_inertia0[None] * (mass / self.load_mass0)[:, None])
        self.ll.sim.set_constants(ids)  # the grip's constraints are scaled by the board's mass
        yq = quat_from_yaw(yaw)
        home = quat_rotate(yq, self.load_home.expand(n, 3))
        home[:, 2] += self.robot.base_height
        home[:, :2] += xy
        qpos, qvel = self.ll.sim.qpos[ids].clone(), self.ll.sim.qvel[ids].clone()
        qpos[:, self.load_q:self.load_q + 3] = home.to(qpos.dtype)
        qpos[:, self.load_q + 3:self.load_q + 7] = yq.to(qpos.dtype)
        qvel[:, self.load_d:self.load_d + 6] = 0.0
        self.ll.sim.reset(ids, qpos, qvel)
        self.ll.sim.sensordata[ids] = 0.0  # no wrench is read before the first step
        handle = home + quat_rotate(yq, self.handle_offset.expand(n, 3))
        self.target[ids], self.target_vel[ids], self.heading[ids] = handle, 0.0, yaw
        self.speed[ids] = self._rand(*p.speed, n)
        self.walk_s[ids] = self._rand(*p.walk_s, n)
        segments = self.turn_plan.shape[1]
        self.turn_plan[ids] = self._rand(*p.turn_rate, n, segments)
        self.segment_ends[ids] = self._rand(*p.segment_s, n, segments).cumsum(dim=1)
        self.turn[ids] = 0.0
        self.stretch[ids] = 0.0
        self.ll.mocap_pos[ids, self.partner_mocap] = handle
        self.episode_length_buf[ids] = 0
        self.last_action[ids] = 0.0
        self.command[ids] = 0.0

    # ------------------------------------------------------------------ stepping
    def step(self, action: torch.Tensor):
        action = finite_action(action.to(self.device), "the high-level policy")
        _, command = self.action.decode(action)
        return self._advance(action, command)

    def step_commands(self, command: torch.Tensor):
        """Drive the skill with explicit commands (baselines), clamped to its range."""
        index = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        command = self.action.clamp(index, command.to(self.device))
        return self._advance(torch.zeros(self.num_envs, self.num_actions, device=self.device), command)

    def _advance(self, action: torch.Tensor, command: torch.Tensor):
        n, dev = self.num_envs, self.device
        fell, dropped = torch.zeros(n, dtype=torch.bool, device=dev), torch.zeros(n, dtype=torch.bool, device=dev)
        force_sum, torque_sum = torch.zeros(n, device=dev), torch.zeros(n, device=dev)
        index = torch.zeros(n, dtype=torch.long, device=dev)
        self.command = command
        self.ll.commands.copy_(command)
        for _ in range(self.ll_steps):
            self._partner_step(self.ll.dt)
            self.ll.step(self.action.joint_actions(self.ll, index, not self.eval_mode, self.gen) * self.moving)
            f, t = self.wrench()
            force_sum += f[:, :2].norm(dim=1)
            torque_sum += t[:, 2].abs()
            self.stretch = (self.target - self.handle())[:, :2].norm(dim=1)
            fell |= self.ll.terminated
            dropped |= self.stretch > self.cfg.partner.drop_stretch
            self.ll_step_count += 1
        self.last_action = action.clamp(-5.0, 5.0)
        self.episode_length_buf += 1
        self.force_xy, self.torque_z = force_sum / self.ll_steps, torque_sum / self.ll_steps
        w = self.cfg.rewards
        reward = (w["alive"] * self.dt + w["force"] * self.force_xy * self.dt + w["torque"] * self.torque_z * self.dt
                  + w["fall"] * fell.float() + w["drop"] * (dropped & ~fell).float())
        time_outs = (self.episode_length_buf >= self.max_episode_length) & ~fell & ~dropped
        dones = fell | dropped | time_outs
        self.extras = {"time_outs": time_outs, "log": {"Carry/follower_force_n": self.force_xy.mean(),
                                                        "Carry/torque_nm": self.torque_z.mean()}}
        ids = torch.nonzero(dones).flatten()
        if len(ids):
            self.extras["log"]["Carry/fall_rate"] = fell[ids].float().mean()
            self.extras["log"]["Carry/drop_rate"] = (dropped & ~fell)[ids].float().mean()
        self.last_outcome = {"fell": fell, "dropped": dropped & ~fell, "dones": dones, "time_outs": time_outs}
        self._reset(ids)
        return self._observe(), reward, dones, self.extras

    def _observe(self) -> TensorDict:
        ll = self.ll
        f, t = self.wrench()
        policy = torch.cat([f * FORCE_SCALE, t * TORQUE_SCALE, ll.base_lin_vel[:, :2], ll.base_ang_vel[:, 2:3],
                            ll.projected_gravity, self.last_action], dim=1)
        yaw_q = quat_from_yaw(yaw_from_quat(ll.base_quat))
        offset = quat_rotate_inverse(yaw_q, self.target - self.handle())
        critic = torch.cat([policy, quat_rotate_inverse(yaw_q, self.target_vel)[:, :2], offset * 5.0,
                            self.load_mass[:, None] / 3.0, self.turn[:, None]], dim=1)
        self.obs = TensorDict({"policy": policy, "critic": critic}, batch_size=[self.num_envs], device=self.device)
        return self.obs

    def get_observations(self) -> TensorDict:
        return self.obs

    def reset_all(self) -> None:
        self._reset(torch.arange(self.num_envs, device=self.device))
        self._observe()


def admittance(env: CarryEnv, gain_force: float, gain_torque: float) -> torch.Tensor:
    """Velocity proportional to the planar force and the vertical torque on the robot (base heading frame)."""
    f, t = env.wrench()
    return torch.stack([gain_force * f[:, 0], gain_force * f[:, 1], gain_torque * t[:, 2]], dim=1)
