"""Gamepads: Linux evdev devices read directly, and sensor_msgs/Joy from any joystick driver.

Both become one picture of the pad in the layout ROS's joy_node gives an Xbox-style pad (axes in
[-1, 1], stick left and up positive; buttons 0 A, 1 B, 2 X, 3 Y, 4 LB, 5 RB, 6 back, 7 start,
8 guide, 9/10 stick presses), and one JoyMapping turns that into a command, as teleop_twist_joy
does: the velocity only while the enable (deadman) button is held, released -> one zero
command; the e-stop button latches the robot's damping; episode buttons give events.

evdev: a device file (/dev/input/eventN, /dev/input/by-id/*-event-joystick) is a stream of
`struct input_event` (timeval, u16 type, u16 code, s32 value); axis ranges come from the
EVIOCGABS ioctl, or for a recorded stream (`cat /dev/input/eventN > pad.bin`) from the mapping's
defaults. Machines without /dev/input (containers) replay a recorded stream through the same code.
"""

from __future__ import annotations

import fcntl
import os
import select
import stat
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from hrobot.errors import HRobotError
from hrobot.teleop import EPISODE_EVENTS, BaseTeleoperator

EVENT = struct.Struct("llHHi")  # struct input_event on 64-bit Linux: 24 bytes
EV_SYN, EV_KEY, EV_ABS = 0x00, 0x01, 0x03
ABS_X, ABS_Y, ABS_Z, ABS_RX, ABS_RY, ABS_RZ, ABS_HAT0X, ABS_HAT0Y = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11
BTN_SOUTH, BTN_EAST, BTN_NORTH, BTN_WEST, BTN_TL, BTN_TR = 0x130, 0x131, 0x133, 0x134, 0x136, 0x137
BTN_SELECT, BTN_START, BTN_MODE, BTN_THUMBL, BTN_THUMBR = 0x13A, 0x13B, 0x13C, 0x13D, 0x13E

# evdev code -> (joy index, sign): joy_node's layout for an Xbox-style pad (sticks: up and left positive)
JOY_AXES = {ABS_X: (0, -1.0), ABS_Y: (1, -1.0), ABS_Z: (2, 1.0), ABS_RX: (3, -1.0), ABS_RY: (4, -1.0),
            ABS_RZ: (5, 1.0), ABS_HAT0X: (6, -1.0), ABS_HAT0Y: (7, -1.0)}
JOY_BUTTONS = {BTN_SOUTH: 0, BTN_EAST: 1, BTN_NORTH: 2, BTN_WEST: 3, BTN_TL: 4, BTN_TR: 5, BTN_SELECT: 6,
               BTN_START: 7, BTN_MODE: 8, BTN_THUMBL: 9, BTN_THUMBR: 10}
N_AXES, N_BUTTONS = 8, 11


def eviocgabs(code: int) -> int:
    """_IOR('E', 0x40 + code, struct input_absinfo) (six s32)."""
    return (2 << 30) | (24 << 16) | (ord("E") << 8) | (0x40 + code)


@dataclass
class JoyMapping:
    """Axes and buttons (joy layout) -> base command, as teleop_twist_joy's parameters."""

    axis_vx: int = 1
    axis_vy: int = 0
    axis_wz: int = 3
    scale_vx: float = 1.0  # m/s at full stick
    scale_vy: float = 0.5
    scale_wz: float = 1.5  # rad/s
    deadzone: float = 0.1
    enable_button: int = 4  # LB, held: the deadman
    estop_button: int = 1  # B
    event_buttons: dict[str, int] = field(default_factory=lambda: {"start": 7, "success": 3, "rerecord": 2, "stop": 6})

    def __post_init__(self):
        bad = set(self.event_buttons) - set(EPISODE_EVENTS)
        if bad:
            raise HRobotError(f"gamepad mapping: unknown event {sorted(bad)[0]!r} (expected {', '.join(EPISODE_EVENTS)})")

    def command(self, axes: np.ndarray) -> np.ndarray:
        def axis(i: int) -> float:
            v = float(axes[i]) if i < len(axes) else 0.0
            return 0.0 if not abs(v) >= self.deadzone else float(np.clip(v, -1.0, 1.0))  # NaN reads as centred

        return np.array([self.scale_vx * axis(self.axis_vx), self.scale_vy * axis(self.axis_vy),
                         self.scale_wz * axis(self.axis_wz)])


class PadState:
    """The pad's axes and buttons, and the mapping's action and button-press events from them."""

    def __init__(self, mapping: JoyMapping):
        self.map = mapping
        self.axes = np.zeros(N_AXES)
        self.buttons = np.zeros(N_BUTTONS, dtype=int)
        self.prev = np.zeros(N_BUTTONS, dtype=int)
        self._events: list[str] = []
        self._estop = False

    def set(self, axes, buttons) -> None:
        self.axes = np.asarray(axes, dtype=float)
        new = np.zeros(max(len(buttons), N_BUTTONS), dtype=int)
        new[:len(buttons)] = buttons
        self._edges(new)
        self.buttons = new

    def _edges(self, new: np.ndarray) -> None:
        pressed = (new == 1) & (np.resize(self.prev, new.shape) == 0)
        m = self.map
        if m.estop_button < len(pressed) and pressed[m.estop_button]:
            self._estop = True
        self._events += [ev for ev, b in m.event_buttons.items() if b < len(pressed) and pressed[b]]
        self.prev = new.copy()

    def action(self) -> dict[str, float | bool]:
        m = self.map
        enabled = bool(m.enable_button < len(self.buttons) and self.buttons[m.enable_button])
        v = m.command(self.axes) if enabled else np.zeros(3)
        estop, self._estop = self._estop, False
        return {"vx": float(v[0]), "vy": float(v[1]), "wz": float(v[2]), "enabled": enabled and not estop,
                "estop": estop}

    def events(self) -> list[str]:
        out, self._events = self._events, []
        return out


