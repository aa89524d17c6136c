"""Policy bundles: ONNX export with metadata, validating loader, runtime, sim2sim, imports (issue: bundles)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from hrobot.bundle import load_bundle, read_metadata
from hrobot.export import export_run, write_metadata
from hrobot.cli import main
from hrobot.errors import HRobotError
from hrobot.sim.robot import SimRobot
from hrobot.robots import load_robot
from hrobot.runtime import POLICY, ControlLoop, Controller, PolicyRuntime
from hrobot.safety import DAMPING, MeasuredState
from hrobot.tasks import load_task
from hrobot.train import load_actor

REPO = Path(__file__).resolve().parents[1]


def _one_line_error(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


# ---------------------------------------------------------------- export parity


def test_low_level_export_parity(short_run, skill_bundle):
    mod = load_task("go2_walk")
    cfg = mod.env_cfg()
    cfg.num_envs = 2
    env = mod.make_env(cfg, eval_mode=True)
    actor = load_actor(short_run[0], env)
    b = load_bundle(skill_bundle)
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(1000, b.meta["obs_dim"], generator=gen) * 2.0
    with torch.inference_mode():
        ref = actor(TensorDict({"policy": obs}, batch_size=[1000])).numpy()
    np.testing.assert_allclose(b.run(obs.numpy()), ref, atol=1e-5, rtol=0)


def test_warm_started_run_exports_a_card_that_records_the_run_it_started_from(short_run, tmp_path):
    from hrobot.train import train

    base, base_summary, _ = short_run
    summary = train("go2_walk", tmp_path / "ft", num_envs=64, iterations=1, seed=4, init_from=base)
    t = json.loads((export_run(tmp_path / "ft", tmp_path / "bundle") / "card.json").read_text())["training"]
    assert t["init_from"].startswith(f"{base}/model_") and t["init_from"].endswith("actor and critic")
    assert t["warm_start"]["iterations"] == base_summary["iterations"]
    assert t["total"]["iterations"] == summary["iterations"] + base_summary["iterations"]
    assert t["total"]["env_steps"] == 64 * 24 + base_summary["env_steps"]


def test_warm_start_from_a_bundle_holds_its_actor_while_a_fresh_critic_learns(skill_bundle, tmp_path, monkeypatch):
    """--init-from a bundle: the actor starts as the bundle's policy (same outputs), takes no step while the new
    critic fits (the adaptive learning rate restarts after), and the card records the bundle's own training."""
    from hrobot import train as tr

    monkeypatch.setattr(tr, "CRITIC_WARMUP_ITERATIONS", 1)
    b = load_bundle(skill_bundle)
    obs = np.random.default_rng(0).normal(size=(64, b.meta["obs_dim"])).astype(np.float32)
    seen = {}

    def record(done, total, info):  # the actor after each update, on fixed observations
        with torch.inference_mode():
            seen[done] = runner_ref[0].alg.get_policy()(TensorDict({"policy": torch.from_numpy(obs)},
                                                                     batch_size=[64])).numpy().copy()

    runner_ref = []
    real = tr.HRobotRunner.__init__

    def keep(self, *a, **k):
        real(self, *a, **k)
        runner_ref.append(self)

    monkeypatch.setattr(tr.HRobotRunner, "__init__", keep)
    summary = tr.train("go2_walk", tmp_path / "ft", num_envs=64, iterations=2, seed=4, init_from=skill_bundle,
                       on_iteration=record)
    np.testing.assert_allclose(seen[1], b.run(obs), atol=1e-5)  # held through the first update
    assert np.abs(seen[2] - seen[1]).max() > 1e-4  # then it learns
    lr = runner_ref[0].alg.learning_rate
    assert lr <= 1.5 * runner_ref[0].cfg["algorithm"]["learning_rate"]  # not driven up by the held actor's KL
    assert summary["init_from"].startswith(f"{skill_bundle}/policy.onnx: actor (critic fresh")
    t = json.loads((export_run(tmp_path / "ft", tmp_path / "bundle") / "card.json").read_text())["training"]
    assert t["warm_start"] == json.loads((Path(skill_bundle) / "card.json").read_text())["training"]
    with pytest.raises(HRobotError, match="does not fit task g1_walk"):
        tr.train("g1_walk", tmp_path / "g1", num_envs=4, iterations=1, init_from=skill_bundle)


