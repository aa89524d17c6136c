"""The safety layer under fuzzing (hypothesis): no command outside the limits, every trip ends in damping,
a collapsed robot always trips, and no task command outside the skill's range ever reaches the policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrobot.bundle import load_bundle
from hrobot.robots import load_robot
from hrobot.runtime import CommandFilter, PolicyRuntime
from hrobot.safety import CURRENT, DAMPING, POSITION, SERVO, JointCommand, MeasuredState, SafetyConfig, SafetyLayer

ROBOT = load_robot("go2")
N = ROBOT.num_joints
PERIOD = ROBOT.policy_dt
STEPS_PER_EXAMPLE = 1000
EXAMPLES = 100  # 100 x 1000 = 100,000 fuzzed steps
REPO = Path(__file__).resolve().parents[1]


def _upright_quat(rng, tilt):
    axis = rng.normal(size=3)
    axis[2] = 0.0
    axis /= np.linalg.norm(axis) + 1e-12
    return np.array([np.cos(tilt / 2), *(np.sin(tilt / 2) * axis)])


def _garbage(rng, shape):
    """NaN, inf, huge or random values."""
    kind = rng.integers(4)
    if kind == 0:
        return np.full(shape, np.nan)
    if kind == 1:
        return np.full(shape, np.inf * rng.choice([-1, 1]))
    if kind == 2:
        return rng.normal(size=shape) * 1e9
    return rng.normal(size=shape) * 10


def test_no_command_outside_the_limits_and_every_trip_ends_in_damping():
    """100,000 fuzzed steps (counted here, in the same test), at call rates from 500 Hz to 25 Hz."""
    counter = {"steps": 0}
    _fuzz_safety(counter)
    assert counter["steps"] == EXAMPLES * STEPS_PER_EXAMPLE


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1),
       p_bad_state=st.floats(0.0, 0.05), p_stale=st.floats(0.0, 0.05), p_bad_cmd=st.floats(0.0, 0.1),
       p_drop=st.floats(0.0, 0.4), p_estop=st.floats(0.0, 0.01), p_reset=st.floats(0.0, 0.2),
       p_tilt=st.floats(0.0, 0.02), p_wrong_size=st.floats(0.0, 0.02), p_low=st.floats(0.0, 0.02),
       p_stale_imu=st.floats(0.0, 0.02), rate_factor=st.sampled_from([0.1, 0.25, 1.0, 2.0]))
def _fuzz_safety(counter, seed, p_bad_state, p_stale, p_bad_cmd, p_drop, p_estop, p_reset, p_tilt, p_wrong_size,
                 p_low, p_stale_imu, rate_factor):
    rng = np.random.default_rng(seed)
    safety = SafetyLayer(ROBOT)
    lower, upper, tau_max = ROBOT.lower, ROBOT.upper, ROBOT.torque_limits
    now = 0.0
    q_meas = ROBOT.default_pose.copy()
    last_stamp = 0.0
    prev_pos_q = None  # last position-mode output since the last reset, and when it was sent
    prev_pos_t = 0.0
    held = None  # the command the safety layer holds (the last one given since the reset)
    for _ in range(STEPS_PER_EXAMPLE):
        now += PERIOD * rate_factor * rng.uniform(0.5, 1.5)
        # --- the measured state (sometimes garbage, stale or tilted)
        q_meas = np.clip(q_meas + rng.normal(0, 0.05, N), lower - 0.2, upper + 0.2)
        state = MeasuredState(joint_pos=q_meas.copy(), joint_vel=rng.normal(0, 3, N),
                              base_quat=_upright_quat(rng, rng.uniform(0, 0.3)), base_ang_vel=rng.normal(0, 1, 3),
                              stamp=now, imu_stamp=now, base_height=rng.uniform(0.25, 0.35))
        if rng.random() < p_low:
            state.base_height = rng.uniform(0.0, safety.min_height)  # collapsed (upright: no tilt to see)
        if rng.random() < p_stale_imu:
            state.imu_stamp = now - rng.uniform(3, 10) * PERIOD  # fresh joints, an IMU that stopped
        if rng.random() < p_bad_state:
            field = str(rng.choice(["joint_pos", "joint_vel", "base_ang_vel", "base_quat"]))
            setattr(state, field, _garbage(rng, {"joint_pos": N, "joint_vel": N, "base_ang_vel": 3, "base_quat": 4}[field]))
        if rng.random() < p_tilt:
            state.base_quat = _upright_quat(rng, rng.uniform(1.1, np.pi))
        if rng.random() < p_stale:
            state.stamp = last_stamp  # no fresh state: the same old one
        else:
            last_stamp = state.stamp
        # --- operator events
        if rng.random() < p_estop:
            safety.estop("fuzz", now)
        reset_ok = False
        if safety.tripped and rng.random() < p_reset:
            reset_ok = safety.reset(state, now)
            if reset_ok:
                prev_pos_q = None
        # --- the command (sometimes dropped, garbage, huge, wrong size or damping)
        command = None
        if rng.random() >= p_drop:
            q = rng.uniform(lower - 1.0, upper + 1.0)
            mode = rng.choice([POSITION, SERVO, CURRENT, DAMPING], p=[0.8, 0.08, 0.07, 0.05])
            command = JointCommand(q, rng.normal(0, 50, N), rng.uniform(-10, 200, N), rng.uniform(-5, 20, N),
                                   rng.normal(0, 100, N), str(mode), standing=rng.random() > 0.05)
            if rng.random() < p_bad_cmd:
                field = rng.choice(["q", "dq", "kp", "kd", "tau"])
                command = JointCommand(**{**command.__dict__, field: _garbage(rng, N)})
            if rng.random() < p_wrong_size:
                command = JointCommand(**{**command.__dict__, "q": np.zeros(N + 3)})
        tripped_before = safety.tripped
        trips_before = len(safety.trips)
        held = command if command is not None else held if not reset_ok else None
        standing = held is not None and held.mode != DAMPING and held.standing
        collapsed = standing and state.base_height < safety.min_height  # a policy runs on a base that is down
        out = safety.filter(command, state, now)
        counter["steps"] += 1

        # --- invariants
        for name in ("q", "dq", "kp", "kd", "tau"):
            v = getattr(out, name)
            assert v.shape == (N,) and np.all(np.isfinite(v)), name
        assert np.all(out.q >= lower - 1e-9) and np.all(out.q <= upper + 1e-9)
        assert np.all(out.kp >= 0) and np.all(out.kp <= safety.kp_max + 1e-9)
        assert np.all(out.kd >= 0) and np.all(out.kd <= np.maximum(safety.kd_max, safety.damping_kd) + 1e-9)
        assert np.all(np.abs(out.tau) <= tau_max + 1e-9)
        if safety.tripped:
            # every trip (new or latched) ends in damping, with a recorded reason
            assert out.mode == DAMPING and np.all(out.kp == 0) and np.all(out.tau == 0)
            assert safety.reason
            if not tripped_before:
                assert len(safety.trips) == trips_before + 1 and safety.trips[-1].reason
        if collapsed or now - state.imu_stamp > safety.state_timeout:
            assert out.mode == DAMPING and safety.tripped  # a collapsed robot, or a stale IMU, always trips
        if out.mode in (POSITION, SERVO):
            assert not safety.tripped
            if out.mode == POSITION:  # the law the motor runs stays inside the torque limits
                est = out.kp * (out.q - state.joint_pos) + out.kd * (out.dq - state.joint_vel) + out.tau
                assert np.all(np.abs(est) <= tau_max * (1 + 1e-9) + 1e-9)
            else:  # a servo's own PD with the spec's gains (its current limit bounds its torque), no feed-forward
                assert np.all(out.kp == ROBOT.kp) and np.all(out.tau == 0)
            if prev_pos_q is not None:  # per second, whatever the call rate (one period's worth after damping)
                dt = safety.period if prev_pos_t is None else min(now - prev_pos_t, safety.state_timeout)
                assert np.all(np.abs(out.q - prev_pos_q) <= safety.cfg.max_target_rate * dt + 1e-9)
            prev_pos_q, prev_pos_t = out.q.copy(), now
        if out.mode == DAMPING and not safety.tripped:  # asked-for damping: the next target starts from the robot
            prev_pos_q, prev_pos_t = np.clip(state.joint_pos, lower, upper), None
        if out.mode == CURRENT:  # torque only, within its limits; a later position target starts from here
            assert not safety.tripped and np.all(out.kp == 0) and np.all(out.kd == 0)
            prev_pos_q, prev_pos_t = out.q.copy(), now
        if tripped_before and not reset_ok:
            assert out.mode == DAMPING  # the latch holds until an explicit, successful reset


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), p_garbage=st.floats(0.0, 0.3), scale=st.sampled_from([1.0, 3.0, 1e9]))
def test_no_command_outside_the_skill_range_ever_reaches_the_policy(seed, p_garbage, scale):
    """Task commands of any size (and NaN / inf) through the runtime of the shipped go2_walk bundle."""
    rt = _walk_runtime()
    rt.reset()
    rng = np.random.default_rng(seed)
    low, high = np.asarray(rt.commands.low), np.asarray(rt.commands.high)
    scale_obs = np.asarray(rt.bundle.layout.terms[2].scale)  # the command term's scale
    state = _ok_state(0.0)
    prev = np.zeros(3)
    for _ in range(100):
        c = rng.normal(size=3) * scale
        if rng.random() < p_garbage:
            c[rng.integers(3)] = rng.choice([np.nan, np.inf, -np.inf])
        rt.step(state, c)
        seen = rt.last_obs[0, 6:9] / scale_obs  # what the policy observed (terms: ang vel, gravity, command)
        assert np.all(seen >= low - 1e-5) and np.all(seen <= high + 1e-5)
        grow = np.abs(seen) - np.abs(prev)  # magnitude grows at most at the filter's rate; braking is immediate
        assert np.all(grow <= np.asarray(rt.commands.rate) * ROBOT.policy_dt + 1e-5)
        prev = seen


_RT: list[PolicyRuntime] = []


def _walk_runtime() -> PolicyRuntime:
    if not _RT:
        _RT.append(PolicyRuntime(load_bundle(REPO / "policies" / "go2_walk")))
    return _RT[0]


def test_command_filter_clamps_refuses_nan_and_brakes_at_once():
    f = CommandFilter([-1.0, -0.5, -1.0], [1.0, 0.5, 1.0], ["vx", "vy", "wz"], ramp_s=0.25)
    out = [f([1.5, 0.0, 0.0], 0.02)[0] for _ in range(20)]
    assert out[0] == pytest.approx(8.0 * 0.02) and max(out) == 1.0  # ramps at 2 / 0.25 s, then clamps at 1
    v = f([1e9, -1e9, np.nan], 0.02)  # from vx 1: clamped at 1; vy grows towards -0.5 at 4 / s; NaN stands still
    assert v == pytest.approx([1.0, -0.08, 0.0])
    f.reset([1.0, 0.0, 0.0])
    assert f([0.0, 0.0, 0.0], 0.02)[0] == 0.0  # braking is never rate-limited
    v = f([np.nan, np.inf, 0.3], 0.02)
    assert v[0] == 0.0 and v[1] == 0.0 and v[2] == pytest.approx(0.16)
    with pytest.raises(Exception, match="expected 3 values"):
        f([1.0, 2.0], 0.02)


def _ok_state(now):
    return MeasuredState(ROBOT.default_pose.copy(), np.zeros(N), np.array([1.0, 0, 0, 0]), np.zeros(3), now)


def test_starts_in_damping_and_reset_needs_a_sane_state():
    s = SafetyLayer(ROBOT)
    cmd = JointCommand.hold(ROBOT, ROBOT.default_pose)
    assert s.filter(cmd, _ok_state(0.0), 0.0).mode == DAMPING
    bad = _ok_state(0.0)
    bad.joint_pos = np.full(N, np.nan)
    assert not s.reset(bad, 0.0) and "non-finite" in s.reason
    assert s.reset(_ok_state(0.0), 0.0)
    assert s.filter(cmd, _ok_state(0.01), 0.01).mode == POSITION


@pytest.mark.parametrize("event, reason", [
    ("estop", "e-stop"), ("nan_state", "non-finite"), ("stale_state", "stale state"),
    ("stale_command", "stale command"), ("tilt", "tilt"), ("nan_command", "non-finite value in the command"),
    ("collapsed", "base height"), ("stale_imu", "stale IMU"),
    ("inf_command", "non-finite value in the command"),  # checked before the limits clip it to a finite one
    ("ragged_command", "wrong size"), ("short_quaternion", "expected 4 values"),
])
def test_each_trip_reports_its_reason_and_latches_damping(event, reason):
    s = SafetyLayer(ROBOT)
    assert s.reset(_ok_state(0.0), 0.0)
    cmd = JointCommand.hold(ROBOT, ROBOT.default_pose)
    now, state = 0.02, _ok_state(0.02)
    if event == "estop":
        s.estop("button", now)
    elif event == "nan_state":
        state.joint_vel = np.full(N, np.nan)
    elif event == "stale_state":
        state.stamp = now - 3 * PERIOD
    elif event == "stale_command":
        assert s.filter(cmd, _ok_state(0.0), 0.0).mode == POSITION  # commands flowing, then they stop
        cmd = None
        now, state = 3 * PERIOD, _ok_state(3 * PERIOD)
    elif event == "tilt":
        state.base_quat = np.array([np.cos(0.7), np.sin(0.7), 0.0, 0.0])  # 80 deg roll
    elif event == "nan_command":
        cmd = JointCommand(np.full(N, np.nan), cmd.dq, cmd.kp, cmd.kd, cmd.tau)
    elif event == "collapsed":  # upright, so tilt cannot see it: the base lies at 0.077 m after standing
        cmd = JointCommand(cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau, standing=True)  # a policy runs
        stood = _ok_state(0.01)
        stood.base_height = 0.31
        assert s.filter(cmd, stood, 0.01).mode == POSITION
        state.base_height = 0.077
    elif event == "stale_imu":  # joint states keep coming, the IMU stopped 3 periods ago
        state.imu_stamp = now - 3 * PERIOD
    elif event == "inf_command":
        cmd = JointCommand(cmd.q, cmd.dq, cmd.kp, cmd.kd, np.full(N, np.inf))
    elif event == "ragged_command":
        cmd = JointCommand(cmd.q, cmd.dq[:3], cmd.kp, cmd.kd, cmd.tau)
    elif event == "short_quaternion":
        state.base_quat = np.array([1.0, 0.0, 0.0])
    out = s.filter(cmd, state, now)
    assert out.mode == DAMPING and s.tripped and reason in s.reason and s.trips[-1].reason.startswith(s.reason[:8])
    # latched: a perfect command afterwards still gets damping
    assert s.filter(JointCommand.hold(ROBOT, ROBOT.default_pose), _ok_state(now + PERIOD), now + PERIOD).mode == DAMPING


def test_standing_up_and_sitting_down_are_no_falls_but_a_collapse_under_the_policy_is():
    """The height check applies to standing (policy) commands: a robot reset lying down may stand up, and
    one that sits down (non-standing commands) may go low, without a trip; a policy on a low base trips."""
    s = SafetyLayer(ROBOT)
    lying = _ok_state(0.0)
    lying.base_height = 0.08
    assert s.reset(lying, 0.0)
    up = JointCommand.hold(ROBOT, ROBOT.default_pose)  # stand-up and sit-down interpolation: not standing
    policy = JointCommand(up.q, up.dq, up.kp, up.kd, up.tau, standing=True)

    def at(k, h, cmd):
        st = _ok_state(k * PERIOD)
        st.base_height = h
        return s.filter(cmd, st, k * PERIOD).mode

    assert all(at(k, 0.08 + 0.012 * k, up) == POSITION for k in range(1, 20))  # standing up from 0.08 m
    assert at(20, 0.31, policy) == POSITION  # the policy runs: armed
    assert all(at(k, 0.31 - 0.012 * (k - 20), up) == POSITION for k in range(21, 40))  # sitting down to 0.08 m
    assert not s.tripped
    assert at(40, 0.31, policy) == POSITION and at(41, 0.1, policy) == DAMPING and "base height" in s.reason


@pytest.mark.parametrize("rate_hz", [50.0, 500.0])
def test_target_rate_limit_is_per_second_at_any_call_rate(rate_hz):
    """A target 1 rad away: after 20 ms the output has moved max_target_rate * 20 ms, called at 50 or 500 Hz."""
    s = SafetyLayer(ROBOT, control_period=PERIOD)
    assert s.reset(_ok_state(0.0), 0.0)
    target = ROBOT.default_pose + np.where(ROBOT.upper - ROBOT.default_pose > 1.0, 1.0, -1.0)
    cmd = JointCommand.hold(ROBOT, target)
    dt = 1.0 / rate_hz
    out = s.filter(cmd, _ok_state(0.0), 0.0)  # the first command: one control period's worth
    for k in range(1, int(round(PERIOD / dt)) + 1):
        out = s.filter(cmd, _ok_state(k * dt), k * dt)
    moved = np.abs(out.q - ROBOT.default_pose)
    assert moved == pytest.approx(np.full(N, SafetyConfig().max_target_rate * 2 * PERIOD), abs=1e-9)


def test_damping_until_the_first_command_then_the_watchdog_is_armed():
    """A robot brought up before its controller waits in damping (no trip); once commands flow, it is guarded."""
    s = SafetyLayer(ROBOT)
    assert s.reset(_ok_state(0.0), 0.0)
    for k in range(1, 50):
        assert s.filter(None, _ok_state(k * PERIOD), k * PERIOD).mode == DAMPING
    assert not s.tripped
    cmd = JointCommand.hold(ROBOT, ROBOT.default_pose)
    assert s.filter(cmd, _ok_state(50 * PERIOD), 50 * PERIOD).mode == POSITION
    s.filter(None, _ok_state(53 * PERIOD), 53 * PERIOD)
    assert s.tripped and "stale command" in s.reason


def test_silence_after_damping_is_not_a_trip_and_the_next_command_starts_from_the_measured_pose():
    """A controller that asked for damping and then stalls (or dies) leaves the robot damping, not latched:
    a later position command is taken as the first after a reset, from where the limp robot now is."""
    s = SafetyLayer(ROBOT, SafetyConfig(gain_ramp_s=1.0))
    assert s.reset(_ok_state(0.0), 0.0)
    limp = s.damping(_ok_state(0.0))
    assert s.filter(limp, _ok_state(PERIOD), PERIOD).mode == DAMPING
    def sagged(t):  # the limp robot moved meanwhile
        st = _ok_state(t)
        st.joint_pos = ROBOT.default_pose + 0.4
        return st

    for k in range(2, 40):  # 0.75 s of silence
        assert s.filter(None, sagged(k * PERIOD), k * PERIOD).mode == DAMPING
    assert not s.tripped
    out = s.filter(JointCommand.hold(ROBOT, ROBOT.default_pose), sagged(40 * PERIOD), 40 * PERIOD)
    assert out.mode == POSITION and out.kp.max() == 0.0  # the gain ramp starts again
    np.testing.assert_allclose(out.q, np.clip(sagged(0).joint_pos - SafetyConfig().max_target_rate * PERIOD,
                                              ROBOT.lower, ROBOT.upper))  # one step from the measured pose
    s.filter(None, _ok_state(43 * PERIOD), 43 * PERIOD)
    assert s.tripped and "stale command" in s.reason  # silence while it drives the robot still trips


def test_watchdog_trips_within_two_control_periods():
    s = SafetyLayer(ROBOT)
    assert s.reset(_ok_state(0.0), 0.0)
    cmd = JointCommand.hold(ROBOT, ROBOT.default_pose)
    assert s.filter(cmd, _ok_state(0.0), 0.0).mode == POSITION
    t = 0.0
    while not s.tripped:
        t += PERIOD / 4
        s.filter(None, _ok_state(t), t)
    assert t <= 2 * PERIOD + PERIOD / 4 + 1e-9


def test_a_command_in_a_mode_the_robot_does_not_take_trips():
    from hrobot.sim.robot import SimRobot

    robot = SimRobot(ROBOT)
    robot.command_modes = (POSITION, DAMPING)  # as a Unitree low-level driver
    robot.activate()
    q = robot.read_state().joint_pos
    out = robot.send(JointCommand(q, np.zeros(N), ROBOT.kp, ROBOT.kd, np.zeros(N), mode="current"))
    assert out.mode == DAMPING and "command mode 'current' is not one of go2's position, damping" in robot.safety.reason


def test_servo_and_current_modes_drive_the_simulated_hand_within_its_limits():
    """A LEAP-class hand: servo position targets under the servo's own PD (the spec's gains), then current."""
    from hrobot.sim.robot import SimRobot

    hand = load_robot("leap_hand")
    robot = SimRobot(hand)
    robot.activate()
    n = hand.num_joints
    q0 = robot.read_state().joint_pos
    target = np.clip(q0 - 0.3, hand.lower, hand.upper)  # opening, away from the cube the default pose holds
    for _ in range(100):  # 2 s at 50 Hz
        out = robot.send(JointCommand(target, np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), SERVO))
        robot.advance()
    assert out.mode == SERVO and np.all(out.kp == hand.kp) and not robot.safety.tripped
    assert np.abs(robot.read_state().joint_pos - target).max() < 0.1  # the servos got there
    out = robot.send(JointCommand(target, np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, 1e3), CURRENT))
    assert out.mode == CURRENT and np.all(out.kp == 0) and np.allclose(out.tau, hand.torque_limits)


def test_a_nan_imu_orientation_trips_even_without_a_gyro():
    s = SafetyLayer(ROBOT)
    assert s.reset(_ok_state(0.0), 0.0)
    st = _ok_state(0.02)
    st.base_quat, st.base_ang_vel = np.full(4, np.nan), None
    assert s.filter(JointCommand.hold(ROBOT, ROBOT.default_pose), st, 0.02).mode == DAMPING
    assert "non-finite base_quat" in s.reason


def test_gains_ramp_in_from_the_first_command_after_a_reset():
    s = SafetyLayer(ROBOT, SafetyConfig(gain_ramp_s=1.0))
    assert s.reset(_ok_state(0.0), 0.0)
    s.filter(None, _ok_state(0.5), 0.5)  # waiting in damping does not use up the ramp
    cmd = JointCommand.hold(ROBOT, ROBOT.default_pose)
    kp = [s.filter(cmd, _ok_state(t), t).kp for t in (1.0, 1.25, 1.5, 2.0, 2.5)]
    np.testing.assert_allclose([k / ROBOT.kp for k in kp], [[0.0] * N, [0.25] * N, [0.5] * N, [1.0] * N, [1.0] * N])
    assert s.reset(_ok_state(3.0), 3.0) and s.filter(cmd, _ok_state(3.0), 3.0).kp.max() == 0.0  # again after a reset


def test_a_robot_with_a_joint_outside_its_limits_is_not_activated():
    from hrobot.errors import HRobotError
    from hrobot.sim.robot import SimRobot

    robot = SimRobot(ROBOT)
    k = ROBOT.joint_names.index("FL_calf_joint")
    robot.data.qpos[robot.sm.qpos_adr[k]] = ROBOT.lower[k] - 0.2
    with pytest.raises(HRobotError, match=r"cannot activate: joint 'FL_calf_joint' at -2\.\d+ rad is outside its limits"):
        robot.activate()
    assert robot.safety.tripped and robot.lifecycle != "active"
