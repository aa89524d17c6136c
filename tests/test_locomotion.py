"""Locomotion environment, training, evaluation and benchmarks (issue: parallel simulation + skills)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrobot.cli import main
from hrobot.errors import HRobotError
from hrobot.sim.batch import SimulationDiverged
from hrobot.tasks import load_task
from hrobot.tasks.mdp import rewards
from hrobot.train import HRobotRunner, train


def _env(n=64, **kw):
    mod = load_task("go2_walk")
    cfg = mod.env_cfg()
    cfg.num_envs = n
    return mod, cfg, mod.make_env(cfg, **kw)


def _check_in_range(env, ids):
    r, cfg = env.robot, env.cfg
    assert torch.all(env.joint_pos[ids] >= env.lower - 1e-5) and torch.all(env.joint_pos[ids] <= env.upper + 1e-5)
    h = env.base_pos[ids, 2] - env.terrain_h[ids]
    assert torch.all((h - r.base_height).abs() < 0.05), h
    up = -env.projected_gravity[ids, 2]
    assert torch.all(up > 0.99)  # upright (any yaw)
    for i, rng in enumerate((cfg.commands.lin_vel_x, cfg.commands.lin_vel_y, cfg.commands.ang_vel_z)):
        assert torch.all(env.commands[ids, i] >= rng[0] - 1e-6) and torch.all(env.commands[ids, i] <= rng[1] + 1e-6)
    assert torch.all(env.episode_length_buf[ids] == 0)
    assert torch.all(env.actions[ids] == 0)


def test_resets_put_every_env_back_in_range():
    _, cfg, env = _env(64, seed=1)
    _check_in_range(env, torch.arange(64))
    gen = torch.Generator().manual_seed(0)
    seen = 0
    for _ in range(150):
        _, _, dones, _ = env.step(2.0 * torch.randn(64, 12, generator=gen))  # violent actions: many falls
        ids = torch.nonzero(dones).flatten()
        if len(ids):
            seen += len(ids)
            _check_in_range(env, ids)
    assert seen > 0, "no env was reset: the test did not exercise resets"


def test_command_mix_has_standing_and_turn_in_place_shares():
    mod = load_task("go2_walk")
    cfg = mod.env_cfg()
    cfg.num_envs, cfg.commands.standing_prob, cfg.commands.turn_prob = 400, 0.2, 0.5
    env = mod.make_env(cfg, seed=3)
    cmd = env.commands
    still = (cmd == 0).all(dim=1)
    turning = (cmd[:, :2] == 0).all(dim=1) & (cmd[:, 2] != 0)
    assert 0.1 < float(still.float().mean()) < 0.3
    assert 0.3 < float(turning.float().mean()) < 0.5  # half of the moving commands (80 %)
    assert float(cmd[turning, 2].abs().max()) > 0.8  # the sampled yaw rates are kept, up to the range


def test_a_reset_does_not_leak_the_previous_episode_into_rewards():
    """Sensors lag a reset by one step: slip must not see the jump from the old episode's feet to the spawn."""
    mod, cfg, env = _env(8, seed=4)
    cfg.only_positive_rewards = False
    env.hold_commands(torch.tensor([[1.0, 0.0, 0.0]] * 8))
    for _ in range(60):
        env.step(torch.zeros(8, 12))
    env.base_pos[:, 0] += 5.0  # pretend the robots walked away, then reset them at the spawn
    env.sim.qpos[:, env.base_q] += 5.0
    env.step(torch.zeros(8, 12))
    env.reset_envs(torch.arange(8))
    env.step(torch.zeros(8, 12))
    assert torch.all(env.episode_length_buf == 1)
    assert torch.all(rewards.feet_slip(env) == 0.0)
    env.step(torch.zeros(8, 12))
    assert torch.all(rewards.feet_slip(env) < 10.0)  # standing feet barely move


def test_domain_randomization_ranges_are_applied():
    _, cfg, env = _env(64, seed=2)
    rc, m, base = cfg.randomization, env.sm.model, env.base_body
    friction = torch.tensor([env.sim.model_field("geom_friction", i)[env.floor_geom, 0] for i in range(64)])
    mass = torch.tensor([env.sim.model_field("body_mass", i)[base] for i in range(64)])
    com = torch.stack([torch.as_tensor(env.sim.model_field("body_ipos", i)[base]) for i in range(64)])
    kp = torch.stack([torch.as_tensor(env.sim.model_field("actuator_gainprm", i)[:, 0]) for i in range(64)])
    kd = torch.stack([-torch.as_tensor(env.sim.model_field("actuator_biasprm", i)[:, 2]) for i in range(64)])
    assert friction.min() >= rc.friction[0] and friction.max() <= rc.friction[1] and friction.std() > 0.1
    lo, hi = m.body_mass[base] + rc.added_base_mass[0], m.body_mass[base] + rc.added_base_mass[1]
    assert mass.min() >= lo - 1e-9 and mass.max() <= hi + 1e-9 and mass.std() > 0.3
    assert (com - torch.as_tensor(m.body_ipos[base])).abs().max() <= rc.com_offset + 1e-9
    nominal_kp, nominal_kd = torch.as_tensor(env.robot.kp), torch.as_tensor(env.robot.kd)
    kp_lo = rc.kp_scale[0] * rc.motor_strength[0]
    kp_hi = rc.kp_scale[1] * rc.motor_strength[1]
    assert torch.all(kp >= nominal_kp * kp_lo - 1e-6) and torch.all(kp <= nominal_kp * kp_hi + 1e-6)
    assert torch.all(kd >= nominal_kd * rc.kd_scale[0] * rc.motor_strength[0] - 1e-6)
    assert kp.std() > 0.3
    torch.testing.assert_close(env.kp.double(), kp, rtol=1e-5, atol=1e-5)  # rewards see the same gains
    assert env.latency.any() and not env.latency.all()  # 0 or 1 step of latency, per env


