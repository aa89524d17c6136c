"""The hand's high level: orientation error and the scripted planner's axis choice (numpy and torch alike), and
the reorientation environment's success counting over a frozen rotation skill."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrobot.geometry import quat_mul
from hrobot.reorient_io import axis_options, error_angle, greedy_axis, orientation_error, random_quat, \
    reorient_observation
from hrobot.nav_io import decode_action

AXES = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0]], dtype=np.float64)


def _turn(q, axis, angle):
    """Rotate orientations q about a palm-frame axis (left multiplication)."""
    half = 0.5 * np.broadcast_to(angle, (len(q),))[:, None]
    r = np.concatenate([np.cos(half), np.sin(half) * axis], 1)
    return quat_mul(r, q)


def test_the_error_is_the_rotation_left_to_do_and_the_greedy_axis_reduces_it_fastest():
    rng = np.random.default_rng(0)
    q, goal = random_quat(rng.random((500, 3))), random_quat(rng.random((500, 3)))
    e = orientation_error(q, goal)
    angle = np.linalg.norm(e, axis=1)
    np.testing.assert_allclose(angle, error_angle(q, goal), atol=1e-6)
    axis = e / angle[:, None]
    np.testing.assert_allclose(error_angle(_turn(q, axis, angle), goal), 0.0, atol=1e-5)  # exp(e) * q == goal
    pick = greedy_axis(e, AXES)
    dt = 1e-3
    after = np.stack([error_angle(_turn(q, np.broadcast_to(a, q.shape[:1] + (3,)), dt), goal) for a in AXES], 1)
    np.testing.assert_array_equal(pick, after.argmin(1))  # the most reduction of all four axes
    t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in (("q", q), ("g", goal))}
    np.testing.assert_allclose(orientation_error(t["q"], t["g"]).numpy(), e, atol=1e-9)
    np.testing.assert_array_equal(greedy_axis(orientation_error(t["q"], t["g"]), torch.as_tensor(AXES)).numpy(), pick)
    last = rng.normal(size=(500, 7))
    np.testing.assert_allclose(reorient_observation(t["q"], t["g"], torch.as_tensor(last)).numpy(),
                               reorient_observation(q, goal, last), atol=1e-9)


def test_the_axis_action_decodes_into_one_trained_axis_and_speed():
    lows, highs = axis_options(AXES, 0.5, 1.0)
    raw = np.zeros((3, 7), dtype=np.float32)
    raw[0, 1], raw[1, 2], raw[2, 3] = 5.0, 5.0, 5.0  # preferences for -z, +x, -x
    raw[:, 4:] = [[0.0, 0.0, 20.0], [20.0, 0.0, 0.0], [-20.0, 0.0, 0.0]]
    index, command = decode_action(raw, lows, highs)
    np.testing.assert_array_equal(index, [1, 2, 3])
    np.testing.assert_allclose(command, [[0, 0, -1.0], [1.0, 0, 0], [-0.5, 0, 0]], atol=1e-6)  # raw up: faster


def test_a_goal_held_for_half_a_second_counts_and_a_new_goal_is_drawn(hand_bundle):
    from hrobot.skills import load_skill
    from hrobot.tasks.inhand.leap_reorient import env_cfg, make_env

    cfg = env_cfg()
    cfg.num_envs = 4
    env = make_env(cfg, skills=[load_skill(hand_bundle)], seed=0, eval_mode=True)
    assert env.num_actions == 4 + 3 and env.obs["policy"].shape == (4, 6 + 6 + 3 + 7)
    env.goal[:2] = env.ll.obj_quat[:2]  # two envs start on their goal
    first_goals = env.goal.clone()
    steps = 0
    while not bool(env.successes[:2].eq(1).all()) and steps < 10:
        env.step_axes(env.scripted_axes(), speed=0.5)
        steps += 1
    assert env.successes[:2].tolist() == [1, 1] and env.successes[2:].tolist() == [0, 0]
    assert steps * env.dt >= cfg.hold_s  # held for 0.5 s before it counted
    assert not torch.allclose(env.goal[:2], first_goals[:2])  # new goals drawn
    assert env.ll_step_count == steps * 4  # the skill runs at 20 Hz under the 5 Hz high level


def test_the_high_level_trains_evaluates_against_the_scripted_planner(hand_bundle, tmp_path):
    from hrobot.eval import evaluate_reorient
    from hrobot.train import train

    run = tmp_path / "reorient"
    info = train("leap_reorient", run, num_envs=8, iterations=2, seed=0, skills=[str(hand_bundle)])
    assert info["kind"] == "reorientation" and info["skills"] == [str(hand_bundle)]
    res = evaluate_reorient(run, episodes=4, seed=7, angles=(0.4,))
    for name in ("high_level", "scripted"):
        r = res["0.4_rad"][name]
        assert r["episodes"] == 4 and 0.0 <= r["first_goal_within_20s"] <= 1.0 and r["mean_consecutive_successes"] >= 0

    # exported, the deployment runtime decides what training's actor and decoding decided on the same observation
    from hrobot.bundle import load_bundle
    from hrobot.export import export_run
    from hrobot.runtime import ReorientRuntime
    from hrobot.tasks.inhand.leap_reorient import env_cfg, make_env
    from hrobot.train import load_actor

    bundle = export_run(run, tmp_path / "leap_reorient")
    rt = ReorientRuntime(load_bundle(bundle))
    assert rt.planner == "policy" and rt.skill_name == "leap_rotate" and (bundle / "skills/leap_rotate").is_dir()
    cfg = env_cfg()
    cfg.num_envs, cfg.skills = 1, (str(hand_bundle),)
    env = make_env(cfg, seed=3, eval_mode=True)
    actor = load_actor(run, env)
    for _ in range(3):
        q, g = env.ll.obj_quat[0].numpy().copy(), env.goal[0].numpy().copy()
        with torch.inference_mode():
            action = actor(env.get_observations())
        index, command = decode_action(action, env.lows, env.highs)
        k, c = rt.step(q, g)
        assert k == int(index[0]) and np.allclose(c, command[0].numpy(), atol=1e-5)
        env.step(action)
    scripted = ReorientRuntime(load_bundle(hand_bundle))  # a rotation skill's bundle: the scripted planner
    k, c = scripted.step(np.array([1.0, 0, 0, 0]), np.array([np.cos(0.5), 0, 0, np.sin(0.5)]))  # 1 rad about +z
    assert scripted.planner == "scripted" and k == 0 and np.allclose(c, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("bad", [{"skills": ()}, {"skills": ("policies/go2_walk",)}])
def test_reorientation_needs_one_rotation_skill(bad):
    from hrobot.errors import HRobotError
    from hrobot.tasks.inhand.leap_reorient import env_cfg, make_env

    cfg = env_cfg()
    cfg.num_envs = 2
    for k, v in bad.items():
        setattr(cfg, k, v)
    with pytest.raises(HRobotError, match="exactly one rotation skill"):
        make_env(cfg)
