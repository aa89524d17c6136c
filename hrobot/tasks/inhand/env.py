"""In-hand rotation: a command (the cube's angular velocity in the palm frame) in, joint targets out.

The hand's counterpart of velocity tracking (MuJoCo Playground's LeapCubeRotateZAxis and Hora,
made command-conditioned): the command is a rotation axis and speed in the palm frame, the
reward the cube's angular velocity along it (capped at the commanded speed) with penalties on
the cube's translation and the fingers' effort, and a cube that leaves the hand ends the
episode. Actions are joint targets around the default pose (the bundle contract's
`default + action_scale * action`), held for the policy period with the servos' PD in MuJoCo.
The policy sees what a real LEAP setup measures: joint positions, its last action, the cube's
pose as a tracker reports it (noisy) and the command; the critic also gets joint and cube
velocities and fingertip positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from tensordict import TensorDict

from hrobot.errors import HRobotError
from hrobot.geometry import quat_conj, quat_mul, quat_rotate_inverse
from hrobot.obs import ObservationLayout, ObsTerm, RobotState
from hrobot.robots import load_robot
from hrobot.sim.batch import make_batched_sim
from hrobot.sim.model import build_sim_model
from hrobot.sim.scene import SceneConfig
from hrobot.tasks.mdp.actions import joint_position_action

try:
    from rsl_rl.env import VecEnv
except ImportError:  # pragma: no cover - rsl_rl is a core dependency
    VecEnv = object

# palm-frame axes a command may name (at least +-z and +-x, the floor)
AXES = ((0.0, 0.0, 1.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0))


@dataclass
class InHandRandomizationCfg:
    enabled: bool = True
    object_mass: tuple[float, float] = (0.8, 1.2)  # x the nominal 108 g
    object_size: tuple[float, float] = (0.95, 1.05)  # x the nominal 7 cm (scales the box geom)
    object_friction: tuple[float, float] = (0.2, 0.45)  # the cube's (nominal 0.3): where it slides on palm and links
    pad_friction: tuple[float, float] = (0.5, 1.0)  # the fingertip pads' (nominal 0.7; MuJoCo Playground's range)
    kp_scale: tuple[float, float] = (0.8, 1.2)
    kd_scale: tuple[float, float] = (0.8, 1.2)
    latency_prob: float = 0.3  # share of envs that run one policy step of action latency
    init_joint_noise: float = 0.1  # rad
    init_object_offset: float = 0.005  # m per axis
    pose_dropout: float = 0.0  # per step, the share of envs whose tracker frame is late or missing: the policy
    # (not the critic) sees the cube's previous pose again


@dataclass
class InHandCfg:
    robot: str = "leap_hand"
    num_envs: int = 1024
    episode_s: float = 20.0
    speeds: tuple[float, float] = (0.5, 1.0)  # rad/s commanded
    resample_s: float = 10.0
    axes: tuple[tuple[float, float, float], ...] = AXES
    rewards: dict[str, float] = field(default_factory=dict)
    drop_distance: float = 0.07  # m from where it rests on the open hand that counts as dropped
    action_clip: float = 1.0
    action_mode: str = "absolute"  # "absolute": targets = default + action_scale * action (the spec's contract);
    # "delta": targets = previous targets + delta_scale * action, from the joint positions at the episode's start
    delta_scale: float = 0.05  # rad per policy step at action 1 (delta mode)
    randomization: InHandRandomizationCfg = field(default_factory=InHandRandomizationCfg)
    policy_obs: tuple[ObsTerm, ...] = ()
    auto_reset: bool = True
    pd_rate_hz: float | None = None  # physics and servo PD rate in training (None: the spec's); sim2sim checks the gap
    curriculum_axes: int = 0  # > 0: only the first this many axes are commanded until the achieved rotation rate
    curriculum_rate: float = 0.4  # (a running mean over ended episodes) reaches this share of the commanded; then all


class InHandEnv(VecEnv):
    def __init__(self, cfg: InHandCfg, backend: str = "mujoco", device: str = "cpu", seed: int = 0,
                 nthread: int | None = None, eval_mode: bool = False, robot=None):
        self.cfg, self.device, self.eval_mode = cfg, torch.device(device), eval_mode
        self.robot = robot or load_robot(cfg.robot)
        if self.robot.robot_class != "hand":
            raise HRobotError(f"in-hand rotation needs a hand, got '{self.robot.name}' ({self.robot.robot_class})")
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.sm = build_sim_model(self.robot, SceneConfig(kind="hand_object", visual=False))
        if self.sm.object_qpos_adr is None:
            raise HRobotError(f"{self.robot.name}: the hand scene has no object")
        pd_rate = cfg.pd_rate_hz or self.robot.pd_rate_hz
        decimation = int(round(pd_rate / self.robot.policy_rate_hz))
        self.sm.model.opt.timestep = 1.0 / (decimation * self.robot.policy_rate_hz)
        self.num_envs, self.num_actions = cfg.num_envs, self.robot.num_joints
        self.dt = self.robot.policy_dt
        self.rest_pos = self._settled_object()
        self.sim = make_batched_sim(backend, self.sm, cfg.num_envs, decimation, nthread=nthread,
                                    device=device if backend == "warp" else None)
        self.max_episode_length = int(round(cfg.episode_s / self.dt))
        self._init()
        self.reset_all()

    def _t(self, x, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def _settled_object(self):
        """Where the cube comes to rest on the hand in its default pose (world frame): episodes start there, and
        the cube's position is observed relative to it."""
        import mujoco

        m = self.sm.model
        d = mujoco.MjData(m)
        d.qpos[:] = self.sm.default_qpos()
        d.ctrl[:] = self.robot.default_pose
        for _ in range(int(1.0 / m.opt.timestep)):
            mujoco.mj_step(m, d)
        return d.qpos[self.sm.object_qpos_adr:self.sm.object_qpos_adr + 3].copy()

    def _init(self) -> None:
        sm, r, n, dev = self.sm, self.robot, self.num_envs, self.device
        m = sm.model
        self.qpos_adr, self.dof_adr = self._t(sm.qpos_adr, torch.long), self._t(sm.dof_adr, torch.long)
        self.obj_q = sm.object_qpos_adr
        self.obj_d = int(m.jnt_dofadr[m.body("object").jntadr[0]])
        self.obj_body = m.body("object").id
        self.obj_geom = m.geom("object").id
        self.pad_geoms = [i for i in range(m.ngeom) if m.geom(i).name.endswith("_pad")]  # fingertip pads (if any)
        self.palm_pos = self._t(m.body(r.base_body).pos).repeat(n, 1)
        self.palm_quat = self._t(m.body(r.base_body).quat).repeat(n, 1)
        self.obj_start = self._t(self.rest_pos) + self._t([0.0, 0.0, 0.002])  # 2 mm above its resting place
        self.obj_rest_palm = quat_rotate_inverse(self.palm_quat[:1], (self._t(self.rest_pos) - self.palm_pos[0])[None])[0]
        self.obj_mass, self.obj_size = float(m.body_mass[self.obj_body]), self._t(m.geom_size[self.obj_geom])
        self.default_pose, self.lower, self.upper = self._t(r.default_pose), self._t(r.lower), self._t(r.upper)
        self.tip_cols = self._t([i for f in r.feet for i in range(sm.sensors[f"foot_pos:{f}"].start,
                                                                   sm.sensors[f"foot_pos:{f}"].stop)], torch.long)
        self.axes = self._t(self.cfg.axes)
        z = lambda *s: torch.zeros(*s, device=dev)  # noqa: E731
        self.actions, self.last_actions, self.applied = z(n, self.num_actions), z(n, self.num_actions), z(n, self.num_actions)
        self.targets = self.default_pose.repeat(n, 1)
        self.commands, self.command_axis, self.command_speed = z(n, 3), torch.zeros(n, dtype=torch.long, device=dev), z(n)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.command_timer = torch.zeros(n, dtype=torch.long, device=dev)
        self.latency = torch.zeros(n, dtype=torch.bool, device=dev)
        self.kp, self.kd = self._t(r.kp).repeat(n, 1), self._t(r.kd).repeat(n, 1)
        self.episode_sums = {k: z(n) for k in self.cfg.rewards}
        self.rotation_done = z(n)  # rad turned about the commanded axis this episode
        self.tracked_pos = self.tracked_quat = None  # the tracker's last pose (see _track)
        self.active_axes = self.cfg.curriculum_axes or len(self.cfg.axes)  # axes commands are drawn from
        self.achieved_share = 0.0  # running mean of achieved / commanded rotation rate over ended episodes
        self.just_reset = torch.ones(n, dtype=torch.bool, device=dev)
        self.extras: dict = {"log": {}}
        if self.cfg.action_mode not in ("absolute", "delta"):
            raise HRobotError(f"action_mode: expected 'absolute' or 'delta', got '{self.cfg.action_mode}'")
        unknown = sorted(set(self.cfg.rewards) - set(REWARDS))
        if unknown:
            raise HRobotError(f"unknown reward term '{unknown[0]}' (expected one of {', '.join(REWARDS)})")
        sizes = ObservationLayout.standard_sizes(r, 3)
        self.policy_layout = ObservationLayout(self.cfg.policy_obs, r, sizes, self.device)
        critic = [ObsTerm(t.name, t.scale, 0.0, t.clip) for t in self.cfg.policy_obs] + [
            ObsTerm("joint_vel", 0.1), ObsTerm("object_lin_vel", 5.0), ObsTerm("object_ang_vel", 0.5),
            ObsTerm("fingertip_pos", 10.0)]
        self.critic_layout = ObservationLayout(critic, r, sizes, self.device)

    # ------------------------------------------------------------------ state
    def _refresh(self) -> None:
        qpos, qvel = self.sim.qpos.to(torch.float32), self.sim.qvel.to(torch.float32)
        o, d = self.obj_q, self.obj_d
        self.joint_pos, self.joint_vel = qpos[:, self.qpos_adr], qvel[:, self.dof_adr]
        self.obj_pos = quat_rotate_inverse(self.palm_quat, qpos[:, o:o + 3] - self.palm_pos)  # palm frame, as tracked
        self.obj_offset = self.obj_pos - self.obj_rest_palm  # from where it rests on the open hand
        self.obj_quat = quat_mul(quat_conj(self.palm_quat), qpos[:, o + 3:o + 7])
        self.obj_lin_vel = quat_rotate_inverse(self.palm_quat, qvel[:, d:d + 3])
        self.obj_ang_vel = quat_rotate_inverse(self.palm_quat, qvel[:, d + 3:d + 6])  # free joint: world frame
        tips = self.sim.sensordata[:, -1, self.tip_cols].to(torch.float32).reshape(self.num_envs, -1, 3)
        self.tip_pos = quat_rotate_inverse(self.palm_quat.repeat_interleave(tips.shape[1], 0),
                                           (tips - self.palm_pos[:, None]).reshape(-1, 3)).reshape(self.num_envs, -1)
        self._track()

    def _track(self) -> None:
        """The tracker's pose of the cube: the truth, except in the envs whose frame is late or missing this step
        (`pose_dropout`), which keep the previous one (never across a reset)."""
        rc = self.cfg.randomization
        p = rc.pose_dropout if rc.enabled and not self.eval_mode else 0.0
        if p <= 0.0 or self.tracked_pos is None:
            self.tracked_pos, self.tracked_quat = self.obj_pos, self.obj_quat
            self.just_reset[:] = False
            return
        late = (torch.rand(self.num_envs, device=self.device, generator=self.gen) < p) & ~self.just_reset
        self.tracked_pos = torch.where(late[:, None], self.tracked_pos, self.obj_pos)
        self.tracked_quat = torch.where(late[:, None], self.tracked_quat, self.obj_quat)
        self.just_reset[:] = False

    def robot_state(self) -> RobotState:
        """What the policy sees (the cube as tracked); the critic and the rewards use the truth."""
        return RobotState(joint_pos=self.joint_pos, joint_vel=self.joint_vel, command=self.commands,
                          last_action=self.actions, joint_target=self.targets, object_pos=self.tracked_pos,
                          object_quat=self.tracked_quat,
                          object_lin_vel=self.obj_lin_vel, object_ang_vel=self.obj_ang_vel, fingertip_pos=self.tip_pos)

    def _observations(self) -> TensorDict:
        s = self.robot_state()
        truth = replace(s, object_pos=self.obj_pos, object_quat=self.obj_quat)
        self.obs = TensorDict({"policy": self.policy_layout.compute(s, noise=not self.eval_mode, generator=self.gen),
                               "critic": self.critic_layout.compute(truth)}, batch_size=[self.num_envs],
                              device=self.device)
        return self.obs

    def get_observations(self) -> TensorDict:
        return self.obs

    # ------------------------------------------------------------------ stepping
    def joint_targets(self, applied: torch.Tensor) -> torch.Tensor:
        if self.cfg.action_mode == "delta":
            t = self.targets + self.cfg.delta_scale * applied
        else:
            t = self.default_pose + self.robot.action_scale * applied
        return torch.maximum(torch.minimum(t, self.upper), self.lower)

    def step(self, actions: torch.Tensor):
        joint_position_action(self, actions)
        self.sim.step(self.targets)
        self._refresh()
        self.episode_length_buf += 1
        self.command_timer += 1
        axis = self.axes[self.command_axis]
        self.rotation_done += (self.obj_ang_vel * axis).sum(1) * self.dt
        dropped = self.obj_offset.norm(dim=1) > self.cfg.drop_distance
        time_outs = self.episode_length_buf >= self.max_episode_length
        self._dropped_now = dropped
        rew = torch.zeros(self.num_envs, device=self.device)
        for name, scale in self.cfg.rewards.items():
            r = REWARDS[name](self) * scale * self.dt
            rew += r
            self.episode_sums[name] += r
        dones = dropped | time_outs
        self.extras = {"time_outs": time_outs, "log": {}}
        log = self.extras["log"]
        log["Metrics/object_ang_vel_along_axis"] = (self.obj_ang_vel * axis).sum(1).mean()
        log["Metrics/command_speed"] = self.command_speed.mean()
        ids = torch.nonzero(dones).flatten()
        if len(ids):
            log["Metrics/drop_rate"] = dropped[ids].float().mean()
            rate = self.rotation_done[ids] / (self.episode_length_buf[ids] * self.dt)
            log["Metrics/rotation_rate"] = rate.mean()
            self._curriculum(float((rate / self.command_speed[ids]).mean()), len(ids))
            log["Curriculum/active_axes"] = float(self.active_axes)
            log["Curriculum/achieved_share"] = self.achieved_share
        if len(ids) and self.cfg.auto_reset:
            self._reset_envs(ids)
            self._refresh()
        self._resample(torch.nonzero(self.command_timer >= int(round(self.cfg.resample_s / self.dt))).flatten())
        return self._observations(), rew, dones, self.extras

    def _curriculum(self, share: float, episodes: int) -> None:
        """Every axis is commanded once the first ones turn at curriculum_rate of their command (a running mean
        over about 100 ended episodes)."""
        self.achieved_share += min(1.0, episodes / 100) * (share - self.achieved_share)
        if self.active_axes < len(self.cfg.axes) and self.achieved_share >= self.cfg.curriculum_rate:
            self.active_axes = len(self.cfg.axes)

    def _resample(self, ids: torch.Tensor) -> None:
        if not len(ids):
            return
        n = len(ids)
        self.command_axis[ids] = torch.randint(0, self.active_axes, (n,), device=self.device, generator=self.gen)
        lo, hi = self.cfg.speeds
        self.command_speed[ids] = lo + (hi - lo) * torch.rand(n, device=self.device, generator=self.gen)
        self.commands[ids] = self.axes[self.command_axis[ids]] * self.command_speed[ids, None]
        self.command_timer[ids] = 0

    def hold_commands(self, axis: torch.Tensor, speed: torch.Tensor) -> None:
        """Fix each env's command (evaluation)."""
        self.command_axis[:], self.command_speed[:] = axis.to(self.device), speed.to(self.device)
        self.commands[:] = self.axes[self.command_axis] * self.command_speed[:, None]
        self.command_timer[:] = -10**9  # never resampled

    # ------------------------------------------------------------------ resets
    def reset_all(self) -> None:
        self._reset_envs(torch.arange(self.num_envs, device=self.device))
        self._refresh()
        self._observations()

    def reset(self):
        self.reset_all()
        return self.obs, self.extras

    def uniform(self, lo: float, hi: float, *shape) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, device=self.device, generator=self.gen)

    def _reset_envs(self, ids: torch.Tensor) -> None:
        n = len(ids)
        log = self.extras.setdefault("log", {})
        for name, s in self.episode_sums.items():
            log[f"Episode_Reward/{name}"] = s[ids].mean() / self.cfg.episode_s
            s[ids] = 0.0
        rc = self.cfg.randomization
        dr = rc.enabled and not self.eval_mode
        if dr:
            self.sim.set_model_field("body_mass", ids, self.obj_body, self.obj_mass * self.uniform(*rc.object_mass, n))
            self.sim.set_model_field("geom_size", ids, self.obj_geom,
                                     self.obj_size * self.uniform(*rc.object_size, n, 1))
            self.sim.set_model_field("geom_friction", ids, (self.obj_geom, 0), self.uniform(*rc.object_friction, n))
            pad = self.uniform(*rc.pad_friction, n)
            for g in self.pad_geoms:
                self.sim.set_model_field("geom_friction", ids, (g, 0), pad)
            self.sim.set_constants(ids)  # MuJoCo's mass-derived constants (contact scaling) follow the cube's mass
            kp = self._t(self.robot.kp) * self.uniform(*rc.kp_scale, n, self.num_actions)
            kd = self._t(self.robot.kd) * self.uniform(*rc.kd_scale, n, self.num_actions)
            self.kp[ids], self.kd[ids] = kp, kd
            self.sim.set_model_field("actuator_gainprm", ids, (slice(None), 0), kp)
            self.sim.set_model_field("actuator_biasprm", ids, (slice(None), 1), -kp)
            self.sim.set_model_field("actuator_biasprm", ids, (slice(None), 2), -kd)
        qpos = self.sim.qpos[ids].clone().to(torch.float32)
        qvel = torch.zeros(n, self.sim.qvel.shape[1], device=self.device)
        noise = self.uniform(-rc.init_joint_noise, rc.init_joint_noise, n, self.num_actions) if dr else 0.0
        qpos[:, self.qpos_adr] = torch.maximum(torch.minimum(self.default_pose + noise, self.upper), self.lower)
        o = self.obj_q
        off = self.uniform(-rc.init_object_offset, rc.init_object_offset, n, 3) if dr else 0.0
        qpos[:, o:o + 3] = self.obj_start + off
        yaw = self.uniform(-math.pi, math.pi, n)  # the cube's faces are alike: any yaw on the palm
        qpos[:, o + 3:o + 7] = torch.stack([torch.cos(yaw / 2), torch.zeros(n, device=self.device),
                                            torch.zeros(n, device=self.device), torch.sin(yaw / 2)], 1)
        self.sim.reset(ids, qpos, qvel)
        self.targets[ids] = qpos[:, self.qpos_adr]  # a delta policy steps from where the joints start
        self.actions[ids] = 0.0
        self.last_actions[ids] = 0.0
        self.episode_length_buf[ids] = 0
        self.rotation_done[ids] = 0.0
        self.just_reset[ids] = True
        self.latency[ids] = (torch.rand(n, device=self.device, generator=self.gen) < rc.latency_prob) if dr else False
        self._resample(ids)