def test_a_random_payload_hangs_on_the_g1s_hands_and_torso():
    mod = load_task("g1_walk")
    cfg = mod.env_cfg()
    cfg.num_envs = 32
    env = mod.make_env(cfg, seed=4)
    rc, m = cfg.randomization, env.sm.model
    added = torch.tensor([[env.sim.model_field("body_mass", i)[b] - m.body_mass[b] for b in env.payload_ids]
                          for i in range(32)])
    total = added.sum(dim=1)
    assert (added >= -1e-9).all() and total.min() >= rc.payload_mass[0] - 1e-6 and total.max() <= rc.payload_mass[1]
    assert total.std() > 0.4 and (added / total[:, None].clamp(min=1e-9)).std(dim=0).min() > 0.1  # shares vary
    torso = env.payload_ids[2]  # the models' constants follow (mj_setConst): the torso's subtree (arms included)
    assert env.sim.model_field("body_subtreemass", 0)[torso] == pytest.approx(
        m.body_subtreemass[torso] + float(added[0].sum()), rel=1e-5)
    cfg.randomization.payload_bodies = ("left_wrist_roll_link", "no_such_link")
    with pytest.raises(HRobotError, match="payload_bodies: body 'no_such_link'"):
        mod.make_env(cfg, seed=4)


def test_eval_mode_uses_nominal_parameters():
    _, cfg, env = _env(8, seed=2, eval_mode=True)
    kp = torch.stack([torch.as_tensor(env.sim.model_field("actuator_gainprm", i)[:, 0]) for i in range(8)])
    torch.testing.assert_close(kp, torch.as_tensor(env.robot.kp).repeat(8, 1))
    assert not env.latency.any()


def test_observation_groups_and_time_outs():
    _, cfg, env = _env(16, seed=0)
    obs = env.get_observations()
    assert obs["policy"].shape == (16, 45) and obs["critic"].shape[1] > 45
    _, _, _, extras = env.step(torch.zeros(16, 12))
    assert extras["time_outs"].dtype == torch.bool and extras["time_outs"].shape == (16,)


def test_reward_improves_over_a_short_training_run(short_run):
    out, summary, rewards = short_run
    assert len(rewards) == 16
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.3, rewards
    info = json.loads((out / "run.json").read_text())
    assert info["iterations"] == 16 and info["env_steps"] == 16 * 24 * 256 and info["seed"] == 3
    assert (out / info["checkpoint"]).is_file()


def test_same_seed_same_result(tmp_path):
    def params(seed, name):
        train("go2_walk", tmp_path / name, num_envs=32, iterations=2, seed=seed)
        ckpt = torch.load(next((tmp_path / name).glob("model_1.pt")), weights_only=False)
        return torch.cat([p.flatten() for p in ckpt["actor_state_dict"].values()])

    a, b, c = params(5, "a"), params(5, "b"), params(6, "c")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_nan_in_simulation_stops_training(monkeypatch, tmp_path, capsys):
    mod = load_task("go2_walk")
    real = mod.make_env

    def corrupted(cfg, **kw):
        env = real(cfg, **kw)
        env.sim.models[3].body_mass[env.base_body] = float("nan")
        return env

    monkeypatch.setattr(mod, "make_env", corrupted)
    with pytest.raises(SimulationDiverged):
        cfg = mod.env_cfg()
        cfg.num_envs = 8
        HRobotRunner(corrupted(cfg), mod.train_cfg(), log_dir=None).learn(1)
    code = main(["train", "go2_walk", "--num-envs", "8", "--iterations", "2", "--out", str(tmp_path / "nan")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and ("NaN" in err[0] or "diverg" in err[0]), err


def test_eval_writes_metrics_and_plot(short_run, tmp_path, capsys):
    out, _, _ = short_run
    js = tmp_path / "eval.json"
    assert main(["eval", str(out), "--json", str(js), "--episodes", "6", "--rough-levels", "2"]) == 0
    res = json.loads(js.read_text())
    for key in ("lin_vel_error", "yaw_rate_error", "fall_rate", "episodes"):
        assert key in res
    assert res["episodes"] == 6 and 0.0 <= res["fall_rate"] <= 1.0 and res["lin_vel_error"] > 0
    assert len(res["rough_levels"]) == 2
    for lvl in res["rough_levels"]:  # 4 episodes per level, one on each terrain type
        assert list(lvl["fall_rate_by_type"]) == ["bumps", "slope", "stairs", "blocks"]
        assert lvl["fall_rate"] == pytest.approx(np.mean(list(lvl["fall_rate_by_type"].values())))
    turn = res["turn_in_place"]  # a second sweep on pure turns
    assert turn["episodes"] == 6 and turn["yaw_rate_error"] > 0 and abs(turn["yaw_rate_ratio"]) < 5
    assert js.with_suffix(".png").stat().st_size > 10_000
    assert len(res["feet_air_share"]) == 4 and all(0.0 <= a <= 1.0 for a in res["feet_air_share"])
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "2", "--rough-levels", "0", "--payload", "3"]) == 2
    assert "go2_walk names no payload bodies" in capsys.readouterr().err


