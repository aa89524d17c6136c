"""A manipulation skill through ROS 2 on the simulated hand: the object's pose arrives on /object_pose (a tracker's,
palm frame); a pose in another frame, a non-unit quaternion or a pose stream that stops makes the skill hold its
last targets (reported on /diagnostics), and it runs again once valid poses come."""

from __future__ import annotations

import time

import numpy as np

from ros_harness import SHARED_CPU, Launched, bringup_file

SIM_HAND = {"robot": "leap_hand", "scene": "hand_object", "state_rate_hz": 200.0, **SHARED_CPU}


def _skill(bundle) -> dict:
    """The skill controller's parameters here: the bundle, and the shared machine's state limit."""
    return {"bundle": str(bundle), "state_timeout": SHARED_CPU["state_timeout"]}


def test_the_hand_skill_holds_on_a_bad_or_missing_object_pose_and_resumes(tmp_path, hand_bundle):
    from geometry_msgs.msg import PoseStamped, Twist, Vector3
    from hrobot_msgs.msg import JointCommand

    f = bringup_file(tmp_path, {
        "robot_driver": {**SIM_HAND, "object_rate_hz": 0.0},
        "skill_controller": _skill(hand_bundle)})
    ros = Launched(f)
    try:
        diag = ros.diagnostics()
        cmds = ros.subscribe("/joint_commands", JointCommand, qos=10)
        tracker = ros.node.create_publisher(PoseStamped, "/object_pose", 10)
        planner = ros.node.create_publisher(Twist, "/cmd_vel", 10)  # the skill's command: wz from angular.z

        def stream(until, frame="palm", quat=(1.0, 0.0, 0.0, 0.0), timeout=10.0, wz=0.8):
            """A 50 Hz tracker publishing one pose (and a rotation command) until `until()` holds (diagnostics
            come at 1 Hz)."""
            msg = PoseStamped()
            msg.header.frame_id = frame
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = -0.034, 0.031, 0.066
            msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = quat
            end = time.monotonic() + timeout
            while not until() and time.monotonic() < end:
                tracker.publish(msg)
                if wz:
                    planner.publish(Twist(angular=Vector3(z=wz)))
                ros.spin(0.02)
            return until()

        message = lambda: diag("skill_controller").get("message", "")  # noqa: E731
        running = lambda: message() == "policy, safety ok"  # noqa: E731
        ros.wait_for(lambda: message().startswith("policy"), 60, lambda: f"the policy: {diag('skill_controller')}")
        assert "holding: no object pose" in message(), message()  # no pose yet: the hand stays in its home pose
        assert stream(lambda: "holding: no rotation commanded" in message(), wz=0.0), message()  # still: not trained
        assert stream(running), message()
        refusals = (("world", (1.0, 0.0, 0.0, 0.0), "/object_pose in frame 'world', expected 'palm'"),
                    ("palm", (0.5, 0.0, 0.0, 0.0), "/object_pose quaternion norm 0.500, expected a unit quaternion"))
        for frame, quat, _ in refusals:
            assert stream(lambda: "holding: stale object pose" in message(), frame, quat), message()  # refused
            n = len(cmds)
            assert stream(lambda: len(cmds) > n + 5, frame, quat)
            held = np.array([c.position for _, c in cmds[n:]])
            assert np.ptp(held, axis=0).max() < 1e-6  # the same targets, period after period
            assert stream(running), message()
        ros.wait_for(lambda: "holding: stale object pose" in message(), 5, "a hold when the tracker stops")
        assert diag("robot_driver").get("message") == "ok", diag("robot_driver")  # held, never damped
    finally:
        _, out = ros.stop()
    for *_, why in refusals:
        assert f"{why}; ignored" in out, out  # one line naming the problem


