"""Deployment through ROS 2: node parameter schemas, bringup files and `hrobot launch`.

A bringup YAML (deploy/<robot>/<name>.yaml) names the nodes to run and their parameters.
The ROS 2 launch files in ros_ws/src/hrobot_bringup read the same file, and `hrobot
launch` runs it here (the `launch` package is not installable from the registries): one
process per node, clean shutdown on Ctrl-C, and a clear message and non-zero exit if a
node dies. Parameter names and types are defined once, in NODE_PARAMS: the launcher
validates a bringup against them and the nodes declare their parameters from them.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from hrobot.data import DEFAULT_TOPICS, LIVE_TOPICS
from hrobot.errors import HRobotError
from hrobot.world import ARENA_OBSTACLES, SCENES

def source_checkout() -> Path | None:
    """The repository this package runs from (an editable install), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "ros_ws").is_dir() and (root / "deploy").is_dir() else None


REPO = source_checkout() or Path.cwd()  # bringups, policies and the workspace: the checkout, else the cwd
ROS_WS = Path(os.environ.get("HROBOT_ROS_WS", REPO / "ros_ws"))
ROS_PACKAGES = ("hrobot_msgs", "hrobot_ros", "hrobot_bringup")

# robot_driver interfaces (hrobot.hardware.INTERFACES and the simulator) -> the simulated device that stands
# in for the robot under a bringup's `device: simulated` (`hrobot device KIND`; none for the simulator itself)
DRIVER_INTERFACES = {"sim": None, "unitree_go2": "unitree", "unitree_g1": "unitree", "leap_hand": "dynamixel"}
TELEOP_DEVICES = ("keyboard", "gamepad", "joy-topic", "joint-topic", "fingertips")
SIM_ONLY = ("scene", "obstacles", "bar_x", "start", "pd_rate_hz")  # robot_driver parameters of interface sim

