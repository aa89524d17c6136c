"""The high level on frozen skills (issue: hierarchical navigation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hrobot.nav_io import decode_action
from hrobot.tasks.navigation.env import NavigationCfg, NavigationEnv, policy_cfg, pure_pursuit

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["go2", "g1"])
def nav_env(request, skill_bundle):
    """go2 over a short-trained walk skill; g1 through the g1_nav task over the shipped g1_walk."""
    if request.param == "g1":
        from hrobot.tasks import load_task

        cfg = load_task("g1_nav").env_cfg()
        cfg.num_envs = 8
        env = NavigationEnv(cfg, seed=0)
        assert env.ll.robot.name == "g1" and env.skills[0].name == "g1_walk"
        return env
    cfg = NavigationCfg(skills=(str(skill_bundle),), num_envs=8, hl_rate_hz=10.0)
    return NavigationEnv(cfg, seed=0)


def test_high_level_steps_the_low_level_the_right_number_of_times(nav_env):
    env = nav_env
    assert env.ll_steps == 5  # 50 Hz skill under a 10 Hz high level
    before_ll, before_len = env.ll_step_count, env.ll.episode_length_buf.clone()
    env.step(torch.zeros(8, 3))
    assert env.ll_step_count - before_ll == 5
    assert torch.all(env.ll.episode_length_buf - before_len == 5)
    env.step(torch.zeros(8, 3))
    assert env.ll_step_count - before_ll == 10


def test_actions_outside_the_skill_range_are_squashed_never_passed_through(nav_env):
    env = nav_env
    skill = env.skills[0]
    huge = torch.tensor([[1e6, -1e6, 1e6], [-50.0, 50.0, -50.0], [3.0, 0.0, -3.0]] + [[0.0, 0.0, 0.0]] * 5)
    env.step(huge)
    lo, hi = skill.command_low, skill.command_high
    assert torch.all(env.ll.commands >= lo - 1e-6) and torch.all(env.ll.commands <= hi + 1e-6)
    assert torch.allclose(env.ll.commands[0], torch.tensor([hi[0], lo[1], hi[2]]))
    # the decoding itself, on random actions of every magnitude, with two skills of different ranges
    lows = torch.tensor([[-1.0, -0.5, -1.0], [-0.6, -0.3, -1.0]])
    highs = torch.tensor([[1.0, 0.5, 1.0], [0.6, 0.3, 1.0]])
    a = torch.randn(10000, 5) * torch.logspace(-2, 6, 10000)[:, None]
    index, command = decode_action(a, lows, highs)
    assert torch.all(command >= lows[index] - 1e-6) and torch.all(command <= highs[index] + 1e-6)
    assert torch.equal(index, a[:, :2].argmax(dim=1))
    prior = torch.tensor([0.0, 1.5])  # a task's default skill: the prior shifts the choice, never the range
    index, command = decode_action(a, lows, highs, prior)
    assert torch.equal(index, (a[:, :2] + prior).argmax(dim=1))
    assert torch.all(command >= lows[index] - 1e-6) and torch.all(command <= highs[index] + 1e-6)


def test_nan_high_level_actions_stop_with_a_clear_message(nav_env):
    from hrobot.errors import HRobotError

    with pytest.raises(HRobotError, match="NaN"):
        nav_env.step(torch.full((8, 3), float("nan")))


def test_ray_scan_sees_a_wall_at_the_right_distance(nav_env):
    env = nav_env
    env.ll.base_pos[:] = 0.0
    env.ll.base_quat[:] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    env.ll.mocap_pos[:, :, 2] = -10.0  # no obstacles, no bar: only the walls at +-4 m
    rays = env.rays()
    assert rays.shape == (8, 32)
    # ray 0 points along +x: the wall's inner face is 4.0 m away, beyond the 3 m range
    assert torch.allclose(rays[:, 0], torch.tensor(3.0))
    env.ll.base_pos[:, 0] = 2.5
    assert torch.allclose(env.rays()[:, 0], torch.tensor(1.5), atol=1e-5)


def test_pure_pursuit_turns_towards_the_goal(nav_env):
    env = nav_env
    env.ll.base_pos[:, :2] = 0.0
    env.ll.base_quat[:] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    env.goal[:] = torch.tensor([0.0, 2.0, 0.0])  # to the left
    cmd = pure_pursuit(env)
    assert torch.all(cmd[:, 2] > 0.5)  # turn left


def test_g1_walk_env_builds_with_the_gait_clock():
    from hrobot.tasks import load_task

    mod = load_task("g1_walk")
    cfg = mod.env_cfg()
    cfg.num_envs = 4
    env = mod.make_env(cfg, seed=0)
    obs = env.get_observations()
    assert obs["policy"].shape == (4, 3 + 3 + 3 + 23 * 3 + 2)
    _, _, dones, _ = env.step(torch.zeros(4, 23))
    assert env.robot.decimation == 5 and not bool(dones.any())


SHIPPED_WALK = REPO / "policies" / "go2_walk"


@pytest.mark.slow
def test_short_high_level_training_improves_success(tmp_path):
    """A short go2_nav run over the shipped walk skill learns: over 14 iterations its return rises by more than 1
    and goals start being reached (the shipped go2_nav's card has the full run; a held-out success gain needs
    30 iterations, 2.5 minutes here)."""
    from hrobot.train import train

    out = tmp_path / "nav"
    train("go2_nav", out, num_envs=256, iterations=14, seed=5, skills=[str(SHIPPED_WALK)])
    rows = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    first, last = rows[:3], rows[-3:]

    def mean(part, key):
        return sum(r[key] for r in part) / len(part)

    assert mean(last, "mean_reward") >= mean(first, "mean_reward") + 1.0, [r["mean_reward"] for r in rows]
    assert mean(last, "success_rate") > mean(first, "success_rate") + 0.02, [r["success_rate"] for r in rows]


SHIPPED_SKILL_CHOICE = REPO / "policies" / "go2_nav_skills"


@pytest.mark.slow
def test_high_level_chooses_the_skill_by_situation():
    """The shipped two-skill high level (its exported ONNX graph) on bar layouts, then on open ones.

    With the low bar across the arena only the crouch skill passes: the high level must pick crouch at
    the bar and reach goals that pure pursuit on the walk skill, on the same layouts, cannot. Without
    the bar it must mostly walk, the faster skill, so the choice depends on the situation.
    """
    from hrobot.eval import _nav_run, policy_source

    info, make_actor = policy_source(SHIPPED_SKILL_CHOICE)
    cfg = policy_cfg(info, num_envs=48)  # the bundle's skills and skill prior
    cfg.bar_prob, cfg.obstacle_prob, cfg.block_prob, cfg.goal_distance = 1.0, 0.0, 0.0, (3.5, 5.0)
    env = NavigationEnv(cfg, seed=31, eval_mode=True)
    assert [s.name for s in env.skills] == ["go2_walk", "go2_crouch"]
    bar = env.has_bar.clone()
    assert bar.sum() >= 24  # the bar lies between start and goal wherever |dx| > 1.6 m

    hl = _nav_run(env, make_actor(env), keep=0)
    at_bar = hl["skill_at_bar"].sum(dim=0)  # steps within 0.3 m of the bar, per skill
    hl_success = float(hl["success"][bar].float().mean())

    walk_only = NavigationEnv(cfg, seed=31, eval_mode=True, skills=env.skills[:1])
    pp = _nav_run(walk_only, "pure_pursuit", keep=0)
    pp_success, pp_collided = float(pp["success"][bar].float().mean()), float(pp["collided"][bar].float().mean())

    assert at_bar.sum() > 0 and at_bar[1] / at_bar.sum() > 0.8, at_bar.tolist()
    assert pp_collided > 0.5, pp_collided  # walking into the bar fails
    assert hl_success >= 0.6 and hl_success >= pp_success + 0.3, (hl_success, pp_success)

    cfg.bar_prob = 0.0
    open_env = NavigationEnv(cfg, seed=31, eval_mode=True)
    free = _nav_run(open_env, make_actor(open_env), keep=0)
    use = free["skill_use"].sum(dim=0)
    assert use[0] / use.sum() > 0.6, use.tolist()  # walking on most steps
    assert float(free["success"].float().mean()) >= 0.6


def test_training_rays_and_the_simulated_robots_rays_agree():
    """The analytic box casting training uses and `mj_ray` in the simulated robot (what the planner gets
    over ROS) read the same distances on random arena layouts, bar included, at the bundle's ray layout."""
    import mujoco
    import numpy as np

    from hrobot.nav_io import DEFAULT_SCAN
    from hrobot.sim.robot import SimRobot
    from hrobot.sim.scene import SceneConfig

    cfg = NavigationCfg(skills=(str(SHIPPED_WALK),), num_envs=16, bar_prob=0.5, obstacle_prob=1.0, block_prob=0.5)
    env = NavigationEnv(cfg, seed=5, eval_mode=True)
    assert cfg.scan == DEFAULT_SCAN  # what robot_driver publishes is what the policy was trained on
    robot = SimRobot(env.robot, SceneConfig(kind="arena", num_obstacles=cfg.num_obstacles,
                                            arena_half_size=cfg.arena_half_size, visual=False))
    gen = torch.Generator().manual_seed(0)
    env.ll.base_pos[:, :2] += (torch.rand(16, 2, generator=gen) - 0.5) * 2.0  # off the start, near the boxes
    trained = env.rays().numpy().reshape(16, len(cfg.ray_heights), cfg.num_rays)
    hits = 0
    for e in range(16):
        robot.data.mocap_pos[:] = env.ll.mocap_pos[e].numpy()
        a = robot.sm.base_qpos_adr
        robot.data.qpos[a : a + 3] = env.ll.base_pos[e].numpy()
        robot.data.qpos[a + 3 : a + 7] = env.ll.base_quat[e].numpy()
        mujoco.mj_forward(robot.model, robot.data)
        sim = np.minimum(robot.ray_scan(cfg.scan), cfg.ray_range)
        np.testing.assert_allclose(sim, trained[e], atol=2e-3, err_msg=f"env {e}")
        hits += int((sim < cfg.ray_range - 1e-3).sum())
    assert hits > 100  # the layouts put boxes, the bar and walls in range of many rays