def test_goal_orientations_through_the_scripted_planner_and_bad_goals_are_rejected(tmp_path, hand_bundle):
    """reorient_planner over the rotation skill: a goal the cube already meets is reached after the 0.5 s hold, one
    half a turn away makes the planner command the skill about a trained axis at its fastest speed, and goals in
    another frame, with NaN or not unit quaternions are rejected with their reason."""
    import json

    from geometry_msgs.msg import PoseStamped, Quaternion, QuaternionStamped, Twist
    from std_msgs.msg import String

    f = bringup_file(tmp_path, {
        "robot_driver": SIM_HAND,
        "skill_controller": _skill(hand_bundle),
        "reorient_planner": {"bundle": str(hand_bundle)}})
    ros = Launched(f)
    try:
        status = ros.subscribe("/goal_status", String, qos=10)
        poses = ros.subscribe("/object_pose", PoseStamped)
        cmds = ros.subscribe("/cmd_vel", Twist, qos=10)
        goals = ros.node.create_publisher(QuaternionStamped, "/goal_orientation", 10)
        ros.wait_for(lambda: len(poses) > 5 and goals.get_subscription_count() > 0, 60, "the tracker and the planner")

        def send(frame, q):
            goals.publish(QuaternionStamped(header=poses[-1][1].header.__class__(frame_id=frame),
                                            quaternion=Quaternion(w=q[0], x=q[1], y=q[2], z=q[3])))

        results = lambda: [json.loads(m.data) for _, m in status]  # noqa: E731
        for frame, q, why in (("world", (1.0, 0.0, 0.0, 0.0), "frame 'world', expected 'palm'"),
                              ("palm", (0.5, 0.5, 0.0, 0.0), "not a unit quaternion (norm 0.7071"),
                              ("palm", (float("nan"), 0.0, 0.0, 0.0), "NaN or inf")):
            n = len(status)
            send(frame, q)
            ros.wait_for(lambda: len(status) > n, 10, "a reply to a bad goal")
            assert results()[-1]["result"] == "rejected" and why in results()[-1]["reason"], results()[-1]
        o = poses[-1][1].pose.orientation
        n = len(status)
        send("palm", (o.w, o.x, o.y, o.z))  # where the cube is
        ros.wait_for(lambda: any(r["result"] == "reached" for r in results()[n:]), 10, lambda: results()[n:])
        reached = next(r for r in results()[n:] if r["result"] == "reached")
        assert reached["error_rad"] < 0.4 and reached["time_s"] >= 0.5, reached
        o = poses[-1][1].pose.orientation  # half a turn about +z from here (w, z) -> (-z, w)
        k = len(cmds)
        send("palm", (-o.z, -o.y, o.x, o.w))
        ros.wait_for(lambda: len(cmds) > k + 10, 10, "skill commands")
        w = np.array([[c.angular.x, c.angular.y, c.angular.z] for _, c in cmds[k:]])
        assert np.allclose(np.abs(w).max(axis=1), 1.0) and np.allclose(np.sort(np.abs(w), axis=1)[:, :2], 0.0)
    finally:
        ros.stop()


def test_the_hand_demo_sends_goal_orientations_and_writes_its_plot_and_video(tmp_path, hand_bundle):
    """`hrobot demo --robot leap_hand`'s job on a bringup with a (barely trained) skill and the scripted planner:
    a goal where the cube already is gets reached; the error plot, the video and the results are written."""
    import json

    from rich.console import Console

    from hrobot.demo import hand_demo
    from hrobot.robots import load_robot
    from hrobot.sim.robot import SimRobot

    robot = SimRobot(load_robot("leap_hand"))  # where the cube comes to rest in the hand: the goal
    robot.activate()
    for _ in range(80):
        robot.send(robot.safety.damping(robot.read_state()))
        robot.advance(0.05)
    goal = tuple(float(v) for v in robot.object_pose()[1])
    f = bringup_file(tmp_path, {
        "robot_driver": SIM_HAND,
        "skill_controller": _skill(hand_bundle),
        "reorient_planner": {"bundle": str(hand_bundle)}})
    out = tmp_path / "demo"
    console = Console(record=True, width=160)
    assert hand_demo(out, console, goals=[goal], bringup=f) == 0, console.export_text()
    results = json.loads((out / "results.json").read_text())
    assert results[0]["result"] == "reached" and results[0]["error_rad"] < 0.4
    assert (out / "orientation_error.png").stat().st_size > 10_000 and (out / "demo.mp4").stat().st_size > 10_000
    assert "1/1 goal orientations reached" in console.export_text()