def test_fine_tuning_a_shipped_bundle_on_rough_ground_keeps_its_network_and_resumes(tmp_path):
    """--init-from the shipped go2_walk (exported before format 2: its graph names the actor's weights `inner.mlp.*`)
    onto rough terrain: the run takes the bundle's layer sizes (not the task's default), starts from the bundle's
    policy at the fine-tuning noise, and --resume continues on the run's own network."""
    from hrobot import train as tr

    shipped = REPO / "policies" / "go2_walk"
    tr.train("go2_walk", tmp_path / "rough", num_envs=16, iterations=1, seed=2, terrain="rough", init_from=shipped)
    cfg = json.loads((tmp_path / "rough" / "train_cfg.json").read_text())
    assert cfg["actor"]["hidden_dims"] == cfg["critic"]["hidden_dims"] == [256, 128, 64]
    assert cfg["actor"]["distribution_cfg"]["init_std"] == tr.WARM_START_STD
    b = load_bundle(shipped)
    obs = np.random.default_rng(1).normal(size=(32, b.meta["obs_dim"])).astype(np.float32)
    mod = load_task("go2_walk")
    env_cfg = mod.env_cfg("rough")
    env_cfg.num_envs = 2
    actor = load_actor(tmp_path / "rough", mod.make_env(env_cfg, eval_mode=True))
    with torch.inference_mode():  # the actor is held while the fresh critic learns: still the bundle's policy
        out = actor(TensorDict({"policy": torch.from_numpy(obs)}, batch_size=[32])).numpy()
    np.testing.assert_allclose(out, b.run(obs), atol=1e-5)
    ckpt = tr.latest_checkpoint(tmp_path / "rough")  # the terrain curriculum's levels travel with the checkpoint
    saved = torch.load(ckpt, weights_only=False)
    assert saved["infos"]["curriculum"]["terrain_levels"].shape == (16,)
    saved["infos"]["curriculum"]["terrain_levels"][:] = 7  # as if the run had climbed to level 7
    torch.save(saved, ckpt)
    summary = tr.train("go2_walk", tmp_path / "rough", num_envs=16, iterations=1, seed=2, terrain="rough", resume=True)
    assert summary["iterations"] == 2 and summary["init_from"].startswith(f"{shipped}/policy.onnx: actor")
    levels = torch.load(tr.latest_checkpoint(tmp_path / "rough"), weights_only=False)["infos"]["curriculum"]["terrain_levels"]
    assert set(levels.tolist()) <= {6, 7, 8}, levels  # resumed from 7 (one reset moves a level by one at most)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "policy.onnx").write_text("not a model")
    with pytest.raises(HRobotError, match="not a readable ONNX model"):
        tr.train("go2_walk", tmp_path / "bad_run", num_envs=4, iterations=1, init_from=tmp_path / "bad")