def test_play_writes_a_video(short_run, tmp_path):
    import imageio.v2 as iio
    import numpy as np

    out, _, _ = short_run
    video = tmp_path / "play.mp4"
    assert main(["play", str(out), "--video", str(video), "--seconds", "1"]) == 0
    frames = np.stack(iio.mimread(video, format="FFMPEG"))
    assert frames.shape[0] == 50 and frames.std() > 5


def test_bench_sim_reports_the_three_rates(tmp_path):
    js = tmp_path / "bench.json"
    assert main(["bench", "sim", "--num-envs", "32", "--steps", "5", "--train-iterations", "1", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    for key in ("bare_physics_steps_per_s", "env_physics_steps_per_s", "train_samples_per_s"):
        assert res[key] > 0
    # the env does the bare physics and more: measured side by side, it cannot be much faster
    assert 0.05 < res["ratio_env_to_bare"] < 1.25, res
    assert res["steps"] == 4 and res["num_envs"] == 32 and res["decimation"] == 4


def test_ctrl_c_stops_training_cleanly_and_records_what_was_done(tmp_path):
    def stop_after_two(done, total, info):
        if done == 2:
            raise KeyboardInterrupt

    summary = train("go2_walk", tmp_path / "run", num_envs=16, iterations=10, seed=0, on_iteration=stop_after_two)
    assert summary["status"] == "interrupted" and summary["iterations"] == 2 and summary["env_steps"] == 2 * 24 * 16
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["iterations"] == 2 and (tmp_path / "run" / info["checkpoint"]).is_file()


def test_rough_terrain_env_spawns_on_its_levels_and_steps():
    mod = load_task("go2_walk")
    cfg = mod.env_cfg("rough")
    cfg.num_envs = 16
    env = mod.make_env(cfg, seed=0)
    assert env.scene.kind == "rough" and env.get_observations()["critic"].shape[1] > 52  # height scan for the critic
    _check_in_range(env, torch.arange(16))  # base height measured above the terrain under it
    for _ in range(5):
        env.step(torch.zeros(16, 12))
    assert int(env.terrain_levels.max()) <= cfg.max_init_level
    assert bool((env.path_length > 0).all())  # the plane distance each robot moved, summed over its steps


def test_the_ground_goes_on_flat_beyond_the_terrain_grid():
    """Off the grid the world is flat at the border's height, as the terrain's own height_at says (a robot
    walking off a 20 s evaluation's edge tile fell into the void: falls at level 0 that were not level 0's)."""
    import mujoco
    import numpy as np

    mod = load_task("go2_walk")
    cfg = mod.env_cfg("rough")
    cfg.num_envs = 1
    env = mod.make_env(cfg, seed=0)
    m, d, terrain = env.sm.model, mujoco.MjData(env.sm.model), env.sm.terrain
    mujoco.mj_forward(m, d)
    hx, hy = terrain.size_x / 2, terrain.size_y / 2
    geomid = np.zeros(1, dtype=np.int32)
    for x, y in ((hx + 1.0, 0.0), (-hx - 15.0, 3.0), (0.0, hy + 5.0), (-2.0, -hy - 0.5), (hx + 20.0, hy + 20.0)):
        assert float(terrain.height_at(np.array([x, y]))) == 0.0
        dist = mujoco.mj_ray(m, d, np.array([x, y, 5.0]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geomid)
        assert abs(5.0 - dist) < 1e-6, (x, y, dist)  # ground at z = 0 there


def test_the_terrain_curriculum_counts_the_path_walked_not_the_displacement():
    """A robot that tracked a turn walked a circle: half a tile of path moves it up a level though it ends near
    its spawn point; one that walked under half its commanded distance moves down."""
    from hrobot.tasks.mdp import curricula

    mod = load_task("go2_walk")
    cfg = mod.env_cfg("rough")
    cfg.num_envs = 3
    env = mod.make_env(cfg, seed=0)
    ids = torch.arange(3)
    env.terrain_levels[:] = 2
    env.commands[:, :2] = torch.tensor([[0.5, 0.0], [0.5, 0.0], [0.0, 0.0]])
    half_tile = cfg.terrain_cfg.tile_size / 2
    env.path_length[:] = torch.tensor([half_tile + 0.5, 0.5, 0.5])  # all three end where they started
    curricula.terrain_levels(env, ids)
    assert env.terrain_levels.tolist() == [3, 1, 2]
