"""ROS 2 deployment: real rclpy nodes over real DDS (Fast DDS), started by `hrobot launch` (issue: ROS 2)."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from hrobot.cli import main
from hrobot.deploy import load_bringup, node_executable, ros_env
from hrobot.realtime import CONTROL_NICE

from ros_harness import REPO, Launched, bringup_file, goal_msg, planar_speed, statuses, stop_time

WALK, NAV = REPO / "policies" / "go2_walk", REPO / "policies" / "go2_nav"


# ---------------------------------------------------------------- launch files and bringup YAMLs


class _Recorder:
    """Stand-ins for the `launch` / `launch_ros` APIs the launch files use (those packages are not on PyPI)."""

    def __init__(self):
        self.nodes = []
        rec = self

        class Node:
            def __init__(self, package, executable, name, parameters, output=None):
                rec.nodes.append({"package": package, "executable": executable, "name": name, "parameters": parameters})

        class DeclareLaunchArgument:
            def __init__(self, name, default_value="", description=""):
                self.name, self.default = name, default_value

        class OpaqueFunction:
            def __init__(self, function):
                self.function = function

        class LaunchConfiguration:
            def __init__(self, name):
                self.name = name

            def perform(self, context):
                return context[self.name]

        self.modules = {
            "launch": types.SimpleNamespace(LaunchDescription=list),
            "hrobot_bringup": None,  # re-imported under the stand-ins
            "launch.actions": types.SimpleNamespace(DeclareLaunchArgument=DeclareLaunchArgument,
                                                    OpaqueFunction=OpaqueFunction),
            "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
            "launch_ros.actions": types.SimpleNamespace(Node=Node),
        }


def _install(rec: _Recorder, monkeypatch) -> None:
    for name, mod in rec.modules.items():
        if mod is None:
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                monkeypatch.delitem(sys.modules, key)
        else:
            monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.syspath_prepend(str(REPO / "ros_ws" / "src" / "hrobot_bringup"))


@pytest.mark.parametrize("kind", ["sim", "real"])
def test_launch_file_yields_the_node_set_of_its_yaml(kind, monkeypatch):
    rec = _Recorder()
    _install(rec, monkeypatch)
    bringup_pkg = REPO / "ros_ws" / "src" / "hrobot_bringup"
    ns = runpy.run_path(str(bringup_pkg / "launch" / f"{kind}.launch.py"))
    actions = ns["generate_launch_description"]()
    args = {a.name: a.default for a in actions if hasattr(a, "default")}
    opaque = [a for a in actions if hasattr(a, "function")][0]
    opaque.function(args)
    expected = load_bringup(REPO / "deploy" / "go2" / f"{kind}.yaml")
    assert [n["name"] for n in rec.nodes] == list(expected.nodes)
    for n in rec.nodes:
        assert n["package"] == "hrobot_ros" and n["executable"] == n["name"]
        assert n["parameters"] == [expected.nodes[n["name"]]]


def test_launch_file_can_leave_out_the_high_level(monkeypatch):
    rec = _Recorder()
    _install(rec, monkeypatch)
    ns = runpy.run_path(str(REPO / "ros_ws" / "src" / "hrobot_bringup" / "launch" / "sim.launch.py"))
    actions = ns["generate_launch_description"]()
    args = {a.name: a.default for a in actions if hasattr(a, "default")} | {"high_level": "false"}
    [a for a in actions if hasattr(a, "function")][0].function(args)
    assert [n["name"] for n in rec.nodes] == ["robot_driver", "skill_controller"]


def _error(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_bringup_naming_a_missing_bundle_is_rejected(tmp_path, capsys):
    f = bringup_file(tmp_path, {"skill_controller": {"bundle": "policies/no_such_policy"}})
    line = _error(["launch", str(f)], capsys)
    assert "nodes.skill_controller.bundle: not found" in line and "no_such_policy" in line


@pytest.mark.parametrize("params, expected", [
    ({"robot_driver": {"pd_rate_hz": "fast"}}, "nodes.robot_driver.pd_rate_hz: expected a number, got 'fast'"),
    ({"robot_driver": {"autostart": True}}, "nodes.robot_driver.autostart: unknown parameter"),
    ({"planner": {}}, "nodes.planner: unknown node"),
    ({"robot_driver": {"scene": "moon"}}, "nodes.robot_driver.scene: expected one of flat, rough, arena, hand_object, got 'moon'"),
    ({"robot_driver": {"obstacles": [1.0, 2.0, 3.0]}}, "nodes.robot_driver.obstacles: expected x, y pairs"),
    ({"robot_driver": {"obstacles": [0.5] * 14}}, "nodes.robot_driver.obstacles: expected at most 6 obstacles"),
    ({"robot_driver": {"pd_rate_hz": -500}}, "nodes.robot_driver.pd_rate_hz: expected 0 (the spec's rate) or 1 to 20000 Hz"),
    ({"robot_driver": {"start": [0.0, 1.0]}}, "nodes.robot_driver.start: expected 3 values, got 2"),
    ({"skill_controller": {"bundle": "policies/go2_walk", "cmd_vel_timeout": 2.0}},
     "nodes.skill_controller.cmd_vel_timeout: expected > 0 and <= 0.5"),
    ({"explorer": {"command_low": [-1.0, -0.5], "command_high": [1.0, 0.5, 1.0]}},
     "nodes.explorer.command_low: expected 3 values, got 2"),
    ({"explorer": {"command_low": [-1.0, -0.5, -1.0], "command_high": [1.0, 0.5, 1.0], "rate_hz": 0.0}},
     "nodes.explorer.rate_hz: expected > 0 and <= 50"),
])
def test_bringup_with_bad_parameters_is_rejected(tmp_path, capsys, params, expected):
    line = _error(["launch", str(bringup_file(tmp_path, params))], capsys)
    assert expected in line


def test_node_parameter_of_the_wrong_type_exits_with_a_clear_message(tmp_path, skill_bundle):
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"skill_controller": {"ros__parameters": {
        "bundle": str(skill_bundle), "cmd_vel_timeout": "soon"}}}))
    r = subprocess.run([str(node_executable("skill_controller")), "--ros-args", "--params-file", str(params)],
                       env=ros_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "parameter 'cmd_vel_timeout'" in r.stderr + r.stdout or "cmd_vel_timeout" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr


def _node_error(tmp_path, node: str, params: dict) -> str:
    """Run one node with these parameters; it must exit non-zero with one line, no traceback."""
    f = tmp_path / f"{node}.yaml"
    f.write_text(yaml.safe_dump({node: {"ros__parameters": params}}))
    r = subprocess.run([str(node_executable(node)), "--ros-args", "--params-file", str(f)],
                       env=ros_env(), capture_output=True, text=True, timeout=60)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    return lines[0]


def _spec_file(tmp_path, rename: str) -> str:
    text = (REPO / "hrobot" / "robots" / "go2.yaml").read_text().replace("FL_calf_joint", rename)
    f = tmp_path / "go2_typo.yaml"
    f.write_text(text)
    return str(f)


@pytest.mark.parametrize("case", ["scene", "pd_rate", "typo_joint", "binary_spec"])
def test_robot_driver_refuses_bad_values_with_one_line(tmp_path, case):
    """The node validates its own parameters too (as when started by ros2 launch, not hrobot launch)."""
    if case == "scene":
        line = _node_error(tmp_path, "robot_driver", {"scene": "moon"})
        assert "parameter 'scene' of node 'robot_driver': expected one of flat, rough, arena, hand_object" in line
    elif case == "pd_rate":
        line = _node_error(tmp_path, "robot_driver", {"pd_rate_hz": -500.0})
        assert "parameter 'pd_rate_hz'" in line and "got -500" in line
    elif case == "typo_joint":  # the built-in model needs FL_calf_joint, the spec names FL_calf_jiont
        line = _node_error(tmp_path, "robot_driver", {"robot": _spec_file(tmp_path, "FL_calf_jiont")})
        assert "the built-in go2 model needs joint 'FL_calf_joint', which the spec does not name" in line
    else:
        spec = tmp_path / "binary.yaml"
        spec.write_bytes(bytes(range(256)) * 4)
        line = _node_error(tmp_path, "robot_driver", {"robot": str(spec)})
        assert "binary.yaml: spec file is not UTF-8 text" in line


def test_skill_controller_refuses_a_bundle_needing_state_it_cannot_get(tmp_path):
    """An Isaac Lab style bundle observing base_lin_vel: one line at start-up, not a crash on the first step."""
    import shutil

    from hrobot.bundle import read_metadata
    from hrobot.export import write_metadata

    b = tmp_path / "linvel"
    shutil.copytree(WALK, b)
    meta = read_metadata(b)
    meta["observation"][0].update(name="base_lin_vel", requires=["base_lin_vel"])
    write_metadata(b / "policy.onnx", meta)
    line = _node_error(tmp_path, "skill_controller", {"bundle": str(b)})
    assert "observation term 'base_lin_vel' needs state field 'base_lin_vel', which skill_controller" in line


# ---------------------------------------------------------------- live nodes


def test_node_death_stops_the_launch_and_the_robot_falls_back_to_damping(tmp_path, skill_bundle):
    from hrobot_msgs.msg import JointCommand
    from sensor_msgs.msg import JointState

    stats = tmp_path / "sim_stats.json"
    f = bringup_file(tmp_path, {"robot_driver": {"robot": "go2", "stats_file": str(stats)},
                                "skill_controller": {"bundle": str(skill_bundle)}})
    ros = Launched(f)
    try:
        cmds = ros.subscribe("/joint_commands", JointCommand, qos=1)
        ros.subscribe("/joint_states", JointState)
        ros.wait_for(lambda: len(cmds) > 20, 30, "joint commands from skill_controller")
        assert ros.call("/skill_controller/stand", 10).success
        ros.wait_for(lambda: cmds[-1][1].mode == JointCommand.MODE_POSITION, 10, "position commands (standing up)")
        ros.kill_node("skill_controller")
        ros.wait_for(lambda: ros.proc.poll() is not None, 20, "the launcher to notice the dead node")
    finally:
        code, out = ros.stop()
    assert code == 1
    assert "node 'skill_controller' died" in out
    s = json.loads(stats.read_text())  # written by robot_driver on its clean shutdown
    assert s["safety"] == "tripped" and "stale command" in s["last_trip_reason"]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"  # zombies are dead
    except FileNotFoundError:
        return False


def test_nodes_do_not_outlive_a_killed_launcher(tmp_path):
    from sensor_msgs.msg import JointState

    f = bringup_file(tmp_path, {"robot_driver": {"robot": "go2"}, "skill_controller": {"bundle": str(WALK)}})
    ros, pids = Launched(f), {}
    try:
        states = ros.subscribe("/joint_states", JointState)
        ros.wait_for(lambda: len(states) > 10, 30, "joint states")
        pids = ros.node_pids()
        assert set(pids) == {"robot_driver", "skill_controller"}, pids
        # the control nodes run at the control priority where this machine permits raising it (hrobot.realtime)
        permitted = subprocess.run([sys.executable, "-c", "import os; os.setpriority(os.PRIO_PROCESS, 0, -10)"]).returncode == 0
        nice = {n: os.getpriority(os.PRIO_PROCESS, p) for n, p in pids.items()}
        assert nice == dict.fromkeys(pids, CONTROL_NICE if permitted else os.getpriority(os.PRIO_PROCESS, 0)), nice
        os.kill(ros.proc.pid, signal.SIGKILL)  # no chance to stop its nodes itself
        ros.proc.wait()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
            time.sleep(0.1)
        assert not [n for n, p in pids.items() if _alive(p)], "nodes still running after their launcher was killed"
    finally:
        for p in pids.values():
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        ros.stop()  # reads the launcher's output to EOF: after its nodes, which share the pipe


def _launch_go2_sim(tmp_path: Path, **controller: object) -> Launched:
    """deploy/go2/sim.yaml (skill_controller parameters overridden by `controller`), with stats files in tmp_path."""
    for b in (WALK, NAV):
        assert (b / "policy.onnx").is_file(), f"{b} must be shipped (hrobot export)"
    cfg = yaml.safe_load((REPO / "deploy" / "go2" / "sim.yaml").read_text())
    cfg["root"] = str(REPO)
    cfg["nodes"]["robot_driver"]["stats_file"] = str(tmp_path / "sim.json")
    cfg["nodes"]["skill_controller"].update(stats_file=str(tmp_path / "ctrl.json"), **controller)
    f = tmp_path / "sim.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return Launched(f)


@pytest.fixture
def go2_sim(tmp_path):
    ros = _launch_go2_sim(tmp_path)
    yield ros
    ros.stop()


def _wait_policy_running(ros) -> None:
    """Until skill_controller reports (on /diagnostics) that it runs the policy with the safety layer ok."""
    from diagnostic_msgs.msg import DiagnosticArray

    diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
    status = lambda: [s.message for _, m in diag for s in m.status if s.name == "skill_controller"][-1:]  # noqa: E731
    ros.wait_for(lambda: status() == ["policy, safety ok"], 30,
                 lambda: f"skill_controller to stand up and run the policy; its status: {status()}")
    ros.spin(0.5)  # settle after the stand-up


def _odom_xy(box):
    p = box[-1][1].pose.pose.position
    return np.array([p.x, p.y])


def test_end_to_end_goal_over_ros(go2_sim):
    from nav_msgs.msg import Odometry
    from std_msgs.msg import String

    ros = go2_sim
    odom = ros.subscribe("/odom", Odometry)
    status = ros.subscribe("/goal_status", String, qos=10)
    ros.wait_for(lambda: len(odom) > 0, 30, "odometry")
    _wait_policy_running(ros)
    start = _odom_xy(odom)
    goal = start + np.array([1.6, -0.6])  # in free space: >= 1 m from every obstacle of deploy/go2/sim.yaml
    pub = ros.node.create_publisher(type(goal_msg(0, 0, 0)), "/goal_pose", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, "goal_planner to subscribe")
    pub.publish(goal_msg(goal[0], goal[1], 0.5))
    t0 = time.monotonic()
    reached = ros.wait_for(lambda: np.linalg.norm(_odom_xy(odom) - goal) < 0.25 and time.monotonic() - t0, 20,
                           lambda: f"the robot to come within 0.25 m of {goal} (20 s); it is at {_odom_xy(odom)}, "
                                   f"goal status {statuses(status)}")
    assert reached <= 20.0
    ros.spin(1.0)
    assert any(s["result"] == "accepted" for s in statuses(status))


def test_faults_planner_death_estop_and_bad_goals(go2_sim):
    from nav_msgs.msg import Odometry
    from std_msgs.msg import String

    ros = go2_sim
    odom = ros.subscribe("/odom", Odometry)
    status = ros.subscribe("/goal_status", String, qos=10)
    ros.wait_for(lambda: len(odom) > 0, 30, "odometry")
    _wait_policy_running(ros)
    pub = ros.node.create_publisher(type(goal_msg(0, 0, 0)), "/goal_pose", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, "goal_planner to subscribe")

    # bad goals are rejected and the robot stays put
    here = _odom_xy(odom)
    pub.publish(goal_msg(here[0] + 2.0, here[1], 0.0, frame="map"))
    bad = goal_msg(0.0, 0.0, 0.0)
    bad.pose.position.x = float("nan")
    pub.publish(bad)
    skew = goal_msg(here[0] + 2.0, here[1], 0.0)
    skew.pose.orientation.w, skew.pose.orientation.z = 1.0, 1.0  # not a unit quaternion (was taken as yaw 2.03)
    pub.publish(skew)
    zero = goal_msg(here[0] + 2.0, here[1], 0.0)
    zero.pose.orientation.w = 0.0  # the zero quaternion (was taken as yaw 0)
    pub.publish(zero)
    tilted = goal_msg(here[0] + 2.0, here[1], 0.0)
    tilted.pose.orientation.w, tilted.pose.orientation.x = np.cos(0.2), np.sin(0.2)
    pub.publish(tilted)
    ros.wait_for(lambda: sum(s["result"] == "rejected" for s in statuses(status)) >= 5, 5, "five rejections")
    reasons = [s["reason"] for s in statuses(status) if s["result"] == "rejected"]
    assert any("frame 'map'" in r for r in reasons) and any("NaN" in r for r in reasons)
    assert any("not a unit quaternion (norm 1.4142" in r for r in reasons)
    assert any("not a unit quaternion (norm 0.0000" in r for r in reasons)
    assert any("must be a rotation about z" in r for r in reasons)
    assert not any(s["result"] == "accepted" for s in statuses(status))
    ros.spin(1.0)
    assert np.linalg.norm(_odom_xy(odom) - here) < 0.1

    # kill the planner while walking: the cmd_vel watchdog stops the robot within 0.5 s
    pub.publish(goal_msg(here[0] + 3.0, here[1] + 1.0, 0.0))
    ros.wait_for(lambda: np.hypot(odom[-1][1].twist.twist.linear.x, odom[-1][1].twist.twist.linear.y) > 0.2, 10,
                 "the robot to walk")
    ros.kill_node("goal_planner")
    t_kill = time.monotonic()
    ros.wait_for(lambda: ros.proc.poll() is not None or (time.monotonic() - t_kill > 0.05 and all(
        np.hypot(m.twist.twist.linear.x, m.twist.twist.linear.y) < 0.1 for t, m in odom if t > time.monotonic() - 0.1)),
        2.0, "the robot to stand still")
    assert time.monotonic() - t_kill <= 0.5 + 0.15  # + one odometry window / spin granularity


def _twists(ros, pub, vx: float, wz: float, seconds: float) -> float:
    """Publish Twists at 50 Hz (as the planner does) for `seconds`; returns when the last one went out."""
    from geometry_msgs.msg import Twist

    end, last = time.monotonic() + seconds, 0.0
    while time.monotonic() < end:
        tw = Twist()
        tw.linear.x, tw.angular.z = float(vx), float(wz)
        pub.publish(tw)
        last = time.monotonic()
        ros.spin(0.02)
    return last


def test_cmd_vel_is_clamped_watchdog_stops_in_time_and_only_reset_clears_an_estop(tmp_path):
    """Without a planner, a user drives the robot over /cmd_vel:

    - vx = 1e9, wz = 1e9 reaches the policy clamped to the skill's range (it walked at 1.5 m/s for vx 1.5,
      flipped for vx 3, fell for 1e9): the robot walks at <= ~1 m/s, upright, safety ok;
    - after the last Twist the watchdog stands it still within 0.5 s, four times out of four (it took
      0.35-0.65 s with the 0.25 s watchdog and the planner sending at 10 Hz);
    - ~/stand does not clear an e-stop; ~/reset does, then ~/stand stands it up again.
    """
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry

    cfg = yaml.safe_load((REPO / "deploy" / "go2" / "sim.yaml").read_text())
    cfg["root"] = str(REPO)
    del cfg["nodes"]["goal_planner"]
    cfg["nodes"]["robot_driver"].update(scene="flat", obstacles=[], start=[0.0, 0.0, 0.0])
    f = tmp_path / "teleop.yaml"
    f.write_text(yaml.safe_dump(cfg))
    ros = Launched(f)
    try:
        odom = ros.subscribe("/odom", Odometry)
        diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
        ros.wait_for(lambda: len(odom) > 0, 30, "odometry")
        _wait_policy_running(ros)
        pub = ros.node.create_publisher(Twist, "/cmd_vel", 10)
        ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, "skill_controller to subscribe to /cmd_vel")

        _twists(ros, pub, 1e9, 1e9, 3.0)
        recent = [m for t, m in odom if t > time.monotonic() - 1.5]
        speeds = [planar_speed(m) for m in recent]
        yaw_rates = [m.twist.twist.angular.z for m in recent]
        assert max(speeds) < 1.3 and np.mean(speeds) > 0.5, (max(speeds), np.mean(speeds))  # walking, at range
        assert np.mean(yaw_rates) < 1.3 and min(m.pose.pose.position.z for m in recent) > 0.2
        ctrl = [s.message for _, m in diag for s in m.status if s.name == "skill_controller"]
        assert ctrl[-1] == "policy, safety ok", ctrl[-3:]

        stops = []
        for _ in range(4):  # still: planar speed below 0.2 m/s and staying there (a standing Go2 sways ~0.1 m/s)
            ros.spin(1.5)
            t_last = _twists(ros, pub, 0.6, 0.0, 1.5)
            assert planar_speed(odom[-1][1]) > 0.3
            ros.spin(1.2)
            stops.append(stop_time(odom, t_last))
        assert max(stops) <= 0.5, stops

        assert ros.call("/skill_controller/estop").success
        reply = ros.call("/skill_controller/stand")
        assert not reply.success and "call ~/reset first" in reply.message
        last = lambda: [s.message for _, m in diag for s in m.status if s.name == "skill_controller"][-1]  # noqa: E731
        ros.wait_for(lambda: last() == "passive, safety tripped", 3.0, lambda: f"damping after ~/stand; {last()}")
        ros.spin(1.5)
        assert last() == "passive, safety tripped"  # ~/stand did not clear the latch
        assert ros.call("/skill_controller/reset").success
        assert ros.call("/skill_controller/stand").success
        _wait_policy_running(ros)
    finally:
        ros.stop()


def test_controller_needs_a_fresh_imu_and_planner_refuses_scans_of_another_layout(tmp_path):
    """The test process is the robot: it publishes joint states, odometry and scans (first in a layout the
    bundle was not trained on), and the IMU only later.

    - Without IMU samples the controller does not leave damping (a stale IMU refuses the reset);
      once they come, it stands up.
    - With 8-ray scans the planner sends no motion for a goal; with the bundle's 16-ray layout it does.
    """
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Quaternion, Twist
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Imu, JointState, LaserScan

    from hrobot.nav_io import DEFAULT_SCAN
    from hrobot.robots import load_robot

    go2 = load_robot("go2")
    f = bringup_file(tmp_path, {"skill_controller": {"bundle": str(WALK)}, "goal_planner": {"bundle": str(NAV)}})
    ros = Launched(f)
    try:
        diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
        cmd_vel = ros.subscribe("/cmd_vel", Twist, qos=10)
        pubs = {t: ros.node.create_publisher(m, t, 10) for t, m in (
            ("/joint_states", JointState), ("/imu", Imu), ("/odom", Odometry), ("/scan_low", LaserScan),
            ("/scan_high", LaserScan))}
        feed = {"imu": False, "rays": 8}

        def publish():
            js = JointState()
            js.name, js.position, js.velocity = go2.joint_names, go2.default_pose.tolist(), [0.0] * 12
            pubs["/joint_states"].publish(js)
            if feed["imu"]:
                pubs["/imu"].publish(Imu(orientation=Quaternion(w=1.0)))
            od = Odometry()
            od.pose.pose.position.z, od.pose.pose.orientation.w = 0.3, 1.0
            pubs["/odom"].publish(od)
            for t in ("/scan_low", "/scan_high"):
                scan = LaserScan(angle_min=0.0, angle_increment=2 * np.pi / feed["rays"], range_max=DEFAULT_SCAN.range)
                scan.ranges = [3.0] * feed["rays"]
                pubs[t].publish(scan)

        ros.node.create_timer(0.01, publish)
        ctrl = lambda: [s.message for _, m in diag for s in m.status if s.name == "skill_controller"]  # noqa: E731
        ros.wait_for(lambda: len(ctrl()) >= 3, 30, "controller diagnostics")
        assert set(ctrl()) == {"passive, safety tripped"}, ctrl()  # joint states but no IMU: no stand-up
        goal = ros.node.create_publisher(type(goal_msg(0, 0, 0)), "/goal_pose", 10)
        ros.wait_for(lambda: goal.get_subscription_count() > 0, 10, "goal_planner to subscribe")
        goal.publish(goal_msg(2.0, 0.0, 0.0))
        ros.spin(2.0)
        moving = lambda since: [m for t, m in cmd_vel if t > since and (m.linear.x or m.angular.z)]  # noqa: E731
        assert not moving(0.0)  # a scan of another layout: no command from it
        feed["imu"] = True
        ros.wait_for(lambda: ctrl()[-1].startswith(("standup", "policy")), 10, lambda: f"a stand-up; {ctrl()[-3:]}")
        feed["rays"] = DEFAULT_SCAN.num_rays
        t_ok = time.monotonic()
        ros.wait_for(lambda: moving(t_ok), 5, "the planner to command motion from scans in its layout")
    finally:
        rc, out = ros.stop()
    assert "refused: 8 rays, expected 16" in out, out[-2000:]


def test_two_skill_high_level_crouches_under_the_bar_through_ros(tmp_path):
    """go2_nav_skills through the bringup: the planner's skill choice reaches the controller, which switches
    bundles (walk <-> crouch) and passes under the low bar that the walking robot would hit."""
    from nav_msgs.msg import Odometry
    from std_msgs.msg import String

    skills = REPO / "policies" / "go2_nav_skills"
    f = bringup_file(tmp_path, {
        "robot_driver": {"robot": "go2", "scene": "arena", "bar_x": 0.0, "start": [-1.5, 0.0, 0.0],
                      "pd_rate_hz": 500.0, "command_timeout": 0.5},
        "skill_controller": {"bundle": str(skills), "use_sim_time": True},
        "goal_planner": {"bundle": str(skills)},
    })
    ros = Launched(f)
    try:
        odom = ros.subscribe("/odom", Odometry)
        chosen = ros.subscribe("/skill", String, qos=10)
        status = ros.subscribe("/goal_status", String, qos=10)
        ros.wait_for(lambda: len(odom) > 0, 30, "odometry")
        _wait_policy_running(ros)
        pub = ros.node.create_publisher(type(goal_msg(0, 0, 0)), "/goal_pose", 10)
        ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, "goal_planner to subscribe")
        pub.publish(goal_msg(1.5, 0.0, 0.0))
        ros.wait_for(lambda: any(s["result"] in ("reached", "timeout") for s in statuses(status)), 30,
                     lambda: f"the goal to end; robot at {_odom_xy(odom)}, status {statuses(status)}")
        results = [s["result"] for s in statuses(status)]
        assert "reached" in results, (results, _odom_xy(odom), ros.output()[-3000:])
        names = {m.data for _, m in chosen}
        assert "go2_crouch" in names, names  # the controller starts on go2_walk, the first skill
        under = [m.pose.pose.position.z for _, m in odom if abs(m.pose.pose.position.x) < 0.1]
        assert under and max(under) < 0.28  # crouched at the bar (a walking Go2's base is at ~0.3 m)
    finally:
        rc, out = ros.stop()
    assert "skill: go2_crouch" in out


def test_estop_reaches_damping_within_two_control_periods(go2_sim, tmp_path):
    from hrobot_msgs.msg import JointCommand
    from nav_msgs.msg import Odometry

    ros = go2_sim
    odom = ros.subscribe("/odom", Odometry)
    cmds = ros.subscribe("/joint_commands", JointCommand, qos=10)
    ros.wait_for(lambda: len(odom) > 0, 30, "odometry")
    _wait_policy_running(ros)
    assert cmds[-1][1].mode == JointCommand.MODE_POSITION
    estop = ros.client("/skill_controller/estop")  # discovered before the clock starts
    t_call = time.monotonic()
    reply = ros.call(estop)
    assert reply.success
    first_damping = ros.wait_for(lambda: next((t for t, m in cmds if t >= t_call and m.mode == 1), None), 2.0,
                                 "a damping command")
    # end to end (service request, controller, DDS, this process's executor) on a shared 2-core machine
    assert first_damping - t_call <= 0.2
    rc, out = ros.stop()
    assert rc == 0, out
    ctrl = json.loads((tmp_path / "ctrl.json").read_text())
    # the safety layer's own clock: e-stop received to the control period that commands damping, two periods
    assert ctrl["trip_to_damping_ms_max"] <= 2 * 20.0, ctrl


@pytest.mark.parametrize("sim_time", [True, False])
def test_a_paused_simulator_trips_the_state_watchdog_only_on_the_wall_clock(tmp_path, sim_time):
    """A simulator stalled on a shared CPU stops its /clock too: under use_sim_time that is no stale state.
    On the wall clock (as on hardware) the same 0.6 s silence latches damping. (The wall-clock case uses a
    0.4 s state timeout so that start-up stalls of the nodes sharing these 2 cores, seen up to 0.26 s, do
    not trip it first.)"""
    ros = _launch_go2_sim(tmp_path, use_sim_time=sim_time, state_timeout=0.4)
    try:
        _wait_policy_running(ros)
        pid = ros.node_pids()["robot_driver"]
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.6)
        os.kill(pid, signal.SIGCONT)
        ros.spin(1.0)
    finally:
        rc, out = ros.stop()
    ctrl = json.loads((tmp_path / "ctrl.json").read_text())
    if sim_time:
        assert ctrl["safety"] == "ok" and ctrl["mode"] == "policy", (ctrl, out)
    else:
        # joint states and IMU stop together: whichever arrived last, one of them is found stale first
        assert ctrl["safety"] == "tripped" and ctrl["last_trip_reason"].startswith(("stale state", "stale IMU")), \
            (ctrl, out)
        assert "safety tripped, damping: stale state" in out or "safety tripped, damping: stale IMU" in out


def test_autostart_stands_up_again_after_a_stall_during_start_up_but_not_after_the_policy_ran(tmp_path):
    """Autostart (the sim bringups): the simulator stalled while the robot stands up (on the wall clock) trips the
    state watchdog; before the policy ever ran that is a start-up stall, so the controller stands up again once
    the stream is steady and then runs the policy. The same stall under the policy latches damping (the test
    above)."""
    from diagnostic_msgs.msg import DiagnosticArray

    ros = _launch_go2_sim(tmp_path, use_sim_time=False, state_timeout=0.1)
    try:
        diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
        status = lambda: [s.message for _, m in diag for s in m.status if s.name == "skill_controller"][-1:]  # noqa: E731
        ros.wait_for(lambda: status() and status()[0].startswith("standup"), 30, "the stand-up")
        pid = ros.node_pids()["robot_driver"]
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.4)
        os.kill(pid, signal.SIGCONT)
        _wait_policy_running(ros)
    finally:
        rc, out = ros.stop()
    assert "start-up stalled (stale" in out and "(restart 1 of 3)" in out, out
    ctrl = json.loads((tmp_path / "ctrl.json").read_text())
    assert ctrl["safety"] == "ok" and ctrl["mode"] == "policy", (ctrl, out)


def test_paced_control_step_runs_on_the_due_state_at_the_policy_rate():
    """The skill controller's pacing: from a 500 Hz state stream (with stamp jitter) a step on every tenth
    state, the moment it arrives; a 40 Hz stream steps on every state (each due); unstamped states are paced
    by their arrival; stamps that go back start the pace again."""
    from hrobot_ros.common import Paced

    steps: list[int] = []
    state = {"k": 0}
    paced = Paced(0.02, lambda: steps.append(state["k"]))
    paced.start()
    rng = np.random.default_rng(0)
    for k in range(1000):  # 2 s of a 500 Hz stream, stamps jittered by up to 0.3 ms
        state["k"] = k
        paced.on_state(100.0 + 0.002 * k + rng.uniform(-3e-4, 3e-4))
    assert len(steps) == 100 and set(np.diff(steps)) == {10}
    steps.clear()
    for k in range(40):  # slower than the policy rate: every state is due
        state["k"] = k
        paced.on_state(200.0 + 0.025 * k)
    assert steps == list(range(40))
    steps.clear()
    for k in range(5):  # a restarted source: its stamps start over
        state["k"] = k
        paced.on_state(1.0 + 0.02 * k)
    assert steps == list(range(5))
    steps.clear()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.2:  # unstamped states at ~500 Hz: paced by arrival
        paced.on_state(0.0)
        time.sleep(0.002)
    assert 6 <= len(steps) <= 11, len(steps)
    assert paced.stats()["iterations"] == 100 + 40 + 5 + len(steps)


def test_bench_ros_short(tmp_path):
    js = tmp_path / "bench_ros.json"
    assert main(["bench", "ros", "--seconds", "8", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    for key in ("controller_period_jitter_us_p99", "deadline_misses", "driver_rate_hz",
                "state_to_command_latency_us_p50", "state_to_command_latency_us_p99"):
        assert key in res and res[key] == res[key]  # present and not NaN
    assert res["driver_rate_hz"] > 100
    assert 0 < res["state_to_command_latency_us_p50"] < 20_000  # within one 50 Hz period
    assert res["controller_period_jitter_us_p99"] < 20_000
    # the reference beside it: a bare rclpy pair, one hop; the nodes' path is two hops and a control step
    assert res["bare_pair_messages"] > 200 and 0 < res["bare_pair_latency_us_p50"] < res["state_to_command_latency_us_p50"]


def test_a_perceptive_skill_walks_down_stairs_on_the_published_map_and_holds_without_one(tmp_path):
    """deploy/go2/sim_rough.yaml: the simulated driver publishes its terrain on /height_map (latched) and go2_rough,
    reading it and /odom's position, walks down the level-5 stairs at 1 m/s over /cmd_vel, upright, safety ok (the fall check
    measures the height above the mapped ground, not odom's z). In the arena the driver has no map to give: the
    controller stands, holding, and says why."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist
    from hrobot_msgs.msg import HeightMap as HeightMapMsg
    from nav_msgs.msg import Odometry

    from hrobot_ros.common import LATCHED_QOS, height_map_from_msg

    cfg = yaml.safe_load((REPO / "deploy" / "go2" / "sim_rough.yaml").read_text())
    cfg["root"] = str(REPO)
    f = tmp_path / "rough.yaml"
    f.write_text(yaml.safe_dump(cfg))
    ros = Launched(f)
    try:
        maps = ros.subscribe("/height_map", HeightMapMsg, qos=LATCHED_QOS)
        odom = ros.subscribe("/odom", Odometry)
        diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
        ros.wait_for(lambda: len(maps) > 0 and len(odom) > 0, 30, "the elevation map and odometry")
        hmap, problem = height_map_from_msg(maps[-1][1], "odom")
        assert problem == "" and hmap.heights.shape == (880, 400)
        _wait_policy_running(ros)
        p0 = odom[-1][1].pose.pose.position
        pub = ros.node.create_publisher(Twist, "/cmd_vel", 10)
        ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, "skill_controller to subscribe to /cmd_vel")
        walked = lambda: float(np.hypot(*(_odom_xy(odom) - [p0.x, p0.y])))  # noqa: E731
        end = time.monotonic() + 40.0  # wall time: a loaded machine runs the simulator slower than real time
        while walked() < 2.5 and time.monotonic() < end:
            _twists(ros, pub, 1.0, 0.0, 0.5)  # (at 0.5 m/s this policy stops at the first step down: see its card)
        p1, walked = odom[-1][1].pose.pose.position, walked()
        ground = float(hmap.at(np.array([p1.x, p1.y])))
        assert walked > 2.5 and p0.z - p1.z > 0.4, (walked, p0.z, p1.z)  # off the top, down several steps
        assert p1.z - ground > 0.2  # standing above the mapped ground
        ros.spin(1.0)
        ctrl = [st.message for _, m in diag for st in m.status if st.name == "skill_controller"]
        assert ctrl[-1] == "policy, safety ok", ctrl[-3:]
    finally:
        ros.stop()

    cfg["nodes"]["robot_driver"].update(scene="arena", start=[0.0, 0.0, 0.0])
    f.write_text(yaml.safe_dump(cfg))
    ros = Launched(f)
    try:
        diag = ros.subscribe("/diagnostics", DiagnosticArray, qos=10)
        status = lambda: [s.message for _, m in diag for s in m.status if s.name == "skill_controller"][-1:]  # noqa: E731
        ros.wait_for(lambda: status() == ["policy, holding: no elevation map, safety ok"], 30,
                     lambda: f"skill_controller to hold without a map; its status: {status()}")
    finally:
        ros.stop()
