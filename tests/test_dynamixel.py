"""The LEAP hand driver against an emulated Dynamixel bus on a pseudo-terminal, and ROBOTIS's SDK against it."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from dynamixel_sdk import COMM_SUCCESS, GroupSyncRead, PacketHandler, PortHandler

from hrobot.hardware.dynamixel import xc330 as x
from hrobot.hardware.dynamixel.leap import LeapConfig, LeapHand
from hrobot.hardware.dynamixel.protocol import crc16, packet, status_packets
from hrobot.robots import load_robot
from hrobot.safety import DAMPING, SERVO, JointCommand, SafetyConfig
from hrobot.sim.devices.dynamixel_bus import DynamixelBus

ROBOT = load_robot("leap_hand")


@pytest.fixture
def bus(tmp_path):
    b = DynamixelBus(ROBOT, tmp_path / "ttyLEAP").start()
    yield b
    b.close()


@pytest.fixture
def hand(bus):
    # state watchdog 0.5 s, not 2 control periods: this 2-core machine runs the suite beside other processes, and
    # the bus emulator shares the test's interpreter (the watchdog's own trip is tested below)
    h = LeapHand(ROBOT, LeapConfig(port=str(bus.port)), SafetyConfig(state_timeout=0.5))
    h.connect()
    h.activate()
    yield h
    h.disconnect()


def _servo(q):
    n = ROBOT.num_joints
    return JointCommand(np.asarray(q, dtype=np.float64), np.zeros(n), ROBOT.kp, ROBOT.kd, np.zeros(n), SERVO)


def _go_to(hand, q, seconds: float = 1.0):
    """Command `q` for a while (the servos start limp, where the hand fell while its torque was off)."""
    t0 = hand.now()
    while hand.now() - t0 < seconds:
        hand.send(_servo(q), hand.read_state())
        time.sleep(0.002)


def _reader(data: bytes):
    chunks = [data]
    return lambda n: chunks.pop() if chunks else b""


def test_framing_agrees_with_robotis():
    """Packets are stuffed and checksummed exactly as ROBOTIS's SDK builds them (addStuffing, updateCRC), and
    read back exactly; the SDK's own removeStuffing gets some multiply-stuffed packets wrong (why the driver
    parses status packets with hrobot.hardware.dynamixel.protocol)."""
    ph = PacketHandler(2.0)
    rng = random.Random(0)
    stuffed = sdk_wrong = 0
    for _ in range(300):
        params = bytes(rng.choice([0xFF, 0xFD, rng.randrange(256)]) for _ in range(rng.randrange(1, 40)))
        dxl_id = rng.randrange(0, 253)
        pkt = packet(dxl_id, x.STATUS, params)
        raw = [0xFF, 0xFF, 0xFD, 0x00, dxl_id, (len(params) + 3) & 0xFF, (len(params) + 3) >> 8, x.STATUS,
               *params, 0, 0]
        assert bytes(ph.addStuffing(raw)[:-2]) == pkt[:-2]
        assert ph.updateCRC(0, list(pkt), len(pkt) - 2) == crc16(pkt[:-2]) == int.from_bytes(pkt[-2:], "little")
        assert status_packets(_reader(pkt), 1, 0.1) == [(dxl_id, params[0], params[1:])]
        back = ph.removeStuffing(list(pkt))
        sdk_wrong += bytes(back[8 : 8 + (back[5] | back[6] << 8) - 3]) != params
        stuffed += len(pkt) != 10 + len(params)
    assert stuffed > 10 and sdk_wrong > 0  # the draw stuffs often; the SDK's un-stuffing fails on some
    bad = bytearray(packet(1, x.STATUS, b"\x00\x01"))
    bad[-1] ^= 1
    assert status_packets(_reader(bytes(bad)), 1, 0.05) is None  # a bad CRC drops the transaction


def test_robotis_sdk_works_against_the_emulated_bus(bus):
    """A client written only against the protocol (ROBOTIS's packet handler) sees XC330 servos."""
    bus.frozen = True  # joints stand still: what the client reads must be the tables exactly
    port, ph = PortHandler(str(bus.port)), PacketHandler(2.0)
    assert port.openPort() and port.setBaudRate(x.BAUD_4M)
    model, result, error = ph.ping(port, 3)
    assert (model, result, error) == (x.MODEL_NUMBER, COMM_SUCCESS, 0)
    assert ph.ping(port, 40)[1] != COMM_SUCCESS  # no servo 40 on this bus
    assert ph.write1ByteTxRx(port, 3, x.ADDR["operating_mode"], 5) == (COMM_SUCCESS, 0)
    assert ph.read1ByteTxRx(port, 3, x.ADDR["operating_mode"])[0] == 5
    assert ph.write1ByteTxRx(port, 3, x.ADDR["torque_enable"], 1) == (COMM_SUCCESS, 0)
    assert ph.write1ByteTxRx(port, 3, x.ADDR["operating_mode"], 3) == (COMM_SUCCESS, x.ERR_ACCESS)  # EEPROM, torque on
    sync = GroupSyncRead(port, ph, x.ADDR["present_position"], 4)
    for i in range(16):
        sync.addParam(i)
    assert sync.txRxPacket() == COMM_SUCCESS
    ticks = [sync.getData(i, x.ADDR["present_position"], 4) for i in range(16)]
    assert ticks == [bus.servos[i].get("present_position") for i in range(16)]
    np.testing.assert_allclose([x.ticks_to_joint(t) for t in ticks], bus.joint_positions(), atol=x.POSITION_RAD)
    port.closePort()


def test_driver_sets_up_the_servos_as_leap_does(bus, hand):
    s0, s1 = bus.servos[0], bus.servos[1]
    assert s1.get("operating_mode") == x.OPERATING_MODE_CURRENT_POSITION and s1.get("torque_enable") == 1
    assert (s1.get("position_p_gain"), s1.get("position_i_gain"), s1.get("position_d_gain")) == (800, 0, 200)
    assert (s0.get("position_p_gain"), s0.get("position_d_gain")) == (600, 150)  # side joint: x0.75
    assert s1.get("goal_current") == 350 and s1.get("return_delay_time") == 0


def test_driver_holds_the_pose_and_tracks_a_sinusoid(bus, hand):
    """Every joint follows 0.25 sin(pi t) about a bent pose through the bus: RMS error <= 0.05 rad, >= 100 Hz
    (`hrobot bench hardware` measures the rate on an idle machine)."""
    pose = np.full(ROBOT.num_joints, 0.4)  # bent, the fingers clear of the cube on the palm
    errors, t0 = [], hand.now()
    while (t := hand.now() - t0) < 4.0:
        target = pose + (0.25 * np.sin(np.pi * (t - 1.0)) if t > 1.0 else 0.0)
        state = hand.read_state()
        hand.send(_servo(target), state)
        if t > 2.0:
            errors.append(bus.joint_positions() - target)
    assert not hand.safety.tripped, hand.safety.reason
    e = np.asarray(errors)
    rms = np.sqrt((e ** 2).mean(axis=0))
    assert rms.max() <= 0.05, rms
    assert hand.stats.read_rate_hz(hand.now()) >= 100 and hand.stats.failed_reads <= hand.stats.reads // 20


def test_byte_stuffed_state_is_read_exactly(bus, hand):
    """Velocity -1 (FF FF FF FF) then position 0x7FD: the status packet carries FF FF FD and is stuffed."""
    bus.frozen = True
    time.sleep(0.02)
    for s in bus.servos.values():
        s.set("present_velocity", -1)
        s.set("present_position", 0x7FD)
    state = hand.read_state()
    np.testing.assert_allclose(state.joint_pos, x.ticks_to_joint(0x7FD))
    np.testing.assert_allclose(state.joint_vel, -x.VELOCITY_RAD_S)


def test_a_servo_hardware_error_trips_and_the_hand_holds(bus, hand):
    q = hand.read_state().joint_pos.copy()
    bus.fault(5, 0x20)  # overload on mf_rot
    at_trip = hand.read_state()
    hand.send(_servo(q + 0.3), at_trip)
    assert hand.safety.tripped and "servo 5 (mf_rot) reports a hardware error: overload" in hand.safety.reason
    for _ in range(5):  # damping keeps holding where the hand was when it tripped (not following a sag)
        out = hand.send(_servo(q + 0.3), hand.read_state())
        assert out.mode == DAMPING
    time.sleep(0.05)  # a sync write has no reply: give the bus its turn to apply it
    held = [x.ticks_to_joint(bus.servos[i].get("goal_position")) for i in range(16)]
    np.testing.assert_allclose(held, at_trip.joint_pos, atol=x.POSITION_RAD)  # where it was, not q + 0.3
    assert bus.servos[5].get("torque_enable") == 0  # its Shutdown setting turned that servo off


def test_a_pulled_cable_ends_in_a_stale_state_trip(bus, hand):
    for _ in range(20):
        hand.send(_servo(ROBOT.default_pose), hand.read_state())
    bus.close()
    deadline = time.monotonic() + 2.0
    while not hand.safety.tripped and time.monotonic() < deadline:
        out = hand.send(_servo(ROBOT.default_pose + 0.5))
    assert hand.safety.tripped and "stale" in hand.safety.reason
    assert out.mode == DAMPING and hand.stats.failed_reads > 0


def test_corrupt_status_packets_are_dropped_not_used(bus, hand):
    """A noisy line: transactions with a bad CRC are dropped whole; a line that stays bad ends in a trip."""
    _go_to(hand, ROBOT.default_pose)
    bus.corrupt_every = 50  # about one sync read in three
    for _ in range(200):
        state = hand.read_state()
        hand.send(_servo(ROBOT.default_pose), state)
        assert np.all(np.abs(state.joint_pos - ROBOT.default_pose) < 0.1)
    assert hand.stats.failed_reads > 20 and hand.stats.reads > 100 and not hand.safety.tripped
    bus.corrupt_every = 3  # every read has a bad packet
    deadline = time.monotonic() + 2.0
    while not hand.safety.tripped and time.monotonic() < deadline:
        out = hand.send(_servo(ROBOT.default_pose + 0.5))
    assert "stale" in hand.safety.reason and out.mode == DAMPING


def test_devices_refuse_robots_they_cannot_carry(tmp_path, capsys):
    from hrobot.cli import main

    for argv, expected in ((["device", "dynamixel", "--robot", "go2", "--port", str(tmp_path / "t")], "carries a hand's"),
                           (["device", "unitree", "--robot", "leap_hand"], "drives quadrupeds")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0]
    precious = tmp_path / "ttyUSB0"
    precious.write_text("a real file")
    assert main(["device", "dynamixel", "--port", str(precious), "--duration", "0"]) == 2
    assert "not an emulated bus's link" in capsys.readouterr().err and precious.read_text() == "a real file"