# node -> parameter -> (type, default, description). Types: string, path (an existing file or folder; "" for
# an optional one left out),
# double, bool, double_array, string_array. A default of None means required.
NODE_PARAMS: dict[str, dict[str, tuple[str, object, str]]] = {
    "robot_driver": {
        "interface": ("string", "sim", "robot interface: " + " | ".join(DRIVER_INTERFACES)),
        "robot": ("string", "go2", "built-in robot name or spec YAML"),
        "scene": ("string", "flat", "sim: flat | rough | arena | hand_object"),
        "obstacles": ("double_array", [], "arena box obstacles: x0, y0, x1, y1, ... (index order)"),
        "bar_x": ("double", math.nan, "x of a low bar across the arena (nan: none)"),
        "start": ("double_array", [0.0, 0.0, 0.0], "start pose x, y, yaw"),
        "pd_rate_hz": ("double", 0.0, "physics and PD rate (0: the spec's)"),
        "state_rate_hz": ("double", 0.0, "joint state / IMU / odometry rate (0: the PD rate)"),
        "odom_rate_hz": ("double", 50.0, "odometry rate (what a state estimator publishes)"),
        "scan_rate_hz": ("double", 10.0, "ray scan rate"),
        "object_rate_hz": ("double", 30.0, "sim and device: simulated: /object_pose rate, the object's pose in the "
                           "palm frame as a tracker reports it (0: none; a real hand's tracker publishes it)"),
        "command_timeout": ("double", 0.0, "seconds without a command before damping (0: the driver's default)"),
        "state_timeout": ("double", 0.0, "seconds without a fresh robot state before damping (0: 2 control periods)"),
        "gain_ramp_s": ("double", 0.0, "seconds over which kp ramps in from the first command after activation"),
        "domain": ("double", 0.0, "unitree: DDS domain (the robot's is 0)"),
        "network_interface": ("string", "", "unitree: the network interface wired to the robot, e.g. eth0"),
        "kinematics": ("path", "", "unitree: leg kinematics JSON (`hrobot robots kinematics`): estimated odometry"),
        "scan": ("bool", False, "unitree: read the simulated device's range scans (rt/hrobot/scan)"),
        "port": ("string", "", "leap_hand: serial port of the Dynamixel bus"),
        "stats_file": ("string", "", "write rate and latency statistics here (JSON) on shutdown"),
    },
    "skill_controller": {
        "bundle": ("path", None, "low-level policy bundle, or a high-level bundle whose skills it runs (/skill picks)"),
        "robot": ("string", "", "robot to validate the bundle against (default: the bundle's own)"),
        "cmd_vel_timeout": ("double", 0.1, "seconds without /cmd_vel before commanding a stand-still (<= 0.5)"),
        "teleop_timeout": ("double", 0.25, "seconds a /teleop/cmd_vel command overrides /cmd_vel (<= 0.5)"),
        "autostart": ("bool", True, "stand up and start the policy as soon as the robot state arrives"),
        "state_timeout": ("double", 0.0, "seconds without a fresh robot state before damping (0: 2 control periods)"),
        "stats_file": ("string", "", "write loop timing statistics here (JSON) on shutdown"),
    },
    "goal_planner": {
        "bundle": ("path", None, "high-level policy bundle"),
        "goal_frame": ("string", "odom", "frame goals must be given in"),
    },
    "explorer": {
        "command_low": ("double_array", None, "the skill's command range: lowest vx, vy, wz"),
        "command_high": ("double_array", None, "highest vx, vy, wz"),
        "seed": ("double", 0.0, "random seed of the waypoints and the noise"),
        "half_size": ("double", 3.2, "waypoints inside +-half_size m of the odometry origin"),
        "rate_hz": ("double", 10.0, "decision rate (the high level's)"),
        "obstacles": ("double_array", [], "the arena's boxes (x0, y0, x1, y1, ... in the odometry frame, index "
                                          "order): waypoints in free space, paths around them; none: straight"),
    },
    "reorient_planner": {
        "bundle": ("path", None, "a reorientation bundle, or a rotation skill's bundle (the scripted planner)"),
        "goal_frame": ("string", "palm", "frame goal orientations (and the object pose) must be given in"),
    },
    "teleop": {
        "device": ("string", "keyboard", "teleoperator: " + " | ".join(TELEOP_DEVICES)),
        "robot": ("string", "go2", "built-in robot name or spec YAML"),
        "path": ("string", "", "keyboard: its terminal (\"\": this one); gamepad: evdev device (\"\": the first joystick)"),
        "joy_topic": ("string", "joy", "joy-topic: the sensor_msgs/Joy topic"),
        "leader_topic": ("string", "leader/joint_states", "joint-topic: the leader's sensor_msgs/JointState topic"),
        "fingertip_topic": ("string", "leader/fingertips", "fingertips: geometry_msgs/PoseArray, one position per "
                            "fingertip site in the spec's order, palm frame"),
        "kinematics": ("path", "", "fingertips: the hand's chains (`hrobot robots kinematics ROBOT`)"),
        "rate_hz": ("double", 50.0, "command rate while enabled"),
        "max_vx": ("double", 1.0, "m/s forward at full stick (keyboard: the most it steps to)"),
        "max_vy": ("double", 0.5, "m/s sideways at full stick"),
        "max_wz": ("double", 1.5, "rad/s turning at full stick"),
        "stats_file": ("string", "", "write statistics here (JSON) on shutdown"),
    },
    "recorder": {
        "bag": ("string", None, "bag folder to create (rosbag2, MCAP storage)"),
        "topics": ("string_array", list(DEFAULT_TOPICS), "topics to record (absolute names)"),
        "chunk_size_mb": ("double", 1.0, "MCAP chunk size before compression"),
        "chunk_interval_s": ("double", 1.0, "a chunk is closed at least this often (what a crash can lose)"),
        "keys": ("bool", False, "episode marks from this terminal's keys"),
        "stats_file": ("string", "", "write rates, drops, bandwidth and CPU here (JSON) on shutdown"),
    },
    "foxglove_bridge": {
        "host": ("string", "127.0.0.1", "address the Foxglove WebSocket server listens on"),
        "port": ("double", 8765.0, "its port"),
        "topics": ("string_array", list(LIVE_TOPICS), "topics streamed to Foxglove (absolute names)"),
    },
}


def _scene(v: str) -> str:
    return "" if v in SCENES else f"expected one of {', '.join(SCENES)}, got {v!r}"


def _obstacles(v: list[float]) -> str:
    most = ARENA_OBSTACLES
    if len(v) % 2:
        return f"expected x, y pairs (an even count), got {len(v)} values"
    if len(v) > 2 * most:
        return f"expected at most {most} obstacles ({2 * most} values), got {len(v) // 2}"
    return ""


def _at_least(low: float, high: float = math.inf, strict: bool = False) -> Callable[[float], str]:
    def check(v: float) -> str:
        ok = (v > low if strict else v >= low) and v <= high
        return "" if ok else f"expected {'>' if strict else '>='} {low:g}{'' if high == math.inf else f' and <= {high:g}'}, got {v:g}"

    return check


