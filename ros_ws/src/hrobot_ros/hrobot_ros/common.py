"""Shared node plumbing: typed parameters from hrobot.deploy.NODE_PARAMS, QoS, stamps, timing, main()."""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from hrobot_msgs.msg import HeightMap as HeightMapMsg
from hrobot_msgs.msg import JointCommand as JointCommandMsg
from rclpy.executors import ExternalShutdownException
from rclpy.experimental import EventsExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, String

from hrobot.deploy import NODE_PARAMS, check_value
from hrobot.heightmap import HeightMap
from hrobot.safety import CURRENT, DAMPING, MODE_CODES, MODES_BY_CODE, POSITION, SERVO
from hrobot.errors import HRobotError
from hrobot.realtime import prepare_control_process

# High-rate state: newest sample only, never wait for retransmission.
STATE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
# Commands and goals: every message delivered.
COMMAND_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
GOAL_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Events (/events: trips, e-stops, episode marks, source changes), published: every one delivered, and the last
# 50 kept for a subscriber that matches late (a recorder that discovered a just-started teleop node after its first
# key press: it still records the episode's start).
EVENT_QOS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Signals acted on (/estop; a node reacting to /events): every one delivered, never one sent before the
# subscriber matched (a driver restarted after an e-stop is not e-stopped again by the old message).
SIGNAL_QOS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Latched state (/cmd_source, /height_map): a late subscriber gets the current value.
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)

_TYPES = {"string": Parameter.Type.STRING, "path": Parameter.Type.STRING, "double": Parameter.Type.DOUBLE,
          "bool": Parameter.Type.BOOL, "double_array": Parameter.Type.DOUBLE_ARRAY,
          "string_array": Parameter.Type.STRING_ARRAY}
_NAMES = {"string": "a string", "path": "a path (string)", "double": "a double", "bool": "a bool",
          "double_array": "a list of doubles", "string_array": "a list of strings"}


def declare_params(node: Node, schema_name: str) -> dict:
    """Declare the node's parameters with fixed types; a wrong type or a missing required one is an HRobotError."""
    out = {}
    for key, (kind, default, desc) in NODE_PARAMS[schema_name].items():
        try:
            node.declare_parameter(key, _TYPES[kind])
            value = node.get_parameter(key).value
        except rclpy.exceptions.InvalidParameterTypeException as e:
            raise HRobotError(f"parameter '{key}' of node '{node.get_name()}': expected {_NAMES[kind]} "
                              f"({str(e).splitlines()[0]})") from None
        except rclpy.exceptions.ParameterUninitializedException:
            value = None
        if value is None:
            if default is None:
                raise HRobotError(f"parameter '{key}' of node '{node.get_name()}' is required ({desc})")
            value = default
        value = list(value) if kind in ("double_array", "string_array") else value
        problem = check_value(schema_name, key, kind, default, value)
        if problem:
            raise HRobotError(f"parameter '{key}' of node '{node.get_name()}': {problem}")
        out[key] = value
    return out


assert {POSITION: JointCommandMsg.MODE_POSITION, DAMPING: JointCommandMsg.MODE_DAMPING, SERVO: JointCommandMsg.MODE_SERVO,
        CURRENT: JointCommandMsg.MODE_CURRENT} == MODE_CODES, "hrobot_msgs/JointCommand modes differ from hrobot.safety's"


def mode_to_msg(mode: str) -> int:
    """hrobot.safety command mode -> hrobot_msgs/JointCommand mode."""
    return MODE_CODES[mode]


def mode_from_msg(value: int) -> str | None:
    """hrobot_msgs/JointCommand mode -> hrobot.safety command mode (None: not a mode)."""
    return MODES_BY_CODE.get(value)


def wall_now(node: Node):
    return node.get_clock().now().to_msg()


def percentiles(samples: list[float]) -> tuple[float, float]:
    if not samples:
        return float("nan"), float("nan")
    a = np.asarray(samples)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def diagnostics(node: Node, name: str, level: int, message: str, values: dict) -> DiagnosticArray:
    arr = DiagnosticArray()
    arr.header.stamp = wall_now(node)
    st = DiagnosticStatus(level=bytes([level]), name=name, message=message, hardware_id=node.get_name())
    st.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    arr.status = [st]
    return arr