def test_a_height_scan_added_to_a_skill_starts_as_it_and_runs_on_an_elevation_map(short_run, tmp_path):
    """go2_rough (go2_walk's observation + a height scan) warm-started from a go2_walk run: the new inputs' weights
    start at zero, so it acts as the source on any scan; exported, its bundle carries the scan grid, is refused by a
    robot without an elevation map, and the runtime's scan from the map equals the training env's observation."""
    from hrobot import train as tr
    from hrobot.heightmap import HeightMap

    run = tmp_path / "rough"
    summary = tr.train("go2_rough", run, num_envs=16, iterations=1, seed=2, init_from=short_run[0])
    assert "(121 new observation inputs, their weights zero)" in summary["init_from"]
    mod = load_task("go2_rough")
    cfg = mod.env_cfg()
    cfg.num_envs = 1
    env = mod.make_env(cfg, eval_mode=True)
    runner = tr.HRobotRunner(env, json.loads((run / "train_cfg.json").read_text()), log_dir=None, device="cpu")
    tr._warm_start(runner, short_run[0], "go2_rough", "cpu")
    walk_cfg = load_task("go2_walk").env_cfg()
    walk_cfg.num_envs = 1
    source = load_actor(short_run[0], load_task("go2_walk").make_env(walk_cfg, eval_mode=True))
    obs = torch.randn(64, env.policy_layout.dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours = runner.alg.get_policy()(TensorDict({"policy": obs}, batch_size=[64]))
        theirs = source(TensorDict({"policy": obs[:, :45]}, batch_size=[64]))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)

    bundle = export_run(run, tmp_path / "bundle")
    meta = read_metadata(bundle / "policy.onnx")
    assert meta["height_scan"] == {"grid": [11, 11, 0.1], "offset_m": 0.3, "frame": "base, yaw only; x-major"}
    shutil.copytree(bundle, tmp_path / "no_grid")
    write_metadata(tmp_path / "no_grid" / "policy.onnx", {k: v for k, v in meta.items() if k != "height_scan"})
    with pytest.raises(HRobotError, match=r"height_scan: expected \{grid: \[nx, ny, spacing m\] with nx \* ny = 121"):
        load_bundle(tmp_path / "no_grid")
    with pytest.raises(HRobotError, match="needs state field 'height_map'.*elevation map"):
        load_bundle(bundle, provides={"joint_pos", "joint_vel", "base_quat", "base_ang_vel", "base_pos"})
    rt = PolicyRuntime(load_bundle(bundle, provides=SimRobot(load_robot("go2")).provides))
    env.hold_commands(torch.tensor([[0.5, 0.0, 0.2]]))
    env.terrain_levels[:] = 9  # env 0's tile: the hardest bumps (no flat platform)
    env.reset_all()
    for _ in range(5):
        env.step(torch.randn(1, 12) * 0.3)
    assert np.ptp(env.get_observations()["policy"][0, -121:].numpy()) > 0.1  # the scan sees uneven ground
    rt.last_action = env.actions[0].numpy().copy()
    state = MeasuredState(env.joint_pos[0].numpy(), env.joint_vel[0].numpy(), env.base_quat[0].numpy(),
                          env.base_ang_vel[0].numpy(), 0.0, base_pos=env.base_pos[0].numpy(),
                          height_map=env.sm.terrain.height_map())
    np.testing.assert_allclose(rt.observation(state, env.commands[0].numpy()), env.get_observations()["policy"].numpy(),
                               atol=1e-4)
    flat = dict(state.__dict__, height_map=HeightMap.flat(-0.5))  # the ground half a metre lower: clipped at 1
    assert rt.observation(MeasuredState(**flat), env.commands[0].numpy())[0, -121:] == pytest.approx(np.ones(121))
    with pytest.raises(HRobotError, match="the height scan needs height_map"):
        rt.observation(MeasuredState(**dict(state.__dict__, height_map=None)), env.commands[0].numpy())
    ctrl = Controller(rt)  # deployed: without the map or the base's position the policy holds its targets, standing
    ctrl.run_policy()
    for missing, why in (("height_map", "no elevation map"), ("base_pos", "no base position (odometry)")):
        held = ctrl.step(MeasuredState(**dict(state.__dict__, **{missing: None})), [0.5, 0.0, 0.0], 0.0)
        assert ctrl.holding == why and held.standing
        np.testing.assert_allclose(held.q, rt.current_targets())
    ctrl.step(state, [0.5, 0.0, 0.0], 0.0)
    assert ctrl.holding == ""
    from hrobot.sim.scene import SceneConfig
    from hrobot.sim2sim import sim2sim

    assert "height_map" not in SimRobot(load_robot("go2"), scene=SceneConfig(kind="arena", visual=False)).provides
    res = sim2sim(bundle, episodes=4, terrain_level=9, noise=False)  # through the runtime on the terrain at 1 kHz
    assert list(res["terrain"]["fall_rate_by_type"]) == ["bumps", "slope", "stairs", "blocks"]
    assert res["fall_rate"] == pytest.approx(np.mean(list(res["terrain"]["fall_rate_by_type"].values())))
    with pytest.raises(HRobotError, match="--terrain-level: expected a level in 0..9, got 10"):
        sim2sim(bundle, episodes=1, terrain_level=10)