def _pd_rate(v: float) -> str:
    return "" if v == 0 or 1.0 <= v <= 20000.0 else f"expected 0 (the spec's rate) or 1 to 20000 Hz, got {v:g}"


def _count(n: int) -> Callable[[list[float]], str]:
    return lambda v: "" if len(v) == n else f"expected {n} values, got {len(v)}"


# Value rules beyond the type (one problem string, "" when fine); doubles must also be finite unless
# their default is NaN. The launcher and the nodes check both.
def _one_of(names) -> Callable[[str], str]:
    return lambda v: "" if v in names else f"expected one of {', '.join(names)}, got {v!r}"


def _domain(v: float) -> str:
    return "" if v == int(v) and 0 <= v <= 232 else f"expected a whole number 0 to 232 (a DDS domain id), got {v:g}"


PARAM_RULES: dict[tuple[str, str], Callable] = {
    ("robot_driver", "interface"): _one_of(DRIVER_INTERFACES),
    ("robot_driver", "domain"): _domain,
    ("robot_driver", "gain_ramp_s"): _at_least(0.0, 10.0),
    ("robot_driver", "scene"): _scene,
    ("robot_driver", "obstacles"): _obstacles,
    ("robot_driver", "start"): _count(3),
    ("robot_driver", "pd_rate_hz"): _pd_rate,
    ("robot_driver", "state_rate_hz"): _at_least(0.0),
    ("robot_driver", "scan_rate_hz"): _at_least(0.0, strict=True),
    ("robot_driver", "odom_rate_hz"): _at_least(0.0, strict=True),
    ("robot_driver", "object_rate_hz"): _at_least(0.0, 1000.0),
    ("robot_driver", "command_timeout"): _at_least(0.0),
    ("robot_driver", "state_timeout"): _at_least(0.0, 1.0),
    ("skill_controller", "cmd_vel_timeout"): _at_least(0.0, 0.5, strict=True),
    ("skill_controller", "teleop_timeout"): _at_least(0.0, 0.5, strict=True),
    ("teleop", "device"): _one_of(TELEOP_DEVICES),
    ("teleop", "rate_hz"): _at_least(1.0, 1000.0),
    ("teleop", "max_vx"): _at_least(0.0, 5.0),
    ("teleop", "max_vy"): _at_least(0.0, 5.0),
    ("teleop", "max_wz"): _at_least(0.0, 10.0),
    ("recorder", "bag"): lambda v: "" if v else "expected a folder name, got an empty string",
    ("recorder", "chunk_size_mb"): _at_least(0.0, 256.0, strict=True),
    ("recorder", "chunk_interval_s"): _at_least(0.0, 60.0, strict=True),
    ("foxglove_bridge", "port"): lambda v: "" if v == int(v) and 1 <= v <= 65535 else f"expected a port 1 to 65535, got {v:g}",
    ("skill_controller", "state_timeout"): _at_least(0.0),
    ("explorer", "command_low"): _count(3),
    ("explorer", "command_high"): _count(3),
    ("explorer", "half_size"): _at_least(0.0, 50.0, strict=True),
    ("explorer", "rate_hz"): _at_least(0.0, 50.0, strict=True),
    ("explorer", "obstacles"): _obstacles,
}


def check_value(node: str, key: str, kind: str, default, v) -> str:
    """The problem with a typed parameter value ("" when none)."""
    if kind == "double" and not math.isfinite(v) and not (isinstance(default, float) and math.isnan(default)):
        return f"expected a finite number, got {v}"
    if kind == "double_array" and not all(math.isfinite(x) for x in v):
        return f"expected finite numbers, got {v}"
    rule = PARAM_RULES.get((node, key))
    return rule(v) if rule else ""


# Parameters every ROS 2 node has (rclpy declares them; the nodes do not declare them again).
COMMON_PARAMS: dict[str, tuple[str, object, str]] = {
    "use_sim_time": ("bool", False, "run on the simulator's /clock instead of the wall clock"),
}


def sim_only_problem(driver: dict) -> str:
    """robot_driver parameters that only the simulator takes, set for a hardware interface ("" if none)."""
    if driver["interface"] == "sim":
        return ""
    for key in SIM_ONLY:
        default, value = NODE_PARAMS["robot_driver"][key][1], driver[key]
        same = value == default or (isinstance(default, float) and math.isnan(default) and math.isnan(value))
        if not same:
            return f"{key}: only for interface sim (a simulated device's world goes under 'simulation')"
    return ""


