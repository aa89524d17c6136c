"""The in-hand rotation task: the cube's pose in the palm frame, the rotation reward, drop termination,
and the object observation terms computing the same values for torch (training) and numpy (runtime)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrobot.errors import HRobotError
from hrobot.obs import ObservationLayout, ObsTerm, RobotState
from hrobot.robots import load_robot
from hrobot.tasks.inhand.leap_rotate import env_cfg, make_env


@pytest.fixture(scope="module")
def env():
    cfg = env_cfg()
    cfg.num_envs = 4
    cfg.randomization.enabled = False
    return make_env(cfg, seed=3)


def test_the_cube_rests_at_the_origin_of_its_observed_position_and_nothing_drops(env):
    for _ in range(10):
        obs, rew, done, _ = env.step(torch.zeros(env.num_envs, env.num_actions))
    assert obs["policy"].shape == (4, 16 + 16 + 16 + 3 + 6 + 3) and torch.isfinite(obs["critic"]).all()
    assert env.obj_offset.norm(dim=1).max() < 0.02  # near where it settles (the hooked fingers nudge it by its yaw)
    assert not done.any() and env.obj_ang_vel.norm(dim=1).max() < 0.2


def test_delta_actions_step_the_targets_from_where_the_joints_start():
    """action_mode delta: a target moves delta_scale * action per step from the joint positions at the episode's
    start, inside the joint limits; the policy observes its targets (joint_target, relative to the default)."""
    cfg = env_cfg()
    cfg.num_envs, cfg.auto_reset = 3, False
    env = make_env(cfg, seed=5)
    assert cfg.action_mode == "delta"
    start = env.joint_pos.clone()
    torch.testing.assert_close(env.targets, start)  # not the default pose: the reset's noisy joint positions
    a = torch.zeros(3, env.num_actions)
    a[:, 0], a[:, 2] = 1.0, -0.5
    env.step(a)
    want = (start + cfg.delta_scale * a).clamp(env.lower, env.upper)
    applied = ~env.latency  # envs with a step of latency apply the previous (zero) action
    torch.testing.assert_close(env.targets[applied], want[applied])
    torch.testing.assert_close(env.targets[~applied], start[~applied])
    for _ in range(200):  # pushed on: the target stops at the joint's upper limit
        env.step(torch.ones(3, env.num_actions))
    torch.testing.assert_close(env.targets, env.upper.expand(3, -1))
    layout = env.policy_layout
    i = [t.name for t in layout.terms].index("joint_target")
    start_col = sum(layout.sizes[t.name] for t in layout.terms[:i])
    torch.testing.assert_close(env.get_observations()["policy"][:, start_col:start_col + 16],
                               env.targets - env.default_pose)


def test_spinning_the_cube_about_the_command_is_rewarded_and_off_the_hand_is_a_drop(env):
    from hrobot.tasks.inhand.env import REWARDS

    env.hold_commands(torch.tensor([0, 1, 2, 3]), torch.full((4,), 0.8))
    d = env.obj_d
    qvel = env.sim.qvel.clone()
    qvel[:, d + 3:d + 6] = 0.0
    qvel[:, d + 5] = -0.8  # world -z is the palm's +z (the palm faces up: 180 degrees about x)
    env.sim.qvel[:] = qvel
    env._refresh()
    rot = REWARDS["rotation"](env)
    assert rot[0] == pytest.approx(0.8, abs=1e-4) and rot[1] == pytest.approx(-0.8, abs=1e-4)  # +z, -z
    assert rot[2] == pytest.approx(0.0, abs=1e-4) and REWARDS["off_axis"](env)[2] == pytest.approx(0.8, abs=1e-4)
    qpos = env.sim.qpos.clone()
    qpos[1, env.obj_q + 1] += 0.2  # env 1's cube 20 cm to the side
    env.sim.qpos[:] = qpos
    _, _, done, extras = env.step(torch.zeros(env.num_envs, env.num_actions))
    assert done.tolist() == [False, True, False, False] and not extras["time_outs"].any()
    assert env.obj_offset[1].norm() < 0.01  # reset to its resting place


def test_a_late_tracker_frame_repeats_the_last_pose_to_the_policy_only():
    """pose_dropout: a late or missing tracker frame shows the policy the cube's previous pose; the critic and the
    rewards keep the truth, and a reset never carries an old pose over."""
    cfg = env_cfg()
    cfg.num_envs = 8
    cfg.randomization.pose_dropout = 1.0  # every frame late: the policy sees the pose of the episode's start
    env = make_env(cfg, seed=1)
    start = env.tracked_quat.clone()
    for _ in range(10):
        env.step(torch.full((8, 16), 0.8))
    assert torch.equal(env.tracked_quat, start) and not torch.allclose(env.obj_quat, start, atol=1e-3)
    cfg.randomization.pose_dropout = 0.0
    fresh = make_env(cfg, seed=1)
    for _ in range(3):
        fresh.step(torch.full((8, 16), 0.8))
    assert torch.equal(fresh.tracked_quat, fresh.obj_quat)
    env.reset_all()
    assert torch.equal(env.tracked_quat, env.obj_quat)


def test_the_axis_curriculum_commands_z_first_then_every_axis():
    cfg = env_cfg()
    cfg.num_envs = 64
    assert cfg.curriculum_axes == 2
    env = make_env(cfg, seed=2)
    assert set(env.command_axis.tolist()) == {0, 1}  # +-z only
    env._curriculum(0.2, 200)
    assert env.active_axes == 2
    env._curriculum(0.5, 200)  # turning at half its command: every axis from now on
    assert env.active_axes == 4
    env._resample(torch.arange(64))
    assert set(env.command_axis.tolist()) == {0, 1, 2, 3}


def test_object_terms_agree_between_torch_and_numpy():
    spec = load_robot("leap_hand")
    terms = [ObsTerm("object_pos", 20.0), ObsTerm("object_rot"), ObsTerm("command"), ObsTerm("joint_pos")]
    sizes = {"object_pos": 3, "object_rot": 6, "command": 3, "joint_pos": 16}
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    st = dict(joint_pos=rng.normal(size=(5, 16)), joint_vel=np.zeros((5, 16)), command=rng.normal(size=(5, 3)),
              last_action=np.zeros((5, 16)), object_pos=rng.normal(size=(5, 3)) * 0.01, object_quat=q)
    layout = ObservationLayout(terms, spec, sizes)
    a = layout.compute(RobotState(**st))
    b = layout.compute(RobotState(**{k: torch.tensor(v) for k, v in st.items()})).numpy()
    assert np.allclose(a, b, atol=1e-6)
    w, x, y, z = q[0]  # the rotation matrix's first column is where the object's x axis points
    assert a[0, 3:6] == pytest.approx([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], abs=1e-6)
    half = math.pi / 4  # 90 degrees about z: x axis -> y axis, y axis -> -x axis
    st["object_quat"] = np.tile([math.cos(half), 0, 0, math.sin(half)], (5, 1))
    r = layout.compute(RobotState(**st))[0, 3:9]
    assert r == pytest.approx([0, 1, 0, -1, 0, 0], abs=1e-6)


@pytest.mark.slow
def test_train_eval_export_and_the_runtime_sees_what_training_saw(tmp_path):
    """A short run is evaluated and exported; the bundle loads against the simulated hand (which provides the
    cube's pose as a tracker would) and the deployment runtime builds the observation training built."""
    import mujoco

    from hrobot.bundle import load_bundle
    from hrobot.eval import evaluate_inhand, play
    from hrobot.export import export_run
    from hrobot.runtime import PolicyRuntime
    from hrobot.sim.robot import SimRobot
    from hrobot.train import train

    run = tmp_path / "run"
    info = train("leap_rotate", run, num_envs=16, iterations=2, seed=0)
    assert info["kind"] == "manipulation" and info["env_steps"] == 2 * 32 * 16
    res = evaluate_inhand(run, episodes=8, seed=5)
    assert [a["axis"] for a in res["axes"]] == [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]
    assert all(a["episodes"] == 2 and a["commanded_rad_s"] == pytest.approx(0.75) for a in res["axes"])
    assert 0.0 <= res["drop_rate"] <= 1.0 and all(math.isfinite(a["achieved_rad_s"]) for a in res["axes"])
    played = play(run, tmp_path / "rotate.mp4", seconds=0.4, width=160, height=120)
    assert played["frames"] == 8 and (tmp_path / "rotate.mp4").stat().st_size > 0

    robot = SimRobot(load_robot("leap_hand"))
    assert {"object_pos", "object_quat"} <= robot.provides
    b = load_bundle(export_run(run, tmp_path / "leap_rotate"), provides=robot.provides, who="the simulated hand")
    assert b.meta["command"]["names"] == ["wx", "wy", "wz"] and b.meta["command"]["frame"] == "palm"
    cfg = env_cfg()
    cfg.num_envs = 1
    env = make_env(cfg, eval_mode=True)
    env.hold_commands(torch.tensor([2]), torch.tensor([0.6]))
    for _ in range(5):
        env.step(torch.full((1, 16), 0.3))
    robot.data.qpos[:] = env.sim.qpos[0].numpy()
    mujoco.mj_forward(robot.model, robot.data)
    rt = PolicyRuntime(b)
    assert rt.delta and b.meta["delta_scale"] == cfg.delta_scale
    rt.last_action[:] = env.actions[0].numpy()
    rt.target = env.targets[0].numpy().astype(np.float64)  # where training's targets stepped to
    got = rt.observation(robot.read_state(), [0.6, 0.0, 0.0])
    np.testing.assert_allclose(got, env._observations()["policy"].numpy(), atol=1e-5)


def test_the_runtime_steps_a_delta_policy_from_the_measured_pose_and_refuses_a_broken_delta_contract(hand_bundle,
                                                                                                      tmp_path):
    """Deployment integrates a delta policy as training did: targets start at the measured joint positions and
    move delta_scale * action per step inside the limits; a bundle whose delta contract is broken is refused."""
    import shutil

    from hrobot.bundle import load_bundle, read_metadata
    from hrobot.export import write_metadata
    from hrobot.runtime import PolicyRuntime
    from hrobot.safety import MeasuredState

    b = load_bundle(hand_bundle)
    rt = PolicyRuntime(b)
    robot, step = b.robot, b.meta["delta_scale"]
    q0 = robot.default_pose + 0.05
    state = MeasuredState(joint_pos=q0, joint_vel=np.zeros(16), base_quat=None, base_ang_vel=None, stamp=0.0,
                          object_pos=np.array([0.0, 0.0, 0.05]),
                          object_quat=np.array([1.0, 0.0, 0.0, 0.0]), object_stamp=0.0)
    want = q0.copy()
    for _ in range(3):
        cmd = rt.step(state, [0.0, 0.0, 0.8])
        want = np.clip(want + step * rt.last_action, robot.lower, robot.upper)
        np.testing.assert_allclose(cmd.q, want, atol=1e-6)  # from the measured pose, not the default
    np.testing.assert_allclose(rt.current_targets(), want, atol=1e-6)
    rt.reset()
    np.testing.assert_allclose(rt.step(state, [0.0, 0.0, 0.8]).q, np.clip(q0 + step * rt.last_action, robot.lower,
                                                                          robot.upper), atol=1e-6)
    for change, field in (({"delta_scale": 0}, "delta_scale"), ({"action_mode": "absolute"}, "action_mode"),
                          ({"action_mode": "velocity"}, "action_mode")):
        bad = tmp_path / f"bad_{field}_{len(list(tmp_path.iterdir()))}"
        shutil.copytree(hand_bundle, bad)
        write_metadata(bad / "policy.onnx", {**read_metadata(bad), **change})
        with pytest.raises(HRobotError, match=f"{field}: expected"):
            load_bundle(bad)


def test_a_missing_invalid_or_stale_object_pose_holds_the_last_targets_then_the_policy_resumes(hand_bundle):
    """The controller runs a manipulation skill only on a valid, fresh object pose; otherwise the hand holds the
    policy's last targets (no jump, no damping) and the policy runs again once the pose is fresh."""
    from dataclasses import replace

    from hrobot.bundle import load_bundle
    from hrobot.runtime import ControlLoop, Controller, PolicyRuntime
    from hrobot.sim.robot import SimRobot

    robot = SimRobot(load_robot("leap_hand"))
    rt = PolicyRuntime(load_bundle(hand_bundle, provides=robot.provides, who="the simulated hand"))
    assert rt.needs_object
    ctrl = Controller(rt)
    loop = ControlLoop(robot, ctrl, lambda: [0.0, 0.0, 0.8])
    robot.activate()
    ctrl.run_policy()

    def period(state):
        out = loop.step(state)
        robot.advance(robot.robot.policy_dt)
        return out

    for _ in range(5):
        period(None)
    assert ctrl.holding == "" and not robot.safety.tripped
    held = rt.current_targets()
    now = robot.now()
    cases = {"no object pose": dict(object_pos=None),
             "quaternion norm 2.000": dict(object_quat=np.array([2.0, 0.0, 0.0, 0.0])),
             "finite position": dict(object_pos=np.array([np.nan, 0.0, 0.0])),
             "stale object pose": dict(object_stamp=now - 0.3)}
    for why, change in cases.items():
        state = replace(robot.read_state(), **change)
        out = period(state)
        assert why in ctrl.holding and out.mode == "servo_position" and not robot.safety.tripped
        np.testing.assert_allclose(out.q, np.clip(held, robot.robot.lower, robot.robot.upper), atol=1e-9)
    period(None)  # fresh again: the policy runs (its action moves on from the held one)
    assert ctrl.holding == "" and not np.allclose(rt.current_targets(), held)


def test_the_simulated_hand_damps_as_its_servos_do_holding_where_it_was():
    """A trip on the simulated hand holds every joint where it was (the LEAP driver's damping), it does not go limp
    and drop the cube; a later command after a reset moves it again."""
    from hrobot.safety import JointCommand
    from hrobot.sim.robot import SimRobot

    spec = load_robot("leap_hand")
    robot = SimRobot(spec)
    robot.activate()
    bent = np.clip(spec.default_pose + 0.3, spec.lower, spec.upper)
    for _ in range(40):  # 2 s to the bent pose
        robot.send(JointCommand.hold(spec, bent))
        robot.advance(spec.policy_dt)
    q0, obj0 = robot.read_state().joint_pos.copy(), robot.object_pose()[0].copy()
    robot.safety.estop("test")
    for _ in range(40):  # 2 s tripped
        assert robot.send(JointCommand.hold(spec, spec.default_pose)).mode == "damping"
        robot.advance(spec.policy_dt)
    assert np.abs(robot.read_state().joint_pos - q0).max() < 0.05  # held, not limp
    assert np.linalg.norm(robot.object_pose()[0] - obj0) < 0.01  # the cube stayed
    assert robot.safety.reset(robot.read_state(), robot.now())
    for _ in range(40):
        robot.send(JointCommand.hold(spec, spec.default_pose))
        robot.advance(spec.policy_dt)
    assert np.abs(robot.read_state().joint_pos - spec.default_pose).max() < 0.1


def test_sim2sim_runs_a_rotation_skill_at_the_hands_500_hz(hand_bundle, tmp_path):
    """The rotation skill as deployed (runtime, safety layer, servo PD) on the simulated hand at the spec's 500 Hz,
    against the 100 Hz it trained at: per-axis rotation rates and drops, as `hrobot eval` reports them."""
    import json

    from hrobot.cli import main

    out = tmp_path / "s2s.json"
    assert main(["sim2sim", str(hand_bundle), "--episodes", "4", "--pd-rate", "500", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["conditions"]["pd_rate_hz"] == 500 and res["conditions"]["training_pd_rate_hz"] == 100
    assert [a["axis"] for a in res["axes"]] == [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]
    assert all(math.isfinite(a["achieved_rad_s"]) and a["episodes"] == 1 for a in res["axes"])
    assert 0.0 <= res["drop_rate"] <= 1.0