class EvdevGamepad(BaseTeleoperator):
    """A gamepad read straight from its evdev device (or a recorded event stream, file or FIFO)."""

    name = "gamepad"
    DEFAULT_RANGES = {ABS_X: (-32768, 32767), ABS_Y: (-32768, 32767), ABS_RX: (-32768, 32767),
                      ABS_RY: (-32768, 32767), ABS_Z: (0, 1023), ABS_RZ: (0, 1023), ABS_HAT0X: (-1, 1),
                      ABS_HAT0Y: (-1, 1)}

    def __init__(self, path: str, mapping: JoyMapping | None = None):
        self.path = path
        self.pad = PadState(mapping or JoyMapping())
        self.fd: int | None = None
        self.ranges = dict(self.DEFAULT_RANGES)
        self.axes, self.buttons = np.zeros(N_AXES), np.zeros(N_BUTTONS, dtype=int)
        self.buf = b""
        self.lost = False

    @property
    def is_connected(self) -> bool:
        return self.fd is not None

    def connect(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise HRobotError(f"{self.path}: cannot open the gamepad ({e.strerror})") from None
        if stat.S_ISCHR(os.fstat(self.fd).st_mode):  # a real device: its own axis ranges
            for code in JOY_AXES:
                try:
                    buf = fcntl.ioctl(self.fd, eviocgabs(code), bytes(24))
                except OSError:
                    continue  # the pad has no such axis
                _, lo, hi, *_ = struct.unpack("6i", buf)
                if hi > lo:
                    self.ranges[code] = (lo, hi)

    def disconnect(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _norm(self, code: int, value: int) -> float:
        lo, hi = self.ranges.get(code, (-32768, 32767))
        return float(np.clip(2.0 * (value - lo) / (hi - lo) - 1.0, -1.0, 1.0))

    def feed(self, data: bytes) -> None:
        """Decode input_event records (what the device file gives) into the pad state."""
        self.buf += data
        axes, buttons = self.axes, self.buttons  # the frame being built (applied at its SYN_REPORT)
        n = len(self.buf) // EVENT.size
        for i in range(n):
            _, _, etype, code, value = EVENT.unpack_from(self.buf, i * EVENT.size)
            if etype == EV_ABS and code in JOY_AXES:
                idx, sign = JOY_AXES[code]
                axes[idx] = sign * self._norm(code, value)
            elif etype == EV_KEY and code in JOY_BUTTONS:
                buttons[JOY_BUTTONS[code]] = 1 if value else 0
            elif etype == EV_SYN:  # a frame is complete: apply it (button edges per frame)
                self.pad.set(axes.copy(), buttons.copy())
        self.buf = self.buf[n * EVENT.size:]

    def get_action(self) -> dict[str, float | bool]:
        while not self.lost and select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, EVENT.size * 64)
            except BlockingIOError:
                break
            except OSError:  # unplugged (ENODEV)
                data = b""
            if not data:
                if stat.S_ISREG(os.fstat(self.fd).st_mode):
                    break  # a recorded stream: the end of the file so far, not a lost pad
                self.lost = True
                break
            self.feed(data)
        if self.lost:  # a pad that goes away releases control
            self.pad.set(np.zeros(N_AXES), np.zeros(N_BUTTONS, dtype=int))
        return self.pad.action()

    def events(self) -> list[str]:
        return self.pad.events()


def find_gamepad() -> str:
    """The first joystick under /dev/input/by-id (what udev names *-event-joystick)."""
    folder = "/dev/input/by-id"
    pads = sorted(f for f in os.listdir(folder) if f.endswith("-event-joystick")) if os.path.isdir(folder) else []
    if not pads:
        raise HRobotError("no gamepad found (no /dev/input/by-id/*-event-joystick): plug one in, pass --path, "
                          "or use --device joy-topic with a joystick driver")
    return os.path.join(folder, pads[0])


class JoyTopic(BaseTeleoperator):
    """sensor_msgs/Joy from any joystick driver (joy_node, joy_linux, a phone app): the node that
    subscribes hands each message to `receive`. A Joy stream that stops for `timeout` releases control."""

    name = "joy-topic"

    def __init__(self, mapping: JoyMapping | None = None, timeout: float = 0.5):
        self.pad = PadState(mapping or JoyMapping())
        self.timeout = timeout
        self.last = -np.inf
        self.connected = False

    @property
    def is_connected(self) -> bool:
        return self.connected

    def connect(self) -> None:
        self.connected = True

    def receive(self, axes, buttons) -> None:
        self.pad.set(axes, buttons)
        self.last = time.monotonic()

    def get_action(self) -> dict[str, float | bool]:
        if time.monotonic() - self.last > self.timeout:
            self.pad.set(np.zeros(N_AXES), np.zeros(N_BUTTONS, dtype=int))
        return self.pad.action()

    def events(self) -> list[str]:
        return self.pad.events()

    def disconnect(self) -> None:
        self.connected = False