DEVICES = ("real", "simulated")
# a bringup's `simulation` section: the world of the simulated device (robot_driver's sim parameters)
SIMULATION_PARAMS = ("scene", "start", "obstacles", "bar_x", "pd_rate_hz")


@dataclass
class Bringup:
    path: Path
    robot: str
    nodes: dict[str, dict]  # node name -> validated parameters (paths absolute)
    device: str = ""  # real | simulated: what robot_driver's hardware interface talks to ("" for interface sim)
    simulation: dict | None = None  # the simulated device's world (validated SIMULATION_PARAMS)

    def device_command(self) -> list[str] | None:
        """`hrobot device ...` for the simulated device this bringup's driver talks to (None: none to start)."""
        if self.device != "simulated":
            return None
        d = self.nodes["robot_driver"]
        base = [sys.executable, "-m", "hrobot.cli", "device", DRIVER_INTERFACES[d["interface"]], "--robot", d["robot"]]
        if DRIVER_INTERFACES[d["interface"]] == "dynamixel":
            return base + ["--port", d["port"], "--tracker-rate", str(d["object_rate_hz"])]
        w = self.simulation
        cmd = base + ["--domain", str(int(d["domain"])), "--scene", w["scene"], "--start", *map(str, w["start"])]
        if w["pd_rate_hz"]:
            cmd += ["--physics-hz", str(w["pd_rate_hz"])]
        if w["obstacles"]:
            cmd += ["--obstacles", *map(str, w["obstacles"])]
        if math.isfinite(w["bar_x"]):
            cmd += ["--bar-x", str(w["bar_x"])]
        if d["scan"]:
            cmd += ["--scan-rate", str(d["scan_rate_hz"])]
        return cmd


def load_bringup(path: str | Path) -> Bringup:
    from hrobot.files import read_yaml

    path = Path(path)
    data = read_yaml(path, what="bringup file")
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict) or not data["nodes"]:
        raise HRobotError(f"{path}: expected a mapping with a non-empty 'nodes' mapping")
    root = (path.parent / str(data.get("root", "."))).resolve()
    unknown = sorted(set(data) - {"robot", "root", "nodes", "description", "device", "simulation"})
    if unknown:
        raise HRobotError(f"{path}: unknown field '{unknown[0]}'")
    nodes = {}
    for name, params in data["nodes"].items():
        if name not in NODE_PARAMS:
            raise HRobotError(f"{path}: nodes.{name}: unknown node (expected one of {', '.join(NODE_PARAMS)})")
        nodes[name] = validate_params(name, params or {}, f"{path}: nodes.{name}", root)
    b = Bringup(path=path, robot=str(data.get("robot", "")), nodes=nodes)
    driver = nodes.get("robot_driver")
    hardware = driver is not None and driver["interface"] != "sim"
    if hardware:
        problem = sim_only_problem(driver)
        if problem:
            raise HRobotError(f"{path}: nodes.robot_driver.{problem}")
        b.device = data.get("device", "real")
        if b.device not in DEVICES:
            raise HRobotError(f"{path}: device: expected one of {', '.join(DEVICES)}, got {b.device!r}")
        if driver["interface"] == "leap_hand" and not driver["port"]:
            raise HRobotError(f"{path}: nodes.robot_driver.port: interface leap_hand needs the bus's serial port")
        schema = {k: NODE_PARAMS["robot_driver"][k] for k in SIMULATION_PARAMS}
        b.simulation = validate_params("robot_driver", data.get("simulation") or {}, f"{path}: simulation", root, schema)
    else:
        for key in ("device", "simulation"):
            if key in data:
                raise HRobotError(f"{path}: {key}: only for a robot_driver with a hardware interface (it has "
                                  f"{'interface sim' if driver else 'no robot_driver'})")
    return b


def add_on_request(b: Bringup, record: str | None = None, live: bool = False) -> Bringup:
    """The bringup plus the nodes started on request: a recorder into bag folder `record` ("" : a new
    timestamped one under bags/) and the Foxglove live view. Nodes the file already has are kept as they are."""
    if record is not None and "recorder" not in b.nodes:
        b.nodes["recorder"] = validate_params("recorder", {"bag": record or default_bag_name()}, "recorder", Path.cwd())
    if live and "foxglove_bridge" not in b.nodes:
        b.nodes["foxglove_bridge"] = validate_params("foxglove_bridge", {}, "foxglove_bridge", Path.cwd())
    return b