# ---------------------------------------------------------------- reward terms (per second; scaled by the config)


def _rotation(env: InHandEnv) -> torch.Tensor:
    """The cube's angular velocity along the commanded axis, capped at the commanded speed (Hora's clipped term)."""
    along = (env.obj_ang_vel * env.axes[env.command_axis]).sum(1)
    return torch.minimum(along, env.command_speed).clamp(min=-env.command_speed)


def _off_axis(env: InHandEnv) -> torch.Tensor:
    axis = env.axes[env.command_axis]
    along = (env.obj_ang_vel * axis).sum(1, keepdim=True)
    return (env.obj_ang_vel - along * axis).norm(dim=1)


REWARDS = {
    "rotation": _rotation,
    "off_axis": _off_axis,
    "object_lin_vel": lambda env: env.obj_lin_vel.norm(dim=1),
    "object_offset": lambda env: env.obj_offset.norm(dim=1),
    "pose_deviation": lambda env: (env.joint_pos - env.default_pose).abs().sum(1),
    "torques": lambda env: ((env.kp * (env.targets - env.joint_pos) - env.kd * env.joint_vel) ** 2).sum(1),
    "action_rate": lambda env: ((env.actions - env.last_actions) ** 2).sum(1),
    "drop": lambda env: env._dropped_now.float() / env.dt,  # once, when it happens (the scale is per event)
}
