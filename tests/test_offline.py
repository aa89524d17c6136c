"""Offline goal-conditioned learning (issue: learn the high level from recorded data): datasets in, HIQL and GCBC,
the navigation high level exported as a bundle of its online task."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

from hrobot.cli import main
from hrobot.errors import HRobotError
from hrobot.nav_io import DEFAULT_SCAN
from hrobot.tasks.offline.data import GoalSampler, SamplingCfg, Trajectories, load_npz
from hrobot.tasks.offline.goals import NavGoals, StateGoals, raw_action
from hrobot.tasks.offline.learners import Learner, LearnerCfg


def _line_world(n_traj: int = 60, steps: int = 40, seed: int = 0) -> Trajectories:
    """A point on a line (0..10), random walks with persistent direction: the action is the step taken."""
    rng = np.random.default_rng(seed)
    states, actions, ends = [], [], []
    for _ in range(n_traj):
        x, d = rng.uniform(0, 10), rng.choice([-1.0, 1.0])
        for t in range(steps):
            if rng.random() < 0.1:
                d = -d
            a = float(np.clip(d + 0.3 * rng.normal(), -1, 1))
            states.append([x])
            actions.append([a])
            ends.append(t == steps - 1)
            x = float(np.clip(x + 0.25 * a, 0.0, 10.0))
    return Trajectories(np.array(states, np.float32), np.array(actions, np.float32), np.array(ends))


def test_goals_come_from_the_trajectory_ahead_and_reward_only_the_goal_itself():
    data = _line_world(n_traj=5, steps=10)
    s = GoalSampler(data, SamplingCfg(subgoal_steps=3), seed=1)
    b = s.batch(2000)
    final = data.final[b["idx"]]
    assert not data.ends[b["idx"]].any() and np.all(b["next"] == b["idx"] + 1)  # no transition leaves its trajectory
    assert np.all((b["actor_goal"] > b["idx"]) & (b["actor_goal"] <= final))
    assert np.all(b["low_goal"] == np.minimum(b["idx"] + 3, final))
    assert np.all((b["high_target"] <= b["actor_goal"]) & (b["high_target"] > b["idx"]))
    assert np.all((b["reward"] == 0) == (b["value_goal"] == b["idx"])) and np.all(b["mask"] == -b["reward"])
    shares = [(b["value_goal"] == b["idx"]).mean(), ((b["value_goal"] > b["idx"]) & (b["value_goal"] <= final)).mean()]
    assert 0.15 < shares[0] < 0.3 and shares[1] > 0.45  # current 0.2, trajectory 0.5, random 0.3 (some land ahead)
    # the low level's subgoal drawn uniformly 1..k steps ahead (go2_nav_hiql's: the final approach is closer than k)
    u = GoalSampler(data, SamplingCfg(subgoal_steps=3, low_goal_uniform=True), seed=1).batch(2000)
    ahead, room = u["low_goal"] - u["idx"], data.final[u["idx"]] - u["idx"]
    assert np.all((ahead >= 1) & (ahead <= np.minimum(3, room)))
    assert {1, 2, 3} <= set(ahead[room >= 3].tolist())


def test_hiql_values_order_states_by_distance_and_both_policies_head_for_the_goal():
    """On a line world, HIQL's value falls with the distance to the goal and its hierarchy's action points at the
    goal; goal-conditioned BC points there too (the data's walks mostly keep their direction)."""
    torch.set_num_threads(1)
    data = _line_world()
    goals = StateGoals(1, (0,))
    states, actions = torch.from_numpy(data.states), torch.from_numpy(data.actions)
    cfg = LearnerCfg(hidden=(64, 64), batch_size=256)
    hiql = Learner(goals, 1, cfg, seed=0)
    gcbc = Learner(goals, 1, LearnerCfg(algorithm="gcbc", hidden=(64, 64), batch_size=256), seed=0)
    sampler = GoalSampler(data, SamplingCfg(subgoal_steps=5), seed=0)
    for _ in range(1200):
        hiql.update(data, sampler, states, actions)
        gcbc.update(data, sampler, states, actions)
    s = torch.linspace(0.5, 9.5, 30)[:, None]
    g = torch.full_like(s, 5.0)
    with torch.no_grad():
        v = sum(hiql.value(goals.observe(s, g))) / 2
        dist = (s - g).abs()[:, 0]
        for side in (s[:, 0] < 5.0, s[:, 0] > 5.0):  # further from the goal on either side: lower
            vs, ds = v[side], dist[side]
            pairs = (ds[:, None] > ds[None] + 0.5)
            assert (vs[:, None] < vs[None])[pairs].float().mean() >= 0.9
        far = dist > 1.0
        for learner in (hiql, gcbc):
            a = learner.policy()(goals.observe(s, g))[:, 0]
            assert (torch.sign(a[far]) == torch.sign((g - s)[far, 0])).float().mean() >= 0.9


def test_the_exported_action_inverts_the_runtimes_squash():
    from hrobot.nav_io import decode_action

    u = torch.tensor([[-0.9, 0.0, 0.7]])
    low, high = torch.tensor([[-1.0, -0.5, -1.0]]), torch.tensor([[1.0, 0.5, 1.0]])
    _, cmd = decode_action(raw_action(u), low, high)
    torch.testing.assert_close(cmd, low + (u + 1) / 2 * (high - low))


def test_datasets_without_the_fields_needed_or_empty_get_one_line(tmp_path, capsys):
    np.savez(tmp_path / "no_actions.npz", observations=np.zeros((5, 2)), terminals=np.zeros(5))
    np.savez(tmp_path / "empty.npz", observations=np.zeros((0, 2)), actions=np.zeros((0, 2)), terminals=np.zeros(0))
    np.savez(tmp_path / "nan.npz", observations=np.full((5, 2), np.nan), actions=np.zeros((5, 2)),
             terminals=np.zeros(5))
    (tmp_path / "not_npz.npz").write_text("hello")
    for name, expected in (("no_actions.npz", "missing field 'actions'"), ("empty.npz", "empty (no steps)"),
                           ("nan.npz", "non-finite values"), ("not_npz.npz", "not a readable npz"),
                           ("absent.npz", "no such dataset file")):
        assert main(["train", "pointmaze_hiql", "--dataset", str(tmp_path / name), "--iterations", "1",
                     "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
    assert main(["train", "go2_walk", "--dataset", str(tmp_path / "empty.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "trains online" in capsys.readouterr().err
    assert main(["train", "go2_nav_hiql", "--dataset", str(tmp_path / "empty.npz"), "--dataset-minutes", "-5",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--dataset-minutes: expected a positive number of minutes, got -5" in capsys.readouterr().err
    with pytest.raises(HRobotError, match="point-maze dataset"):
        np.savez(tmp_path / "3d.npz", observations=np.zeros((5, 2)), actions=np.zeros((5, 3)), terminals=np.zeros(5))
        from hrobot.tasks.offline.pointmaze import load_dataset

        load_dataset(tmp_path / "3d.npz")


# ---------------------------------------------------------------- recorded navigation


def _nav_bag(folder, robot: str = "go2", rays: int = 16, seconds: float = 6.0, trip_at: float | None = None):
    """A bag as the sim bringup records it: odometry (50 Hz) of a robot walking +x at 0.5 m/s, two scans (10 Hz),
    /cmd_vel (50 Hz, 0.5 m/s forward), the active source, the driver's diagnostics and maybe a safety trip."""
    from test_data import _typestore

    from hrobot.data.bag import BagWriter, Topic

    store = _typestore()
    T = store.types
    ser = lambda msg, typ: bytes(store.serialize_cdr(msg, typ))  # noqa: E731
    header = lambda: T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0),  # noqa: E731
                                              frame_id="odom")
    v3 = lambda x, y, z: T["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)  # noqa: E731
    w = BagWriter(folder)
    types = {"/odom": "nav_msgs/msg/Odometry", "/scan_low": "sensor_msgs/msg/LaserScan",
             "/scan_high": "sensor_msgs/msg/LaserScan", "/cmd_vel": "geometry_msgs/msg/Twist",
             "/cmd_source": "std_msgs/msg/String", "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
             "/events": "std_msgs/msg/String"}
    for name, typ in types.items():
        w.add_topic(Topic(name, typ))
    t0 = 1_700_000_000 * 10**9
    kv = [T["diagnostic_msgs/msg/KeyValue"](key="interface", value="sim"),
          T["diagnostic_msgs/msg/KeyValue"](key="robot", value=robot)]
    status = T["diagnostic_msgs/msg/DiagnosticStatus"](level=0, name="robot_driver", message="ok",
                                                        hardware_id="", values=kv)
    w.write("/diagnostics", ser(T["diagnostic_msgs/msg/DiagnosticArray"](header=header(), status=[status]),
                                types["/diagnostics"]), t0)
    w.write("/cmd_source", ser(T["std_msgs/msg/String"](data="planner"), types["/cmd_source"]), t0 + 1)
    for k in range(int(seconds * 50)):
        t, ns = k / 50, t0 + 10 + k * 20_000_000
        pose = T["geometry_msgs/msg/PoseWithCovariance"](
            pose=T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=0.5 * t, y=1.0, z=0.3),
                                             orientation=T["geometry_msgs/msg/Quaternion"](w=1.0, x=0.0, y=0.0, z=0.0)),
            covariance=np.zeros(36))
        twist = T["geometry_msgs/msg/TwistWithCovariance"](
            twist=T["geometry_msgs/msg/Twist"](linear=v3(0.5, 0.0, 0.0), angular=v3(0.0, 0.0, 0.1)),
            covariance=np.zeros(36))
        w.write("/odom", ser(T["nav_msgs/msg/Odometry"](header=header(), child_frame_id="base", pose=pose,
                                                       twist=twist), types["/odom"]), ns)
        w.write("/cmd_vel", ser(T["geometry_msgs/msg/Twist"](linear=v3(0.5, 0.0, 0.0), angular=v3(0.0, 0.0, 0.0)),
                                types["/cmd_vel"]), ns + 1)
        if k % 5 == 0:
            for topic, r in (("/scan_low", 2.0), ("/scan_high", 2.5)):
                scan = T["sensor_msgs/msg/LaserScan"](
                    header=header(), angle_min=0.0, angle_max=2 * math.pi * (rays - 1) / rays,
                    angle_increment=2 * math.pi / rays, time_increment=0.0, scan_time=0.0, range_min=0.02,
                    range_max=DEFAULT_SCAN.range, ranges=np.full(rays, r, np.float32), intensities=np.zeros(0,
                                                                                                         np.float32))
                w.write(topic, ser(scan, types[topic]), ns + 2)
        if trip_at is not None and abs(t - trip_at) < 1e-9:
            event = json.dumps({"node": "robot_driver", "event": "safety_trip", "detail": "tilt 70 deg > 57 deg"})
            w.write("/events", ser(T["std_msgs/msg/String"](data=event), types["/events"]), ns + 3)
    w.close()


def test_recorded_driving_reads_as_high_level_steps_and_a_trip_ends_the_trajectory(tmp_path):
    from hrobot.tasks.offline.go2_nav_hiql import load_dataset

    _nav_bag(tmp_path / "walk", trip_at=4.0)
    data, goals = load_dataset(tmp_path / "walk")
    assert isinstance(goals, NavGoals) and data.states.shape[1] == goals.state_dim == 6 + 32 + 3
    n = len(data)
    assert data.num_trajectories == 1 and 38 <= n <= 41  # 10 Hz from the first scan to the trip at 4 s
    np.testing.assert_allclose(np.diff(data.states[:, 0]), 0.05, atol=0.011)  # 0.5 m/s at 10 Hz
    np.testing.assert_allclose(data.states[:, 1], 1.0)
    np.testing.assert_allclose(data.states[:, 3:6], np.tile([0.5, 0.0, 0.1], (n, 1)), atol=1e-6)
    np.testing.assert_allclose(data.states[:, 6:22], 2.0)
    np.testing.assert_allclose(data.states[:, 22:38], 2.5)
    want = goals.normalise(np.array([0.5, 0.0, 0.0]))
    np.testing.assert_allclose(data.actions, np.tile(want, (n, 1)), atol=1e-6)
    np.testing.assert_allclose(data.states[1:, 38:41], np.tile(np.arctanh(want), (n - 1, 1)), atol=1e-5)
    obs = goals.observe(torch.from_numpy(data.states[:1]), torch.tensor([[2.0, 1.0, 0.0]]))
    assert obs.shape == (1, goals.obs_dim) and obs[0, 0] > 0 and abs(float(obs[0, 1])) < 1e-6  # goal ahead


def test_a_recording_of_another_robot_or_scan_layout_is_refused_in_one_line(tmp_path, capsys):
    _nav_bag(tmp_path / "g1", robot="g1", seconds=1.0)
    _nav_bag(tmp_path / "rays", rays=8, seconds=1.0)
    for bag, expected in (("g1", "a recording of robot 'g1', expected 'go2'"), ("rays", "/scan_low rays: expected 16"),
                          ("nothing", "not a recording")):
        (tmp_path / "nothing").mkdir(exist_ok=True)
        assert main(["train", "go2_nav_hiql", "--dataset", str(tmp_path / bag), "--iterations", "1",
                     "--out", str(tmp_path / f"run_{bag}")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err


def test_an_offline_navigation_run_exports_as_a_bundle_the_planner_runtime_runs(tmp_path):
    from hrobot.bundle import load_bundle
    from hrobot.export import export_run
    from hrobot.runtime import HighLevelRuntime
    from hrobot.tasks.offline.runner import load_policy, train_offline

    _nav_bag(tmp_path / "walk")
    run = tmp_path / "run"
    info = train_offline("go2_nav_hiql", run, tmp_path / "walk", 20, seed=0)
    assert info["iterations"] == 20 and info["algorithm"] == "hiql" and (run / "model_19.pt").is_file()
    b = load_bundle(export_run(run, tmp_path / "bundle"))
    assert b.level == "high" and b.meta["task"] == "go2_nav" and b.meta["skills"][0]["name"] == "go2_walk"
    hl = HighLevelRuntime(b)
    _, cmd = hl.step([0.0, 0.0], 0.0, [0.0, 0.0], 0.0, np.array([2.0, 0.0, 0.0]), np.full(32, 3.0), 1.0)
    skill = load_bundle(run.parent / "bundle" / b.meta["skills"][0]["path"]).meta["command"]
    lo, hi = np.array(skill["low"]), np.array(skill["high"])
    assert np.all(np.isfinite(cmd)) and np.all(cmd >= lo - 1e-6) and np.all(cmd <= hi + 1e-6)
    # the graph reads neither the velocities nor the previous action nor the time left (the copycat columns)
    import onnxruntime as ort

    goals = load_policy(run)[2]
    obs = np.random.default_rng(0).uniform(-1, 1, (2, goals.obs_dim)).astype(np.float32)
    other = obs.copy()
    other[:, list(goals.ignored)] += 0.7
    moved = obs.copy()
    moved[:, :2] = -moved[:, :2]
    sess = ort.InferenceSession(str(b.path / "policy.onnx"))
    out, out_other, out_moved = (sess.run(None, {"obs": o})[0] for o in (obs, other, moved))
    assert goals.ignored == (5, 6, 7, goals.obs_dim - 4, goals.obs_dim - 3, goals.obs_dim - 2, goals.obs_dim - 1)
    np.testing.assert_allclose(out, out_other, atol=1e-6)
    assert np.abs(out - out_moved).max() > 1e-3
    # resumed from its checkpoint: the same dataset, the step count carried on
    assert train_offline("go2_nav_hiql", run, None, 5, resume=True)["iterations"] == 25
    with pytest.raises(HRobotError, match="already holds a run"):
        train_offline("go2_nav_hiql", run, tmp_path / "walk", 5)


@pytest.mark.slow
def test_offline_navigation_runs_are_evaluated_together_as_a_curve_against_dataset_size(tmp_path, capsys):
    from hrobot.tasks.offline.runner import train_offline

    _nav_bag(tmp_path / "walk", seconds=8.0)
    for alg, minutes in (("hiql", 0.05), ("hiql", None), ("gcbc", None)):
        out = tmp_path / f"{alg}_{minutes}"
        steps = int(minutes * 600) if minutes else None
        train_offline(f"go2_nav_{alg}", out, tmp_path / "walk", 10, seed=0, max_steps=steps)
    runs = [str(tmp_path / n) for n in ("hiql_0.05", "hiql_None", "gcbc_None")]
    assert main(["eval", *runs, "--episodes", "4", "--json", str(tmp_path / "curve.json")]) == 0
    res = json.loads((tmp_path / "curve.json").read_text())
    assert [r["algorithm"] for r in res["runs"]] == ["hiql", "hiql", "gcbc"]
    assert res["runs"][0]["dataset_minutes"] == 0.05 < res["runs"][1]["dataset_minutes"]  # 30 of ~75 steps
    assert 0.0 <= res["pure_pursuit"]["success_rate"] <= 1.0 and (tmp_path / "curve.png").stat().st_size > 0
    assert main(["eval", runs[0], str(tmp_path / "walk"), "--episodes", "1"]) == 2
    assert "not an offline run" in capsys.readouterr().err


@pytest.mark.slow
def test_the_point_maze_dataset_is_made_as_ogbench_makes_its_navigate_data(tmp_path):
    """Generated with OGBench's own maze and oracle: OGBench's layout, one terminal per episode, the point spread
    over the maze's free cells; its evaluation tasks run (an oracle policy reaches most goals)."""
    from hrobot.tasks.offline.pointmaze import PointMazeCfg, evaluate, generate, make_env

    cfg = PointMazeCfg(episodes=4, episode_steps=300, eval_episodes=2, eval_steps=600)
    data = generate(cfg, seed=0)
    data.save_npz(tmp_path / "pm.npz")
    back = load_npz(tmp_path / "pm.npz")
    assert back.states.shape == (4 * 301, 2) and back.num_trajectories == 4 and back.actions.shape == (4 * 301, 2)
    env = make_env("medium").unwrapped
    cells = {env.xy_to_ij(xy) for xy in back.states}
    assert len(cells) >= 8 and all(env.maze_map[i, j] == 0 for i, j in cells)

    def oracle(o):
        sub, _ = env.get_oracle_subgoal(o[0, :2], o[0, 2:])
        d = np.asarray(sub) - o[0, :2]
        return (d / (np.linalg.norm(d) + 1e-6))[None]

    res = evaluate(oracle, cfg, seed=0)
    assert len(res["per_task"]) == 5 and res["success_rate"] >= 0.6


def test_the_explorer_drives_to_random_waypoints_stops_at_each_and_gives_up_when_stuck():
    from hrobot.explorer import Explorer, ExplorerCfg

    low, high = np.array([-1.0, -0.5, -1.0]), np.array([1.0, 0.5, 1.0])
    ex = Explorer(ExplorerCfg(half_size=3.0), seed=3, low=low, high=high)
    xy, yaw, dt = np.zeros(2), 0.0, 0.1
    stops, still = 0, False
    for k in range(1200):  # a unicycle following its commands reaches waypoints one after another
        c = ex.command(xy, yaw, k * dt)
        assert np.all(c >= low) and np.all(c <= high)
        stops += (not c.any()) and not still  # a stand-still starts
        still = not c.any()
        xy = xy + dt * np.array([np.cos(yaw) * c[0] - np.sin(yaw) * c[1], np.sin(yaw) * c[0] + np.cos(yaw) * c[1]])
        yaw += dt * c[2]
        assert np.all(np.abs(ex.waypoint[:2]) <= 3.0)
    assert ex.waypoints >= 8 and stops >= ex.waypoints - 2  # a dwell at (nearly) every waypoint reached
    stuck = Explorer(ExplorerCfg(stuck_s=2.0), seed=0, low=low, high=high)
    stuck.command(np.zeros(2), 0.0, 0.0)
    first = stuck.waypoint.copy()
    stuck.command(np.zeros(2), 0.0, 2.5)  # no progress for 2.5 s: the next waypoint
    assert not np.allclose(stuck.waypoint, first) and stuck.waypoints == 2


def test_the_explorer_slows_and_turns_away_from_an_obstacle_close_ahead():
    from hrobot.explorer import Explorer, ExplorerCfg

    ex = Explorer(ExplorerCfg(noise=(0.0, 0.0, 0.0)), seed=0)
    ex.command(np.zeros(2), 0.0, 0.0)
    ex.waypoint = np.array([3.0, 0.0, 0.0])  # straight ahead
    free = ex.command(np.zeros(2), 0.0, 0.1, np.full(16, 3.0), 2 * np.pi / 16)
    assert free[0] == pytest.approx(0.8) and free[2] == pytest.approx(0.0)
    scan = np.full(16, 3.0)
    scan[[0, 1]] = 0.4  # ahead and ahead-left
    near = ex.command(np.zeros(2), 0.0, 0.2, scan, 2 * np.pi / 16)
    assert near[0] < 0.4 and near[2] < -0.5  # slowed, turning right, where there is room
    scan = np.full(16, 3.0)
    scan[[0, 15]] = 0.4  # ahead and ahead-right
    assert ex.command(np.zeros(2), 0.0, 0.3, scan, 2 * np.pi / 16)[2] > 0.5


def _drive(ex, xy, yaw: float, steps: int, dt: float = 0.1):
    """A unicycle following the explorer's commands: the positions it passes."""
    path = []
    for k in range(steps):
        c = ex.command(xy, yaw, k * dt)
        xy = xy + dt * np.array([np.cos(yaw) * c[0] - np.sin(yaw) * c[1], np.sin(yaw) * c[0] + np.cos(yaw) * c[1]])
        yaw += dt * c[2]
        path.append(xy)
    return np.array(path)


def test_the_explorer_with_the_rooms_boxes_drives_around_them_to_waypoints_in_free_space():
    from hrobot.explorer import Explorer, ExplorerCfg, RouteMap

    boxes = [0.0, 0.0, 0.0, 1.0, 0.0, -1.0]  # a wall across y = -1.5..1.5 (the three boxes' sizes by index)
    room = RouteMap(boxes)
    assert room.gap[room.index([0.0, 0.0])] == 0.0 and not np.isfinite(room.field([2.5, 0.0])[room.index([0.0, 0.0])])
    length = room.field([2.5, 0.0])[room.index([-2.5, 0.0])]
    assert 5.0 * 1.2 < length < np.inf  # around the wall: longer than the straight 5 m

    quiet = ExplorerCfg(noise=(0.0, 0.0, 0.0))
    for route_map, clear in ((room, True), (None, False)):
        ex = Explorer(quiet, seed=0, route_map=route_map)
        ex.command(np.array([-2.5, 0.0]), 0.0, 0.0)
        ex.waypoint = np.array([2.5, 0.0, 0.0])
        ex.field = None if route_map is None else room.field([2.5, 0.0])
        path = _drive(ex, np.array([-2.5, 0.0]), 0.0, 300)
        gaps = np.array([room.gap[room.index(p)] for p in path])
        if clear:  # around the wall, its body clear of it, and there
            assert gaps.min() > 0.3 and ex.waypoints >= 2, (gaps.min(), ex.waypoints)
        else:  # without the map: straight into the wall
            assert gaps.min() == 0.0

    ex = Explorer(ExplorerCfg(), seed=1, route_map=room)
    _drive(ex, np.array([-2.5, 0.0]), 0.0, 1500)
    assert ex.waypoints >= 8 and room.clear(ex.waypoint[:2])


def test_the_explorer_node_stands_still_on_bad_odometry_and_drives_without_detours_on_a_bad_scan(tmp_path):
    """The explorer node alone, fed by this process, with one box on its map: a scan in another layout is refused
    with its reason; odometry with NaN makes it stand still, as no odometry does."""
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import LaserScan

    from ros_harness import Launched, bringup_file

    f = bringup_file(tmp_path, {"explorer": {"command_low": [-1.0, -0.5, -1.0], "command_high": [1.0, 0.5, 1.0],
                                             "obstacles": [2.0, 2.0]}})
    ros = Launched(f)
    try:
        cmd = ros.subscribe("/cmd_vel", Twist, qos=10)
        odom_pub = ros.node.create_publisher(Odometry, "/odom", 10)
        scan_pub = ros.node.create_publisher(LaserScan, "/scan_low", 10)
        feed = {"x": 0.0}

        def publish():
            od = Odometry()
            od.pose.pose.position.x, od.pose.pose.orientation.w = feed["x"], 1.0
            odom_pub.publish(od)
            scan_pub.publish(LaserScan(angle_min=0.0, angle_increment=2 * np.pi / 8, range_max=3.0,
                                       ranges=[0.3] * 8))

        ros.node.create_timer(0.02, publish)
        moving = lambda: cmd and any((m.linear.x, m.linear.y, m.angular.z) != (0.0, 0.0, 0.0)  # noqa: E731
                                     for _, m in cmd[-5:])
        ros.wait_for(moving, 30, "the explorer to drive")
        feed["x"] = float("nan")
        ros.spin(0.5)
        n = len(cmd)
        ros.spin(0.5)
        assert len(cmd) > n and all((m.linear.x, m.linear.y, m.angular.z) == (0.0, 0.0, 0.0) for _, m in cmd[n:])
    finally:
        rc, out = ros.stop()
    assert rc == 0 and "paths around 1 box(es)" in out, out
    assert "/scan_low refused: 8 rays, expected 16" in out, out


@pytest.mark.slow
def test_collect_records_the_explorer_driving_the_sim_bringup_as_a_navigation_dataset(tmp_path):
    """`hrobot collect go2`: the explorer node drives the simulated Go2 through the skill controller, the
    recorder writes a bag, and it reads back as go2_nav high-level steps whose commands stay in the skill's range
    and move the robot."""
    from hrobot.tasks.offline.go2_nav_hiql import load_dataset

    out = tmp_path / "explore"
    assert main(["collect", "go2", "--minutes", "0.4", "--segment-minutes", "0.4", "--seed", "3", "--out",
                 str(out)]) == 0
    summary = json.loads((out / "collect.json").read_text())
    # segments until the recorded time is within 1 s of the minutes (the nodes' start-up is not recorded);
    # the summary's minutes are rounded to 0.01
    assert summary["minutes"] * 60.0 >= 0.4 * 60.0 - 1.0 - 0.3 and all(s["exit_code"] == 0 and not s["trips"] for s in summary["segments"])
    data, goals = load_dataset(out)
    assert len(data) >= 100  # >= 10 s of driving at 10 Hz once the nodes are up
    assert np.all(np.abs(data.actions) < 1.0) and np.abs(data.actions).max() > 0.3
    assert np.hypot(*(data.states[-1, :2] - data.states[0, :2])) > 0.5  # it walked


def test_a_signal_during_a_launch_ends_the_caller_that_launches_one_after_another(tmp_path):
    """`launch(..., interrupt=True)` (what `hrobot collect` runs per segment): SIGTERM stops the nodes and then
    raises KeyboardInterrupt, so the collection ends instead of starting its next segment."""
    import os
    import signal
    import threading

    from hrobot.deploy import launch
    from ros_harness import bringup_file

    f = bringup_file(tmp_path, {"explorer": {"command_low": [-1.0, -0.5, -1.0], "command_high": [1.0, 0.5, 1.0]}})
    lines: list[str] = []
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            launch(f, duration=60.0, log=lines.append, interrupt=True)
    finally:
        timer.cancel()  # never a SIGTERM to pytest after a launch that failed early
    assert time.monotonic() - t0 < 15.0
    pid = int(next(line for line in lines if "started explorer" in line).split("pid ")[1].rstrip(")"))
    with pytest.raises(ProcessLookupError):  # the node stopped with it
        os.kill(pid, 0)