def default_bag_name() -> str:
    """bags/rosbag2_YYYY_MM_DD-HH_MM_SS, as `ros2 bag record` names a bag."""
    return str(Path("bags") / time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S"))


def validate_params(node: str, params: dict, where: str, root: Path, schema: dict | None = None) -> dict:
    """Parameters of `node` (its NODE_PARAMS and the common ones, or the given `schema`), typed and checked."""
    schema = schema or {**NODE_PARAMS[node], **COMMON_PARAMS}
    if not isinstance(params, dict):
        raise HRobotError(f"{where}: expected a mapping of parameters")
    for key in params:
        if key not in schema:
            raise HRobotError(f"{where}.{key}: unknown parameter (expected one of {', '.join(schema)})")
    out = {}
    for key, (kind, default, _) in schema.items():
        if key not in params:
            if default is None:
                raise HRobotError(f"{where}.{key}: required parameter missing")
            out[key] = default
            continue
        v = params[key]
        if kind in ("string", "path"):
            if not isinstance(v, str):
                raise HRobotError(f"{where}.{key}: expected a string, got {v!r}")
            if kind == "path" and (v or default is None):  # an optional path may be left empty
                p = (root / v).resolve()
                if not p.exists():
                    raise HRobotError(f"{where}.{key}: not found: {p}")
                v = str(p)
        elif kind == "double":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise HRobotError(f"{where}.{key}: expected a number, got {v!r}")
            v = float(v)
        elif kind == "bool":
            if not isinstance(v, bool):
                raise HRobotError(f"{where}.{key}: expected true or false, got {v!r}")
        elif kind == "string_array":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise HRobotError(f"{where}.{key}: expected a list of strings, got {v!r}")
        elif kind == "double_array":
            if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                raise HRobotError(f"{where}.{key}: expected a list of numbers, got {v!r}")
            v = [float(x) for x in v]
        problem = check_value(node, key, kind, default, v)
        if problem:
            raise HRobotError(f"{where}.{key}: {problem}")
        out[key] = v
    return out


# ---------------------------------------------------------------- environment


def ros_env(base: dict | None = None) -> dict:
    """Environment for processes that use rclpy and the workspace's packages (like sourcing setup.bash)."""
    env = dict(os.environ if base is None else base)
    venv = Path(sys.prefix)
    install = ROS_WS / "install"
    py = f"python{sys.version_info.major}.{sys.version_info.minor}"

    def prepend(key: str, paths: list[Path]) -> None:
        old = [p for p in env.get(key, "").split(os.pathsep) if p]
        new = [str(p) for p in paths if str(p) not in old]
        env[key] = os.pathsep.join(new + old)

    prepend("LD_LIBRARY_PATH", [venv / "lib"] + [install / p / "lib" for p in ROS_PACKAGES])
    prepend("PYTHONPATH", [install / p / "lib" / py / "site-packages" for p in ROS_PACKAGES])
    prepend("AMENT_PREFIX_PATH", [install / p for p in ROS_PACKAGES] + [venv])
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    return env


def ensure_ros_env() -> None:
    """Re-execute this process with the ROS environment if rclpy could not load its libraries."""
    venv_lib = str(Path(sys.prefix) / "lib")
    if venv_lib in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) and os.environ.get("HROBOT_ROS_ENV"):
        return
    env = ros_env()
    env["HROBOT_ROS_ENV"] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "hrobot.cli", *sys.argv[1:]], env)


def node_executable(node: str) -> Path:
    exe = ROS_WS / "install" / "hrobot_ros" / "lib" / "hrobot_ros" / node
    if not exe.is_file():
        raise HRobotError(f"ROS node '{node}' is not built ({exe} missing): run `make ros` (colcon build in ros_ws)")
    return exe


def params_file(bringup: Bringup, node: str, folder: Path) -> Path:
    f = folder / f"{node}.yaml"
    params = {k: v for k, v in bringup.nodes[node].items()}
    f.write_text(yaml.safe_dump({node: {"ros__parameters": params}}))
    return f


# ---------------------------------------------------------------- launcher


