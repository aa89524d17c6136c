"""The safety layer under fuzzing (hypothesis): no command outside the limits, every trip ends in damping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrobot.robots import load_robot
from hrobot.safety import DAMPING, POSITION, JointCommand, MeasuredState, SafetyLayer

ROBOT = load_robot("go2")
N = ROBOT.num_joints
PERIOD = ROBOT.policy_dt
STEPS_PER_EXAMPLE = 1000
EXAMPLES = 100  # 100 x 1000 = 100,000 fuzzed steps
COUNTER = {"steps": 0}


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


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1),
       p_bad_state=st.floats(0.0, 0.05), p_stale=st.floats(0.0, 0.05), p_bad_cmd=st.floats(0.0, 0.1),
       p_drop=st.floats(0.0, 0.4), p_estop=st.floats(0.0, 0.01), p_reset=st.floats(0.0, 0.2),
       p_tilt=st.floats(0.0, 0.02), p_wrong_size=st.floats(0.0, 0.02))
def test_no_command_outside_the_limits_and_every_trip_ends_in_damping(
        seed, p_bad_state, p_stale, p_bad_cmd, p_drop, p_estop, p_reset, p_tilt, p_wrong_size):
    rng = np.random.default_rng(seed)
    safety = SafetyLayer(ROBOT)
    lower, upper, tau_max = ROBOT.lower, ROBOT.upper, ROBOT.torque_limits
    now = 0.0
    q_meas = ROBOT.default_pose.copy()
    last_stamp = 0.0
    prev_pos_q = None  # last position-mode output since the last reset
    for _ in range(STEPS_PER_EXAMPLE):
        now += PERIOD
        # --- the measured state (sometimes garbage, stale or tilted)
        q_meas = np.clip(q_meas + rng.normal(0, 0.05, N), lower - 0.2, upper + 0.2)
        state = MeasuredState(joint_pos=q_meas.copy(), joint_vel=rng.normal(0, 3, N),
                              base_quat=_upright_quat(rng, rng.uniform(0, 0.3)), base_ang_vel=rng.normal(0, 1, 3),
                              stamp=now)
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
            command = JointCommand(q, rng.normal(0, 50, N), rng.uniform(-10, 200, N), rng.uniform(-5, 20, N),
                                   rng.normal(0, 100, N), POSITION if rng.random() > 0.05 else DAMPING)
            if rng.random() < p_bad_cmd:
                field = rng.choice(["q", "dq", "kp", "kd", "tau"])
                command = JointCommand(**{**command.__dict__, field: _garbage(rng, N)})
            if rng.random() < p_wrong_size:
                command = JointCommand(**{**command.__dict__, "q": np.zeros(N + 3)})
        tripped_before = safety.tripped
        trips_before = len(safety.trips)
        out = safety.filter(command, state, now)
        COUNTER["steps"] += 1

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
        if out.mode == POSITION:
            assert not safety.tripped
            est = out.kp * (out.q - state.joint_pos) + out.kd * (out.dq - state.joint_vel) + out.tau
            assert np.all(np.abs(est) <= tau_max * (1 + 1e-9) + 1e-9)
            if prev_pos_q is not None:
                assert np.all(np.abs(out.q - prev_pos_q) <= safety.cfg.max_step + 1e-9)
            prev_pos_q = out.q.copy()
        if tripped_before and not reset_ok:
            assert out.mode == DAMPING  # the latch holds until an explicit, successful reset


def test_the_fuzzing_ran_100k_steps():
    if COUNTER["steps"] == 0:
        pytest.skip("run together with the property test above")
    assert COUNTER["steps"] >= 100_000


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
    out = s.filter(cmd, state, now)
    assert out.mode == DAMPING and s.tripped and reason in s.reason and s.trips[-1].reason.startswith(s.reason[:8])
    # latched: a perfect command afterwards still gets damping
    assert s.filter(JointCommand.hold(ROBOT, ROBOT.default_pose), _ok_state(now + PERIOD), now + PERIOD).mode == DAMPING


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
