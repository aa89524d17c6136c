"""Teleoperators and the command mux: keyboard through a real pseudo-terminal, gamepad through evdev
records (the kernel's struct input_event), Joy messages, a leader hand; twist_mux-style arbitration."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from hrobot.errors import HRobotError
from hrobot.robots import load_robot
from hrobot.teleop.gamepad import (ABS_RX, ABS_X, ABS_Y, BTN_EAST, BTN_START, BTN_TL, EV_ABS, EV_KEY, EV_SYN, EVENT,
                                   EvdevGamepad, JoyMapping, JoyTopic)
from hrobot.teleop.hand import JointLeader
from hrobot.teleop.keyboard import KeyboardTeleop
from hrobot.teleop.mux import NONE, CommandMux, Source


def ev(etype: int, code: int, value: int, t: float = 0.0) -> bytes:
    return EVENT.pack(int(t), int((t % 1) * 1e6), etype, code, value)


def frame(*events: tuple[int, int, int]) -> bytes:
    return b"".join(ev(*e) for e in events) + ev(EV_SYN, 0, 0)


@pytest.fixture
def pty_keyboard():
    master, slave = os.openpty()
    kb = KeyboardTeleop(os.ttyname(slave))
    kb.connect()
    yield kb, master
    kb.disconnect()
    os.close(master)
    os.close(slave)


def test_keyboard_over_a_pseudo_terminal_steps_toggles_and_estops(pty_keyboard):
    kb, master = pty_keyboard
    a = kb.get_action()
    assert not a["enabled"] and a["vx"] == 0.0
    os.write(master, b"\rwwwaq")  # take control, 0.3 m/s forward, 0.1 left, turn left
    time.sleep(0.05)
    a = kb.get_action()
    assert a["enabled"] and a["vx"] == pytest.approx(0.3) and a["vy"] == pytest.approx(0.1) and a["wz"] > 0
    os.write(master, b"\x1b[Cb\x1b[D")  # success, start, re-record
    time.sleep(0.05)
    kb.get_action()
    assert kb.events() == ["success", "start", "rerecord"]
    os.write(master, b"\r")  # release: zero
    time.sleep(0.05)
    a = kb.get_action()
    assert not a["enabled"] and (a["vx"], a["vy"], a["wz"]) == (0.0, 0.0, 0.0)
    os.write(master, b"\rwx")
    time.sleep(0.05)
    a = kb.get_action()
    assert a["estop"] and not a["enabled"] and a["vx"] == 0.0
    assert not kb.get_action()["estop"]  # an edge: reported once, latched by whoever receives it


def test_keyboard_refuses_what_is_not_a_terminal(tmp_path):
    f = tmp_path / "not-a-tty"
    f.write_text("")
    with pytest.raises(HRobotError, match="not a terminal"):
        KeyboardTeleop(str(f)).connect()


def test_gamepad_decodes_kernel_input_events_deadman_and_estop(tmp_path):
    stream = tmp_path / "pad.bin"  # a recorded event stream, as `cat /dev/input/eventN > pad.bin` writes it
    stream.write_bytes(b"")
    pad = EvdevGamepad(str(stream), JoyMapping(scale_vx=1.0, scale_wz=1.5))
    pad.connect()
    with open(stream, "ab") as f:
        f.write(frame((EV_ABS, ABS_Y, -32768), (EV_ABS, ABS_X, 0), (EV_ABS, ABS_RX, 16384)))  # stick full forward
    a = pad.get_action()
    assert not a["enabled"] and a["vx"] == 0.0  # no deadman: no command
    with open(stream, "ab") as f:
        f.write(frame((EV_KEY, BTN_TL, 1)))
    a = pad.get_action()
    assert a["enabled"] and a["vx"] == pytest.approx(1.0, abs=1e-3) and a["wz"] == pytest.approx(-0.75, abs=1e-3)
    with open(stream, "ab") as f:  # half a frame: nothing applied until its SYN
        f.write(ev(EV_KEY, BTN_TL, 0))
    assert pad.get_action()["enabled"]
    with open(stream, "ab") as f:
        f.write(ev(EV_SYN, 0, 0) + frame((EV_KEY, BTN_EAST, 1)) + frame((EV_KEY, BTN_START, 1)))
    a = pad.get_action()
    assert not a["enabled"] and a["estop"] and a["vx"] == 0.0
    assert pad.events() == ["start"]
    pad.disconnect()


def test_joy_topic_uses_the_same_mapping_and_times_out():
    joy = JoyTopic(JoyMapping(), timeout=0.1)
    joy.connect()
    axes, buttons = [0.0, 0.5, 0, 0, 0, 0, 0, 0], [0] * 11
    buttons[4] = 1
    joy.receive(axes, buttons)
    assert joy.get_action()["vx"] == pytest.approx(0.5)
    axes[1] = 0.05  # inside the dead zone
    joy.receive(axes, buttons)
    assert joy.get_action()["vx"] == 0.0
    axes[1], axes[3] = float("nan"), float("inf")  # a broken driver's axes: centred and full, never NaN
    joy.receive(axes, buttons)
    a = joy.get_action()
    assert a["vx"] == 0.0 and np.isfinite([a["vx"], a["vy"], a["wz"]]).all()
    axes[1], axes[3] = 1.0, 0.0
    joy.receive(axes, buttons)
    time.sleep(0.15)
    assert not joy.get_action()["enabled"]  # the Joy stream stopped: control released


def test_leader_hand_maps_joints_by_name_and_releases_when_it_stops():
    spec = load_robot("leap_hand")
    lead = JointLeader(spec, timeout=0.1)
    names = spec.joint_names
    assert lead.receive([names[3], "glove_extra", names[0]], [0.4, 9.0, -0.2]) == 2
    a = lead.get_action()
    assert a["enabled"] and a[f"{names[3]}.pos"] == pytest.approx(0.4) and a[f"{names[0]}.pos"] == pytest.approx(-0.2)
    assert a[f"{names[1]}.pos"] == pytest.approx(spec.default_pose[1])
    with pytest.raises(HRobotError, match="names but"):
        lead.receive(names[:2], [0.1])
    time.sleep(0.15)
    assert not lead.get_action()["enabled"]


def test_mux_prefers_fresh_teleop_and_hands_back_after_its_timeout():
    mux = CommandMux([Source("planner", "cmd_vel", 10, 0.1), Source("teleop", "teleop/cmd_vel", 100, 0.25)])
    assert mux.select(0.0)[0] == NONE
    mux.update("planner", np.array([0.5, 0, 0]), 0.0)
    assert mux.select(0.05) == ("planner", pytest.approx(np.array([0.5, 0, 0])))
    mux.update("teleop", np.array([-0.3, 0, 0]), 0.06)
    mux.update("planner", np.array([0.5, 0, 0]), 0.08)
    name, cmd = mux.select(0.09)
    assert name == "teleop" and cmd[0] == pytest.approx(-0.3)
    mux.update("teleop", np.zeros(3), 0.10)  # released: one zero command
    mux.update("planner", np.array([0.5, 0, 0]), 0.30)
    assert mux.select(0.31)[0] == "teleop"  # the zero holds for the teleop timeout
    assert mux.select(0.36)[0] == "planner"
    assert mux.select(0.50)[0] == NONE  # every source stale: stand still


def test_fingertips_are_retargeted_to_the_leap_joints_that_reach_them():
    import json

    from hrobot.estimator import ChainKinematics
    from hrobot.teleop.hand import FingertipRetargeter
    from ros_harness import REPO

    spec = load_robot("leap_hand")
    kin = ChainKinematics(json.loads((REPO / "deploy/leap_hand/kinematics.json").read_text()))
    rt = FingertipRetargeter(spec, kin)
    rt.connect()
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(10):  # a pose the hand can take: its fingertips are reachable
        q = spec.lower + (spec.upper - spec.lower) * rng.uniform(0.2, 0.8, spec.num_joints)
        rt.receive(kin.foot_positions(q))
        errors.append(rt.error)
        got = rt.targets()
        assert np.all(got >= spec.lower - 1e-9) and np.all(got <= spec.upper + 1e-9)
    assert max(errors) < 0.003, errors  # within 3 mm of every fingertip target
    assert rt.get_action()["enabled"]
    far = kin.foot_positions(spec.default_pose) + np.array([0.0, 0.0, 0.5])  # half a metre above: unreachable
    rt.receive(far)
    assert np.all(np.isfinite(rt.targets())) and rt.error > 0.2  # the closest pose in the limits, and how far it is
    with pytest.raises(HRobotError, match="expected 4 finite positions"):
        rt.receive(np.zeros((3, 3)))