def test_high_level_export_parity(nav_run, tmp_path):
    run, _ = nav_run
    out = export_run(run, tmp_path / "go2_nav")
    b = load_bundle(out)
    assert b.level == "high" and b.meta["skills"] and (out / b.meta["skills"][0]["path"] / "policy.onnx").is_file()
    mod = load_task("go2_nav")
    cfg = mod.env_cfg()
    cfg.num_envs = 2
    cfg.skills = tuple(json.loads((run / "run.json").read_text())["skills"])
    env = mod.make_env(cfg, eval_mode=True)
    actor = load_actor(run, env)
    obs = torch.randn(1000, b.meta["obs_dim"], generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = actor(TensorDict({"policy": obs}, batch_size=[1000])).numpy()
    np.testing.assert_allclose(b.run(obs.numpy()), ref, atol=1e-5, rtol=0)


def test_recurrent_export_carries_the_hidden_state(tmp_path):
    """An LSTM actor: ONNX takes and returns the state; threaded through 1,000 random observations
    (4 robots) it matches the torch actor stepping with its own state; the runtime resets it."""
    from hrobot.train import train

    run = tmp_path / "lstm"
    train("go2_walk_lstm", run, num_envs=16, iterations=2, seed=0)
    b = load_bundle(export_run(run, tmp_path / "go2_walk_lstm"))
    r = b.recurrent
    assert r["type"] == "lstm" and r["state_inputs"] == ["h_in", "c_in"] and r["state_outputs"] == ["h_out", "c_out"]
    mod = load_task("go2_walk_lstm")
    cfg = mod.env_cfg()
    cfg.num_envs = 4
    actor = load_actor(run, mod.make_env(cfg, eval_mode=True))
    actor.reset()
    obs = torch.randn(250, 4, b.meta["obs_dim"], generator=torch.Generator().manual_seed(2)) * 2.0
    state, worst = b.initial_state(4), 0.0
    with torch.inference_mode():
        for o in obs:
            ref = actor(TensorDict({"policy": o}, batch_size=[4])).numpy()
            out, state = b.step(o.numpy(), state)
            worst = max(worst, float(np.abs(out - ref).max()))
    assert worst < 1e-5
    assert float(np.abs(state[0]).max()) > 0.0  # the state really evolves
    with pytest.raises(HRobotError, match="recurrent policy needs its state"):
        b.run(obs[0].numpy())
    rt = PolicyRuntime(b)
    robot = SimRobot(b.robot)
    rt.step(robot.read_state(), np.zeros(3))
    assert np.abs(rt.state[0]).max() > 0.0
    rt.reset()
    assert all(np.all(s == 0.0) for s in rt.state)


def test_metadata_carries_what_deployment_needs(skill_bundle):
    meta = read_metadata(skill_bundle)
    robot = load_robot("go2")
    assert meta["joint_names"] == robot.joint_names
    np.testing.assert_allclose(meta["default_joint_pos"], robot.default_pose)
    np.testing.assert_allclose(meta["kp"], robot.kp)
    assert meta["action_scale"] == robot.action_scale and meta["policy_rate_hz"] == 50 and meta["pd_rate_hz"] == 200
    assert [t["name"] for t in meta["observation"]] == ["base_ang_vel", "projected_gravity", "command", "joint_pos",
                                                         "joint_vel", "last_action"]
    assert meta["command"]["names"] == ["vx", "vy", "wz"] and meta["level"] == "low" and meta["format_version"] == 2
    assert meta["action_clip"] == 10.0 and meta["gait_period_s"] is None  # go2_walk has no gait clock
    assert [t["requires"] for t in meta["observation"]] == [["base_ang_vel"], ["base_quat"], ["command"],
                                                             ["joint_pos"], ["joint_vel"], ["last_action"]]
    card = json.loads((skill_bundle / "card.json").read_text())
    assert card["training"]["iterations"] == 16 and card["training"]["seed"] == 3


def test_export_writes_the_runs_own_config_not_todays(short_run, tmp_path, monkeypatch):
    """Change the task's config after training: the bundle still says what the run was trained with."""
    import hrobot.tasks.velocity.go2_walk as task

    real = task.env_cfg

    def changed(terrain="flat"):
        cfg = real(terrain)
        cfg.commands.lin_vel_x, cfg.action_clip = (-3.0, 3.0), 2.0
        return cfg

    monkeypatch.setattr(task, "env_cfg", changed)
    meta = read_metadata(export_run(short_run[0], tmp_path / "b"))
    assert meta["command"]["low"][0] == -1.0 and meta["command"]["high"][0] == 1.0 and meta["action_clip"] == 10.0


def test_export_writes_the_gait_clock_the_run_trained_with(tmp_path, monkeypatch):
    """A g1_walk run trained with a 0.6 s clock exports 0.6 s (the runtime used to assume 0.8 s)."""
    import hrobot.tasks.velocity.g1_walk as task
    from hrobot.train import train

    real = task.env_cfg

    def clock(terrain="flat"):
        cfg = real(terrain)
        cfg.gait_period_s = 0.6
        return cfg

    monkeypatch.setattr(task, "env_cfg", clock)
    train("g1_walk", tmp_path / "run", num_envs=8, iterations=1, seed=0)
    monkeypatch.setattr(task, "env_cfg", real)  # today's config says 0.8 again
    meta = read_metadata(export_run(tmp_path / "run", tmp_path / "b"))
    assert meta["gait_period_s"] == 0.6 and PolicyRuntime(load_bundle(tmp_path / "b")).phase_period == 0.6


def _rewritten(src: Path, dst: Path, edit) -> Path:
    import shutil

    shutil.copytree(src, dst)
    meta = read_metadata(dst)
    edit(meta)
    write_metadata(dst / "policy.onnx", meta)
    return dst


def test_gait_clock_comes_from_the_bundle(tmp_path, capsys):
    """g1_walk observes gait_phase: the runtime runs the bundle's clock (no built-in period), and a bundle
    without one is refused at load."""
    g1 = REPO / "policies" / "g1_walk"

    def period(p):
        def edit(meta):
            meta["gait_period_s"] = p
        return edit

    assert PolicyRuntime(load_bundle(g1)).phase_period == 0.8
    rt = PolicyRuntime(load_bundle(_rewritten(g1, tmp_path / "clock", period(0.5))))
    assert rt.phase_period == 0.5
    state = SimRobot(rt.robot).read_state()
    for _ in range(5):  # 5 policy steps of 20 ms: phase 0.2 of a 0.5 s period
        rt.step(state, np.zeros(3))
    names = [t.name for t in rt.bundle.layout.terms]
    at = sum(rt.bundle.layout.sizes[n] for n in names[: names.index("gait_phase")])
    phase = rt.observation(state, np.zeros(3))[0, at : at + 2]
    np.testing.assert_allclose(phase, [np.sin(2 * np.pi * 0.2), np.cos(2 * np.pi * 0.2)], atol=1e-5)
    line = _one_line_error(["validate", str(_rewritten(g1, tmp_path / "noclock", period(None)))], capsys)
    assert "gait_period_s: expected a positive period" in line


def test_a_bundle_with_a_joint_without_stiffness_is_refused(tmp_path, capsys):
    """e18d371 validated an imported bundle whose uncovered joints had kp = kd = 0 as valid."""
    def zero(meta):
        meta["kp"][4] = 0.0

    line = _one_line_error(["validate", str(_rewritten(REPO / "policies" / "go2_walk", tmp_path / "kp0", zero))], capsys)
    assert "kp[FL_thigh_joint]: expected within (0, 1.5 x the spec's 20]" in line


def test_a_bundle_needing_a_state_field_the_robot_lacks_is_refused_at_load(skill_bundle, tmp_path):
    """The Isaac Lab layout observes base_lin_vel: a deployment without an estimator refuses it at start-up."""
    def lin_vel(meta):
        meta["observation"][0].update(name="base_lin_vel", requires=["base_lin_vel"])

    b = _rewritten(skill_bundle, tmp_path / "linvel", lin_vel)
    with pytest.raises(HRobotError, match="observation term 'base_lin_vel' needs state field 'base_lin_vel', which "
                                          "the IMU-only robot does not provide"):
        load_bundle(b, provides={"joint_pos", "joint_vel", "base_quat", "base_ang_vel"}, who="the IMU-only robot")
    robot = SimRobot(load_robot("go2"))  # ground-truth velocity stands in for an estimator
    PolicyRuntime(load_bundle(b, provides=robot.provides)).step(robot.read_state(), np.zeros(3))


def test_a_robot_claiming_a_state_field_that_does_not_exist_is_refused():
    with pytest.raises(HRobotError, match="my driver claims to provide 'base_velocity', which is not a state field"):
        load_bundle(REPO / "policies" / "go2_walk", provides={"joint_pos", "joint_vel", "base_velocity"},
                    who="my driver")


def test_runtime_clips_actions_as_training_did(skill_bundle, tmp_path):
    """An action beyond the bundle's clip moves the joints only as far as the clip, and is fed back clipped."""
    def clip(meta):
        meta["action_clip"] = 0.05

    rt = PolicyRuntime(load_bundle(_rewritten(skill_bundle, tmp_path / "clip", clip)))
    state = SimRobot(rt.robot).read_state()
    raw = rt.bundle.run(rt.observation(state, np.zeros(3)))[0]
    assert np.abs(raw).max() > 0.05  # the untrained-ish policy's output is larger than that
    rt.reset()
    cmd = rt.step(state, np.zeros(3))
    assert np.abs(rt.last_action).max() <= 0.05 + 1e-7
    np.testing.assert_allclose(cmd.q, rt.targets(np.clip(raw, -0.05, 0.05)), atol=1e-6)


def test_validate_compares_default_pose_gains_and_scale_with_the_spec(skill_bundle, tmp_path, capsys):
    def gains(meta):
        meta["kp"][0] *= 3.0

    line = _one_line_error(["validate", str(_rewritten(skill_bundle, tmp_path / "kp", gains))], capsys)
    assert "kp[FR_hip_joint]: expected within (0, 1.5 x the spec's" in line

    def pose(meta):
        meta["default_joint_pos"][1] += 0.1

    assert main(["validate", str(_rewritten(skill_bundle, tmp_path / "pose", pose))]) == 0
    out = capsys.readouterr().out
    assert "differs from the robot spec" in out and "default_joint_pos[FR_thigh_joint]" in out


# ---------------------------------------------------------------- bad bundles: one line, non-zero exit


def test_bundle_for_another_robot(skill_bundle, capsys):
    line = _one_line_error(["validate", str(skill_bundle), "--robot", "g1"], capsys)
    assert "robot: expected g1, found go2" in line


def test_truncated_onnx(skill_bundle, tmp_path, capsys):
    bad = tmp_path / "truncated"
    bad.mkdir()
    data = (skill_bundle / "policy.onnx").read_bytes()
    (bad / "policy.onnx").write_bytes(data[: len(data) // 2])
    line = _one_line_error(["validate", str(bad)], capsys)
    assert "not a valid ONNX model" in line and "policy.onnx" in line


def test_missing_metadata_key(skill_bundle, tmp_path, capsys):
    import shutil

    bad = tmp_path / "nokey"
    shutil.copytree(skill_bundle, bad)
    meta = read_metadata(bad)
    del meta["default_joint_pos"]
    write_metadata(bad / "policy.onnx", {**meta, "joint_names": meta["joint_names"]})
    line = _one_line_error(["validate", str(bad)], capsys)
    assert "missing metadata key 'default_joint_pos'" in line


def test_changed_limit_is_refused_with_expected_and_found(skill_bundle, tmp_path, capsys):
    import shutil

    bad = tmp_path / "limit"
    shutil.copytree(skill_bundle, bad)
    meta = read_metadata(bad)
    meta["robot"]["joints"][2]["torque"] = 99.0
    write_metadata(bad / "policy.onnx", meta)
    line = _one_line_error(["validate", str(bad)], capsys)
    assert "joints[FR_calf_joint].torque: expected 35.55, found 99.0" in line


def test_observation_of_the_wrong_size(skill_bundle):
    rt = PolicyRuntime(load_bundle(skill_bundle))
    with pytest.raises(HRobotError, match="observation of the wrong size: expected 45, got 44"):
        rt.act(np.zeros((1, 44), dtype=np.float32))
    state = SimRobot(rt.robot).read_state()
    with pytest.raises(HRobotError, match="command: expected 3 values"):
        rt.observation(state, np.zeros(2))


# ---------------------------------------------------------------- runtime and state machine


def test_runtime_matches_the_training_observation(skill_bundle):
    """The runtime builds the same observation the training env builds for the same state."""
    mod = load_task("go2_walk")
    cfg = mod.env_cfg()
    cfg.num_envs = 1
    env = mod.make_env(cfg, eval_mode=True)
    env.hold_commands(torch.tensor([[0.4, -0.1, 0.3]]))
    for _ in range(5):
        env.step(torch.randn(1, 12) * 0.3)
    rt = PolicyRuntime(load_bundle(skill_bundle))
    rt.last_action = env.actions[0].numpy().copy()
    state = MeasuredState(env.joint_pos[0].numpy(), env.joint_vel[0].numpy(), env.base_quat[0].numpy(),
                          env.base_ang_vel[0].numpy(), 0.0)
    ours = rt.observation(state, env.commands[0].numpy())
    np.testing.assert_allclose(ours, env.get_observations()["policy"].numpy(), atol=1e-5)


def test_state_machine_passive_standup_policy_sit(skill_bundle):
    rt = PolicyRuntime(load_bundle(skill_bundle))
    robot = SimRobot(rt.robot)
    ctrl = Controller(rt)
    kps = []
    loop = ControlLoop(robot, ctrl, lambda: np.zeros(3), on_step=lambda state, desired, safe: kps.append(
        float(desired.kp.mean())))
    robot.activate()
    out = loop.step()
    assert ctrl.mode == "passive" and out.mode == DAMPING
    ctrl.request("stand")
    t_start, reached = robot.now(), None
    kps.clear()
    for _ in range(200):
        loop.step()
        robot.advance()
        if ctrl.mode == POLICY and reached is None:
            reached = robot.now() - t_start
    assert reached is not None and reached >= 2.0  # stand-up takes at least 2 s
    assert kps[0] < 0.2 * rt.robot.kp.mean() and max(kps) == pytest.approx(rt.robot.kp.mean())  # gains ramp in
    ctrl.request("sit")
    for _ in range(150):
        loop.step()
        robot.advance()
    assert ctrl.mode == "passive" and not robot.safety.tripped  # sitting down is no fall


def test_estop_reaches_damping_within_two_control_periods(skill_bundle):
    rt = PolicyRuntime(load_bundle(skill_bundle))
    robot = SimRobot(rt.robot)
    ctrl = Controller(rt)
    loop = ControlLoop(robot, ctrl, lambda: np.zeros(3))
    robot.activate()
    ctrl.run_policy()
    assert loop.step().mode != DAMPING
    robot.safety.estop("test", robot.now())
    periods = 0
    while True:
        out = loop.step()
        robot.advance()
        periods += 1
        if out.mode == DAMPING:
            break
    assert periods <= 2


# ---------------------------------------------------------------- sim2sim and bench


def test_sim2sim_reports_eval_metrics(skill_bundle, tmp_path):
    js = tmp_path / "s2s.json"
    assert main(["sim2sim", str(skill_bundle), "--episodes", "2", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["episodes"] == 2 and res["conditions"]["pd_rate_hz"] == 1000.0
    assert res["fall_rate"] in (0.0, 0.5, 1.0)  # 2 episodes
    for k in ("lin_vel_error", "yaw_rate_error"):
        assert 0.0 < res[k] < 3.0  # a real, finite tracking error (commands are within +-1)


def test_bench_runtime_reports_latencies(skill_bundle, tmp_path):
    js = tmp_path / "rt.json"
    assert main(["bench", "runtime", str(skill_bundle), "--iterations", "300", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    for k in ("inference_us_p50", "inference_us_p99", "step_us_p50", "step_us_p99"):
        assert 0 < res[k] < 20_000  # a 50 Hz loop has 20 ms: a step anywhere near that is broken
    assert res["inference_us_p50"] < res["step_us_p50"]  # the step contains the inference
    assert res["step_us_p50"] <= res["step_us_p99"]


# ---------------------------------------------------------------- shipped policies


def test_shipped_policies_are_validated_bundles():
    bundles = sorted(p.parent for p in (REPO / "policies").glob("*/policy.onnx"))
    assert {"go2_walk", "go2_nav"} <= {p.name for p in bundles}
    for path in bundles:
        b = load_bundle(path)
        card = json.loads((path / "card.json").read_text())
        assert card["training"]["commands"], f"{path}: card must say how it was trained"
        assert b.meta["name"] == path.name


@pytest.mark.slow
def test_shipped_go2_walk_reproduces_its_card_through_onnx():
    """`hrobot eval` on the bundle itself (ONNX Runtime) gives the card's flat-ground numbers, which meet the floors."""
    from hrobot.eval import evaluate

    card = json.loads((REPO / "policies" / "go2_walk" / "card.json").read_text())["evaluation"]
    res = evaluate(REPO / "policies" / "go2_walk", episodes=card["episodes"], rough_levels=0, seed=123)
    assert res["lin_vel_error"] == pytest.approx(card["lin_vel_error"], abs=0.01)
    assert res["yaw_rate_error"] == pytest.approx(card["yaw_rate_error"], abs=0.01)
    assert res["fall_rate"] <= card["fall_rate"] + 0.02
    assert res["lin_vel_error"] <= 0.15 and res["yaw_rate_error"] <= 0.2 and res["fall_rate"] <= 0.01


def test_locomotion_terms_agree_between_torch_and_numpy():
    """The runtime (numpy, one robot) and training (torch, batched) compute go2_walk's observation alike, gravity
    included (numpy computes it in Python floats, torch as a matrix product)."""
    import math

    from hrobot.obs import ObservationLayout, RobotState
    from hrobot.tasks.velocity.env import PROPRIO_OBS

    spec = load_robot("go2")
    layout = ObservationLayout(PROPRIO_OBS, spec, ObservationLayout.standard_sizes(spec, 3))
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    st = dict(joint_pos=rng.normal(size=(5, 12)), joint_vel=rng.normal(size=(5, 12)), command=rng.normal(size=(5, 3)),
              last_action=rng.normal(size=(5, 12)), base_quat=q, base_ang_vel=rng.normal(size=(5, 3)))
    a = layout.compute(RobotState(**st))
    b = layout.compute(RobotState(**{k: torch.tensor(v) for k, v in st.items()})).numpy()
    assert a.dtype == np.float32 and np.allclose(a, b, atol=1e-5)
    one = layout.compute(RobotState(**{k: v[:1] for k, v in st.items()}))  # the runtime's single robot
    assert np.allclose(one, a[:1], atol=1e-6)
    g = [t.name for t in PROPRIO_OBS].index("projected_gravity")
    start = sum(layout.sizes[t.name] for t in PROPRIO_OBS[:g])
    half = math.pi / 4  # rolled 90 degrees about x: gravity points along the base's -y axis
    st["base_quat"] = np.tile([math.cos(half), math.sin(half), 0, 0], (5, 1))
    scale = PROPRIO_OBS[g].scale
    gravity = layout.compute(RobotState(**st))[0, start:start + 3]
    assert gravity == pytest.approx(np.multiply([0, -1, 0], scale), abs=1e-6)