def die_with_parent(sig: int = signal.SIGINT):
    """A Popen preexec_fn: the child gets `sig` when the process that started it dies, however it dies
    (Linux prctl PR_SET_PDEATHSIG), so no node outlives its launcher. None where prctl is unavailable."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    parent = os.getpid()

    def arm() -> None:
        ctypes.CDLL(None).prctl(1, int(sig))  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm


DEVICE_START_TIMEOUT_S = 30.0  # the simulated device's imports and model build, on a loaded machine


def start_device(b: Bringup, log=print) -> subprocess.Popen | None:
    """Start the bringup's simulated device (if any) and wait for its ready line."""
    cmd = b.device_command()
    if cmd is None:
        return None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=die_with_parent())
    ready = {"line": None}
    got = threading.Event()

    def read() -> None:  # the ready line, then anything else it prints (a full pipe would block it)
        ready["line"] = proc.stdout.readline()
        got.set()
        for _ in proc.stdout:
            pass

    threading.Thread(target=read, daemon=True).start()
    got.wait(DEVICE_START_TIMEOUT_S)
    if not ready["line"]:
        proc.kill()
        proc.wait()
        raise HRobotError(f"the simulated device ({' '.join(cmd[3:6])}) did not start within "
                          f"{DEVICE_START_TIMEOUT_S:g} s (exit code {proc.returncode})")
    log(f"hrobot launch: started the simulated device (pid {proc.pid}): {ready['line'].strip()}")
    return proc


def run_node(node: str, params: dict, duration: float | None = None, where: str = "") -> int:
    """Run one node in the foreground (stdin, stdout and the terminal are its), parameters checked first;
    Ctrl-C or `duration` ends it with SIGINT, as `ros2 run` would. Returns its exit code."""
    checked = validate_params(node, params, where or node, Path.cwd())
    exe = node_executable(node)
    with tempfile.TemporaryDirectory(prefix=f"hrobot-{node}-") as tmp:
        pf = Path(tmp) / f"{node}.yaml"
        pf.write_text(yaml.safe_dump({node: {"ros__parameters": checked}}))
        proc = subprocess.Popen([str(exe), "--ros-args", "-r", f"__node:={node}", "--params-file", str(pf)],
                                env=ros_env(), preexec_fn=die_with_parent())
        try:
            proc.wait(timeout=duration)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
        except KeyboardInterrupt:  # a terminal's Ctrl-C reaches the node too; a SIGINT to this process alone does not
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def launch(path: str | Path, duration: float | None = None, log=print, env_extra: dict | None = None,
           record: str | None = None, live: bool = False, interrupt: bool = False) -> int:
    """Run every node of a bringup as its own process until Ctrl-C (or SIGTERM), `duration`, or a node dying;
    with `record` a recorder too (bag folder, "" for a new timestamped one), with `live` the Foxglove view.
    With `interrupt`, a signal raises KeyboardInterrupt once the nodes have stopped (for a caller that runs
    launches one after another: the signal ends it, not just this launch).

    Under `device: simulated` the simulated device starts first, as its own non-ROS process; its death
    is the robot's fault, which the driver reports and damps, so it does not stop the nodes."""
    b = add_on_request(load_bringup(path), record, live)
    exes = {name: node_executable(name) for name in b.nodes}
    env = ros_env()
    env.update(env_extra or {})
    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: dict[str, subprocess.Popen] = {}
    tmp = tempfile.TemporaryDirectory(prefix="hrobot-launch-")
    code = 0
    device = None
    try:
        device = start_device(b, log)
        for name, exe in exes.items():
            pf = params_file(b, name, Path(tmp.name))
            procs[name] = subprocess.Popen([str(exe), "--ros-args", "-r", f"__node:={name}", "--params-file", str(pf)],
                                           env=env, start_new_session=True, preexec_fn=die_with_parent())
            log(f"hrobot launch: started {name} (pid {procs[name].pid})")
        t0 = time.monotonic()
        while stop["signal"] is None:
            for name, p in procs.items():
                rc = p.poll()
                if rc is not None:
                    log(f"hrobot launch: node '{name}' died (exit code {rc}); stopping the other nodes")
                    code = 1
                    stop["signal"] = "died"
                    break
            if device is not None and device.poll() is not None:
                log(f"hrobot launch: the simulated device died (exit code {device.returncode}); the driver damps "
                    f"and reports it")
                device = None
            if duration is not None and time.monotonic() - t0 >= duration:
                break
            time.sleep(0.1)
    finally:
        _shutdown(procs)
        if device is not None:
            _shutdown({"device": device})
        tmp.cleanup()
        for s, h in old.items():
            signal.signal(s, h)
    if interrupt and stop["signal"] in (signal.SIGINT, signal.SIGTERM):
        raise KeyboardInterrupt
    return code


def _shutdown(procs: dict[str, subprocess.Popen], timeout: float = 5.0) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for p in procs.values():
        try:
            p.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
