"""The hand's high level: goal orientations, the orientation error, the observation and the axis choice.

Core layer, written once for numpy (the deployed goal node) and torch (the reorientation
environment). Orientations are the object's, in the palm frame, as quaternions (w, x, y, z).
The high level drives one rotation skill whose command is an angular velocity (wx, wy, wz) about
one of the axes it was trained on: its action is one preference per axis (the largest wins) and a
speed squashed into the skill's trained range (`axis_options` + `hrobot.nav_io.decode_action`).
"""

from __future__ import annotations

import numpy as np

from hrobot.geometry import array_module, quat_conj, quat_mul, quat_to_rotvec, rot6_from_quat

# The task as the reorientation literature reports it (defaults of training, evaluation and the scripted planner)
SUCCESS_ANGLE = 0.4  # rad from the goal ...
HOLD_S = 0.5  # ... held this long is a success; a new goal follows
EPISODE_S = 40.0  # consecutive successes are counted over this long
HL_RATE_HZ = 5.0  # decisions per second (the skill runs at its own 20 Hz)


def orientation_error(object_quat, goal_quat):
    """The rotation still to do, as a palm-frame rotation vector (N, 3): goal = exp(error) * object."""
    return quat_to_rotvec(quat_mul(goal_quat, quat_conj(object_quat)))


def error_angle(object_quat, goal_quat):
    """Geodesic distance (N,) in [0, pi]: the angle of the rotation from the object to the goal."""
    xp = array_module(object_quat)
    dot = (object_quat * goal_quat).sum(1)
    return 2.0 * xp.arccos(xp.clip(xp.abs(dot), 0.0, 1.0)) if xp is np else \
        2.0 * xp.arccos(xp.abs(dot).clamp(0.0, 1.0))


def greedy_axis(error, axes):
    """The scripted planner: the axis (A, 3) whose rotation reduces the error (N, 3) fastest.

    Turning the object by dt about a changes the error angle at the rate -a . e / |e|, so the axis most
    aligned with the error's rotation axis is the one that reduces it most."""
    return array_module(error).argmax(error @ axes.T, 1)


def axis_options(axes, low: float, high: float):
    """Per-axis command ends (A, 3) for `decode_action`: about axis a at speed low (raw -inf) to high (raw +inf),
    nothing about the others, whichever the axis' sign."""
    axes = np.asarray(axes, dtype=np.float32)
    return axes * low, axes * high


def reorient_observation(object_quat, goal_quat, last_action):
    """The high level's observation (N, 6 + 6 + 3 + A + 3): object and goal orientations (6D), the error
    rotation vector (/ pi) and its previous action."""
    xp = array_module(object_quat)
    return xp.concatenate([rot6_from_quat(object_quat), rot6_from_quat(goal_quat),
                           orientation_error(object_quat, goal_quat) / np.pi, last_action], 1)


def random_quat(u):
    """Uniform random unit quaternions from uniform samples u (N, 3) in [0, 1) (Shoemake)."""
    xp = array_module(u)
    a, b, c = u[:, 0], u[:, 1], u[:, 2]
    r1, r2 = xp.sqrt(1.0 - a), xp.sqrt(a)
    t1, t2 = 2.0 * np.pi * b, 2.0 * np.pi * c
    return xp.stack([r2 * xp.cos(t2), r1 * xp.sin(t1), r1 * xp.cos(t1), r2 * xp.sin(t2)], 1)
