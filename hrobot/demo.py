"""`make demo` / `hrobot demo`: the main job on the embedded default, the simulated robot.

The whole hierarchy through ROS 2: `hrobot launch deploy/go2/sim.yaml` starts robot_driver
(MuJoCo behind the ROS interface), skill_controller (go2_walk bundle) and goal_planner
(go2_nav bundle) as separate processes; this process sends a sequence of goals over
/goal_pose, prints each result, and writes a trajectory plot and a video rendered from
the states the robot published (/odom, /joint_states).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hrobot.check import check_robot
from hrobot.deploy import REPO, load_bringup, ros_env
from hrobot.errors import HRobotError
from hrobot.robots import load_robot
from hrobot.sim.render import render_robot

DEMO_BRINGUP = REPO / "deploy" / "go2" / "sim.yaml"
# Goals (x, y, yaw) in the odometry frame, around the obstacles of deploy/go2/sim.yaml.
DEMO_GOALS = [(0.2, -2.4, 0.0), (2.0, 0.0, 1.57), (0.0, 2.2, 3.14), (-2.4, 0.2, -1.57)]  # >= 0.9 m from obstacles
GOAL_TIMEOUT_S = 25.0
STAND_SETTLE_S = 2.0  # a bringup without autostart is stood up this long after its nodes are up


def stand_demo(robot_name: str, out: Path, console: Console) -> int:
    """Stand a robot under PD in simulation, report what happened and write a picture."""
    robot = load_robot(robot_name)
    console.print(f"[bold]hrobot[/bold]: {robot.name} standing under PD control in MuJoCo")
    rep = check_robot(robot, hold_s=10.0)
    console.print(f"  total mass {rep.total_mass_kg:.2f} kg (published {rep.published_mass_kg} kg)")
    if rep.initial_base_height_m is not None:
        console.print(f"  base height {rep.initial_base_height_m:.3f} m -> static sag {rep.settle_sag_m * 100:.1f} cm, "
                      f"then drift {rep.base_height_drift_m * 100:.2f} cm over {rep.hold_s - 1:g} s")
    png = out / f"{robot.name}_stand.png"
    render_robot(robot, None, png)
    console.print(f"  picture: {png}")
    return 0 if rep.passed else 1


def run_goals(bringup: Path, goals, console: Console, out: Path, stand: bool = False,
              origin=(0.0, 0.0, 0.0), drive=None) -> tuple[list[dict], dict]:
    """`hrobot launch BRINGUP` in its own ROS domain, the goals sent one after another; (results, track).

    `drive(domain, launcher)` sends them (default: goal poses to a legged robot's goal_planner)."""
    out.mkdir(parents=True, exist_ok=True)
    domain = random.randint(1, 200)
    env = dict(ros_env(), ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    log = (out / "launch.log").open("w")
    launcher = subprocess.Popen([sys.executable, "-m", "hrobot.cli", "launch", str(bringup)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    console.print(f"[bold]hrobot[/bold]: {bringup} through ROS 2 (domain {domain}); log: {out / 'launch.log'}")
    try:
        if drive is not None:
            return drive(domain, launcher)
        return _drive(goals, domain, launcher, console, stand, origin)
    finally:
        if launcher.poll() is None:
            launcher.send_signal(2)
            try:
                launcher.wait(20)
            except subprocess.TimeoutExpired:
                launcher.kill()
        log.close()


def ros_demo(out: Path, console: Console, goals=DEMO_GOALS, bringup: Path = DEMO_BRINGUP) -> int:
    """Go2 reaching a sequence of goals through the ROS 2 bringup; prints per-goal results."""
    b = load_bringup(bringup)  # validates: the bundles it names must exist
    console.print(f"[bold]hrobot demo[/bold]: go2 in simulation through ROS 2 ({', '.join(b.nodes)})")
    results, track = run_goals(bringup, goals, console, out)
    _report(results, console)
    sim = b.nodes["robot_driver"]
    plot = out / "trajectory.png"
    _plot(track, goals, results, np.array(sim["obstacles"]).reshape(-1, 2), plot)
    video = out / "demo.mp4"
    _video(track, sim, video)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"  trajectory plot: {plot}\n  video: {video}\n  results: {out / 'results.json'}")
    return 0 if all(r["result"] == "reached" for r in results) else 1


def _ros_client(domain: int, launcher):
    """An rclpy node in the launch's domain, and spin_until(pred, timeout, what): spins until pred() (True) or the
    timeout (False); a launch that stopped meanwhile is one clear error."""
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    for p in reversed(ros_env()["PYTHONPATH"].split(os.pathsep)):
        if p and p not in sys.path:
            sys.path.insert(0, p)
    import rclpy

    from rclpy.experimental import EventsExecutor

    rclpy.init(domain_id=domain)
    node = rclpy.create_node("hrobot_demo")
    executor = EventsExecutor()  # as the nodes spin: the Python executors cost this 2-core machine half a core
    executor.add_node(node)

    def spin_until(pred, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.02)
            if launcher.poll() is not None:
                raise HRobotError(f"the ROS bringup stopped (exit code {launcher.returncode}) while waiting for {what}")
            if pred():
                return True
        return False

    return node, spin_until


def _drive(goals, domain: int, launcher, console: Console, stand: bool = False, origin=(0.0, 0.0, 0.0)):
    """Send each goal (x, y, yaw in the world) over /goal_pose and wait for its result.

    `origin`: the pose (x, y, yaw) where the odometry frame starts in the world (a robot's own odometry starts where it stands;
    the simulator's is the world frame). `stand`: ask the controller to stand up first (autostart off)."""
    node, spin_until = _ros_client(domain, launcher)
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    track = {"t": [], "base": [], "joints": [], "names": None}
    latest = {"joints": None, "status": []}

    def on_odom(m):
        p, q = m.pose.pose.position, m.pose.pose.orientation
        if latest["joints"] is not None:
            track["t"].append(time.monotonic())
            track["base"].append([p.x, p.y, p.z, q.w, q.x, q.y, q.z])
            track["joints"].append(latest["joints"])

    def on_js(m):
        track["names"] = list(m.name)
        latest["joints"] = list(m.position)

    node.create_subscription(Odometry, "/odom", on_odom, qos_profile_sensor_data)
    node.create_subscription(JointState, "/joint_states", on_js, qos_profile_sensor_data)
    node.create_subscription(String, "/goal_status", lambda m: latest["status"].append(json.loads(m.data)), 10)
    pub = node.create_publisher(PoseStamped, "/goal_pose", 10)
    results = []
    try:
        if not spin_until(lambda: len(track["base"]) > 0 and pub.get_subscription_count() > 0, 60, "the nodes"):
            raise HRobotError("the ROS nodes did not come up within 60 s (see launch.log)")
        if stand:  # as an operator does: once the bringup has settled (start-up stalls of 0.2-0.3 s on 2 cores)
            from std_srvs.srv import Trigger

            spin_until(lambda: False, STAND_SETTLE_S, "the bringup to settle")
            client = node.create_client(Trigger, "/skill_controller/stand")
            if not spin_until(client.service_is_ready, 20, "the stand service"):
                raise HRobotError("the skill_controller's stand service did not come up within 20 s")
            fut = client.call_async(Trigger.Request())
            spin_until(fut.done, 10, "the stand reply")
            if not fut.done() or not fut.result().success:
                raise HRobotError(f"stand refused: {fut.result().message if fut.done() else 'no reply'}")
        spin_until(lambda: False, 4.0, "stand-up")  # the controller stands the robot up (2.5 s)
        for i, (x, y, yaw) in enumerate(goals):
            msg = PoseStamped()
            msg.header.frame_id = "odom"
            c, s0 = math.cos(origin[2]), math.sin(origin[2])
            dx, dy = x - origin[0], y - origin[1]
            msg.pose.position.x, msg.pose.position.y = c * dx + s0 * dy, -s0 * dx + c * dy
            oyaw = yaw - origin[2]
            msg.pose.orientation.w, msg.pose.orientation.z = math.cos(oyaw / 2), math.sin(oyaw / 2)
            n_before = len(latest["status"])
            pub.publish(msg)
            t0 = time.monotonic()
            done = lambda: any(s["result"] in ("reached", "timeout") for s in latest["status"][n_before:])  # noqa: E731
            spin_until(done, GOAL_TIMEOUT_S, f"goal {i}")
            final = [s for s in latest["status"][n_before:] if s["result"] in ("reached", "timeout")]
            r = final[-1] if final else {"result": "no answer", "time_s": time.monotonic() - t0}
            results.append({"goal": [x, y, yaw], **{k: r.get(k) for k in ("result", "time_s", "distance", "yaw_error")},
                             "t_start": t0})
            console.print(f"  goal {i + 1}/{len(goals)} ({x:+.1f}, {y:+.1f}, {math.degrees(yaw):+.0f} deg): "
                          f"{r['result']} in {r.get('time_s', float('nan')):.1f} s")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return results, track


def _report(results, console: Console) -> None:
    t = Table(title="goals through ROS 2 (go2_nav over go2_walk)")
    for col in ("#", "goal x, y, yaw", "result", "time [s]", "final distance [m]", "heading error [rad]"):
        t.add_column(col)
    for i, r in enumerate(results):
        x, y, yaw = r["goal"]
        t.add_row(str(i + 1), f"{x:+.1f}, {y:+.1f}, {yaw:+.2f}", r["result"], f"{r['time_s'] or float('nan'):.1f}",
                  f"{r['distance'] if r['distance'] is not None else float('nan'):.2f}",
                  f"{r['yaw_error'] if r['yaw_error'] is not None else float('nan'):.2f}")
    console.print(t)
    reached = sum(r["result"] == "reached" for r in results)
    console.print(f"  {reached}/{len(results)} goals reached")


def _plot(track, goals, results, obstacles: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from hrobot.world import OBSTACLE_SIZES

    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    half = 4.0
    ax.add_patch(Rectangle((-half, -half), 2 * half, 2 * half, fill=False, lw=2, color="gray"))
    for i, (ox, oy) in enumerate(obstacles):
        hx, hy, _ = OBSTACLE_SIZES[i % len(OBSTACLE_SIZES)]
        ax.add_patch(Rectangle((ox - hx, oy - hy), 2 * hx, 2 * hy, color="tab:brown", alpha=0.6))
    base = np.array(track["base"]) if track["base"] else np.zeros((0, 7))
    if len(base):
        ax.plot(base[:, 0], base[:, 1], color="tab:blue", lw=1.8, label="robot (odometry)")
        ax.plot(base[0, 0], base[0, 1], "k^", ms=9, label="start")
    for i, ((x, y, yaw), r) in enumerate(zip(goals, results)):
        ax.plot(x, y, "*", ms=15, color="tab:green" if r["result"] == "reached" else "tab:red")
        ax.arrow(x, y, 0.35 * math.cos(yaw), 0.35 * math.sin(yaw), head_width=0.1, color="k")
        ax.annotate(f"{i + 1}: {r['result']} {r['time_s'] or 0:.1f} s", (x, y), textcoords="offset points",
                    xytext=(6, 6), fontsize=8)
    ax.set_xlim(-half - 0.3, half + 0.3)
    ax.set_ylim(-half - 0.3, half + 0.3)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("go2 through ROS 2: goal sequence around obstacles")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _video(track, sim_params: dict, path: Path, fps: float = 25.0) -> None:
    """Render the published states (odometry + joint states) in the same scene."""
    import mujoco

    from hrobot.sim.robot import SimRobot
    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig

    if not track["base"]:
        return
    robot = load_robot(sim_params["robot"])
    sm = build_sim_model(robot, SceneConfig(kind=sim_params["scene"], visual=True))
    placer = SimRobot(robot, SceneConfig(kind=sim_params["scene"], visual=False))
    placer.place(0, 0, 0, np.array(sim_params["obstacles"]) if sim_params["obstacles"] else None, sim_params["bar_x"])
    d = mujoco.MjData(sm.model)
    d.mocap_pos[:] = placer.data.mocap_pos
    names = track["names"]
    order = [robot.joint_names.index(n) for n in names]
    def pose(k: int) -> None:
        d.qpos[sm.base_qpos_adr : sm.base_qpos_adr + 7] = track["base"][k]
        q = np.empty(robot.num_joints)
        q[order] = track["joints"][k]
        d.qpos[sm.qpos_adr] = q

    _render_track(sm, d, track["t"], pose, path, fps, distance=3.0, elevation=-35.0)


def _render_track(sm, d, stamps, pose, path: Path, fps: float, distance: float | None = None,
                  elevation: float = -20.0) -> None:
    """A video of recorded states: at each frame time `pose(k)` puts the latest state k (at stamps[k]) into d."""
    import mujoco

    from hrobot.sim.render import Renderer, save_video

    r = Renderer(sm, 640, 480)
    if distance is not None:
        r.cam.distance = distance
    r.cam.elevation = elevation
    t = np.array(stamps)
    frames = []
    for tf in np.arange(t[0], t[-1], 1.0 / fps):
        pose(min(int(np.searchsorted(t, tf)), len(t) - 1))
        mujoco.mj_forward(sm.model, d)
        frames.append(r.render(d))
    r.close()
    save_video(path, frames, fps=fps)


def demo(out: Path, console: Console) -> int:
    """The main job: the hierarchy through ROS 2 if the shipped policies are present."""
    for bundle in ("go2_walk", "go2_nav"):
        if not (REPO / "policies" / bundle / "policy.onnx").is_file():
            raise HRobotError(f"policies/{bundle} is missing: the demo runs the shipped policies (see policies/README.md)")
    return ros_demo(out, console)


# ---------------------------------------------------------------- the hand

HAND_BRINGUP = REPO / "deploy" / "leap_hand" / "sim.yaml"
# Goal orientations of the cube in the palm frame (w, x, y, z): a quarter turn about +z, then about +x, then back.
_S = math.sqrt(0.5)
HAND_GOALS = [(_S, 0.0, 0.0, _S), (0.5, 0.5, 0.5, 0.5), (1.0, 0.0, 0.0, 0.0)]
HAND_GOAL_MARGIN_S = 5.0  # waited beyond the planner's own timeout for its answer


def hand_demo(out: Path, console: Console, goals=HAND_GOALS, bringup: Path = HAND_BRINGUP) -> int:
    """The LEAP hand reaching a sequence of cube orientations through ROS 2 (reorient_planner over the rotation
    skill); writes the orientation error over time and a video rendered from the published states."""
    b = load_bringup(bringup)
    if "reorient_planner" not in b.nodes:
        raise HRobotError(f"{bringup}: the hand demo needs a reorient_planner node (no hand policy ships yet)")
    console.print(f"[bold]hrobot demo[/bold]: leap_hand in simulation through ROS 2 ({', '.join(b.nodes)})")
    results, track = run_goals(bringup, goals, console, out, drive=lambda d, l: _drive_hand(goals, d, l, console))
    reached = sum(r["result"] == "reached" for r in results)
    console.print(f"  {reached}/{len(results)} goal orientations reached")
    plot, video = out / "orientation_error.png", out / "demo.mp4"
    _plot_hand(track, results, plot)
    _video_hand(track, b.nodes["robot_driver"], video)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"  orientation error plot: {plot}\n  video: {video}\n  results: {out / 'results.json'}")
    return 0 if reached == len(results) else 1


def _drive_hand(goals, domain: int, launcher, console: Console):
    """Send each goal orientation over /goal_orientation and wait for its result; track joints and the cube."""
    from geometry_msgs.msg import PoseStamped, QuaternionStamped
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    import rclpy

    from hrobot.reorient_io import error_angle

    node, spin_until = _ros_client(domain, launcher)
    track = {"t": [], "joints": [], "object": [], "goal": [], "names": None}
    latest = {"joints": None, "goal": None, "status": []}

    def on_object(m):
        p, q = m.pose.position, m.pose.orientation
        if latest["joints"] is not None:
            track["t"].append(time.monotonic())
            track["object"].append([p.x, p.y, p.z, q.w, q.x, q.y, q.z])
            track["joints"].append(latest["joints"])
            track["goal"].append(latest["goal"])

    def on_js(m):
        track["names"] = list(m.name)
        latest["joints"] = list(m.position)

    node.create_subscription(PoseStamped, "/object_pose", on_object, qos_profile_sensor_data)
    node.create_subscription(JointState, "/joint_states", on_js, qos_profile_sensor_data)
    node.create_subscription(String, "/goal_status", lambda m: latest["status"].append(json.loads(m.data)), 10)
    pub = node.create_publisher(QuaternionStamped, "/goal_orientation", 10)
    results = []
    try:
        if not spin_until(lambda: len(track["t"]) > 0 and pub.get_subscription_count() > 0, 60, "the nodes"):
            raise HRobotError("the ROS nodes did not come up within 60 s (see launch.log)")
        spin_until(lambda: False, 4.0, "the hand's start-up")  # the controller brings the hand to its home (2.5 s)
        for i, q in enumerate(goals):
            msg = QuaternionStamped()
            msg.header.frame_id = "palm"
            msg.quaternion.w, msg.quaternion.x, msg.quaternion.y, msg.quaternion.z = (float(v) for v in q)
            n_before = len(latest["status"])
            latest["goal"] = list(q)
            pub.publish(msg)
            t0 = time.monotonic()
            final = lambda: [s for s in latest["status"][n_before:] if s["result"] != "accepted"]  # noqa: E731
            spin_until(lambda: bool(final()), 40.0 + HAND_GOAL_MARGIN_S, f"goal {i}")
            r = final()[-1] if final() else {"result": "no answer", "time_s": time.monotonic() - t0}
            results.append({"goal": list(q), **{k: r.get(k) for k in ("result", "time_s", "error_rad", "reason")},
                            "t_start": t0})
            err = r.get("error_rad")
            console.print(f"  goal {i + 1}/{len(goals)} {np.round(q, 3).tolist()}: {r['result']} in "
                          f"{r.get('time_s') or float('nan'):.1f} s (error {err if err is not None else float('nan'):.2f}"
                          " rad)")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    track["error"] = [float(error_angle(np.array([o[3:]]), np.array([g]))[0]) if g is not None else float("nan")
                      for o, g in zip(track["object"], track["goal"])]
    return results, track


def _plot_hand(track, results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    if track["t"]:
        t = np.array(track["t"]) - track["t"][0]
        ax.plot(t, track["error"], lw=1.2, label="orientation error")
        for i, r in enumerate(results):
            ts = r["t_start"] - track["t"][0]
            ax.axvline(ts, color="gray", lw=0.8, ls=":")
            ax.annotate(f"goal {i + 1}: {r['result']}", (ts, 3.0), fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.axhline(0.4, color="tab:green", lw=0.8, ls="--", label="success (0.4 rad for 0.5 s)")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("error [rad]")
    ax.set_ylim(0, 3.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("leap_hand through ROS 2: cube orientation error to the goal")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _video_hand(track, sim_params: dict, path: Path, fps: float = 25.0) -> None:
    """Render the published states (joint states and the tracker's cube pose, palm frame) in the hand scene."""
    import mujoco

    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig

    if not track["t"]:
        return
    robot = load_robot(sim_params["robot"])
    sm = build_sim_model(robot, SceneConfig(kind=sim_params["scene"], visual=True))
    d = mujoco.MjData(sm.model)
    mujoco.mj_forward(sm.model, d)
    palm = sm.base_body
    rot, palm_pos, palm_quat = d.xmat[palm].reshape(3, 3).copy(), d.xpos[palm].copy(), d.xquat[palm].copy()
    order = [robot.joint_names.index(n) for n in track["names"]]
    a = sm.object_qpos_adr

    def pose(k: int) -> None:
        q = np.empty(robot.num_joints)
        q[order] = track["joints"][k]
        d.qpos[sm.qpos_adr] = q
        o = track["object"][k]
        d.qpos[a:a + 3] = palm_pos + rot @ np.array(o[:3])
        world = np.zeros(4)
        mujoco.mju_mulQuat(world, palm_quat, np.array(o[3:]))
        d.qpos[a + 3:a + 7] = world

    _render_track(sm, d, track["t"], pose, path, fps, elevation=-40.0)
