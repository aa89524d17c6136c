"""Keyboard teleoperation in a terminal: works over SSH, needs no X server (reads the tty raw).

Keys (shown by `hrobot teleop`): w/s forward/back, a/d left/right, q/e turn left/right (each press
one step; the skill's command filter clamps and rate-limits), space: zero velocity, Enter: take
control / hand it back (the deadman: releasing sends one zero command), x: e-stop (latches the
robot's damping), b: start an episode, right arrow: success, left arrow: re-record, Q: stop
recording (LeRobot's record keys). A terminal that closes (SSH drop) releases control.
"""

from __future__ import annotations

import os
import select
import termios
import tty
from dataclasses import dataclass

import numpy as np

from hrobot.errors import HRobotError
from hrobot.teleop import BaseTeleoperator

HELP = ("w/s: forward/back  a/d: left/right  q/e: turn  space: zero  Enter: take/release control  x: E-STOP  "
        "b: start episode  right: success  left: re-record  Q: stop recording")


@dataclass
class KeyboardConfig:
    step_lin: float = 0.1  # m/s per press
    step_yaw: float = 0.25  # rad/s per press
    max_lin: float = 1.5
    max_yaw: float = 2.0


_STEPS = {"w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "q": (2, 1), "e": (2, -1)}
_ARROWS = {b"\x1b[C": "success", b"\x1b[D": "rerecord", b"\x1bOC": "success", b"\x1bOD": "rerecord"}


class KeyboardTeleop(BaseTeleoperator):
    name = "keyboard"

    def __init__(self, tty_path: str | None = None, config: KeyboardConfig | None = None):
        self.tty_path, self.cfg = tty_path, config or KeyboardConfig()
        self.fd: int | None = None
        self.saved = None
        self.cmd = np.zeros(3)
        self.enabled = False
        self.estop = False
        self.closed = False
        self._events: list[str] = []
        self.buf = b""

    @property
    def is_connected(self) -> bool:
        return self.fd is not None

    def connect(self) -> None:
        if self.tty_path:
            try:
                self.fd = os.open(self.tty_path, os.O_RDONLY | os.O_NOCTTY)
            except OSError as e:
                raise HRobotError(f"{self.tty_path}: cannot open the terminal for keys ({e.strerror})") from None
        else:
            self.fd = 0
        if not os.isatty(self.fd):
            raise HRobotError(f"keyboard teleop: {self.tty_path or 'stdin'} is not a terminal (run it in one, or over SSH with -t)")
        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)  # keys one by one, no echo; Ctrl-C still interrupts

    def disconnect(self) -> None:
        if self.fd is None:
            return
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        if self.tty_path:
            os.close(self.fd)
        self.fd = None

    def _read(self) -> bytes:
        out = b""
        while not self.closed and select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 64)
            except OSError:  # the terminal went away (a pty whose master closed)
                chunk = b""
            if not chunk:
                self.closed = True
                break
            out += chunk
        return out

    def _key(self, k: bytes) -> None:
        c = self.cfg
        ch = k.decode("latin-1")
        if ch in _STEPS:
            axis, sign = _STEPS[ch]
            step, most = (c.step_yaw, c.max_yaw) if axis == 2 else (c.step_lin, c.max_lin)
            self.cmd[axis] = float(np.clip(self.cmd[axis] + sign * step, -most, most))
        elif ch == " ":
            self.cmd[:] = 0.0
        elif ch in "\r\n":
            self.enabled = not self.enabled
            self.cmd[:] = 0.0  # taking control starts from rest; releasing sends zero
        elif ch == "x":
            self.estop, self.enabled = True, False
            self.cmd[:] = 0.0
        elif ch == "b":
            self._events.append("start")
        elif ch == "Q":
            self._events.append("stop")

    def get_action(self) -> dict[str, float | bool]:
        self.buf += self._read()
        while self.buf:
            seq = next((s for s in _ARROWS if self.buf.startswith(s)), None)
            if seq is not None:
                self._events.append(_ARROWS[seq])
                self.buf = self.buf[len(seq):]
            elif self.buf.startswith(b"\x1b") and len(self.buf) < 3 and not self.closed:
                break  # an escape sequence still arriving
            else:
                self._key(self.buf[:1])
                self.buf = self.buf[1:]
        if self.closed:
            self.enabled = False
            self.cmd[:] = 0.0
        estop, self.estop = self.estop, False
        return {"vx": float(self.cmd[0]), "vy": float(self.cmd[1]), "wz": float(self.cmd[2]),
                "enabled": self.enabled, "estop": estop}

    def events(self) -> list[str]:
        out, self._events = self._events, []
        return out