def test_task_skill_paths_resolve_from_any_working_folder(tmp_path, monkeypatch):
    """go2_nav names its skill as policies/go2_walk: training from another folder still finds the shipped one."""
    from hrobot.skills import load_skill

    monkeypatch.chdir(tmp_path)
    assert load_skill("policies/go2_walk").name == "go2_walk"


@pytest.mark.slow  # two evaluation sweeps of 16 episodes
def test_time_outs_are_told_apart_by_where_they_end(monkeypatch):
    """`hrobot eval`'s time-out anatomy: pure pursuit blind to the goal's heading walks to every goal and times
    out there, off the heading; the real pure pursuit reaches them. Successes end inside the success pose."""
    import hrobot.tasks.navigation.env as nav
    from hrobot.eval import _nav_run, _nav_summary
    from hrobot.nav_io import pure_pursuit_command

    cfg = NavigationCfg(skills=(str(SHIPPED_WALK),), num_envs=16, obstacle_prob=0.0, goal_distance=(1.0, 2.0),
                        episode_s=10.0)
    env = NavigationEnv(cfg, seed=3, eval_mode=True)
    goal_yaw = env.goal[:, 2].clone()
    r = _nav_run(env, "pure_pursuit", keep=0)
    s = _nav_summary(r)
    assert s["success_rate"] >= 0.9 and s["time_out_near_goal_rate"] <= 0.1, s
    ok = r["success"]
    assert torch.all(r["end_distance"][ok] < cfg.success_distance)
    assert torch.all(r["end_yaw_error"][ok] < cfg.success_yaw)

    def heading_blind(env):
        gx, gy, _ = env.goal_in_base_frame()
        return pure_pursuit_command(gx, gy, torch.zeros_like(gx))

    monkeypatch.setattr(nav, "pure_pursuit", heading_blind)
    env = NavigationEnv(cfg, seed=3, eval_mode=True)
    assert torch.equal(env.goal[:, 2], goal_yaw)  # the same layouts
    blind = _nav_summary(_nav_run(env, "pure_pursuit", keep=0))
    assert blind["time_out_near_goal_off_heading_rate"] >= 0.6, blind
    assert blind["time_out_near_goal_off_heading_rate"] <= blind["time_out_near_goal_rate"] <= blind["time_out_rate"]
    assert blind["success_rate"] + blind["time_out_rate"] + blind["collision_rate"] + blind["fall_rate"] == \
        pytest.approx(1.0)