class TopicWatcher:
    """Subscribes each wanted topic once it is published, with QoS that matches its publishers (reliable or
    latched only if they all are), and hands over each message as CDR bytes with its message info:
    `on_message(topic, data, info)`. `on_new(topic, type, publisher_infos)` runs once per topic first;
    returning False skips the topic.

    The subscriptions live on a helper node that no executor spins: a timer drains them every `drain_s`,
    several messages per wake-up, at a fifth of the CPU of one executor callback per message (measured:
    2000 JointState/s took 0.33 of a core through callbacks, 0.07 drained)."""

    def __init__(self, node: Node, wanted: list[str], on_message, on_new=None, depth: int = 1000,
                 period: float = 0.5, drain_s: float = 0.005):
        self.node, self.wanted, self.on_message, self.on_new = node, list(dict.fromkeys(wanted)), on_message, on_new
        self.depth = depth
        # its own name: the launcher's `-r __node:=NAME` would otherwise rename it to the node's
        self.holder = Node(f"{node.get_name()}_subscriptions", context=node.context, use_global_arguments=False)
        self.subs: dict[str, object] = {}
        self.skipped: set[str] = set()
        self.publishers: dict[str, int] = {}
        self.discover()
        node.create_timer(period, self.discover)
        node.create_timer(drain_s, self.drain)

    def discover(self) -> None:
        from hrobot.data.bag import message_class

        types = dict(self.node.get_topic_names_and_types())
        for topic in self.wanted:
            if topic not in types:
                continue
            infos = self.node.get_publishers_info_by_topic(topic)
            self.publishers[topic] = max(len(infos), self.publishers.get(topic, 0))
            if topic in self.subs or topic in self.skipped or not infos:
                continue
            msgtype = types[topic][0]
            if self.on_new is not None and self.on_new(topic, msgtype, infos) is False:
                self.skipped.add(topic)
                continue
            reliable = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
            latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
            qos = QoSProfile(depth=self.depth, history=HistoryPolicy.KEEP_LAST,
                             reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
            self.subs[topic] = self.holder.create_subscription(message_class(msgtype), topic, lambda _: None, qos,
                                                               raw=True)

    def drain(self) -> None:
        """Hand over every message waiting (called by the timer, never from the constructor: the owner's
        `on_message` may need the owner fully built)."""
        for topic, sub in self.subs.items():
            with sub.handle:
                while (got := sub.handle.take_message(sub.msg_type, True)) is not None:
                    self.on_message(topic, got[0], got[1])

    def missing(self) -> list[str]:
        return [t for t in self.wanted if t not in self.subs]


def scan_problem(msg, layout) -> str:
    """Why a sensor_msgs/LaserScan is not one layer of `layout` (hrobot.nav_io.RayScanLayout), "" if it is: the
    layout a high level was trained on and the simulated robot publishes."""
    if len(msg.ranges) != layout.num_rays:
        return f"{len(msg.ranges)} rays, expected {layout.num_rays}"
    if abs(msg.angle_min) > 1e-4 or abs(msg.angle_increment - layout.angle_increment) > 1e-4:
        return (f"rays from {msg.angle_min:.4f} rad every {msg.angle_increment:.4f} rad, expected from 0 "
                f"every {layout.angle_increment:.4f} rad")
    if abs(msg.range_max - layout.range) > 1e-3:
        return f"range_max {msg.range_max:g} m, expected {layout.range:g} m"
    if any(math.isnan(r) for r in msg.ranges):
        return "NaN ranges (no return is inf or beyond range_max, not NaN)"
    return ""


def height_map_msg(hmap: HeightMap, frame: str, stamp) -> HeightMapMsg:
    """hrobot.heightmap.HeightMap -> hrobot_msgs/HeightMap (x-major heights)."""
    h = np.asarray(hmap.heights, dtype=np.float32)
    return HeightMapMsg(stamp_sec=stamp.sec, stamp_nanosec=stamp.nanosec, frame_id=frame, origin_x=float(hmap.origin[0]),
                        origin_y=float(hmap.origin[1]), resolution=float(hmap.resolution), nx=h.shape[0], ny=h.shape[1],
                        heights=h.ravel())


def height_map_from_msg(msg: HeightMapMsg, frame: str) -> tuple[HeightMap | None, str]:
    """hrobot_msgs/HeightMap -> (the map, "") or (None, why it is refused)."""
    if msg.frame_id != frame:
        return None, f"/height_map in frame '{msg.frame_id}', expected '{frame}' (the odometry's)"
    if msg.nx < 2 or msg.ny < 2 or len(msg.heights) != msg.nx * msg.ny:
        return None, f"/height_map of {len(msg.heights)} heights, expected nx * ny = {msg.nx} * {msg.ny} (each >= 2)"
    h = np.asarray(msg.heights, dtype=np.float64).reshape(msg.nx, msg.ny)
    if not (math.isfinite(msg.resolution) and msg.resolution > 0 and math.isfinite(msg.origin_x)
            and math.isfinite(msg.origin_y) and np.isfinite(h).all()):
        return None, "/height_map with a non-finite height or origin, or a resolution <= 0"
    return HeightMap(h, (msg.origin_x, msg.origin_y), msg.resolution), ""


class Steps:
    """What a node's loop shares, however it is timed: the body run with a dead body ending the process (a
    dead control loop must not leave a live-looking node behind), and the rate, jitter and deadline-miss
    stats."""

    def __init__(self, period: float, body: Callable[[], None], logger=None):
        self.period, self.body, self.logger = period, body, logger
        self.running = threading.Event()
        self.jitter_us: list[float] = []
        self.deadline_misses = 0
        self.iterations = 0
        self.started = 0.0

    def _body(self) -> bool:
        """Run the body once; False when it failed because the node is shutting down."""
        try:
            self.body()
        except Exception as e:
            if not self.running.is_set() or not rclpy.ok() or "context is invalid" in str(e):
                return False
            if self.logger is not None:
                self.logger.fatal(f"control loop failed: {type(e).__name__}: {e}; exiting")
            os._exit(1)
        self.iterations += 1
        return True

    def rate_hz(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.iterations / elapsed if elapsed > 0 else 0.0

    def stats(self) -> dict:
        p50, p99 = percentiles(self.jitter_us[10:])
        return {"period_s": self.period, "iterations": self.iterations, "rate_hz": self.rate_hz(),
                "period_jitter_us_p50": p50, "period_jitter_us_p99": p99, "deadline_misses": self.deadline_misses}


class Loop(Steps):
    """A fixed-rate loop in its own thread (absolute deadlines); jitter: how late each period starts."""

    def __init__(self, period: float, body: Callable[[], None], logger=None):
        super().__init__(period, body, logger)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.running.set()
        self.thread.start()

    def stop(self) -> None:
        self.running.clear()
        if self.thread.is_alive():
            self.thread.join(timeout=2.0)

    def _run(self) -> None:
        next_t = time.monotonic()
        self.started = next_t
        while self.running.is_set():
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
                now = time.monotonic()
            self.jitter_us.append((now - next_t) * 1e6)
            if not self._body():
                return  # shutting down
            next_t += self.period
            end = time.monotonic()
            if end > next_t:
                self.deadline_misses += 1
                if end - next_t > 10 * self.period:  # far behind (e.g. suspended): resynchronise
                    next_t = end


class Paced(Steps):
    """A control step run on the sensor stream, for a controller whose input is a robot's state stream: the
    step runs in the callback of the first complete state at or after each period's due time, so a state is
    acted on the moment it arrives (a timer would act on a state up to one state interval old). The states'
    own stamps set the pace (due times advance by the period: the rate is the period's, whatever the state
    rate), with half a state interval of tolerance. Jitter: how far each interval between steps is from the
    period (wall clock); a deadline miss: an interval over 1.5 periods."""

    def __init__(self, period: float, body: Callable[[], None], logger=None):
        super().__init__(period, body, logger)
        self.last_step: float | None = None  # monotonic time of the last step
        self._due: float | None = None  # stamp (s) at which the next step is due
        self._prev_stamp: float | None = None
        self._state_dt = period  # the state stream's interval (smallest recent), for the tolerance

    def start(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.running.clear()

    def on_state(self, stamp: float) -> None:
        """A complete state stamped `stamp` (s) arrived: run the step if a period is due. An unstamped state
        (stamp 0) is paced by its arrival time; stamps that go back (a restarted source) start the pace again."""
        if stamp <= 0.0:
            stamp = time.monotonic()
        if self._prev_stamp is not None:
            if stamp < self._prev_stamp:
                self._due = None
            elif stamp > self._prev_stamp:
                self._state_dt = min(stamp - self._prev_stamp, 0.9 * self._state_dt + 0.1 * self.period)
        self._prev_stamp = stamp
        if not self.running.is_set():
            return
        due = self._due
        if due is not None and stamp < due - 0.5 * min(self._state_dt, self.period):
            return
        self._due = stamp + self.period if due is None or stamp - due > self.period else due + self.period
        self.step()

    def step(self) -> None:
        """Run the body now (a state made it due, or a watchdog found an input stale)."""
        now = time.monotonic()
        if self.last_step is None:
            self.started = now  # the rate counts from the first state's step
        else:
            interval = now - self.last_step
            self.jitter_us.append(abs(interval - self.period) * 1e6)
            if interval > 1.5 * self.period:
                self.deadline_misses += 1
        self.last_step = now
        self._body()


def write_stats(path: str, stats: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(stats, f, indent=2)


class HRobotNode(Node):
    """A node with one fixed-rate loop, /diagnostics from `stats()` at 1 Hz, and a stats file on shutdown."""

    stats_file = ""
    control_priority = False  # True: a control node, run at hrobot.realtime.CONTROL_NICE where permitted

    def __init__(self, name: str):
        super().__init__(name)
        self.use_sim_time = bool(self.get_parameter("use_sim_time").value)
        self.trips_logged = 0
        self.pub_events = self.create_publisher(String, "/events", EVENT_QOS)

    def log_new_trips(self, safety) -> None:
        """Log every safety trip not logged yet, with its reason (the safety layer keeps them all), and
        publish it on /events."""
        for trip in safety.trips[self.trips_logged:]:
            self.get_logger().warning(f"safety tripped, damping: {trip.reason}")
            self.publish_event("estop" if trip.reason.startswith("e-stop") else "safety_trip", trip.reason)
        self.trips_logged = len(safety.trips)

    def publish_event(self, event: str, detail: str = "") -> None:
        """One event on /events (std_msgs/String, JSON: node, event, detail, wall time): what recordings mark."""
        self.pub_events.publish(String(data=json.dumps({"node": self.get_name(), "event": event, "detail": detail,
                                                        "time": time.time()})))

    def on_estop(self, latch: Callable[[str], None]) -> None:
        """Subscribe /estop (std_msgs/Bool, true: e-stop): `latch(reason)` on each true."""
        def cb(msg: Bool) -> None:
            if msg.data:
                latch("/estop")

        self.create_subscription(Bool, "/estop", cb, SIGNAL_QOS)

    def now_s(self) -> float | None:
        """Seconds on the clock the node's watchdogs use: monotonic, or under use_sim_time the simulator's
        /clock (None until its first message). A simulator that stalls on a shared CPU stops its clock
        with it, so its stalls are not mistaken for a robot that stopped reporting."""
        if not self.use_sim_time:
            return time.monotonic()
        ns = self.get_clock().now().nanoseconds
        return ns * 1e-9 if ns > 0 else None

    def start_loop(self, period: float, body: Callable[[], None], paced: bool = False) -> None:
        """The node's loop: a fixed-rate thread (Loop), or with `paced` steps run on the state stream (Paced:
        the node calls self.loop.on_state); /diagnostics at 1 Hz from either's stats."""
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, self.publish_diagnostics)
        self.loop = (Paced if paced else Loop)(period, body, self.get_logger())
        self.loop.start()

    def stats(self) -> dict:
        return self.loop.stats()

    def status(self, stats: dict) -> tuple[int, str]:
        """Diagnostic level (0 ok, 1 warn, 2 error) and message."""
        return 0, "running"

    def publish_diagnostics(self) -> None:
        st = self.stats()
        level, message = self.status(st)
        self.pub_diag.publish(diagnostics(self, self.get_name(), level, message,
                                          {k: v for k, v in st.items() if not isinstance(v, dict)}))

    def shutdown(self) -> None:
        if not self.loop.running.is_set():
            return
        self.loop.stop()
        write_stats(self.stats_file, self.stats())


def main(node_factory: Callable[[], Node], name: str) -> int:
    priority_problem = prepare_control_process(getattr(node_factory, "control_priority", False))
    rclpy.init(args=sys.argv)
    try:
        node = node_factory()
    except HRobotError as e:
        print(f"{name}: error: {e}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 2
    except Exception as e:  # an input the checks above missed: still one line, never a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"{name}: error: {type(e).__name__}: {first}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 2
    if priority_problem:
        node.get_logger().warning(priority_problem)
    rclpy.get_default_context().on_shutdown(node.shutdown)  # stop the loops before the context goes away
    # What start-up built (the model, the policy, the imported libraries: most of the heap) is never garbage:
    # out of the collector's reach, a full collection no longer walks it and stalls the loop for milliseconds.
    gc.collect()
    gc.freeze()
    executor = EventsExecutor()  # callbacks dispatched from C++: a fraction of the Python executors' overhead
    executor.add_node(node)
    try:
        while rclpy.ok():  # spin in slices: SIGINT (rclpy's handler) ends the loop at the next slice
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError as e:  # the executor failing to dispatch a callback: fine while the context shuts down
        if rclpy.ok():
            print(f"{name}: error: executor: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                  file=sys.stderr, flush=True)
            return 1
    finally:
        node.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
