"""A robot driver in a process of its own, driven through a pipe (`DriverProcess`, a RobotInterface).

CycloneDDS (the Unitree robots' DDS) and rclpy's Fast DDS do not share a process, so the ROS
`robot_driver` node runs a Unitree driver in a child started fresh (`python -m hrobot.hardware.process`
on one end of a socket pair: nothing of the parent, rclpy included, is imported there). The
child owns the driver and its safety layer, whose own 500 Hz loop keeps re-checking the last
command; this side forwards the interface's calls and mirrors the safety layer's trips.

Faults:
- the child dies (killed, crashed): the next call here records a trip naming it and starts a fresh
  child that connects and sends nothing but damping until `reset_safety()`;
- this side dies: the child sees its pipe close, trips ("controller process gone"), keeps damping
  for LINGER_S, then disconnects and exits.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from hrobot.errors import HRobotError
from hrobot.realtime import prepare_control_process
from hrobot.robot_io import CONNECTED, DISCONNECTED, RangeScan, RobotInterface
from hrobot.safety import JointCommand, MeasuredState, Trip
from hrobot.spec import RobotSpec

LINGER_S = 1.0  # damping after the controller side is gone, before the child lets go
CALL_TIMEOUT_S = 1.0  # a child that does not answer a call within this is taken for dead
START_TIMEOUT_S = 20.0  # the child's imports, DDS discovery and first state (beyond the driver's own timeout)


class SafetyView:
    """The child's safety layer as this side sees it: its trips (every child's) and whether it is tripped."""

    def __init__(self):
        self.trips: list[Trip] = []
        self.tripped = True

    @property
    def reason(self) -> str:
        return self.trips[-1].reason if self.tripped and self.trips else ("not started" if self.tripped else "")


def _serve(conn: Connection) -> None:
    """The child: build and connect the driver, then answer calls until told to close or the pipe closes."""
    from hrobot.hardware import open_robot

    interface, robot, options, damp_reason = conn.recv()
    try:
        drv = open_robot(interface, robot, options)
        drv.connect()
    except HRobotError as e:
        conn.send(("error", str(e)))
        return
    if damp_reason:  # a replacement for a child that died: damping until an explicit reset
        drv.safety.trip(damp_reason, drv.now())
        drv.send(None)
    conn.send(("ready", drv.provides, drv.command_modes, drv.own_loop))
    sent = 0
    ops = {"read_state": drv.read_state, "send": drv.send, "filter": drv.filter, "activate": drv.activate,
           "deactivate": drv.deactivate, "reset_safety": drv.reset_safety, "read_scan": drv.read_scan,
           "link_stats": drv.link_stats, "estop": drv.estop}
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):  # the controller side is gone
            drv.safety.trip("controller process gone", drv.now())
            drv.send(None)
            time.sleep(LINGER_S)
            drv.disconnect()
            return
        if op == "close":
            drv.disconnect()
            conn.send(("ok", None, [], True))
            return
        try:
            result = ops[op](*args)
            reply = "ok"
        except HRobotError as e:
            result, reply = str(e), "error"
        trips = drv.safety.trips[sent:]
        sent = len(drv.safety.trips)
        conn.send((reply, result, trips, drv.safety.tripped))


class DriverProcess(RobotInterface):
    """`hrobot.hardware.open_robot(interface, robot, options)` in a child process; connected once built."""

    def __init__(self, interface: str, robot: RobotSpec, options):
        self.interface, self.robot, self.options = interface, robot, options
        self.safety = SafetyView()
        self.restarts = 0
        self._lock = threading.RLock()
        self._start("")
        self.lifecycle = CONNECTED

    def _start(self, damp_reason: str) -> None:
        mine, theirs = socket.socketpair()
        self._proc = subprocess.Popen([sys.executable, "-m", "hrobot.hardware.process", str(theirs.fileno())],
                                      pass_fds=[theirs.fileno()])
        theirs.close()
        self._conn = Connection(mine.detach())
        self._conn.send((self.interface, self.robot, self.options, damp_reason))
        if not self._conn.poll(START_TIMEOUT_S):
            self._proc.kill()
            raise HRobotError(f"{self.interface}: the driver process did not start within {START_TIMEOUT_S:g} s")
        try:
            msg = self._conn.recv()
        except EOFError:
            raise HRobotError(f"{self.interface}: the driver process exited at start "
                              f"(exit code {self._proc.wait()})") from None
        if msg[0] == "error":
            raise HRobotError(msg[1])
        self.provides, self.command_modes, self.own_loop = msg[1], msg[2], msg[3]

    def _call(self, op: str, *args):
        with self._lock:  # one call at a time on the pipe (a node's loop and its diagnostics timer share it)
            try:
                self._conn.send((op, args))
                if not self._conn.poll(CALL_TIMEOUT_S):
                    raise TimeoutError
                reply, result, trips, tripped = self._conn.recv()
            except (EOFError, OSError, TimeoutError):
                return self._replace(op, args)
        self.safety.trips.extend(trips)
        self.safety.tripped = tripped
        if reply == "error":
            raise HRobotError(result)
        return result

    def _replace(self, op: str, args):
        """The child died or hung: record why, start a damping-only child, and answer the call from it."""
        if self._proc.poll() is None:
            time.sleep(0.05)  # a child exiting on its own gets to say how
        code = self._proc.poll()
        if code is None:
            self._proc.kill()
            self._proc.wait()
        reason = (f"driver process died (exit code {code})" if code is not None
                  else f"driver process did not answer within {CALL_TIMEOUT_S:g} s")
        self.safety.trips.append(Trip(reason, time.monotonic()))
        self.safety.tripped = True
        self.restarts += 1
        self._start(f"{reason}; restarted in damping")
        return self._call(op, *args)

    # ---- RobotInterface
    def now(self) -> float:
        return time.monotonic()  # the child's clock: the same monotonic clock of this machine

    def read_state(self) -> MeasuredState:
        return self._call("read_state")

    def read_scan(self) -> RangeScan | None:
        return self._call("read_scan")

    def filter(self, command: JointCommand | None, state: MeasuredState | None = None) -> JointCommand:
        return self._call("filter", command, state)

    def send(self, command: JointCommand | None, state: MeasuredState | None = None) -> JointCommand:
        return self._call("send", command, state)

    def _write(self, command: JointCommand) -> None:
        """send() forwards the unfiltered command instead; here too the child's safety layer filters it."""
        self._call("send", command)

    def activate(self) -> None:
        self._call("activate")
        self.lifecycle = "active"

    def deactivate(self) -> None:
        self._call("deactivate")
        self.lifecycle = CONNECTED

    def reset_safety(self) -> bool:
        return self._call("reset_safety")

    def estop(self, reason: str) -> None:
        self._call("estop", reason)

    def link_stats(self) -> dict:
        return {**self._call("link_stats"), "driver_restarts": self.restarts}

    def disconnect(self) -> None:
        if self.lifecycle == DISCONNECTED:
            return
        try:
            self._conn.send(("close", ()))
            self._conn.poll(CALL_TIMEOUT_S + LINGER_S)
        except (EOFError, OSError):
            pass
        try:
            self._proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self.lifecycle = DISCONNECTED


if __name__ == "__main__":
    prepare_control_process()  # a driver started by a control node already runs at its priority
    _serve(Connection(int(sys.argv[1])))