def test_the_real_hand_bringup_on_the_emulated_bus_runs_the_skill_and_reaches_a_goal(tmp_path, hand_bundle):
    """deploy/leap_hand/real.yaml under device: simulated, with the skill and the planner: the emulated bus carries
    the servos, its emulated tracker the cube's pose on /object_pose; the skill runs through the Dynamixel driver and
    a goal where the cube is gets reached, as on the simulated hand."""
    import json

    import yaml
    from geometry_msgs.msg import PoseStamped, QuaternionStamped
    from std_msgs.msg import String

    from hrobot.bench import device_bringup
    from ros_harness import REPO

    f = device_bringup(REPO / "deploy" / "leap_hand" / "real.yaml", tmp_path, port=str(tmp_path / "tty"), **SHARED_CPU)
    cfg = yaml.safe_load(f.read_text())
    cfg["nodes"]["skill_controller"] = _skill(hand_bundle)
    cfg["nodes"]["reorient_planner"] = {"bundle": str(hand_bundle)}
    f.write_text(yaml.safe_dump(cfg))
    ros = Launched(f)
    try:
        diag = ros.diagnostics()
        poses = ros.subscribe("/object_pose", PoseStamped)
        status = ros.subscribe("/goal_status", String, qos=10)
        goals = ros.node.create_publisher(QuaternionStamped, "/goal_orientation", 10)
        ros.wait_for(lambda: len(poses) > 10 and goals.get_subscription_count() > 0, 60, "the emulated tracker")
        assert poses[-1][1].header.frame_id == "palm"
        ros.wait_for(lambda: diag("skill_controller").get("message", "").startswith("policy"), 30,
                     lambda: f"the skill: {diag('skill_controller')}")
        assert "no object pose" not in diag("skill_controller")["message"]
        o = poses[-1][1].pose.orientation
        msg = QuaternionStamped()
        msg.header.frame_id = "palm"
        msg.quaternion = o
        goals.publish(msg)
        ros.wait_for(lambda: any(json.loads(m.data)["result"] == "reached" for _, m in status), 15,
                     lambda: [m.data for _, m in status])
        d = diag("robot_driver")
        assert d.get("message") == "ok" and d.get("link_servo_errors") == "none", d
    finally:
        ros.stop()


def test_the_hand_goals_benchmark_runs_both_bringups_on_the_same_goals(tmp_path, hand_bundle):
    """`hrobot bench hand-goals` on a sim bringup naming the skill and the planner: the same goal orientation
    through the simulated hand and through real.yaml's Dynamixel driver on the emulated bus."""
    from hrobot.bench import bench_hand_goals
    from hrobot.robots import load_robot
    from hrobot.sim.robot import SimRobot

    robot = SimRobot(load_robot("leap_hand"))
    robot.activate()
    for _ in range(80):
        robot.send(robot.safety.damping(robot.read_state()))
        robot.advance(0.05)
    goal = [float(v) for v in robot.object_pose()[1]]  # where the cube rests: reachable by any skill
    f = bringup_file(tmp_path, {
        "robot_driver": SIM_HAND,
        "skill_controller": _skill(hand_bundle),
        "reorient_planner": {"bundle": str(hand_bundle)}})
    res = bench_hand_goals(goals=[goal], sim_file=f, logs=tmp_path / "logs", driver=SHARED_CPU)
    for name in ("sim", "dynamixel_device"):
        assert res[name]["success_rate"] == 1.0 and res[name]["results"][0]["trips"] == [], res[name]
    assert res["success_difference_points"] == 0.0
